#include "backend/opencl/opencl_platforms.hpp"

#include <fmt/format.h>

#include "backend/opencl/opencl_check.hpp"

namespace gpumem::detail {
namespace {

constexpr cl_int kPlatformNotFoundKhr = -1001;  // cl_khr_icd: the loader found no platform

std::string trimmed(std::string text) {
  // Lengths include the terminating NUL, and some drivers pad names with blanks.
  while (!text.empty() && (text.back() == '\0' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::vector<cl_platform_id> opencl_platforms(std::string& why) {
  cl_uint count = 0;
  const cl_int error = clGetPlatformIDs(0, nullptr, &count);
  if (error == kPlatformNotFoundKhr || (error == CL_SUCCESS && count == 0)) {
    why =
        "no OpenCL platform: the ICD loader found no implementation (install one, such as "
        "pocl-opencl-icd, or point OCL_ICD_VENDORS at its .icd file)";
    return {};
  }
  if (error != CL_SUCCESS) {
    why = "clGetPlatformIDs failed: " + opencl_error_text(error);
    return {};
  }
  std::vector<cl_platform_id> platforms(count);
  if (const cl_int e = clGetPlatformIDs(count, platforms.data(), nullptr); e != CL_SUCCESS) {
    why = "clGetPlatformIDs failed: " + opencl_error_text(e);
    return {};
  }
  return platforms;
}

std::vector<cl_device_id> opencl_devices(cl_platform_id platform, std::string_view where) {
  cl_uint count = 0;
  const cl_int error = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, nullptr, &count);
  if (error == CL_DEVICE_NOT_FOUND || count == 0) return {};
  check_cl(error, where, "clGetDeviceIDs");
  std::vector<cl_device_id> devices(count);
  check_cl(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, devices.data(), nullptr), where,
           "clGetDeviceIDs");
  return devices;
}

std::string platform_text(cl_platform_id platform, cl_platform_info what) {
  std::size_t size = 0;
  if (clGetPlatformInfo(platform, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return {};
  std::string text(size, '\0');
  if (clGetPlatformInfo(platform, what, size, text.data(), nullptr) != CL_SUCCESS) return {};
  return trimmed(std::move(text));
}

std::string device_text(cl_device_id device, cl_device_info what, std::string_view where) {
  std::size_t size = 0;
  check_cl(clGetDeviceInfo(device, what, 0, nullptr, &size), where,
           fmt::format("clGetDeviceInfo({:#x})", what));
  std::string text(size, '\0');
  check_cl(clGetDeviceInfo(device, what, size, text.data(), nullptr), where,
           fmt::format("clGetDeviceInfo({:#x})", what));
  return trimmed(std::move(text));
}

template <typename T>
T device_value(cl_device_id device, cl_device_info what, std::string_view where) {
  T value{};
  check_cl(clGetDeviceInfo(device, what, sizeof value, &value, nullptr), where,
           fmt::format("clGetDeviceInfo({:#x})", what));
  return value;
}

template cl_ulong device_value<cl_ulong>(cl_device_id, cl_device_info, std::string_view);
template cl_uint device_value<cl_uint>(cl_device_id, cl_device_info, std::string_view);

DeviceType opencl_device_type(cl_device_id device, std::string_view where) {
  const auto type = device_value<cl_device_type>(device, CL_DEVICE_TYPE, where);
  if ((type & CL_DEVICE_TYPE_GPU) != 0) {
    const bool unified =
        device_value<cl_bool>(device, CL_DEVICE_HOST_UNIFIED_MEMORY, where) == CL_TRUE;
    return unified ? DeviceType::IntegratedGpu : DeviceType::DiscreteGpu;
  }
  if ((type & CL_DEVICE_TYPE_CPU) != 0) return DeviceType::Cpu;
  return DeviceType::Other;
}

OpenclAvailability probe_opencl() {
  OpenclAvailability a;
  const std::vector<cl_platform_id> platforms = opencl_platforms(a.detail);
  std::string found;
  for (std::size_t p = 0; p < platforms.size(); ++p) {
    const std::string platform_name = platform_text(platforms[p], CL_PLATFORM_NAME);
    const std::string where = fmt::format("opencl platform {} '{}'", p, platform_name);
    std::vector<cl_device_id> devices;
    try {
      devices = opencl_devices(platforms[p], where);
    } catch (const std::exception& e) {
      // One broken platform must not hide the others: say so and go on.
      found += fmt::format("{}{} (unusable: {})", found.empty() ? "" : "; ", where, e.what());
      continue;
    }
    for (std::size_t d = 0; d < devices.size(); ++d) {
      OpenclDeviceId id{.platform = static_cast<std::uint32_t>(p),
                        .device = static_cast<std::uint32_t>(d),
                        .platform_name = platform_name,
                        .device_name = {},
                        .type = DeviceType::Other};
      try {
        id.device_name = device_text(devices[d], CL_DEVICE_NAME, where);
        id.type = opencl_device_type(devices[d], where);
      } catch (const std::exception&) {
        if (id.device_name.empty()) id.device_name = fmt::format("device {}", d);
      }
      found += fmt::format("{}{}.{} {} ({})", found.empty() ? "" : "; ", p, d, id.device_name,
                           platform_name);
      a.devices.push_back(std::move(id));
    }
  }
  if (!platforms.empty()) {
    a.available = !a.devices.empty();
    a.detail = a.available ? fmt::format("{} platform{}, {} device{}: {}", platforms.size(),
                                         platforms.size() == 1 ? "" : "s", a.devices.size(),
                                         a.devices.size() == 1 ? "" : "s", found)
                           : fmt::format("{} platform{} but no device{}{}", platforms.size(),
                                         platforms.size() == 1 ? "" : "s",
                                         found.empty() ? "" : ": ", found);
  }
  return a;
}

}  // namespace gpumem::detail
