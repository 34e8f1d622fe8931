#include "gpumem/backend/host_device.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "backend/common/block_ledger.hpp"
#include "backend/common/copy_checks.hpp"
#if defined(__linux__)
#include "backend/host/host_virtual_memory.hpp"
#endif
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

constexpr std::uint64_t kHostGranularity = 64;  // a cache line: no false sharing between blocks

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
}

HeapFlags host_flags(HeapKind kind) {
  // All of it is system memory the CPU can read; the flags say what the heap stands in for.
  HeapFlags f;
  f.host_visible = true;
  f.host_coherent = true;
  f.host_cached = kind != HeapKind::Upload;
  f.device_local = kind == HeapKind::DeviceLocal || kind == HeapKind::Shared;
  f.dedicated = false;
  return f;
}

DeviceInfo describe(const HostDeviceConfig& config) {
  if (config.heaps.empty()) {
    throw InvalidArgument(fmt::format("host device '{}': no heaps configured", config.name));
  }
  DeviceInfo info;
  info.backend = "host";
  info.name = config.name;
  info.type = DeviceType::Cpu;
  for (std::size_t i = 0; i < config.heaps.size(); ++i) {
    const HostHeapConfig& h = config.heaps[i];
    if (h.size == 0) {
      throw InvalidArgument(
          fmt::format("host device '{}': heap {} ('{}') has size 0", config.name, i, h.name));
    }
    HeapInfo heap;
    heap.index = static_cast<std::uint32_t>(i);
    heap.name = h.name.empty() ? fmt::format("heap{}", i) : h.name;
    heap.kind = h.kind;
    heap.flags = host_flags(h.kind);
    heap.size = h.size;
    heap.granularity = kHostGranularity;
    heap.driver_budget = h.size;
    heap.driver_usage = 0;
    info.heaps.push_back(heap);
  }
  info.properties.emplace_back("memory", "system allocator (posix_memalign)");
  return info;
}

}  // namespace

HostDeviceConfig HostDeviceConfig::system() {
  return {.name = "host",
          .heaps = {{.name = "system", .kind = HeapKind::Shared, .size = physical_memory_bytes()}}};
}

HostDeviceConfig HostDeviceConfig::discrete_like(std::uint64_t device_bytes,
                                                 std::uint64_t host_visible_bytes) {
  return {.name = "host (discrete-GPU layout)",
          .heaps = {{.name = "device-local", .kind = HeapKind::DeviceLocal, .size = device_bytes},
                    {.name = "upload", .kind = HeapKind::Upload, .size = host_visible_bytes},
                    {.name = "readback", .kind = HeapKind::Readback, .size = host_visible_bytes}}};
}

struct HostDevice::State {
  State(const DeviceInfo& info, bool virtual_memory) : ledger(info.heaps) {
#if defined(__linux__)
    if (virtual_memory) vm = std::make_unique<detail::HostVirtualMemory>(info, ledger);
#else
    (void)virtual_memory;
#endif
  }
  detail::BlockLedger ledger;
  std::unique_ptr<VirtualMemory> vm;  // declared last: it refers to the ledger
};

HostDevice::HostDevice(const HostDeviceConfig& config)
    : info_(describe(config)), state_(std::make_unique<State>(info_, config.virtual_memory)) {}

HostDevice::~HostDevice() {
  // Blocks still out belong to nobody once the device is gone: give the memory back.
  for (const RawBlock& block : state_->ledger.take_all()) {
    std::free(reinterpret_cast<void*>(block.address));
  }
}

HeapReport HostDevice::query_heap(std::uint32_t heap) {
  this->heap(heap);  // validates the index
  return state_->ledger.report(heap);
}

RawBlock HostDevice::try_allocate_block(std::uint32_t heap, std::uint64_t size,
                                        std::uint64_t alignment) {
  const std::uint64_t rounded = state_->ledger.checked_size(info_, heap, size, alignment);
  if (!state_->ledger.try_take(heap, rounded)) return {};
  void* memory = nullptr;
  const std::uint64_t align = std::max<std::uint64_t>(alignment, kHostGranularity);
  if (::posix_memalign(&memory, align, rounded) != 0) {
    state_->ledger.give_back(heap, rounded);
    return {};
  }
  const auto address = reinterpret_cast<std::uintptr_t>(memory);
  const RawBlock block{.id = address, .heap = heap, .size = rounded, .address = address};
  state_->ledger.add(block);
  return block;
}

void HostDevice::free_block(const RawBlock& block) {
  const RawBlock found = state_->ledger.remove(info_, block);
  std::free(reinterpret_cast<void*>(found.address));
  state_->ledger.give_back(found.heap, found.size);
}

std::byte* HostDevice::map(const RawBlock& block) {
  return reinterpret_cast<std::byte*>(state_->ledger.find(info_, block).address);
}

FenceValue HostDevice::copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                            std::uint64_t dst_offset, std::uint64_t size) {
  const RawBlock from = state_->ledger.find(info_, src);
  const RawBlock to = state_->ledger.find(info_, dst);
  detail::check_copy_range(info_, from, src_offset, to, dst_offset, size);
  // memmove: a copy within one block may overlap (defragmentation slides ranges down).
  std::memmove(reinterpret_cast<std::byte*>(to.address) + dst_offset,
               reinterpret_cast<const std::byte*>(from.address) + src_offset, size);
  return state_->ledger.next_fence();
}

bool HostDevice::is_complete(FenceValue fence) {
  detail::check_fence(info_, fence, state_->ledger.last_fence());
  return true;
}

void HostDevice::wait(FenceValue fence) { is_complete(fence); }

VirtualMemory* HostDevice::virtual_memory() noexcept { return state_->vm.get(); }

void HostDevice::set_external_usage(std::uint32_t heap, std::uint64_t bytes) {
  this->heap(heap);
  state_->ledger.set_external_usage(heap, bytes);
}

}  // namespace gpumem
