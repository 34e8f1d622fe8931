#include "gpumem/memory/manager.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "gpumem/core/budget.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/allocator_factory.hpp"

namespace gpumem {

struct Manager::TagState {
  TagState(Tag t, BudgetLimits limits) : tag(t), counter(limits) {}
  Tag tag;
  BudgetCounter counter;
  std::atomic<bool> soft_warned{false};
};

Manager::Manager(std::shared_ptr<Device> device, Config config)
    : device_(std::move(device)),
      config_((config.validate(), std::move(config))),
      registry_(config_.tracking),
      metrics_(device_ ? device_->info().heaps : std::vector<HeapInfo>{}) {
  if (!device_) throw InvalidArgument("Manager: the device is null");
  const std::vector<HeapInfo>& heaps = device_->info().heaps;
  if (heaps.empty()) {
    throw InvalidArgument(fmt::format("Manager: device '{}' has no heaps", device_->info().name));
  }
  for (const auto& entry : config_.heap_budgets) {
    const std::string& name = entry.first;
    const bool known = std::any_of(heaps.begin(), heaps.end(),
                                   [&name](const HeapInfo& h) { return h.name == name; });
    if (!known) {
      throw InvalidArgument(fmt::format(
          "invalid Config: heap_budgets names heap '{}', which device '{}' does not have", name,
          device_->info().name));
    }
  }
  for (const HeapInfo& heap : heaps) {
    governors_.push_back(
        std::make_unique<HeapGovernor>(*device_, heap.index, config_, metrics_, subscribers_));
    const AllocatorKind kind = uses_host_visible_budget(heap.kind) ? config_.allocators.host_visible
                                                                   : config_.allocators.device;
    allocators_.push_back(make_heap_allocator(kind, *governors_.back()));
    auto& slot = heap_for_kind_[static_cast<std::size_t>(heap.kind)];
    if (!slot) slot = heap.index;
  }
  for (const auto& [name, limits] : config_.tag_budgets) {
    tag_states_.push_back(std::make_unique<TagState>(Tag(name), limits));
  }
  refresh_driver_figures();
}

Manager::~Manager() {
  if (registry_.live_count() != 0) {
    const LeakReport report = registry_.leak_report();
    if (config_.on_leak) {
      config_.on_leak(report);
    } else {
      log_message(LogLevel::Warning, fmt::format("memory manager on '{}' destroyed with {}",
                                                 device_->info().name, report.to_string(heaps())));
    }
    // The device may outlive us: give its memory back so its own books balance.
    for (const AllocationRecord& record : report.leaks) release_memory(record);
  }
  for (auto& allocator : allocators_) allocator->trim();
}

const HeapInfo& Manager::checked_heap(std::uint32_t heap) const { return device_->heap(heap); }

std::uint32_t Manager::heap_for(HeapKind kind) const {
  const auto first_of = [this](HeapKind k) { return heap_for_kind_[static_cast<std::size_t>(k)]; };
  if (const auto exact = first_of(kind)) return *exact;
  // CUDA has no write-combined or cached device-mapped heaps: staging goes through pinned memory.
  if (kind == HeapKind::Upload || kind == HeapKind::Readback) {
    if (const auto pinned = first_of(HeapKind::PinnedHost)) return *pinned;
  }
  if (const auto shared = first_of(HeapKind::Shared)) return *shared;
  throw InvalidArgument(fmt::format("device '{}' has no {} heap and no shared heap",
                                    device_->info().name, to_string(kind)));
}

std::uint32_t Manager::resolve_heap(const AllocationRequest& request) const {
  if (request.heap) return checked_heap(*request.heap).index;
  return heap_for(request.kind);
}

Manager::TagState* Manager::tag_state(const Tag& tag) const noexcept {
  if (tag.empty()) return nullptr;
  for (const auto& state : tag_states_) {
    if (state->tag == tag) return state.get();
  }
  return nullptr;
}

MemoryFacts Manager::facts(std::uint32_t heap, std::uint64_t requested, const TagState* tag) const {
  const HeapGovernor& g = *governors_[heap];
  MemoryFacts f{.heap = heaps()[heap].name,
                .requested = requested,
                .budget = g.budget().hard(),
                .usage = g.budget().usage(),
                .pressure = g.pressure()};
  if (tag != nullptr) {
    f.tag = std::string(tag->tag.name());
    f.budget = tag->counter.hard();
    f.usage = tag->counter.used();
  }
  return f;
}

Allocation Manager::allocate(const AllocationRequest& request) {
  return allocate_impl(request, true);
}

Allocation Manager::try_allocate(const AllocationRequest& request) {
  return allocate_impl(request, false);
}

Allocation Manager::allocate_dedicated(const AllocationRequest& request,
                                       const BlockMaker& make_block) {
  if (!make_block) throw InvalidArgument("allocate_dedicated: the block maker is empty");
  return allocate_impl(request, true, &make_block);
}

Placement Manager::place_dedicated(std::uint32_t heap, std::uint64_t size,
                                   const BlockMaker& make_block) {
  HeapGovernor& governor = *governors_[heap];
  std::uint64_t expected = 0;
  if (!align_up(size, heaps()[heap].granularity, expected) || !governor.reserve(expected)) {
    return {.refusal = GrowthRefusal::Budget};
  }
  RawBlock block;
  try {
    block = make_block(heap, size);
  } catch (...) {
    governor.unreserve(expected);
    throw;
  }
  if (!block) {
    governor.unreserve(expected);
    return {.refusal = GrowthRefusal::Device};
  }
  if (block.size != expected) {  // the maker rounded its own way: count what it made
    governor.unreserve(expected);
    if (!governor.reserve(block.size)) {
      device_->free_block(block);
      return {.refusal = GrowthRefusal::Budget};
    }
  }
  return {.block = block, .size = block.size};
}

Allocation Manager::allocate_impl(const AllocationRequest& request, bool throw_on_failure,
                                  const BlockMaker* make_block) {
  const std::uint32_t heap = resolve_heap(request);
  const HeapInfo& info = heaps()[heap];
  if (request.alignment != 0 && !is_power_of_two(request.alignment)) {
    throw InvalidArgument(fmt::format("allocate: alignment {} on heap '{}' is not a power of two",
                                      request.alignment, info.name));
  }
  // The allocator rounds as its memory needs (the direct one to the heap's granularity, pools
  // and the arena to 256 B): rounding here would hide the arena's gains on fine-grained sizes.
  const std::uint64_t alignment = request.alignment != 0 ? request.alignment : kDefaultAlignment;
  if (request.size > info.size) {
    const bool negative = request.size > (std::uint64_t{1} << 63);
    throw InvalidArgument(fmt::format("allocate: {} bytes{} is more than the whole heap '{}' ({})",
                                      request.size,
                                      negative ? " (a negative size converted to unsigned?)" : "",
                                      info.name, format_bytes(info.size)));
  }

  HeapGovernor& governor = *governors_[heap];
  TagState* tag = tag_state(request.tag);
  Placement placement;
  if (request.size != 0) {
    if (tag != nullptr && !tag->counter.try_reserve(request.size)) {
      metrics_.count(MetricsRecorder::Event::BudgetRefusal);
      if (!throw_on_failure) return {};
      throw BudgetExceeded(facts(heap, request.size, tag));
    }
    try {
      placement = make_block != nullptr
                      ? place_dedicated(heap, request.size, *make_block)
                      : allocators_[heap]->allocate(request.size, alignment, request.movable);
    } catch (...) {
      if (tag != nullptr) tag->counter.release(request.size);
      throw;
    }
    if (!placement) {
      if (tag != nullptr) tag->counter.release(request.size);
      if (placement.refusal == GrowthRefusal::Device) {
        metrics_.count(MetricsRecorder::Event::OutOfMemory);
      }
      if (!throw_on_failure) return {};
      if (placement.refusal == GrowthRefusal::Budget) {
        throw BudgetExceeded(facts(heap, request.size, nullptr));
      }
      throw OutOfMemory(facts(heap, request.size, nullptr),
                        fmt::format("device '{}' could not provide {} aligned to {}",
                                    device_->info().name, format_bytes(request.size), alignment));
    }
  }

  AllocationRecord record{.size = request.size,
                          .reserved = placement.size,
                          .heap = heap,
                          .category = request.category,
                          .tag = request.tag,
                          .block = placement.block,
                          .offset = placement.offset,
                          .allocator_token = placement.token,
                          .dedicated = make_block != nullptr};
  AllocationHandle handle;
  try {
    handle = registry_.insert(std::move(record));
  } catch (...) {
    if (placement) give_back(heap, placement, make_block != nullptr);
    if (tag != nullptr) tag->counter.release(request.size);
    throw;
  }
  metrics_.on_allocate(heap, request.category, request.size);
  if (tag != nullptr && tag->counter.used() > tag->counter.soft() &&
      !tag->soft_warned.exchange(true)) {
    metrics_.count(MetricsRecorder::Event::SoftLimitCrossing);
    log_message(LogLevel::Warning,
                fmt::format("tag '{}' crossed its soft limit: {} of {} (hard limit {})",
                            tag->tag.name(), format_bytes(tag->counter.used()),
                            format_bytes(tag->counter.soft()), format_bytes(tag->counter.hard())));
  }
  governor.maybe_refresh();

  Allocation allocation;
  allocation.manager_ = this;
  allocation.handle_ = handle;
  allocation.size_ = request.size;
  allocation.heap_ = heap;
  allocation.category_ = request.category;
  return allocation;
}

void Manager::free(const AllocationHandle& handle) {
  const AllocationRecord record = registry_.remove(handle);
  release_memory(record);
}

void Manager::free_noexcept(const AllocationHandle& handle) noexcept {
  try {
    free(handle);
  } catch (const std::exception& e) {
    log_message(LogLevel::Error,
                fmt::format("freeing allocation #{} failed: {}", handle.id, e.what()));
  }
}

void Manager::release_memory(const AllocationRecord& record) noexcept {
  metrics_.on_free(record.heap, record.category, record.size);
  if (!record.block) return;  // a zero-byte allocation holds nothing
  give_back(record.heap,
            {.block = record.block,
             .offset = record.offset,
             .size = record.reserved,
             .token = record.allocator_token},
            record.dedicated);
  if (TagState* tag = tag_state(record.tag)) {
    tag->counter.release(record.size);
    if (tag->counter.used() <= tag->counter.soft()) tag->soft_warned.store(false);
  }
}

void Manager::give_back(std::uint32_t heap, const Placement& placement, bool dedicated) noexcept {
  if (!dedicated) {
    allocators_[heap]->deallocate(placement);
    return;
  }
  try {
    device_->free_block(placement.block);
  } catch (const std::exception& e) {
    log_message(LogLevel::Error, fmt::format("freeing a dedicated block of heap '{}': {}",
                                             heaps()[heap].name, e.what()));
  }
  governors_[heap]->unreserve(placement.size);
}

void Manager::refresh_driver_figures() {
  for (auto& governor : governors_) {
    governor->refresh();
  }
  // Budgets may have moved: let pressure follow (a zero-byte reservation changes nothing else).
  for (auto& governor : governors_) governor->unreserve(0);
}

void Manager::trim() {
  for (auto& allocator : allocators_) allocator->trim();
}

DefragResult Manager::defragment(std::uint32_t heap, const DefragLimits& limits) {
  const std::uint32_t index = checked_heap(heap).index;
  // Allocators report moves by placement; the registry knows allocations by handle.
  std::map<std::pair<std::uint64_t, std::uint64_t>, AllocationHandle> by_place;
  const auto index_heap = [&] {
    by_place.clear();
    registry_.for_each_live([&](const AllocationHandle& handle, const AllocationRecord& record) {
      if (record.heap == index && record.block) {
        by_place.emplace(std::pair{record.block.id, record.offset}, handle);
      }
    });
  };
  index_heap();
  return allocators_[index]->defragment(limits, [&](const Placement& from, const Placement& to) {
    auto it = by_place.find({from.block.id, from.offset});
    if (it == by_place.end()) {
      index_heap();  // made on another thread since the pass began
      it = by_place.find({from.block.id, from.offset});
    }
    if (it == by_place.end()) {
      log_message(LogLevel::Error,
                  fmt::format("defragmentation moved an allocation at block {:#x} + {} that "
                              "the manager does not know; its records are unchanged",
                              from.block.id, from.offset));
      return;
    }
    registry_.relocate(it->second, to.block, to.offset, to.token);
  });
}

const HeapAllocator& Manager::allocator(std::uint32_t heap) const {
  return *allocators_[checked_heap(heap).index];
}

void Manager::check_budget(std::uint64_t bytes, std::uint32_t heap) const {
  if (would_exceed(bytes, heap)) throw BudgetExceeded(facts(heap, bytes, nullptr));
}

void Manager::check_budget(std::uint64_t bytes, HeapKind kind) const {
  check_budget(bytes, heap_for(kind));
}

bool Manager::would_exceed(std::uint64_t bytes, std::uint32_t heap) const {
  return governors_[checked_heap(heap).index]->budget().would_exceed(bytes);
}

bool Manager::would_exceed(std::uint64_t bytes, HeapKind kind) const {
  return would_exceed(bytes, heap_for(kind));
}

bool Manager::within_budget() const noexcept {
  return std::all_of(governors_.begin(), governors_.end(),
                     [](const auto& g) { return g->budget().within_budget(); });
}

BudgetStatus Manager::budget(std::uint32_t heap) const {
  const HeapGovernor& g = *governors_[checked_heap(heap).index];
  return {.heap = heap,
          .soft = g.budget().soft(),
          .hard = g.budget().hard(),
          .own = g.budget().own_usage(),
          .external = g.budget().external(),
          .usage = g.budget().usage(),
          .pressure = g.pressure()};
}

PressureLevel Manager::pressure(std::uint32_t heap) const {
  return governors_[checked_heap(heap).index]->pressure();
}

PressureLevel Manager::pressure() const noexcept {
  PressureLevel highest = PressureLevel::Low;
  for (const auto& g : governors_) highest = std::max(highest, g->pressure());
  return highest;
}

PressureSubscribers::Id Manager::on_pressure(PressureCallback callback) {
  return subscribers_.subscribe(std::move(callback));
}

bool Manager::remove_pressure_callback(PressureSubscribers::Id id) {
  return subscribers_.unsubscribe(id);
}

MetricsSnapshot Manager::metrics() const {
  MetricsSnapshot snapshot = metrics_.snapshot();
  for (HeapFigures& h : snapshot.heaps) {
    governors_[h.heap]->describe(h);
    snapshot.within_budget = snapshot.within_budget && h.within_budget;
  }
  return snapshot;
}

void Manager::reset_peak() noexcept { metrics_.reset_peak(); }

std::vector<AllocationRecord> Manager::live_allocations() const { return registry_.live(); }

std::vector<AllocationRecord> Manager::older_than(Clock::duration age) const {
  return registry_.older_than(age);
}

LeakReport Manager::leak_report() const { return registry_.leak_report(); }

// ---- Allocation ----------------------------------------------------------------------------

Allocation::Allocation(Allocation&& other) noexcept
    : manager_(std::exchange(other.manager_, nullptr)),
      handle_(std::exchange(other.handle_, {})),
      size_(other.size_),
      heap_(other.heap_),
      category_(other.category_) {}

Allocation& Allocation::operator=(Allocation&& other) noexcept {
  if (this != &other) {
    reset();
    manager_ = std::exchange(other.manager_, nullptr);
    handle_ = std::exchange(other.handle_, {});
    size_ = other.size_;
    heap_ = other.heap_;
    category_ = other.category_;
  }
  return *this;
}

Allocation::~Allocation() { reset(); }

void Allocation::reset() {
  if (manager_ == nullptr) return;
  Manager* manager = std::exchange(manager_, nullptr);
  manager->free_noexcept(std::exchange(handle_, {}));
}

AllocationHandle Allocation::release() noexcept {
  manager_ = nullptr;
  return std::exchange(handle_, {});
}

AllocationRegistry::Location Allocation::location() const {
  if (manager_ == nullptr) throw InvalidArgument("the allocation is empty");
  return manager_->registry_.locate(handle_);
}

std::uint64_t Allocation::address() const {
  const auto where = location();
  return where.block ? where.block.address + where.offset : 0;
}

RawBlock Allocation::block() const { return location().block; }

std::uint64_t Allocation::offset() const { return location().offset; }

std::byte* Allocation::map() const {
  const auto where = location();
  if (!where.block) {
    throw InvalidArgument(fmt::format("map: allocation #{} has size 0", handle_.id));
  }
  return manager_->device().map(where.block) + where.offset;
}

}  // namespace gpumem
