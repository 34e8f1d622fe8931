// The host backend: a "device" whose heaps are real system memory from the C++ allocator.
//
// It serves two purposes. As the CPU fallback it lists the machine's memory as one shared heap.
// For testing it can lay out heaps like a discrete GPU (device-local, upload, readback), each of
// a configured size, so that budgets, pressure and out-of-memory paths run deterministically on
// any machine; set_external_usage() plays "another process" taking memory from a heap.
//
// With HostDeviceConfig::virtual_memory set (Linux), it also offers virtual memory management
// with real bytes, as CUDA VMM does: reservations are address ranges with no access, physical
// pages are 2 MiB pieces of a memory file per heap counted against the heap's size, and mapping
// a page makes its bytes readable and writable at that address (at every address it is mapped).
//
//   gpumem::HostDevice device(gpumem::HostDeviceConfig::discrete_like(1 * gpumem::kGiB, 256 *
//   gpumem::kMiB)); gpumem::RawBlock block = device.try_allocate_block(0, 4096, 64);
//   std::memset(device.map(block), 0, 4096);
//   device.free_block(block);
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gpumem/backend/device.hpp"

namespace gpumem {

struct HostHeapConfig {
  std::string name;
  HeapKind kind = HeapKind::Shared;
  std::uint64_t size = 0;
};

struct HostDeviceConfig {
  std::string name = "host";
  std::vector<HostHeapConfig> heaps;
  // Offer virtual_memory() (Linux only; ignored elsewhere). Off by default, so the allocator
  // chosen for host heaps stays the plain one unless asked for.
  bool virtual_memory = false;

  // One shared heap the size of the machine's physical memory.
  static HostDeviceConfig system();
  // Device-local, upload and readback heaps like a discrete GPU's, all in system memory.
  static HostDeviceConfig discrete_like(std::uint64_t device_bytes,
                                        std::uint64_t host_visible_bytes);
};

class HostDevice final : public Device {
 public:
  explicit HostDevice(const HostDeviceConfig& config = HostDeviceConfig::system());
  ~HostDevice() override;

  const DeviceInfo& info() const noexcept override { return info_; }
  HeapReport query_heap(std::uint32_t heap) override;
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override;
  void free_block(const RawBlock& block) override;
  std::byte* map(const RawBlock& block) override;
  FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                  std::uint64_t dst_offset, std::uint64_t size) override;
  bool is_complete(FenceValue fence) override;
  void wait(FenceValue fence) override;
  VirtualMemory* virtual_memory() noexcept override;

  // Pretend that others use `bytes` of the heap: reported as driver usage, and unavailable.
  void set_external_usage(std::uint32_t heap, std::uint64_t bytes);

 private:
  struct State;
  DeviceInfo info_;
  std::unique_ptr<State> state_;
};

}  // namespace gpumem
