#include "gpumem/backend/registry.hpp"

#include <fmt/format.h>

#include "gpumem/backend/host_device.hpp"
#if GPUMEM_HAS_OPENCL
#include "gpumem/backend/opencl_device.hpp"
#endif
#if GPUMEM_HAS_CUDA
#include "gpumem/backend/cuda_device.hpp"
#endif
#include "gpumem/backend/sim_device.hpp"
#if GPUMEM_HAS_VULKAN
#include "gpumem/backend/vulkan_device.hpp"
#endif
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

std::unique_ptr<Device> open_host(std::string_view options) {
  if (options.empty()) return std::make_unique<HostDevice>();
  if (options == "discrete") {
    // A quarter of the machine as "VRAM" and an eighth for each host-visible heap: enough to
    // run anything the demo does, small enough to leave the machine usable.
    const std::uint64_t ram = HostDeviceConfig::system().heaps.front().size;
    return std::make_unique<HostDevice>(HostDeviceConfig::discrete_like(ram / 4, ram / 8));
  }
  throw InvalidArgument(fmt::format("unknown host device option '{}' (known: discrete)", options));
}

}  // namespace

std::vector<BackendStatus> backend_statuses() {
  std::vector<BackendStatus> statuses;
#if GPUMEM_HAS_CUDA
  const CudaAvailability& cuda = cuda_availability();
  statuses.push_back({.name = "cuda", .available = cuda.available, .detail = cuda.detail});
#endif
#if GPUMEM_HAS_VULKAN
  const VulkanAvailability& vulkan = vulkan_availability();
  statuses.push_back({.name = "vulkan", .available = vulkan.available, .detail = vulkan.detail});
#endif
#if GPUMEM_HAS_OPENCL
  const OpenclAvailability& opencl = opencl_availability();
  statuses.push_back({.name = "opencl", .available = opencl.available, .detail = opencl.detail});
#endif
  statuses.push_back({.name = "host", .available = true, .detail = "system memory"});
  statuses.push_back(
      {.name = "sim", .available = true, .detail = "simulated device memory (no bytes)"});
  return statuses;
}

std::unique_ptr<Device> open_device(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  const std::string_view backend = spec.substr(0, colon);
  const std::string_view options =
      colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (backend == "host") return open_host(options);
  if (backend == "sim") return std::make_unique<SimDevice>(SimDeviceConfig::parse(options));
#if GPUMEM_HAS_CUDA
  // Options are parsed first, so a bad spec is named even where CUDA is unavailable.
  if (backend == "cuda") return std::make_unique<CudaDevice>(CudaDeviceConfig::parse(options));
#endif
#if GPUMEM_HAS_VULKAN
  if (backend == "vulkan") {
    return std::make_unique<VulkanDevice>(VulkanDeviceConfig::parse(options));
  }
#endif
#if GPUMEM_HAS_OPENCL
  // "opencl" (the first device), "opencl:N" (the N-th of all platforms' devices), "opencl:P.D".
  if (backend == "opencl") {
    return std::make_unique<OpenclDevice>(OpenclDeviceConfig::parse(options));
  }
#endif
  std::string known;
  for (const BackendStatus& s : backend_statuses()) {
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw InvalidArgument(fmt::format("unknown device backend '{}' in '{}' (this build has: {})",
                                    backend, spec, known));
}

std::vector<std::unique_ptr<Device>> open_all_devices() {
  std::vector<std::unique_ptr<Device>> devices;
#if GPUMEM_HAS_CUDA
  const CudaAvailability& cuda = cuda_availability();
  for (std::uint32_t i = 0; cuda.available && i < cuda.device_count; ++i) {
    devices.push_back(std::make_unique<CudaDevice>(CudaDeviceConfig{.ordinal = i}));
  }
#endif
#if GPUMEM_HAS_VULKAN
  // Devices too old for gpumem are left out here; backend_statuses() says why.
  const VulkanAvailability& vulkan = vulkan_availability();
  for (std::uint32_t i = 0; i < vulkan.devices.size(); ++i) {
    if (vulkan.devices[i].usable) {
      devices.push_back(std::make_unique<VulkanDevice>(VulkanDeviceConfig{.index = i}));
    }
  }
#endif
#if GPUMEM_HAS_OPENCL
  const OpenclAvailability& opencl = opencl_availability();
  for (std::uint32_t i = 0; opencl.available && i < opencl.devices.size(); ++i) {
    devices.push_back(std::make_unique<OpenclDevice>(OpenclDeviceConfig{.device = i}));
  }
#endif
  devices.push_back(open_device("host"));
  devices.push_back(open_device("sim"));
  return devices;
}

std::unique_ptr<Device> open_best_device() {
#if GPUMEM_HAS_CUDA
  if (cuda_availability().available) return std::make_unique<CudaDevice>();
#endif
#if GPUMEM_HAS_VULKAN
  // A GPU only: a CPU implementation (lavapipe) is the host with extra steps.
  const VulkanAvailability& vulkan = vulkan_availability();
  for (std::uint32_t i = 0; i < vulkan.devices.size(); ++i) {
    const VulkanPhysicalDeviceSummary& d = vulkan.devices[i];
    if (d.usable && (d.type == DeviceType::DiscreteGpu || d.type == DeviceType::IntegratedGpu)) {
      return std::make_unique<VulkanDevice>(VulkanDeviceConfig{.index = i});
    }
  }
#endif
#if GPUMEM_HAS_OPENCL
  // Only a GPU: an OpenCL CPU device (PoCL) is the host's memory with extra steps.
  const OpenclAvailability& opencl = opencl_availability();
  for (std::uint32_t i = 0; opencl.available && i < opencl.devices.size(); ++i) {
    const DeviceType type = opencl.devices[i].type;
    if (type == DeviceType::DiscreteGpu || type == DeviceType::IntegratedGpu) {
      return std::make_unique<OpenclDevice>(OpenclDeviceConfig{.device = i});
    }
  }
#endif
  return open_device("host");
}

}  // namespace gpumem
