// Little-endian bit streams over a 16-byte block, as BC6H and BC7 store their fields: bit 0 is
// the lowest bit of byte 0. Reading and writing use two 64-bit halves so a field never needs a
// loop over bytes.
#pragma once

#include <cstdint>
#include <cstring>

namespace gpumem::detail {

class BitReader {
 public:
  explicit BitReader(const std::uint8_t* block) noexcept {
    std::memcpy(&lo_, block, 8);
    std::memcpy(&hi_, block + 8, 8);
  }
  // Reads n (0..32) bits at the current position.
  std::uint32_t read(int n) noexcept {
    std::uint64_t value = 0;
    if (pos_ < 64) {
      value = lo_ >> pos_;
      if (pos_ > 0 && pos_ + n > 64) value |= hi_ << (64 - pos_);
    } else {
      value = hi_ >> (pos_ - 64);
    }
    pos_ += n;
    return static_cast<std::uint32_t>(value & ((std::uint64_t{1} << n) - 1));
  }
  int position() const noexcept { return pos_; }

 private:
  std::uint64_t lo_ = 0;
  std::uint64_t hi_ = 0;
  int pos_ = 0;
};

class BitWriter {
 public:
  // Appends the n (0..32) low bits of value.
  void write(std::uint32_t value, int n) noexcept {
    const std::uint64_t v = value & ((std::uint64_t{1} << n) - 1);
    if (pos_ < 64) {
      lo_ |= v << pos_;
      if (pos_ > 0 && pos_ + n > 64) hi_ |= v >> (64 - pos_);
    } else {
      hi_ |= v << (pos_ - 64);
    }
    pos_ += n;
  }
  int position() const noexcept { return pos_; }
  void store(std::uint8_t* block) const noexcept {
    std::memcpy(block, &lo_, 8);
    std::memcpy(block + 8, &hi_, 8);
  }

 private:
  std::uint64_t lo_ = 0;
  std::uint64_t hi_ = 0;
  int pos_ = 0;
};

}  // namespace gpumem::detail
