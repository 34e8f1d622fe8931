// The page-mapped arena with physical memory in pieces of several pages (ArenaOptions::
// max_piece_pages), as the stream-ordered allocator runs it: one piece per run of unmapped pages,
// pieces moved and given back only whole, never stranded under a request too small for them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "gpumem/backend/sim_device.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"
#include "memory/arena_fixture.hpp"

namespace gpumem {
namespace {

using test_support::ArenaFixture;
using test_support::kPage;
using test_support::pages_spanned;
using ::testing::HasSubstr;

const ArenaOptions kPieces{.max_piece_pages = 512};

TEST(PageArenaPieces, MakesOnePiecePerRunOfUnmappedPages) {
  ArenaFixture f(1 * kGiB, kPieces);
  const Placement a = f.arena.allocate(5 * kMiB, 256, true);  // pages 0-2: one piece
  // The next one shares a's last page: one piece for the two pages beyond it.
  const Placement b = f.arena.allocate(4 * kMiB, 256, true);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b.offset, a.offset + a.size);
  const SimVmCounters vm = f.device.vm_counters();
  EXPECT_EQ(vm.creations, 2u);
  EXPECT_EQ(vm.page_creations, 5u);
  EXPECT_EQ(vm.piece_maps, 2u);
  EXPECT_EQ(f.arena.stats().blocks, 2u);
  EXPECT_EQ(f.arena.page_counters().pieces_created, 2u);
  f.arena.deallocate(a);
  f.arena.deallocate(b);
  EXPECT_EQ(f.device.vm_counters().piece_unmaps, 0u) << "free calls no driver";
  EXPECT_EQ(f.arena.stats().cached_bytes, 5 * kPage);
  EXPECT_EQ(f.arena.validate(), "");
}

TEST(PageArenaPieces, IdlePiecesTooLargeGoBackToBeMadeInTheSizeNeeded) {
  ArenaFixture f(2 * kPage, kPieces);
  const Placement a = f.arena.allocate(4 * kMiB, 256, true);  // pages 0 and 1, one piece
  ASSERT_TRUE(a);
  // Small requests live in their own region, on pages of their own: none left in the budget.
  const Placement refused = f.arena.allocate(100 * kKiB, 256, true);
  EXPECT_EQ(refused.refusal, GrowthRefusal::Budget);
  EXPECT_EQ(f.pages_held(), 2u);
  EXPECT_EQ(f.arena.validate(), "");

  // a's piece is idle but twice what the small request needs: mapped under it, one of its pages
  // would sit idle where nothing else could use it. It goes back and one page is made instead.
  f.arena.deallocate(a);
  const Placement c = f.arena.allocate(100 * kKiB, 256, true);
  ASSERT_TRUE(c);
  EXPECT_EQ(f.pages_held(), 1u);
  EXPECT_EQ(f.arena.page_counters().released, 2u);
  EXPECT_EQ(f.arena.page_counters().pieces_moved, 0u);
  EXPECT_EQ(f.arena.stats().blocks, 1u);
  EXPECT_EQ(f.source.reserved(), kPage);
  EXPECT_EQ(f.arena.validate(), "");
  // Nothing idle and one page of budget left, but two needed: refused, nothing changes.
  const Placement d = f.arena.allocate(4 * kMiB, 256, true);
  EXPECT_EQ(d.refusal, GrowthRefusal::Budget);
  EXPECT_EQ(f.pages_held(), 1u);
  EXPECT_EQ(f.arena.validate(), "");
  f.arena.deallocate(c);
}

TEST(PageArenaPieces, PiecesGoBackOnlyWhole) {
  ArenaFixture f(1 * kGiB, kPieces);
  std::vector<Placement> p;
  for (std::uint64_t size : {3 * kMiB, 100 * kKiB, 17 * kMiB, 5 * kKiB, 1 * kMiB}) {
    p.push_back(f.arena.allocate(size, 256, true));
  }
  const Placement keep = p[2];
  ASSERT_EQ(keep.offset, 3 * kMiB);
  for (const Placement& x : p) {
    if (x.offset != keep.offset) f.arena.deallocate(x);
  }
  f.arena.trim();
  // The first allocation's piece (pages 0 and 1) stays, since keep starts on page 1, and with it
  // page 0, idle. Keep's own pages 2-9 came in one piece; the other pieces went back.
  EXPECT_EQ(f.arena.stats().cached_bytes, kPage);
  EXPECT_EQ(f.pages_held(), pages_spanned(keep) + 1);
  EXPECT_EQ(f.arena.stats().blocks, 2u);
  EXPECT_EQ(f.arena.validate(), "");
  f.arena.deallocate(keep);
  f.arena.trim();
  EXPECT_EQ(f.device.vm_counters().pages_held(), 0u);
}

TEST(PageArenaPieces, LongRunsComeInPiecesOfTheLargestSizeAllowed) {
  ArenaFixture f(1 * kGiB, {.max_piece_pages = 4});
  const Placement a = f.arena.allocate(20 * kMiB, 256, true);  // pages 0-9
  ASSERT_TRUE(a);
  const SimVmCounters vm = f.device.vm_counters();
  EXPECT_EQ(vm.creations, 3u) << "4 + 4 + 2 pages";
  EXPECT_EQ(vm.page_creations, 10u);
  EXPECT_EQ(vm.map_calls, 1u) << "neighbouring pieces map in one call";
  EXPECT_EQ(f.arena.page_counters().pieces_created, 3u);
  EXPECT_EQ(f.arena.stats().blocks, 3u);
  f.arena.deallocate(a);
  EXPECT_EQ(f.arena.validate(), "");
  EXPECT_THAT([&] { PageArenaAllocator bad(f.source, {.max_piece_pages = 0}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("max_piece_pages")));
}

TEST(PageArenaPieces, IdlePiecesMoveWholeIntoRunsThatFitThem) {
  ArenaFixture f(1 * kGiB, kPieces);
  // x | a (two pages, one piece) | y, then a goes: its piece is idle in the middle.
  const Placement x = f.arena.allocate(2 * kMiB, 256, true);
  const Placement a = f.arena.allocate(4 * kMiB, 256, true);
  const Placement y = f.arena.allocate(2 * kMiB, 256, true);
  ASSERT_EQ(a.offset, 2 * kMiB);
  f.arena.deallocate(a);
  // Three pages at 16 MiB: a's piece moves under the first two, a new piece of one page makes
  // the third.
  const Placement b = f.arena.allocate(6 * kMiB, 16 * kMiB, true);
  ASSERT_TRUE(b);
  ASSERT_EQ(b.offset, 16 * kMiB);
  const ArenaPageCounters c = f.arena.page_counters();
  EXPECT_EQ(c.pieces_moved, 1u);
  EXPECT_EQ(c.stolen, 2u);
  EXPECT_EQ(c.created, 5u);
  EXPECT_EQ(c.pieces_created, 4u);
  EXPECT_EQ(f.pages_held(), 5u);
  EXPECT_EQ(f.arena.stats().cached_bytes, 0u);
  EXPECT_EQ(f.arena.validate(), "");
  // A one-page request elsewhere takes the one-page piece made for b, not a's two pages.
  f.arena.deallocate(b);
  const Placement d = f.arena.allocate(2 * kMiB, 64 * kMiB, true);
  ASSERT_TRUE(d);
  EXPECT_EQ(f.arena.page_counters().pieces_moved, 2u);
  EXPECT_EQ(f.arena.page_counters().stolen, 3u);
  EXPECT_EQ(f.pages_held(), 5u);
  for (const Placement& p : {x, y, d}) f.arena.deallocate(p);
  EXPECT_EQ(f.arena.validate(), "");
  f.arena.trim();
  EXPECT_EQ(f.device.vm_counters().pages_held(), 0u);
}

}  // namespace
}  // namespace gpumem
