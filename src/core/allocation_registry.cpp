#include "gpumem/core/allocation_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

std::atomic<std::uint64_t> g_next_id{1};
std::atomic<std::uint32_t> g_next_owner{1};
std::atomic<std::uint32_t> g_next_thread_shard{0};

std::uint32_t this_thread_shard(std::uint32_t shards) {
  thread_local const std::uint32_t shard = g_next_thread_shard.fetch_add(1);
  return shard % shards;
}

std::string format_age(Clock::duration age) {
  const double seconds = std::chrono::duration<double>(age).count();
  if (seconds < 1.0) return fmt::format("{:.1f} ms", seconds * 1e3);
  if (seconds < 120.0) return fmt::format("{:.1f} s", seconds);
  return fmt::format("{:.1f} min", seconds / 60.0);
}

}  // namespace

AllocationRegistry::AllocationRegistry(TrackingConfig tracking)
    : tracking_(tracking), owner_(g_next_owner.fetch_add(1)), shards_(new Shard[kShards]) {}

AllocationRegistry::~AllocationRegistry() = default;

AllocationHandle AllocationRegistry::insert(AllocationRecord record) {
  record.id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  if (tracking_.enabled) {
    record.created = Clock::now();
    if (tracking_.stack_sample_every != 0 &&
        sample_counter_.fetch_add(1, std::memory_order_relaxed) % tracking_.stack_sample_every ==
            0) {
      // Frames of gpumem itself are dropped when the report is printed (see LeakReport).
      record.stack =
          std::make_shared<const StackTrace>(StackTrace::capture(1, tracking_.stack_depth + 4));
    }
  }
  const std::uint32_t shard_index = this_thread_shard(kShards);
  Shard& shard = shards_[shard_index];
  const std::uint64_t id = record.id;
  std::uint32_t index = 0;
  {
    std::lock_guard lock(shard.mutex);
    if (!shard.free_slots.empty()) {
      index = shard.free_slots.back();
      shard.free_slots.pop_back();
      shard.slots[index] = Slot{std::move(record), true};
    } else {
      if (shard.slots.size() >= (UINT32_MAX >> kShardBits)) {
        throw OutOfMemory({.heap = "allocation registry", .requested = 1},
                          "more than 268 million live allocations in one shard");
      }
      index = static_cast<std::uint32_t>(shard.slots.size());
      shard.slots.push_back(Slot{std::move(record), true});
    }
  }
  live_count_.fetch_add(1, std::memory_order_relaxed);
  return {.id = id, .slot = (index << kShardBits) | shard_index, .owner = owner_};
}

AllocationRegistry::Shard& AllocationRegistry::shard_of(const AllocationHandle& handle) const {
  if (!handle) throw InvalidHandle("empty allocation handle (default-constructed or released)");
  if (handle.owner != owner_) {
    throw InvalidHandle(fmt::format(
        "allocation #{} belongs to manager #{}, not to this manager (#{}): a foreign handle",
        handle.id, handle.owner, owner_));
  }
  return shards_[handle.slot & (kShards - 1)];
}

AllocationRegistry::Slot& AllocationRegistry::live_slot(Shard& shard,
                                                        const AllocationHandle& handle) const {
  const std::uint32_t index = handle.slot >> kShardBits;
  if (index >= shard.slots.size() || !shard.slots[index].live ||
      shard.slots[index].record.id != handle.id) {
    throw InvalidHandle(fmt::format(
        "allocation #{} is not live in manager #{}: freed twice, or the handle was forged",
        handle.id, owner_));
  }
  return shard.slots[index];
}

AllocationRecord AllocationRegistry::remove(const AllocationHandle& handle) {
  Shard& shard = shard_of(handle);
  AllocationRecord record;
  {
    std::lock_guard lock(shard.mutex);
    Slot& slot = live_slot(shard, handle);
    record = std::move(slot.record);
    slot.live = false;
    slot.record.id = 0;
    shard.free_slots.push_back(handle.slot >> kShardBits);
  }
  live_count_.fetch_sub(1, std::memory_order_relaxed);
  return record;
}

AllocationRecord AllocationRegistry::get(const AllocationHandle& handle) const {
  Shard& shard = shard_of(handle);
  std::lock_guard lock(shard.mutex);
  return live_slot(shard, handle).record;
}

AllocationRegistry::Location AllocationRegistry::locate(const AllocationHandle& handle) const {
  Shard& shard = shard_of(handle);
  std::lock_guard lock(shard.mutex);
  const AllocationRecord& r = live_slot(shard, handle).record;
  return {.block = r.block, .offset = r.offset};
}

void AllocationRegistry::relocate(const AllocationHandle& handle, const RawBlock& block,
                                  std::uint64_t offset,
                                  const std::array<std::uint64_t, 3>& allocator_token) {
  Shard& shard = shard_of(handle);
  std::lock_guard lock(shard.mutex);
  AllocationRecord& r = live_slot(shard, handle).record;
  r.block = block;
  r.offset = offset;
  r.allocator_token = allocator_token;
}

bool AllocationRegistry::contains(const AllocationHandle& handle) const noexcept {
  if (!handle || handle.owner != owner_) return false;
  Shard& shard = shards_[handle.slot & (kShards - 1)];
  std::lock_guard lock(shard.mutex);
  const std::uint32_t index = handle.slot >> kShardBits;
  return index < shard.slots.size() && shard.slots[index].live &&
         shard.slots[index].record.id == handle.id;
}

std::uint64_t AllocationRegistry::live_count() const noexcept {
  return live_count_.load(std::memory_order_relaxed);
}

template <typename Keep>
std::vector<AllocationRecord> AllocationRegistry::collect(Keep keep) const {
  std::vector<AllocationRecord> out;
  for (std::uint32_t s = 0; s < kShards; ++s) {
    std::lock_guard lock(shards_[s].mutex);
    for (const Slot& slot : shards_[s].slots) {
      if (slot.live && keep(slot.record)) out.push_back(slot.record);
    }
  }
  // Ids grow with time, so id order is creation order even when times are not tracked.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<AllocationRecord> AllocationRegistry::live() const {
  return collect([](const AllocationRecord&) { return true; });
}

std::vector<AllocationRecord> AllocationRegistry::older_than(Clock::duration age) const {
  if (!tracking_.enabled) {
    throw Unsupported("older_than needs creation times: enable Config::tracking.enabled");
  }
  const Clock::time_point cutoff = Clock::now() - age;
  return collect([cutoff](const AllocationRecord& r) { return r.created <= cutoff; });
}

LeakReport AllocationRegistry::leak_report() const {
  LeakReport report;
  report.leaks = live();
  report.taken = Clock::now();
  report.times_tracked = tracking_.enabled;
  for (const AllocationRecord& r : report.leaks) report.leaked_bytes += r.size;
  return report;
}

std::string LeakReport::to_string(const std::vector<HeapInfo>& heaps) const {
  std::string out = fmt::format("{} allocation{} still live, {} in all", leaks.size(),
                                leaks.size() == 1 ? "" : "s", format_bytes(leaked_bytes));
  for (const AllocationRecord& r : leaks) {
    const std::string heap =
        r.heap < heaps.size() ? heaps[r.heap].name : fmt::format("heap {}", r.heap);
    const std::string tag = r.tag.empty() ? "untagged" : fmt::format("'{}'", r.tag.name());
    const std::string age = times_tracked ? ", age " + format_age(r.age(taken)) : "";
    out += fmt::format("\n  #{} {} {} on {} ({}){}", r.id, tag, format_bytes(r.size), heap,
                       gpumem::to_string(r.category), age);
    if (r.stack) {
      for (const std::string& frame : r.stack->symbolize("gpumem::")) out += "\n      at " + frame;
    }
  }
  return out;
}

}  // namespace gpumem
