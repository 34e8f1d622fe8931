// Builds 128-bit test blocks field by field, least significant bit first, the way BC6H and
// BC7 store them. Written for the tests on purpose, independent of the library's bit writer.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace gpumem::test {

class BlockBits {
 public:
  // Appends the `bits` low bits of value, lowest first.
  BlockBits& put(std::uint32_t value, int bits) {
    for (int i = 0; i < bits; ++i) stream_.push_back(((value >> i) & 1U) != 0);
    return *this;
  }
  // Appends bit `bit` of value (for layouts that scatter single bits).
  BlockBits& bit(std::uint32_t value, int bit) { return put((value >> bit) & 1U, 1); }
  int size() const { return static_cast<int>(stream_.size()); }
  std::array<std::uint8_t, 16> bytes() const {
    std::array<std::uint8_t, 16> out{};
    for (std::size_t i = 0; i < stream_.size() && i < 128; ++i) {
      if (stream_[i]) out[i / 8] = static_cast<std::uint8_t>(out[i / 8] | (1U << (i % 8)));
    }
    return out;
  }

 private:
  std::vector<bool> stream_;
};

}  // namespace gpumem::test
