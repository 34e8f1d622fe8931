// NVML (libnvidia-ml.so.1), opened with dlopen where the driver installed it, for the figures the
// CUDA runtime does not give: the driver's version string and the memory each process holds on
// a device. Without it those figures are simply absent.
//
//   const detail::NvmlLibrary& nvml = detail::NvmlLibrary::instance();
//   if (auto bytes = nvml.process_usage("0000:65:00.0", ::getpid())) ...
//
// Thread safety: opened once per process; NVML's calls are themselves thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace gpumem::detail {

class NvmlLibrary {
 public:
  // Opens and initializes NVML on the first call; shut down at exit.
  static const NvmlLibrary& instance();
  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  bool available() const noexcept { return available_; }
  // "available, driver 580.159.04" or "not available: <why>".
  const std::string& status() const noexcept { return status_; }

  // Bytes NVML lists for process `pid` on the device at `pci_bus_id` ("0000:65:00.0"); empty
  // when NVML is unavailable, fails, or does not list the process.
  std::optional<std::uint64_t> process_usage(const std::string& pci_bus_id,
                                             std::uint32_t pid) const;

 private:
  NvmlLibrary();
  struct Api;
  void* handle_ = nullptr;
  std::unique_ptr<Api> api_;
  bool available_ = false;
  std::string status_;
};

}  // namespace gpumem::detail
