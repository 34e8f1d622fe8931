#include "gpumem/core/metrics.hpp"

#include <algorithm>

namespace gpumem {

// One cache line per cell so that threads allocating on different heaps or categories do not
// share lines. Each atomic read-modify-write is a locked instruction (~20 cycles), which is what
// the recorder costs, so cells keep only running sums and every other figure is derived:
// live_count = allocated - freed, freed_bytes = allocated_bytes - live_bytes. A cell is used
// either for totals (a heap and category pair) or for live and peak bytes, never both.
struct alignas(64) MetricsRecorder::Cell {
  std::atomic<std::uint64_t> live_bytes{0};
  std::atomic<std::uint64_t> peak_bytes{0};
  std::atomic<std::uint64_t> allocated_count{0};
  std::atomic<std::uint64_t> allocated_bytes{0};
  std::atomic<std::uint64_t> freed_count{0};

  void add_live(std::uint64_t bytes) noexcept {
    const std::uint64_t now = live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    std::uint64_t peak = peak_bytes.load(std::memory_order_relaxed);
    while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void remove_live(std::uint64_t bytes) noexcept {
    live_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }
  void count_allocation(std::uint64_t bytes) noexcept {
    allocated_count.fetch_add(1, std::memory_order_relaxed);
    allocated_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  void count_free() noexcept { freed_count.fetch_add(1, std::memory_order_relaxed); }

  // Adds this cell's totals to `into`: allocated count and bytes, and live count. The
  // allocations are read first (acquire: the frees after them), so a free seen without its
  // allocation makes the live count low (clamped at 0), never higher than it ever was.
  void add_totals_to(UsageFigures& into) const noexcept {
    const std::uint64_t allocated = allocated_count.load(std::memory_order_acquire);
    const std::uint64_t freed = std::min(freed_count.load(std::memory_order_relaxed), allocated);
    into.allocated_count += allocated;
    into.live_count += allocated - freed;
    into.allocated_bytes += allocated_bytes.load(std::memory_order_relaxed);
  }
  // Completes figures whose totals add_totals_to() summed with this cell's live and peak bytes.
  // The totals were updated before the live bytes and read before them, so allocated bytes are
  // never seen below live ones, but clamped all the same.
  void complete(UsageFigures& f) const noexcept {
    f.freed_count = f.allocated_count - f.live_count;
    f.live_bytes = live_bytes.load(std::memory_order_relaxed);
    f.peak_bytes = std::max(peak(), f.live_bytes);
    f.allocated_bytes = std::max(f.allocated_bytes, f.live_bytes);
    f.freed_bytes = f.allocated_bytes - f.live_bytes;
  }
  std::uint64_t peak() const noexcept { return peak_bytes.load(std::memory_order_relaxed); }
  void reset_peak() noexcept {
    peak_bytes.store(live_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
};

namespace {

void accumulate(UsageFigures& into, const UsageFigures& f) {
  into.live_count += f.live_count;
  into.live_bytes += f.live_bytes;
  into.allocated_count += f.allocated_count;
  into.allocated_bytes += f.allocated_bytes;
  into.freed_count += f.freed_count;
  into.freed_bytes += f.freed_bytes;
}

}  // namespace

MetricsRecorder::MetricsRecorder(std::vector<HeapInfo> heaps)
    : heaps_(std::move(heaps)),
      pair_cells_(new Cell[heaps_.size() * kCategoryCount]),
      heap_cells_(new Cell[heaps_.size()]),
      category_cells_(new Cell[kCategoryCount]),
      reserved_cells_(new Cell[heaps_.size()]),
      kind_peak_cells_(new Cell[kHeapKindCount]),
      total_peak_cell_(new Cell),
      shared_kind_cell_(new Cell*[heaps_.size()]) {
  for (const HeapInfo& h : heaps_) ++heaps_of_kind_[static_cast<std::size_t>(h.kind)];
  for (std::size_t i = 0; i < heaps_.size(); ++i) {
    const auto kind = static_cast<std::size_t>(heaps_[i].kind);
    shared_kind_cell_[i] = heaps_of_kind_[kind] > 1 ? &kind_peak_cells_[kind] : nullptr;
  }
}

MetricsRecorder::~MetricsRecorder() = default;

void MetricsRecorder::on_allocate(std::uint32_t heap, Category category,
                                  std::uint64_t bytes) noexcept {
  const auto c = static_cast<std::size_t>(category);
  // Totals first, live second: a concurrent reader never sees more live than allocated.
  pair_cells_[heap * kCategoryCount + c].count_allocation(bytes);
  heap_cells_[heap].add_live(bytes);
  category_cells_[c].add_live(bytes);
  if (Cell* kind = shared_kind_cell_[heap]) kind->add_live(bytes);
  if (heaps_.size() > 1) total_peak_cell_->add_live(bytes);
}

void MetricsRecorder::on_free(std::uint32_t heap, Category category, std::uint64_t bytes) noexcept {
  const auto c = static_cast<std::size_t>(category);
  heap_cells_[heap].remove_live(bytes);
  category_cells_[c].remove_live(bytes);
  if (Cell* kind = shared_kind_cell_[heap]) kind->remove_live(bytes);
  if (heaps_.size() > 1) total_peak_cell_->remove_live(bytes);
  pair_cells_[heap * kCategoryCount + c].count_free();
}

void MetricsRecorder::on_reserve(std::uint32_t heap, std::uint64_t bytes) noexcept {
  reserved_cells_[heap].add_live(bytes);
}

void MetricsRecorder::on_unreserve(std::uint32_t heap, std::uint64_t bytes) noexcept {
  reserved_cells_[heap].remove_live(bytes);
}

void MetricsRecorder::count(Event event, std::uint64_t n) noexcept {
  events_[static_cast<std::size_t>(event)].fetch_add(n, std::memory_order_relaxed);
}

MetricsSnapshot MetricsRecorder::snapshot() const {
  MetricsSnapshot s;
  s.heaps.reserve(heaps_.size());
  for (std::size_t i = 0; i < heaps_.size(); ++i) {
    HeapFigures h;
    h.heap = static_cast<std::uint32_t>(i);
    h.name = heaps_[i].name;
    h.kind = heaps_[i].kind;
    for (std::size_t c = 0; c < kCategoryCount; ++c) {
      pair_cells_[i * kCategoryCount + c].add_totals_to(h.usage);
    }
    heap_cells_[i].complete(h.usage);
    UsageFigures reserved;
    reserved_cells_[i].complete(reserved);
    h.reserved_bytes = reserved.live_bytes;
    h.peak_reserved_bytes = reserved.peak_bytes;
    accumulate(s.by_kind[static_cast<std::size_t>(h.kind)], h.usage);
    accumulate(s.total, h.usage);
    if (heaps_[i].flags.host_visible) s.host_visible_bytes += h.usage.live_bytes;
    s.heaps.push_back(std::move(h));
  }
  // A kind with one heap, and the total of a single heap, have that heap's high-water mark.
  for (const HeapFigures& h : s.heaps) {
    const auto k = static_cast<std::size_t>(h.kind);
    if (heaps_of_kind_[k] == 1) s.by_kind[k].peak_bytes = h.usage.peak_bytes;
    if (s.heaps.size() == 1) s.total.peak_bytes = h.usage.peak_bytes;
  }
  for (std::size_t k = 0; k < kHeapKindCount; ++k) {
    if (heaps_of_kind_[k] > 1) s.by_kind[k].peak_bytes = kind_peak_cells_[k].peak();
    s.by_kind[k].peak_bytes = std::max(s.by_kind[k].peak_bytes, s.by_kind[k].live_bytes);
  }
  if (s.heaps.size() > 1) s.total.peak_bytes = total_peak_cell_->peak();
  s.total.peak_bytes = std::max(s.total.peak_bytes, s.total.live_bytes);
  for (std::size_t c = 0; c < kCategoryCount; ++c) {
    for (std::size_t i = 0; i < heaps_.size(); ++i) {
      pair_cells_[i * kCategoryCount + c].add_totals_to(s.by_category[c]);
    }
    category_cells_[c].complete(s.by_category[c]);
  }

  auto event = [this](Event e) {
    return events_[static_cast<std::size_t>(e)].load(std::memory_order_relaxed);
  };
  s.events.pool_hits = event(Event::PoolHit);
  s.events.pool_misses = event(Event::PoolMiss);
  s.events.cpu_fallbacks = event(Event::CpuFallback);
  s.events.resizes = event(Event::Resize);
  s.events.budget_refusals = event(Event::BudgetRefusal);
  s.events.out_of_memory = event(Event::OutOfMemory);
  s.events.soft_limit_crossings = event(Event::SoftLimitCrossing);
  s.events.driver_refreshes = event(Event::DriverRefresh);
  return s;
}

void MetricsRecorder::reset_peak() noexcept {
  for (std::size_t i = 0; i < heaps_.size(); ++i) {
    heap_cells_[i].reset_peak();
    reserved_cells_[i].reset_peak();
  }
  for (std::size_t c = 0; c < kCategoryCount; ++c) category_cells_[c].reset_peak();
  for (std::size_t k = 0; k < kHeapKindCount; ++k) kind_peak_cells_[k].reset_peak();
  total_peak_cell_->reset_peak();
}

}  // namespace gpumem
