// The CUDA backend: one NVIDIA GPU, through the CUDA runtime (linked statically) and driver-API
// entry points looked up at run time, so that a program built with it starts on a machine
// without a GPU driver; cuda_availability() then says why there is no device.
//
// Heaps, in this order:
//   0 "device-local"  the GPU's memory (cudaMalloc); size = the device's total memory. The
//                     driver's budget is total - usage by others = free + what this device holds;
//                     its usage is total - free (every process, and the CUDA context itself).
//   1 "pinned-host"   page-locked system memory (cudaHostAlloc), mapped for the CPU and reached by
//                     the GPU over the bus. Page-locked memory cannot be swapped, so the heap is
//                     capped: a quarter of the machine's physical memory unless configured.
//   2 "managed"       only with CudaDeviceConfig::managed: unified memory (cudaMallocManaged),
//                     host-visible, migrating between CPU and GPU on use. Never larger than the
//                     device's free memory at the time of the request.
// Blocks of device-local and managed heaps are rounded up to the VMM granularity (2 MiB), those
// of pinned-host to the host's page size. Copies run on one non-blocking stream per device, and
// each copy's fence is a CUDA event. virtual_memory() is non-null where the device supports
// CUDA's virtual memory management (cuMemCreate/cuMemMap); it serves the device-local heap.
//
//   if (gpumem::cuda_availability().available) {
//     gpumem::CudaDevice gpu(gpumem::CudaDeviceConfig::parse("0,pinned=4GiB"));
//     gpumem::RawBlock vram = gpu.try_allocate_block(gpumem::CudaDevice::kDeviceLocalHeap, n, 256);
//     gpumem::RawBlock staging = gpu.try_allocate_block(gpumem::CudaDevice::kPinnedHostHeap, n,
//     64); std::memcpy(gpu.map(staging), data, n); gpu.wait(gpu.copy(staging, 0, vram, 0, n));
//   }
//
// The class exists in builds with CUDA (GPUMEM_HAS_CUDA is defined for users of gpumem::backend).
// Thread safety: every method may be called from several threads at once; each call makes the
// device current on the calling thread (cudaSetDevice) for its duration and then gives the thread
// its own current device back. The constructor leaves the device current.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gpumem/backend/device.hpp"

namespace gpumem {

struct CudaDeviceConfig {
  std::uint32_t ordinal = 0;  // the CUDA device number (as CUDA_VISIBLE_DEVICES leaves them)
  // Size of the pinned-host heap; 0 picks a quarter of the machine's physical memory.
  std::uint64_t pinned_host_bytes = 0;
  bool managed = false;  // adds the "managed" heap (cudaMallocManaged)
  // Whether to use virtual memory management where the device has it; off makes
  // virtual_memory() null, so allocators fall back to blocks (cudaMalloc).
  bool virtual_memory = true;

  // "1", "1,pinned=8GiB,managed=on,vmm=off", "device=1": a bare number is the ordinal; unknown
  // keys, bad sizes or numbers and switch values other than on/off throw InvalidArgument.
  static CudaDeviceConfig parse(std::string_view spec);
};

// Whether CUDA can be used in this process, probed once (the first call asks the runtime,
// later calls return the same answer); never throws.
struct CudaAvailability {
  bool available = false;
  std::uint32_t device_count = 0;
  std::string detail;  // what was found, or why nothing ("no CUDA driver: ...")
};
const CudaAvailability& cuda_availability() noexcept;

class CudaDevice final : public Device {
 public:
  static constexpr std::uint32_t kDeviceLocalHeap = 0;
  static constexpr std::uint32_t kPinnedHostHeap = 1;
  static constexpr std::uint32_t kManagedHeap = 2;  // present only with CudaDeviceConfig::managed

  // Unsupported when CUDA is unavailable, InvalidArgument for an ordinal beyond the last device,
  // Error naming the CUDA call when the runtime fails.
  explicit CudaDevice(const CudaDeviceConfig& config = {});
  // Waits for copies in flight, then frees the blocks, pages and reservations still out.
  ~CudaDevice() override;

  const DeviceInfo& info() const noexcept override { return info_; }
  HeapReport query_heap(std::uint32_t heap) override;
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override;
  void free_block(const RawBlock& block) override;
  // Pinned-host and managed blocks; Unsupported for device-local ones.
  std::byte* map(const RawBlock& block) override;
  FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                  std::uint64_t dst_offset, std::uint64_t size) override;
  bool is_complete(FenceValue fence) override;
  void wait(FenceValue fence) override;
  VirtualMemory* virtual_memory() noexcept override;

  // Copies between addresses that no block describes, such as pages mapped through
  // virtual_memory(), in order with copy(). Unchecked beyond null addresses: both ranges must be
  // device, pinned or managed memory of this process.
  FenceValue copy_addresses(std::uint64_t src_address, std::uint64_t dst_address,
                            std::uint64_t size);

  // This process's memory on the device as NVML reports it (context and every allocation, by
  // anyone in the process); empty without NVML, or where NVML does not list this process (a
  // container's own process ids).
  std::optional<std::uint64_t> process_usage();

  // Lets device `peer` read and write this device's memory: its cudaMalloc blocks
  // (cudaDeviceEnablePeerAccess from the peer) and every page mapped through virtual_memory(),
  // now and later. Unsupported where the hardware cannot; InvalidArgument for a bad ordinal.
  void enable_peer_access(std::uint32_t peer);

  std::uint32_t ordinal() const noexcept { return config_.ordinal; }
  const CudaDeviceConfig& config() const noexcept { return config_; }

 private:
  struct State;
  CudaDeviceConfig config_;
  DeviceInfo info_;
  std::unique_ptr<State> state_;
};

}  // namespace gpumem
