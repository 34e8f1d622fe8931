// What the page-mapped arena's tests share: a 1 GiB simulated GPU with 2 MiB pages and a plain
// budget (ArenaFixture), and a device whose virtual memory fails on demand (FaultyDevice), so
// that refusals and driver failures are set directly.
#pragma once

#include <atomic>
#include <cstdint>

#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/block_source.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"

namespace gpumem::test_support {

inline constexpr std::uint64_t kPage = 2 * kMiB;

// A BlockSource with a plain hard limit and a switch for the soft limit, so budget refusals and
// pressure are set directly rather than through a Config.
class TestSource final : public BlockSource {
 public:
  TestSource(Device& device, std::uint64_t hard) : device_(device), hard_(hard) {}
  Device& device() noexcept override { return device_; }
  const HeapInfo& heap() const noexcept override { return device_.info().heaps[0]; }
  bool reserve(std::uint64_t bytes) noexcept override {
    std::uint64_t used = reserved_.load();
    do {
      if (bytes > hard_ - used) return false;
    } while (!reserved_.compare_exchange_weak(used, used + bytes));
    return true;
  }
  void unreserve(std::uint64_t bytes) noexcept override { reserved_ -= bytes; }
  bool fits_soft_limit(std::uint64_t) const noexcept override { return !over_soft_limit; }

  std::uint64_t reserved() const { return reserved_.load(); }
  std::atomic<bool> over_soft_limit{false};

 private:
  Device& device_;
  std::uint64_t hard_;
  std::atomic<std::uint64_t> reserved_{0};
};

// The simulator's virtual memory with failures on demand: the call after `maps_until_failure`
// successful maps (or unmaps) throws, as a driver out of resources would.
class FaultyVirtualMemory final : public VirtualMemory {
 public:
  explicit FaultyVirtualMemory(VirtualMemory& inner) : inner_(inner) {}
  std::uint64_t page_size(std::uint32_t heap) const override { return inner_.page_size(heap); }
  std::uint64_t reserve(std::uint32_t heap, std::uint64_t size) override {
    return inner_.reserve(heap, size);
  }
  void unreserve(std::uint32_t heap, std::uint64_t base, std::uint64_t size) override {
    inner_.unreserve(heap, base, size);
  }
  PhysicalMemory try_create(std::uint32_t heap, std::uint64_t pages) override {
    return inner_.try_create(heap, pages);
  }
  void release(std::uint32_t heap, PhysicalMemory memory) override { inner_.release(heap, memory); }
  void map(std::uint32_t heap, std::uint64_t address, PhysicalMemory memory) override {
    if (maps_until_failure-- == 0) throw Error("injected map failure");
    inner_.map(heap, address, memory);
  }
  void unmap(std::uint32_t heap, std::uint64_t address) override {
    if (unmaps_until_failure-- == 0) throw Error("injected unmap failure");
    inner_.unmap(heap, address);
  }
  int maps_until_failure = -1;
  int unmaps_until_failure = -1;

 private:
  VirtualMemory& inner_;
};

// A SimDevice whose virtual memory fails on demand.
class FaultyDevice final : public Device {
 public:
  FaultyDevice() : sim_(SimDeviceConfig::parse("capacity=1GiB,page=2MiB,upload=0")) {}
  const DeviceInfo& info() const noexcept override { return sim_.info(); }
  HeapReport query_heap(std::uint32_t heap) override { return sim_.query_heap(heap); }
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override {
    return sim_.try_allocate_block(heap, size, alignment);
  }
  void free_block(const RawBlock& block) override { sim_.free_block(block); }
  std::byte* map(const RawBlock& block) override { return sim_.map(block); }
  FenceValue copy(const RawBlock& s, std::uint64_t so, const RawBlock& d, std::uint64_t dof,
                  std::uint64_t n) override {
    return sim_.copy(s, so, d, dof, n);
  }
  bool is_complete(FenceValue f) override { return sim_.is_complete(f); }
  void wait(FenceValue f) override { sim_.wait(f); }
  VirtualMemory* virtual_memory() noexcept override { return &vm; }

  SimDevice sim_;
  FaultyVirtualMemory vm{*sim_.virtual_memory()};
};

// A 1 GiB simulated GPU with 2 MiB pages, its arena, and a budget of `hard` bytes.
struct ArenaFixture {
  explicit ArenaFixture(std::uint64_t hard = 1 * kGiB, ArenaOptions options = {},
                        const char* spec = "capacity=1GiB,page=2MiB,upload=0")
      : device(SimDeviceConfig::parse(spec)), source(device, hard), arena(source, options) {}

  std::uint64_t pages_held() const { return arena.stats().reserved_bytes / kPage; }
  SimDevice device;
  TestSource source;
  PageArenaAllocator arena;
};

inline std::uint64_t pages_spanned(const Placement& p) {
  return (p.offset + p.size - 1) / kPage - p.offset / kPage + 1;
}

}  // namespace gpumem::test_support
