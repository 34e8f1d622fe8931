// The simulator's address bookkeeping for one heap: the window of addresses that its blocks and
// virtual-memory reservations are cut from. Both draw on the same space so that a reservation
// can never overlap a block, as on a GPU where both live in one virtual address space.
//
//   detail::SimAddressSpace space(kWindowBase, kWindowSize);
//   std::uint64_t start = space.take(4 * kMiB, 2 * kMiB);  // 0 when nothing fits
//   space.give(start, 4 * kMiB);
//
// Thread safety: take and give may be called from several threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

namespace gpumem::detail {

// First-fit over free address ranges with coalescing.
class SimAddressSpace {
 public:
  SimAddressSpace(std::uint64_t base, std::uint64_t size) { free_.emplace(base, size); }

  // The start of `size` free bytes aligned to `alignment` (a power of two), or 0 when none.
  std::uint64_t take(std::uint64_t size, std::uint64_t alignment);
  // Returns a range that take() handed out.
  void give(std::uint64_t start, std::uint64_t size);

 private:
  std::mutex mutex_;
  std::map<std::uint64_t, std::uint64_t> free_;  // start -> size
};

}  // namespace gpumem::detail
