#include "backend/cuda/nvml_library.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <vector>

namespace gpumem::detail {
namespace {

// The few NVML declarations needed, as nvml.h has them (the header is not part of the toolkit
// on every machine, and only these are used). nvmlReturn_t is an enum, passed as int.
using NvmlReturn = int;
using NvmlDevice = struct NvmlDeviceOpaque*;
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlErrorInsufficientSize = 7;
constexpr unsigned kDriverVersionLength = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

struct NvmlProcessInfo {  // nvmlProcessInfo_t, the layout nvmlDeviceGetComputeRunningProcesses_v3
                          // fills
  unsigned int pid;
  unsigned long long used_gpu_memory;  // NVML_VALUE_NOT_AVAILABLE (all ones) where unknown
  unsigned int gpu_instance_id;
  unsigned int compute_instance_id;
};
constexpr unsigned long long kNvmlValueNotAvailable = ~0ULL;

using InitFn = NvmlReturn (*)();
using ShutdownFn = NvmlReturn (*)();
using ErrorStringFn = const char* (*)(NvmlReturn);
using DriverVersionFn = NvmlReturn (*)(char*, unsigned int);
using HandleByPciBusIdFn = NvmlReturn (*)(const char*, NvmlDevice*);
using ComputeProcessesFn = NvmlReturn (*)(NvmlDevice, unsigned int*, NvmlProcessInfo*);

}  // namespace

struct NvmlLibrary::Api {
  InitFn init = nullptr;
  ShutdownFn shutdown = nullptr;
  ErrorStringFn error_string = nullptr;
  DriverVersionFn driver_version = nullptr;
  HandleByPciBusIdFn handle_by_pci_bus_id = nullptr;
  ComputeProcessesFn compute_processes = nullptr;
};

namespace {

template <class Function>
bool look_up(void* handle, const char* symbol, Function& function, std::string& why) {
  void* pointer = ::dlsym(handle, symbol);
  if (pointer == nullptr) {
    why = fmt::format("libnvidia-ml.so.1 has no {}", symbol);
    return false;
  }
  function = reinterpret_cast<Function>(pointer);
  return true;
}

}  // namespace

const NvmlLibrary& NvmlLibrary::instance() {
  static const NvmlLibrary library;
  return library;
}

NvmlLibrary::NvmlLibrary() : api_(std::make_unique<Api>()) {
  handle_ = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    // Only ever called inside the magic static of instance(): one thread at a time.
    const char* error = ::dlerror();  // NOLINT(concurrency-mt-unsafe)
    status_ = fmt::format("not available: {}", error != nullptr ? error : "dlopen failed");
    return;
  }
  std::string why;
  Api& a = *api_;
  if (!look_up(handle_, "nvmlInit_v2", a.init, why) ||
      !look_up(handle_, "nvmlShutdown", a.shutdown, why) ||
      !look_up(handle_, "nvmlErrorString", a.error_string, why) ||
      !look_up(handle_, "nvmlSystemGetDriverVersion", a.driver_version, why) ||
      !look_up(handle_, "nvmlDeviceGetHandleByPciBusId_v2", a.handle_by_pci_bus_id, why) ||
      !look_up(handle_, "nvmlDeviceGetComputeRunningProcesses_v3", a.compute_processes, why)) {
    status_ = "not available: " + why;
    return;
  }
  if (const NvmlReturn r = a.init(); r != kNvmlSuccess) {
    status_ = fmt::format("not available: nvmlInit_v2 failed: {}", a.error_string(r));
    return;
  }
  available_ = true;
  char version[kDriverVersionLength] = {};
  if (a.driver_version(version, kDriverVersionLength) == kNvmlSuccess) {
    status_ = fmt::format("available, driver {}", version);
  } else {
    status_ = "available";
  }
}

// NVML counts initializations; the library stays loaded, as other code may have opened it too.
NvmlLibrary::~NvmlLibrary() {
  if (available_) api_->shutdown();
}

std::optional<std::uint64_t> NvmlLibrary::process_usage(const std::string& pci_bus_id,
                                                        std::uint32_t pid) const {
  if (!available_) return std::nullopt;
  NvmlDevice device = nullptr;
  if (api_->handle_by_pci_bus_id(pci_bus_id.c_str(), &device) != kNvmlSuccess) return std::nullopt;
  // The list can grow between the call that sizes it and the one that fills it: try again.
  std::vector<NvmlProcessInfo> processes(16);
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto count = static_cast<unsigned int>(processes.size());
    const NvmlReturn r = api_->compute_processes(device, &count, processes.data());
    if (r == kNvmlErrorInsufficientSize) {
      processes.resize(std::size_t{count} + 16);
      continue;
    }
    if (r != kNvmlSuccess) return std::nullopt;
    for (unsigned int i = 0; i < count; ++i) {
      if (processes[i].pid == pid && processes[i].used_gpu_memory != kNvmlValueNotAvailable) {
        return processes[i].used_gpu_memory;
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace gpumem::detail
