#include "gpumem/alloc/tlsf_metadata.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

constexpr std::uint64_t kTwo63 = std::uint64_t{1} << 63;

bool is_aligned(std::uint64_t offset, std::uint64_t alignment) {
  return (offset & (alignment - 1)) == 0;
}

// The reference: live ranges in a map, free ranges derived as the gaps between them.
class ReferenceBlock {
 public:
  struct Live {
    std::uint64_t size;
    TlsfAllocation handle;
    std::uint64_t user_data;
  };
  struct Gap {
    std::uint64_t begin, end;
  };

  explicit ReferenceBlock(std::uint64_t size) : size_(size) {}

  // Adds a range the allocator handed out; fails the test if it overlaps a live one.
  void add(std::uint64_t offset, const Live& live) {
    auto next = live_.lower_bound(offset);
    if (next != live_.end()) {
      ASSERT_LE(offset + live.size, next->first) << "overlaps the range at " << next->first;
    }
    if (next != live_.begin()) {
      const auto prev = std::prev(next);
      ASSERT_LE(prev->first + prev->second.size, offset) << "overlaps the range at " << prev->first;
    }
    live_.emplace(offset, live);
  }

  std::vector<Gap> gaps() const {
    std::vector<Gap> result;
    std::uint64_t cursor = 0;
    for (const auto& [offset, live] : live_) {
      if (offset > cursor) result.push_back({cursor, offset});
      cursor = offset + live.size;
    }
    if (cursor < size_) result.push_back({cursor, size_});
    return result;
  }

  std::uint64_t largest_gap() const {
    std::uint64_t largest = 0;
    for (const Gap& g : gaps()) largest = std::max(largest, g.end - g.begin);
    return largest;
  }

  bool fits(std::uint64_t size, std::uint64_t alignment) const {
    for (const Gap& g : gaps()) {
      std::uint64_t aligned = 0;
      if (align_up(g.begin, alignment, aligned) && aligned < g.end && size <= g.end - aligned) {
        return true;
      }
    }
    return false;
  }

  std::uint64_t allocated_bytes() const {
    std::uint64_t total = 0;
    for (const auto& entry : live_) total += entry.second.size;
    return total;
  }

  std::map<std::uint64_t, Live>& live() { return live_; }

 private:
  std::uint64_t size_;
  std::map<std::uint64_t, Live> live_;
};

// Statistics, iteration and invariants of the allocator against a recount from the reference.
void expect_matches(const TlsfMetadata& tlsf, ReferenceBlock& ref) {
  ASSERT_EQ(tlsf.validate(), "");
  const BlockStatistics s = tlsf.statistics();
  const std::uint64_t allocated = ref.allocated_bytes();
  ASSERT_EQ(s.size, tlsf.size());
  ASSERT_EQ(s.allocated_bytes, allocated);
  ASSERT_EQ(s.allocation_count, ref.live().size());
  ASSERT_EQ(s.free_bytes, tlsf.size() - allocated);
  ASSERT_EQ(s.free_range_count, ref.gaps().size());  // coalescing is immediate
  ASSERT_EQ(s.largest_free_range, ref.largest_gap());
  const double expected_fragmentation =
      s.free_bytes == 0
          ? 0.0
          : 1.0 - static_cast<double>(ref.largest_gap()) / static_cast<double>(s.free_bytes);
  ASSERT_DOUBLE_EQ(s.fragmentation, expected_fragmentation);

  auto it = ref.live().begin();
  tlsf.for_each_allocation([&](const TlsfAllocationInfo& info) {
    ASSERT_NE(it, ref.live().end());
    EXPECT_EQ(info.offset, it->first);
    EXPECT_EQ(info.size, it->second.size);
    EXPECT_EQ(info.user_data, it->second.user_data);
    EXPECT_EQ(info.handle, it->second.handle);
    ++it;
  });
  EXPECT_EQ(it, ref.live().end());
}

// Deterministic draws, independent of the standard library's distributions.
class Draw {
 public:
  explicit Draw(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool chance(std::uint64_t percent) { return below(100) < percent; }
  // Log-uniform in [1, max].
  std::uint64_t log_uniform(std::uint64_t max) {
    const auto bits = static_cast<std::uint32_t>(below(std::bit_width(max)));
    const std::uint64_t low = std::uint64_t{1} << bits;
    const std::uint64_t value = low + (rng_() & (low - 1));
    return std::min(value, max);
  }

 private:
  std::mt19937_64 rng_;
};

std::uint64_t block_size_for(std::uint64_t seed, Draw& draw) {
  switch (seed % 8) {
    case 0:
      return 1 + draw.below(64);  // tiny: single-byte and linear-class lists
    case 1:
      return 4096;
    case 2:
      return 1 + draw.below(kMiB);
    case 3:
      return kMiB + draw.below(kGiB);
    case 4:
      return kTwo63;  // the largest block
    case 5:
      return 1000;
    default:
      return 1 + draw.log_uniform(std::uint64_t{1} << 40);
  }
}

std::uint64_t request_size_for(std::uint64_t block, std::uint64_t alignment, Draw& draw) {
  switch (draw.below(40)) {
    case 0:
      return 1;
    case 1:
      return alignment > 1 ? alignment - 1 : 1;
    case 2:
      return block;
    case 3:
      return block + 1;  // never fits
    case 4:
      return UINT64_MAX;
    case 5:
      return kTwo63 + 1;
    default: {
      // Mostly small against the block so that many allocations live at once.
      const std::uint64_t cap = std::max<std::uint64_t>(1, block / (draw.chance(80) ? 64 : 4));
      return draw.log_uniform(cap);
    }
  }
}

std::uint64_t alignment_for(Draw& draw) {
  if (draw.chance(50)) return 1;
  if (draw.chance(2)) return kTwo63;
  return std::uint64_t{1} << draw.below(draw.chance(90) ? 13 : 62);
}

void run_differential(std::uint64_t seed, int operations) {
  Draw draw(seed);
  const std::uint64_t block = block_size_for(seed, draw);
  SCOPED_TRACE(testing::Message() << "seed " << seed << ", block size " << block);
  TlsfMetadata tlsf(block);
  TlsfMetadata other(block);  // source of foreign handles
  const TlsfAllocation foreign = *other.try_allocate(1);
  ReferenceBlock ref(block);
  std::vector<std::uint64_t> live_offsets;  // for picking a live range uniformly
  std::vector<TlsfAllocation> freed;        // stale handles to try again

  const std::uint64_t target = 1 + draw.below(200);
  for (int op = 0; op < operations; ++op) {
    const bool allocate = live_offsets.size() < target ? draw.chance(75) : draw.chance(25);
    if (allocate || live_offsets.empty()) {
      const std::uint64_t alignment = alignment_for(draw);
      const std::uint64_t size = draw.chance(1) ? 0 : request_size_for(block, alignment, draw);
      if (size == 0) {
        EXPECT_THROW(tlsf.try_allocate(0, alignment), InvalidArgument);
        continue;
      }
      const std::uint64_t user = draw.below(1000);
      const std::optional<TlsfAllocation> a = tlsf.try_allocate(size, alignment, user);
      if (!a) {
        // Good fit may pass over a fitting range only when none is long enough to be certain,
        // and only by giving up after kMaxFitProbes candidates.
        ASSERT_LT(ref.largest_gap(), TlsfMetadata::guaranteed_fit_size(size, alignment))
            << "size " << size << " alignment " << alignment;
        if (tlsf.statistics().free_range_count <= TlsfMetadata::kMaxFitProbes) {
          ASSERT_FALSE(ref.fits(size, alignment)) << "size " << size << " align " << alignment;
        }
        continue;
      }
      ASSERT_TRUE(is_aligned(a->offset(), alignment));
      ASSERT_LE(size, block);
      ASSERT_LE(a->offset(), block - size);
      ASSERT_EQ(tlsf.allocation_size(*a), size);
      ref.add(a->offset(), {size, *a, user});
      live_offsets.push_back(a->offset());
    } else {
      const std::uint64_t pick = draw.below(live_offsets.size());
      const std::uint64_t offset = live_offsets[pick];
      live_offsets[pick] = live_offsets.back();
      live_offsets.pop_back();
      const auto it = ref.live().find(offset);
      ASSERT_EQ(tlsf.user_data(it->second.handle), it->second.user_data);
      tlsf.free(it->second.handle);
      freed.push_back(it->second.handle);
      ref.live().erase(it);
    }
    if (draw.chance(2) && !freed.empty()) {
      EXPECT_THROW(tlsf.free(freed[draw.below(freed.size())]), InvalidHandle);
    }
    if (draw.chance(1)) {
      EXPECT_THROW(tlsf.free(foreign), InvalidHandle);
    }
    if (draw.chance(1)) {  // 3 << k is never a power of two
      EXPECT_THROW(tlsf.try_allocate(1 + draw.below(100), std::uint64_t{3} << draw.below(60)),
                   InvalidArgument);
    }
    if (op % 64 == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_matches(tlsf, ref));
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_matches(tlsf, ref));

  // Everything freed (in random order, or all at once): one free range of the whole block.
  if (seed % 4 == 0) {
    tlsf.clear();
    for (const auto& entry : ref.live())
      EXPECT_THROW(tlsf.free(entry.second.handle), InvalidHandle);
  } else {
    while (!live_offsets.empty()) {
      const std::uint64_t pick = draw.below(live_offsets.size());
      tlsf.free(ref.live().at(live_offsets[pick]).handle);
      live_offsets[pick] = live_offsets.back();
      live_offsets.pop_back();
    }
  }
  ref.live().clear();
  ASSERT_NO_FATAL_FAILURE(expect_matches(tlsf, ref));
  const BlockStatistics s = tlsf.statistics();
  EXPECT_EQ(s.free_range_count, 1u);
  EXPECT_EQ(s.largest_free_range, block);
  EXPECT_EQ(s.fragmentation, 0.0);
  EXPECT_TRUE(tlsf.try_allocate(block).has_value());  // the whole block is one range again
}

TEST(TlsfMetadata, MatchesReferenceModelOverManySeeds) {
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    ASSERT_NO_FATAL_FAILURE(run_differential(seed, 2500));
  }
}

TEST(TlsfMetadata, RejectsBlockSizesOutsideRange) {
  EXPECT_THROW(TlsfMetadata{0}, InvalidArgument);
  EXPECT_THROW(TlsfMetadata{kTwo63 + 1}, InvalidArgument);
  EXPECT_NO_THROW(TlsfMetadata{1});
  EXPECT_NO_THROW(TlsfMetadata{kTwo63});
}

TEST(TlsfMetadata, EdgeSizes) {
  TlsfMetadata tlsf(4096);
  EXPECT_THROW(tlsf.try_allocate(0), InvalidArgument);
  EXPECT_FALSE(tlsf.try_allocate(4097));
  EXPECT_FALSE(tlsf.try_allocate(UINT64_MAX, 2));
  EXPECT_FALSE(tlsf.try_allocate(kTwo63, kTwo63));
  const auto whole = tlsf.try_allocate(4096);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->offset(), 0u);
  EXPECT_FALSE(tlsf.try_allocate(1));
  EXPECT_EQ(tlsf.statistics().free_range_count, 0u);
  EXPECT_EQ(tlsf.statistics().fragmentation, 0.0);  // no free space: defined as 0
  tlsf.free(*whole);
  EXPECT_EQ(tlsf.validate(), "");

  // A block whose size is not on a class boundary still hands out all of itself.
  TlsfMetadata odd(1000);
  EXPECT_TRUE(odd.try_allocate(1000, 8));
  TlsfMetadata largest(kTwo63);
  const auto a = largest.try_allocate(kTwo63, kTwo63);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->offset(), 0u);
}

TEST(TlsfMetadata, PaddingGoesBackToTheFreeLists) {
  TlsfMetadata tlsf(1000);
  const auto first = tlsf.try_allocate(1);
  const auto aligned = tlsf.try_allocate(1, 256);
  ASSERT_TRUE(first && aligned);
  EXPECT_EQ(first->offset(), 0u);
  EXPECT_EQ(aligned->offset(), 256u);
  BlockStatistics s = tlsf.statistics();
  EXPECT_EQ(s.free_bytes, 998u);
  EXPECT_EQ(s.free_range_count, 2u);  // [1, 256) and [257, 1000)
  EXPECT_EQ(s.largest_free_range, 743u);
  // Both pieces are allocatable to the byte, the padding included.
  const auto tail = tlsf.try_allocate(743);
  const auto in_padding = tlsf.try_allocate(255);
  ASSERT_TRUE(tail && in_padding);
  EXPECT_EQ(tail->offset(), 257u);
  EXPECT_EQ(in_padding->offset(), 1u);
  EXPECT_EQ(tlsf.free_bytes(), 0u);
  tlsf.free(*tail);
  // Only offset 0 is 1024-aligned in a 1000-byte block, and it is taken.
  EXPECT_FALSE(tlsf.try_allocate(1, 1024));
  tlsf.free(*first);
  tlsf.free(*in_padding);
  tlsf.free(*aligned);
  s = tlsf.statistics();
  EXPECT_EQ(s.free_range_count, 1u);
  EXPECT_EQ(s.largest_free_range, 1000u);
  EXPECT_EQ(tlsf.validate(), "");
}

TEST(TlsfMetadata, LargestFreeRangeAndFragmentationAreExact) {
  TlsfMetadata tlsf(1000);
  std::vector<TlsfAllocation> a;
  for (int i = 0; i < 10; ++i) a.push_back(*tlsf.try_allocate(100));
  EXPECT_FALSE(tlsf.try_allocate(1));
  tlsf.free(a[1]);
  tlsf.free(a[3]);
  tlsf.free(a[4]);  // coalesces with a[3]: [300, 500)
  const BlockStatistics s = tlsf.statistics();
  EXPECT_EQ(s.allocation_count, 7u);
  EXPECT_EQ(s.allocated_bytes, 700u);
  EXPECT_EQ(s.free_range_count, 2u);
  EXPECT_EQ(s.largest_free_range, 200u);
  EXPECT_DOUBLE_EQ(s.fragmentation, 1.0 - 200.0 / 300.0);
  // Two ranges of nearly the same size share the top list (class [4992, 5120)): the longer one
  // must be reported even when the shorter one heads the list.
  TlsfMetadata close(10100);
  const auto x = close.try_allocate(5000);
  const auto y = close.try_allocate(50);
  const auto z = close.try_allocate(5050);
  ASSERT_TRUE(x && y && z);
  close.free(*z);
  close.free(*x);
  EXPECT_EQ(close.statistics().free_range_count, 2u);
  EXPECT_EQ(close.largest_free_range(), 5050u);
}

TEST(TlsfMetadata, GuaranteedFitSizeIsATightBound) {
  for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{31}, std::uint64_t{33},
                             std::uint64_t{1000}, kMiB + 1, std::uint64_t{1} << 62}) {
    for (std::uint64_t alignment : {std::uint64_t{1}, std::uint64_t{256}, kMiB}) {
      const std::uint64_t need = size + alignment - 1;
      const std::uint64_t g = TlsfMetadata::guaranteed_fit_size(size, alignment);
      EXPECT_GE(g, need);
      EXPECT_LE(g, need + need / 32 + 1) << size << " " << alignment;
    }
  }
  EXPECT_EQ(TlsfMetadata::guaranteed_fit_size(kTwo63, 2), UINT64_MAX);
  EXPECT_EQ(TlsfMetadata::guaranteed_fit_size(0, 1), UINT64_MAX);
  EXPECT_THROW(TlsfMetadata::guaranteed_fit_size(16, 3), InvalidArgument);
}

TEST(TlsfMetadata, RejectsBadAlignment) {
  TlsfMetadata tlsf(4096);
  for (std::uint64_t alignment :
       {std::uint64_t{0}, std::uint64_t{3}, std::uint64_t{6}, std::uint64_t{4095}, UINT64_MAX}) {
    EXPECT_THROW(tlsf.try_allocate(16, alignment), InvalidArgument) << alignment;
  }
  EXPECT_EQ(tlsf.statistics().allocation_count, 0u);
  EXPECT_EQ(tlsf.validate(), "");
}

// Runs `f`, which must throw InvalidHandle whose message contains `needle`.
template <typename F>
void expect_invalid_handle(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no InvalidHandle thrown";
  } catch (const InvalidHandle& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TlsfMetadata, CatchesDoubleFreeForeignAndStaleHandles) {
  TlsfMetadata tlsf(4096);
  TlsfMetadata other(4096);
  const auto a = tlsf.try_allocate(64);
  const auto b = tlsf.try_allocate(64);
  const auto from_other = other.try_allocate(64);  // same offset and node as a
  ASSERT_TRUE(a && b && from_other);
  ASSERT_EQ(from_other->offset(), a->offset());

  expect_invalid_handle([&] { tlsf.free(*from_other); }, "another block");
  expect_invalid_handle([&] { tlsf.free(TlsfAllocation{}); }, "empty");
  tlsf.free(*a);
  expect_invalid_handle([&] { tlsf.free(*a); }, "already freed");
  expect_invalid_handle([&] { (void)tlsf.user_data(*a); }, "already freed");
  // The node is reused for the next allocation at the same offset: the old handle stays stale.
  const auto c = tlsf.try_allocate(64);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->offset(), a->offset());
  expect_invalid_handle([&] { tlsf.free(*a); }, "already freed");
  EXPECT_EQ(tlsf.allocation_size(*c), 64u);
  EXPECT_EQ(tlsf.validate(), "");
  EXPECT_EQ(tlsf.statistics().allocation_count, 2u);

  tlsf.clear();
  expect_invalid_handle([&] { tlsf.free(*b); }, "already freed");
  expect_invalid_handle([&] { tlsf.free(*c); }, "already freed");
  EXPECT_EQ(tlsf.validate(), "");
  EXPECT_EQ(tlsf.statistics().free_range_count, 1u);
}

TEST(TlsfMetadata, UserDataAndIteration) {
  TlsfMetadata tlsf(kMiB);
  const auto a = tlsf.try_allocate(100, 1, 7);
  const auto b = tlsf.try_allocate(200, 64, 8);
  ASSERT_TRUE(a && b);
  tlsf.set_user_data(*a, 42);
  EXPECT_EQ(tlsf.user_data(*a), 42u);
  std::vector<std::uint64_t> seen;
  tlsf.for_each_allocation([&](const TlsfAllocationInfo& info) {
    seen.push_back(info.user_data);
    EXPECT_EQ(info.size, info.user_data == 42 ? 100u : 200u);
  });
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{42, 8}));
}

TEST(TlsfMetadata, PreferenceTakesTheSmallestAcceptedRangeOverTheGoodFit) {
  TlsfMetadata t(1024);
  // Free ranges of 64 at 0, 128 at 128 and the tail from 384; 64-byte separators in between.
  const auto a = t.try_allocate(64);
  const auto x = t.try_allocate(64);
  const auto b = t.try_allocate(128);
  const auto y = t.try_allocate(128);
  ASSERT_TRUE(a && x && b && y);
  t.free(*a);
  t.free(*b);
  // The good fit for 64 is the range at 0; a caller that turns it down gets the one at 128.
  const auto liked = t.try_allocate_preferring(64, 1, [](std::uint64_t off) { return off != 0; });
  ASSERT_TRUE(liked);
  EXPECT_EQ(liked->offset(), 128u);
  t.free(*liked);
  // A caller who accepts nothing gets the good fit; an empty preference accepts everything.
  const auto fallback = t.try_allocate_preferring(64, 1, [](std::uint64_t) { return false; });
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->offset(), 0u);
  t.free(*fallback);
  const auto plain = t.try_allocate_preferring(64, 1, {});
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->offset(), 0u);
  // The preference never takes a range too small, nor breaks alignment.
  const auto aligned =
      t.try_allocate_preferring(64, 256, [](std::uint64_t off) { return off != 512; });
  ASSERT_TRUE(aligned);
  EXPECT_EQ(aligned->offset() % 256, 0u);
  EXPECT_EQ(t.validate(), "");
}

TEST(TlsfMetadata, NodeStorageStopsGrowingInSteadyState) {
  // At most 2 * live + 1 ranges exist at once (no two free ranges touch), and nodes are recycled,
  // so churn at a fixed live count never grows the node array past that.
  TlsfMetadata tlsf(kGiB);
  Draw draw(3);
  std::vector<TlsfAllocation> live;
  for (int i = 0; i < 100; ++i) live.push_back(*tlsf.try_allocate(1 + draw.below(kMiB)));
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t pick = draw.below(live.size());
    tlsf.free(live[pick]);
    live[pick] = *tlsf.try_allocate(1 + draw.below(kMiB), std::uint64_t{1} << draw.below(12));
  }
  EXPECT_EQ(tlsf.validate(), "");
  EXPECT_LE(tlsf.node_count(), 2u * 100u + 1u);
}

}  // namespace
}  // namespace gpumem
