// Byte patterns for backend tests: fill host memory with a seed's pattern, and slide overlapping
// ranges within one device block as defragmentation does, keeping the memmove result to compare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::test_support {

inline void fill(std::byte* bytes, std::size_t size, unsigned seed) {
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
}

// Copies overlapping ranges within `block` (at least 8 MiB), down and up, by distances both long
// and short, and applies the same moves with memmove to `expected` (the block's bytes before).
// Copies the device issues in order need no wait in between; the caller waits and compares.
inline void slide_within(Device& device, const RawBlock& block, std::vector<std::byte>& expected) {
  struct Slide {
    std::uint64_t from, to, bytes;
  };
  for (const Slide& s : {Slide{4096, 0, 4 * kMiB}, Slide{0, 100, 2 * kMiB},
                         Slide{3 * kMiB, kMiB, 4 * kMiB}, Slide{0, kMiB, 4 * kMiB}}) {
    device.copy(block, s.from, block, s.to, s.bytes);
    std::memmove(expected.data() + s.to, expected.data() + s.from, s.bytes);
  }
}

}  // namespace gpumem::test_support
