// The backend seam: the only interface through which gpumem touches a GPU API.
//
// A Device enumerates its heaps, reports the driver's budget and usage, hands out and takes back
// raw blocks of a heap, maps host-visible blocks, and copies between blocks with a fence to wait
// on. Policy (budgets, pools, tracking) lives above this seam in core/ and memory/; backends stay
// thin so that adding one means implementing these few calls.
//
//   std::unique_ptr<gpumem::Device> device = gpumem::open_device("sim:capacity=16GiB");
//   gpumem::RawBlock block = device->try_allocate_block(0, 64 * gpumem::kMiB, 256);
//   device->free_block(block);
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gpumem/backend/virtual_memory.hpp"
#include "gpumem/core/heap.hpp"

namespace gpumem {

enum class DeviceType : std::uint8_t { DiscreteGpu, IntegratedGpu, Cpu, Simulated, Other };

constexpr std::string_view to_string(DeviceType type) {
  switch (type) {
    case DeviceType::DiscreteGpu:
      return "discrete-gpu";
    case DeviceType::IntegratedGpu:
      return "integrated-gpu";
    case DeviceType::Cpu:
      return "cpu";
    case DeviceType::Simulated:
      return "simulated";
    case DeviceType::Other:
      return "other";
  }
  return "unknown";
}

struct DeviceInfo {
  std::string backend;  // "host", "sim", "cuda", "vulkan", "opencl"
  std::uint32_t index = 0;
  std::string name;
  DeviceType type = DeviceType::Other;
  std::vector<HeapInfo> heaps;
  // Backend-specific facts worth showing (compute capability, bus, driver version), in order.
  std::vector<std::pair<std::string, std::string>> properties;
};

// The driver's view of one heap for this process at the moment of the query.
struct HeapReport {
  std::uint64_t budget = 0;  // bytes the process may use before the driver starts to evict or fail
  std::uint64_t usage = 0;   // bytes the process uses, by gpumem or anybody else
};

// Completion marker of a submitted copy; values increase per device.
using FenceValue = std::uint64_t;

class Device {
 public:
  virtual ~Device() = default;
  Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  virtual const DeviceInfo& info() const noexcept = 0;

  // Asks the driver; may be slow (microseconds). Callers cache the answer.
  virtual HeapReport query_heap(std::uint32_t heap) = 0;

  // A block of at least `size` bytes, rounded up to the heap's granularity, aligned to
  // `alignment` (a power of two), or an empty block when the device has no room.
  // Throws InvalidArgument for an unknown heap or a bad size or alignment.
  virtual RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                                      std::uint64_t alignment) = 0;
  // Throws InvalidHandle for a block this device did not hand out or already took back.
  virtual void free_block(const RawBlock& block) = 0;

  // The largest block try_allocate_block makes on a heap: the API's limit on one allocation
  // (Vulkan's maxMemoryAllocationSize, OpenCL's CL_DEVICE_MAX_MEM_ALLOC_SIZE) where it is below
  // the heap's size, else the heap's size. Requests between it and the heap's size throw
  // InvalidArgument naming the limit.
  virtual std::uint64_t max_block_size(std::uint32_t heap) const { return this->heap(heap).size; }

  // CPU pointer to the first byte of a block of a host-visible heap; Unsupported otherwise.
  // Host-visible blocks stay mapped until freed, so map is cheap and unmap is not needed.
  virtual std::byte* map(const RawBlock& block) = 0;

  // Copies `size` bytes between blocks (same or different heaps); returns a fence to wait on.
  virtual FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                          std::uint64_t dst_offset, std::uint64_t size) = 0;
  virtual bool is_complete(FenceValue fence) = 0;
  virtual void wait(FenceValue fence) = 0;

  // The device's virtual memory management, or null where it has none.
  virtual VirtualMemory* virtual_memory() noexcept { return nullptr; }

  const HeapInfo& heap(std::uint32_t index) const;  // throws InvalidArgument naming the heap
};

}  // namespace gpumem
