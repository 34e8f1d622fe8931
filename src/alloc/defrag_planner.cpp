#include "gpumem/alloc/defrag_planner.hpp"

#include <algorithm>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// An allocation as the plan moves it along.
struct Item {
  const DefragAllocation* source;
  std::uint64_t offset;  // where it is at this point of the plan
};

// A live range of a block at this point of the plan.
struct Range {
  std::uint64_t offset;
  std::uint64_t size;
  std::size_t item;
};

// One block's live ranges, kept sorted by offset: the gaps between them are its free space.
struct Layout {
  const DefragBlock* block;
  bool pinned = false;  // holds an immovable allocation: can never be emptied
  std::uint64_t allocated = 0;
  std::vector<Range> live;

  // The lowest offset, aligned, where `size` bytes fit between the live ranges and end at or
  // before `end`.
  std::optional<std::uint64_t> lowest_fit(std::uint64_t size, std::uint64_t alignment,
                                          std::uint64_t end) const {
    std::uint64_t cursor = 0;
    const auto fits_before = [&](std::uint64_t limit) -> std::optional<std::uint64_t> {
      std::uint64_t start = 0;
      if (!align_up(cursor, alignment, start) || start > limit || limit - start < size) {
        return std::nullopt;
      }
      return start;
    };
    for (const Range& r : live) {
      if (r.offset >= end) break;
      if (auto start = fits_before(r.offset)) return start;
      cursor = r.offset + r.size;
    }
    return fits_before(std::min(end, block->size));
  }

  void insert(const Range& range) {
    const auto at = std::lower_bound(live.begin(), live.end(), range.offset,
                                     [](const Range& r, std::uint64_t o) { return r.offset < o; });
    live.insert(at, range);
  }

  void erase(std::uint64_t offset) {
    const auto at = std::lower_bound(live.begin(), live.end(), offset,
                                     [](const Range& r, std::uint64_t o) { return r.offset < o; });
    live.erase(at);  // the plan only erases ranges it knows are there
  }
};

void validate(std::span<const DefragBlock> blocks) {
  std::vector<std::uint32_t> indices;
  std::vector<std::uint64_t> ids;
  for (const DefragBlock& block : blocks) {
    indices.push_back(block.index);
    if (!is_power_of_two(block.base_alignment)) {
      throw InvalidArgument(
          fmt::format("DefragPlanner: block {}: base alignment {} is not a power of two",
                      block.index, block.base_alignment));
    }
    std::vector<const DefragAllocation*> sorted;
    for (const DefragAllocation& a : block.allocations) {
      ids.push_back(a.id);
      if (a.size == 0 || !is_power_of_two(a.alignment) || a.offset > block.size ||
          a.size > block.size - a.offset) {
        throw InvalidArgument(fmt::format(
            "DefragPlanner: block {}, allocation {}: offset {} size {} alignment {} is not a "
            "range of the block ({} bytes) with a power-of-two alignment",
            block.index, a.id, a.offset, a.size, a.alignment, block.size));
      }
      sorted.push_back(&a);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* x, const auto* y) { return x->offset < y->offset; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i - 1]->offset + sorted[i - 1]->size > sorted[i]->offset) {
        throw InvalidArgument(fmt::format("DefragPlanner: block {}: allocations {} and {} overlap",
                                          block.index, sorted[i - 1]->id, sorted[i]->id));
      }
    }
  }
  std::sort(indices.begin(), indices.end());
  if (auto dup = std::adjacent_find(indices.begin(), indices.end()); dup != indices.end()) {
    throw InvalidArgument(fmt::format("DefragPlanner: block index {} appears twice", *dup));
  }
  std::sort(ids.begin(), ids.end());
  if (auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end()) {
    throw InvalidArgument(fmt::format("DefragPlanner: allocation id {} appears twice", *dup));
  }
}

// Carries the state of one plan() call: layouts, items, the moves so far and the limits left.
class Pass {
 public:
  Pass(std::span<const DefragBlock> blocks, const DefragLimits& limits) : limits_(limits) {
    for (const DefragBlock& block : blocks) {
      Layout layout{.block = &block};
      for (const DefragAllocation& a : block.allocations) {
        layout.live.push_back({a.offset, a.size, items_.size()});
        items_.push_back({&a, a.offset});
        layout.allocated += a.size;
        layout.pinned = layout.pinned || !a.movable;
      }
      std::sort(layout.live.begin(), layout.live.end(),
                [](const Range& x, const Range& y) { return x.offset < y.offset; });
      layouts_.push_back(std::move(layout));
    }
    order_.resize(layouts_.size());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::sort(order_.begin(), order_.end(), [this](std::size_t x, std::size_t y) {
      const Layout& a = layouts_[x];
      const Layout& b = layouts_[y];
      if (a.pinned != b.pinned) return a.pinned;
      if (a.allocated != b.allocated) return a.allocated > b.allocated;
      return a.block->index < b.block->index;
    });
  }

  DefragPlan run() {
    for (std::size_t pos = order_.size(); pos-- > 1 && !out_of_moves();) empty_block(pos);
    for (std::size_t pos = 0; pos < order_.size() && !out_of_moves(); ++pos) slide_down(pos);
    for (const Layout& layout : layouts_) {
      if (!layout.block->allocations.empty() && layout.live.empty()) {
        plan_.emptied_blocks.push_back(layout.block->index);
      }
    }
    std::sort(plan_.emptied_blocks.begin(), plan_.emptied_blocks.end());
    return std::move(plan_);
  }

 private:
  struct Placed {
    std::size_t item;
    std::size_t layout;
    std::uint64_t offset;
  };

  bool out_of_moves() const { return plan_.moves.size() >= limits_.max_moves; }
  bool within_limits(std::uint64_t size) const {
    return !out_of_moves() && size <= limits_.max_bytes - plan_.bytes;
  }

  // Step 2 of the header's algorithm for the block at order_[pos].
  void empty_block(std::size_t pos) {
    Layout& source = layouts_[order_[pos]];
    if (source.pinned || source.live.empty()) return;
    std::vector<std::size_t> candidates;
    for (const Range& r : source.live) candidates.push_back(r.item);
    std::sort(candidates.begin(), candidates.end(), [this](std::size_t x, std::size_t y) {
      const Item& a = items_[x];
      const Item& b = items_[y];
      if (a.source->size != b.source->size) return a.source->size > b.source->size;
      return a.offset < b.offset;
    });

    // Tentative placements first: a block that cannot be emptied keeps its allocations.
    std::vector<Placed> placed;
    for (std::size_t item : candidates) {
      const DefragAllocation& a = *items_[item].source;
      std::optional<Placed> spot;
      for (std::size_t d = 0; d < pos && !spot; ++d) {
        Layout& dest = layouts_[order_[d]];
        if (a.alignment > dest.block->base_alignment) continue;
        if (auto offset = dest.lowest_fit(a.size, a.alignment, UINT64_MAX)) {
          spot = Placed{item, order_[d], *offset};
        }
      }
      if (!spot) {
        for (const Placed& p : placed) layouts_[p.layout].erase(p.offset);
        return;
      }
      layouts_[spot->layout].insert({spot->offset, a.size, item});
      placed.push_back(*spot);
    }

    // Keep what the limits allow; the rest waits for the next pass. Dropping a tentative
    // destination only frees space, so the moves kept stay valid.
    for (const Placed& p : placed) {
      Item& item = items_[p.item];
      if (!within_limits(item.source->size)) {
        layouts_[p.layout].erase(p.offset);
        continue;
      }
      source.erase(item.offset);
      source.allocated -= item.source->size;
      layouts_[p.layout].allocated += item.source->size;
      record(item, source, layouts_[p.layout], p.offset);
    }
  }

  // Step 3 of the header's algorithm for the block at order_[pos].
  void slide_down(std::size_t pos) {
    Layout& layout = layouts_[order_[pos]];
    std::vector<std::size_t> residents;
    for (const Range& r : layout.live) residents.push_back(r.item);
    for (std::size_t index : residents) {
      Item& item = items_[index];
      const DefragAllocation& a = *item.source;
      if (!a.movable || !within_limits(a.size)) continue;
      // Ending at or before the current offset keeps the destination off its own source.
      const auto offset = layout.lowest_fit(a.size, a.alignment, item.offset);
      if (!offset) continue;
      layout.erase(item.offset);
      layout.insert({*offset, a.size, index});
      record(item, layout, layout, *offset);
    }
  }

  void record(Item& item, const Layout& from, const Layout& to, std::uint64_t offset) {
    plan_.moves.push_back({.id = item.source->id,
                           .from_block = from.block->index,
                           .from_offset = item.offset,
                           .to_block = to.block->index,
                           .to_offset = offset,
                           .size = item.source->size});
    plan_.bytes += item.source->size;
    item.offset = offset;
  }

  DefragLimits limits_;
  std::vector<Layout> layouts_;
  std::vector<Item> items_;
  std::vector<std::size_t> order_;  // layouts_ indices, destinations first (see the header)
  DefragPlan plan_;
};

}  // namespace

DefragPlan DefragPlanner::plan(std::span<const DefragBlock> blocks) const {
  validate(blocks);
  return Pass(blocks, limits_).run();
}

}  // namespace gpumem
