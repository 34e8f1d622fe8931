#include "gpumem/memory/manager.hpp"

#include <fmt/format.h>
#include <time.h>

#include <mutex>

#include "gpumem/core/budget.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// The refresh policy is checked on every allocation, so it reads the coarse clock: a few
// nanoseconds, with millisecond resolution, which is all a refresh interval needs.
std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t distance(std::uint64_t a, std::uint64_t b) noexcept { return a > b ? a - b : b - a; }

}  // namespace

struct Manager::HeapState {
  HeapState(const HeapInfo& heap, const Config& config)
      : budget(heap, config), pressure(config.pressure, config.warning_fractions) {}

  HeapBudget budget;
  PressureMonitor pressure;
  std::atomic<bool> soft_warned{false};
  std::mutex refresh_mutex;  // one thread refreshes; the others carry on with cached figures
  std::atomic<std::int64_t> refreshed_at_ns{0};
  std::atomic<std::uint64_t> own_at_refresh{0};
};

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
    heap_states_.push_back(std::make_unique<HeapState>(heap, config_));
    auto& slot = heap_for_kind_[static_cast<std::size_t>(heap.kind)];
    if (!slot) slot = heap.index;
  }
  for (const auto& [name, limits] : config_.tag_budgets) {
    tag_states_.push_back(std::make_unique<TagState>(Tag(name), limits));
  }
  refresh_driver_figures();
}

Manager::~Manager() {
  if (registry_.live_count() == 0) return;
  const LeakReport report = registry_.leak_report();
  if (config_.on_leak) {
    config_.on_leak(report);
  } else {
    log_message(LogLevel::Warning, fmt::format("memory manager on '{}' destroyed with {}",
                                               device_->info().name, report.to_string(heaps())));
  }
  // The device may outlive us: give its memory back so its own books balance.
  for (const AllocationRecord& record : report.leaks) {
    if (record.block) device_->free_block(record.block);
  }
}

const HeapInfo& Manager::checked_heap(std::uint32_t heap) const { return device_->heap(heap); }

std::uint32_t Manager::heap_for(HeapKind kind) const {
  if (const auto& exact = heap_for_kind_[static_cast<std::size_t>(kind)]) return *exact;
  if (const auto& shared = heap_for_kind_[static_cast<std::size_t>(HeapKind::Shared)])
    return *shared;
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
  const HeapState& state = *heap_states_[heap];
  MemoryFacts f{.heap = heaps()[heap].name,
                .requested = requested,
                .budget = state.budget.hard(),
                .usage = state.budget.usage(),
                .pressure = state.pressure.level()};
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

Allocation Manager::allocate_impl(const AllocationRequest& request, bool throw_on_failure) {
  const std::uint32_t heap = resolve_heap(request);
  const HeapInfo& info = heaps()[heap];
  if (request.alignment != 0 && !is_power_of_two(request.alignment)) {
    throw InvalidArgument(fmt::format("allocate: alignment {} on heap '{}' is not a power of two",
                                      request.alignment, info.name));
  }
  const std::uint64_t alignment = std::max(request.alignment, info.granularity);
  std::uint64_t reserved = 0;
  if (request.size > info.size || !align_up(request.size, alignment, reserved)) {
    const bool negative = request.size > (std::uint64_t{1} << 63);
    throw InvalidArgument(fmt::format("allocate: {} bytes{} is more than the whole heap '{}' ({})",
                                      request.size,
                                      negative ? " (a negative size converted to unsigned?)" : "",
                                      info.name, format_bytes(info.size)));
  }

  HeapState& state = *heap_states_[heap];
  TagState* tag = tag_state(request.tag);
  RawBlock block;
  if (reserved != 0) {
    if (!state.budget.try_reserve(reserved)) {
      metrics_.count(MetricsRecorder::Event::BudgetRefusal);
      if (!throw_on_failure) return {};
      throw BudgetExceeded(facts(heap, request.size, nullptr));
    }
    if (tag != nullptr && !tag->counter.try_reserve(reserved)) {
      state.budget.release(reserved);
      metrics_.count(MetricsRecorder::Event::BudgetRefusal);
      if (!throw_on_failure) return {};
      throw BudgetExceeded(facts(heap, request.size, tag));
    }
    block = device_->try_allocate_block(heap, reserved, alignment);
    if (!block) {
      state.budget.release(reserved);
      if (tag != nullptr) tag->counter.release(reserved);
      metrics_.count(MetricsRecorder::Event::OutOfMemory);
      if (!throw_on_failure) return {};
      throw OutOfMemory(facts(heap, request.size, nullptr),
                        fmt::format("device '{}' could not provide {}", device_->info().name,
                                    format_bytes(reserved)));
    }
  }

  AllocationRecord record{.size = request.size,
                          .reserved = reserved,
                          .heap = heap,
                          .category = request.category,
                          .tag = request.tag,
                          .block = block};
  AllocationHandle handle;
  try {
    handle = registry_.insert(std::move(record));
  } catch (...) {
    if (block) device_->free_block(block);
    state.budget.release(reserved);
    if (tag != nullptr) tag->counter.release(reserved);
    throw;
  }
  metrics_.on_allocate(heap, request.category, request.size, reserved);

  if (reserved != 0) {
    if (state.budget.usage() > state.budget.soft() && !state.soft_warned.exchange(true)) {
      metrics_.count(MetricsRecorder::Event::SoftLimitCrossing);
      log_message(
          LogLevel::Warning,
          fmt::format("heap '{}' crossed its soft limit: {} of {} (hard limit {})", info.name,
                      format_bytes(state.budget.usage()), format_bytes(state.budget.soft()),
                      format_bytes(state.budget.hard())));
    }
    if (tag != nullptr && tag->counter.used() > tag->counter.soft() &&
        !tag->soft_warned.exchange(true)) {
      metrics_.count(MetricsRecorder::Event::SoftLimitCrossing);
      log_message(
          LogLevel::Warning,
          fmt::format("tag '{}' crossed its soft limit: {} of {} (hard limit {})", tag->tag.name(),
                      format_bytes(tag->counter.used()), format_bytes(tag->counter.soft()),
                      format_bytes(tag->counter.hard())));
    }
    maybe_refresh(heap);
    after_change(heap);
  }

  Allocation allocation;
  allocation.manager_ = this;
  allocation.handle_ = handle;
  allocation.size_ = request.size;
  allocation.heap_ = heap;
  allocation.category_ = request.category;
  allocation.block_ = block;
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
  const std::uint32_t heap = record.heap;
  metrics_.on_free(heap, record.category, record.size, record.reserved);
  if (record.reserved == 0) return;
  HeapState& state = *heap_states_[heap];
  try {
    device_->free_block(record.block);
  } catch (const std::exception& e) {
    // The registry vouched for this block, so the device refusing it is a backend bug; keep
    // our books as if it had been freed rather than leak the budget.
    log_message(LogLevel::Error,
                fmt::format("device refused block of allocation #{}: {}", record.id, e.what()));
  }
  state.budget.release(record.reserved);
  if (state.budget.usage() <= state.budget.soft()) state.soft_warned.store(false);
  if (TagState* tag = tag_state(record.tag)) {
    tag->counter.release(record.reserved);
    if (tag->counter.used() <= tag->counter.soft()) tag->soft_warned.store(false);
  }
  after_change(heap);
}

void Manager::after_change(std::uint32_t heap) {
  HeapState& state = *heap_states_[heap];
  PressureUpdate update = state.pressure.update(state.budget.usage_fraction());
  if (!update.transition && update.warnings.empty()) return;
  const HeapInfo& info = heaps()[heap];
  for (double at : update.warnings) {
    log_message(
        LogLevel::Warning,
        fmt::format("heap '{}' is over {:.0f}% of its budget: {} of {}", info.name, at * 100.0,
                    format_bytes(state.budget.usage()), format_bytes(state.budget.hard())));
  }
  if (update.transition) {
    subscribers_.notify({.heap = heap,
                         .heap_name = info.name,
                         .from = update.transition->from,
                         .to = update.transition->to,
                         .usage = state.budget.usage(),
                         .budget = state.budget.hard()});
  }
}

void Manager::maybe_refresh(std::uint32_t heap) {
  HeapState& state = *heap_states_[heap];
  const std::int64_t now = coarse_now_ns();
  const bool stale = now - state.refreshed_at_ns.load(std::memory_order_relaxed) >=
                     std::chrono::nanoseconds(config_.refresh.max_age).count();
  const bool moved =
      distance(state.budget.own_usage(), state.own_at_refresh.load(std::memory_order_relaxed)) >=
      config_.refresh.max_bytes;
  if (stale || moved) refresh_heap(heap);
}

void Manager::refresh_heap(std::uint32_t heap) {
  HeapState& state = *heap_states_[heap];
  std::unique_lock lock(state.refresh_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is refreshing this heap right now
  const HeapReport report = device_->query_heap(heap);
  state.budget.update_from_driver(report.budget, report.usage, config_);
  state.own_at_refresh.store(state.budget.own_usage(), std::memory_order_relaxed);
  state.refreshed_at_ns.store(coarse_now_ns(), std::memory_order_relaxed);
  metrics_.count(MetricsRecorder::Event::DriverRefresh);
}

void Manager::refresh_driver_figures() {
  for (std::uint32_t heap = 0; heap < heap_states_.size(); ++heap) {
    refresh_heap(heap);
    after_change(heap);
  }
}

void Manager::check_budget(std::uint64_t bytes, std::uint32_t heap) const {
  if (would_exceed(bytes, heap)) throw BudgetExceeded(facts(heap, bytes, nullptr));
}

void Manager::check_budget(std::uint64_t bytes, HeapKind kind) const {
  check_budget(bytes, heap_for(kind));
}

bool Manager::would_exceed(std::uint64_t bytes, std::uint32_t heap) const {
  return heap_states_[checked_heap(heap).index]->budget.would_exceed(bytes);
}

bool Manager::would_exceed(std::uint64_t bytes, HeapKind kind) const {
  return would_exceed(bytes, heap_for(kind));
}

bool Manager::within_budget() const noexcept {
  return std::all_of(heap_states_.begin(), heap_states_.end(),
                     [](const auto& s) { return s->budget.within_budget(); });
}

BudgetStatus Manager::budget(std::uint32_t heap) const {
  const HeapState& s = *heap_states_[checked_heap(heap).index];
  return {.heap = heap,
          .soft = s.budget.soft(),
          .hard = s.budget.hard(),
          .own = s.budget.own_usage(),
          .external = s.budget.external(),
          .usage = s.budget.usage(),
          .pressure = s.pressure.level()};
}

PressureLevel Manager::pressure(std::uint32_t heap) const {
  return heap_states_[checked_heap(heap).index]->pressure.level();
}

PressureLevel Manager::pressure() const noexcept {
  PressureLevel highest = PressureLevel::Low;
  for (const auto& s : heap_states_) highest = std::max(highest, s->pressure.level());
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
    const HeapState& s = *heap_states_[h.heap];
    h.budget_soft = s.budget.soft();
    h.budget_hard = s.budget.hard();
    h.external_bytes = s.budget.external();
    h.driver_budget = s.budget.driver_budget().value_or(0);
    h.driver_usage = s.budget.driver_usage().value_or(0);
    h.within_budget = s.budget.within_budget();
    h.pressure = s.pressure.level();
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
      category_(other.category_),
      block_(other.block_),
      offset_(other.offset_) {}

Allocation& Allocation::operator=(Allocation&& other) noexcept {
  if (this != &other) {
    reset();
    manager_ = std::exchange(other.manager_, nullptr);
    handle_ = std::exchange(other.handle_, {});
    size_ = other.size_;
    heap_ = other.heap_;
    category_ = other.category_;
    block_ = other.block_;
    offset_ = other.offset_;
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

std::byte* Allocation::map() const {
  if (manager_ == nullptr) throw InvalidArgument("map: the allocation is empty");
  if (!block_) throw InvalidArgument(fmt::format("map: allocation #{} has size 0", handle_.id));
  return manager_->device().map(block_) + offset_;
}

}  // namespace gpumem
