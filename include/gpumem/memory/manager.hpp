// The memory manager: what an application holds to allocate device memory within budgets.
//
// A Manager sits on one Device. Every request is checked against the heap's hard budget (and
// its tag's, if the tag has one) in O(1) before the device is asked, so a hard limit is never
// crossed; every allocation is recorded (id, tag, size, heap, category, age, sampled stack);
// metrics, pressure levels and driver figures are kept current without calling the driver on
// the hot path. Destroying a Manager with allocations still live produces a leak report.
//
//   auto device = gpumem::open_best_device();
//   gpumem::Manager manager(std::move(device), gpumem::Config::defaults());
//   manager.on_pressure([](const gpumem::PressureEvent& e) { if (e.to >=
//   gpumem::PressureLevel::High) evict(); }); gpumem::Allocation vertices = manager.allocate({.size
//   = 32 * gpumem::kMiB, .tag = gpumem::Tag("mesh")});
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/allocation_registry.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/memory/allocation.hpp"
#include "gpumem/memory/heap_allocator.hpp"
#include "gpumem/memory/heap_governor.hpp"

namespace gpumem {

struct AllocationRequest {
  // Bytes wanted. 0 is allowed: it yields a valid, distinct allocation that holds no memory
  // (address 0), is tracked like any other and must be freed like any other.
  std::uint64_t size = 0;
  // A power of two; 0 means Manager::kDefaultAlignment (what cudaMalloc guarantees).
  std::uint64_t alignment = 0;
  // A heap index; when empty, the heap chosen for `kind` (see Manager::heap_for).
  std::optional<std::uint32_t> heap;
  HeapKind kind = HeapKind::DeviceLocal;
  Category category = Category::Buffer;
  Tag tag;
  // Whether defragmentation may move it (its address then changes; see Manager::defragment).
  bool movable = true;
};

// A heap's budget as the manager sees it now.
struct BudgetStatus {
  std::uint32_t heap = 0;
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  std::uint64_t own = 0;       // device memory held by this manager (cached memory included)
  std::uint64_t external = 0;  // used by others, per the driver's last report
  std::uint64_t usage = 0;     // counted against the limit: own, + external unless fixed
  PressureLevel pressure = PressureLevel::Low;
};

class Manager {
 public:
  static constexpr std::uint64_t kDefaultAlignment = 256;

  // Throws InvalidArgument when the config is invalid (naming the field) or device is null.
  explicit Manager(std::shared_ptr<Device> device, Config config = Config::defaults());
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Throws BudgetExceeded (hard limit of the heap or tag), OutOfMemory (the device has no room),
  // InvalidArgument (bad size, alignment or heap). Nothing is allocated when it throws.
  Allocation allocate(const AllocationRequest& request);
  // As allocate, but an empty Allocation instead of BudgetExceeded or OutOfMemory.
  Allocation try_allocate(const AllocationRequest& request);

  // Makes a block of at least `size` bytes of `heap` for one allocation alone, or returns an
  // empty block when the device has no room: memory only the caller's backend can make, such as
  // a Vulkan allocation dedicated to one image.
  using BlockMaker = std::function<RawBlock(std::uint32_t heap, std::uint64_t size)>;
  // As allocate, with the memory `make_block` makes: the bytes (the size rounded to the heap's
  // granularity) pass the heap's and the tag's hard budgets before it is called, and the
  // allocation is recorded, counted, and leak-reported like any other. It never moves, and
  // freeing it gives the block back with Device::free_block.
  Allocation allocate_dedicated(const AllocationRequest& request, const BlockMaker& make_block);
  // Frees a handle taken from Allocation::release(); InvalidHandle for a handle that is not live
  // here (freed twice, or from another manager). Nothing changes when it throws.
  void free(const AllocationHandle& handle);

  // The heap used for requests of `kind`: the first heap of that kind, else (for upload and
  // readback) a pinned host heap, else a shared heap.
  // Throws InvalidArgument when the device has neither.
  std::uint32_t heap_for(HeapKind kind) const;

  // Budgets, O(1). check_budget throws BudgetExceeded naming heap, request, budget and usage.
  void check_budget(std::uint64_t bytes, std::uint32_t heap) const;
  void check_budget(std::uint64_t bytes, HeapKind kind = HeapKind::DeviceLocal) const;
  bool would_exceed(std::uint64_t bytes, std::uint32_t heap) const;
  bool would_exceed(std::uint64_t bytes, HeapKind kind = HeapKind::DeviceLocal) const;
  bool within_budget() const noexcept;
  BudgetStatus budget(std::uint32_t heap) const;

  // Pressure, O(1), never calls the driver.
  PressureLevel pressure(std::uint32_t heap) const;
  PressureLevel pressure() const noexcept;  // the highest over all heaps
  PressureSubscribers::Id on_pressure(PressureCallback callback);
  bool remove_pressure_callback(PressureSubscribers::Id id);

  MetricsSnapshot metrics() const;
  void reset_peak() noexcept;

  std::vector<AllocationRecord> live_allocations() const;
  std::vector<AllocationRecord> older_than(Clock::duration age) const;
  LeakReport leak_report() const;

  // Asks the driver for every heap's budget and usage now (normally done by the refresh policy).
  void refresh_driver_figures();
  // Gives every heap's cached memory (held but unused) back to the device.
  void trim();

  // One incremental compaction pass over a heap's allocator within `limits` (see
  // HeapAllocator::defragment): moved allocations keep their handles, their contents are copied,
  // and address()/block()/offset() report where they are now. While it runs, movable allocations
  // of that heap must be neither freed nor used, on the CPU or the GPU. The direct allocator and
  // the arena have nothing to compact and return an empty result.
  DefragResult defragment(std::uint32_t heap, const DefragLimits& limits = {});

  // The strategy placing allocations on a heap, and its statistics.
  const HeapAllocator& allocator(std::uint32_t heap) const;

  Device& device() const noexcept { return *device_; }
  const std::vector<HeapInfo>& heaps() const noexcept { return device_->info().heaps; }
  const Config& config() const noexcept { return config_; }

 private:
  friend class Allocation;
  struct TagState;

  Allocation allocate_impl(const AllocationRequest& request, bool throw_on_failure,
                           const BlockMaker* make_block = nullptr);
  Placement place_dedicated(std::uint32_t heap, std::uint64_t size, const BlockMaker& make_block);
  std::uint32_t resolve_heap(const AllocationRequest& request) const;
  const HeapInfo& checked_heap(std::uint32_t heap) const;
  TagState* tag_state(const Tag& tag) const noexcept;
  MemoryFacts facts(std::uint32_t heap, std::uint64_t requested, const TagState* tag) const;
  void release_memory(const AllocationRecord& record) noexcept;
  // Back to the heap allocator, or to the device for a dedicated block.
  void give_back(std::uint32_t heap, const Placement& placement, bool dedicated) noexcept;
  void free_noexcept(const AllocationHandle& handle) noexcept;

  std::shared_ptr<Device> device_;
  Config config_;
  AllocationRegistry registry_;
  MetricsRecorder metrics_;
  PressureSubscribers subscribers_;
  std::vector<std::unique_ptr<HeapGovernor>> governors_;    // by heap index
  std::vector<std::unique_ptr<HeapAllocator>> allocators_;  // by heap index
  std::vector<std::unique_ptr<TagState>> tag_states_;
  std::array<std::optional<std::uint32_t>, kHeapKindCount> heap_for_kind_{};
};

}  // namespace gpumem
