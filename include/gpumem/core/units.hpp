// Byte-size constants and human-readable formatting shared by every layer.
//
//   uint64_t block = 64 * gpumem::kMiB;
//   std::string s = gpumem::format_bytes(block);   // "64.0 MiB"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gpumem {

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

// "0 B", "1023 B", "1.5 KiB", "512.0 MiB", "140.0 GiB": binary units, one decimal above bytes.
std::string format_bytes(std::uint64_t bytes);

// Parses "512", "64KiB", "2MiB", "16GiB", "1.5GiB", "4KB"/"4K" (binary units throughout).
// Throws InvalidArgument naming `what` and the text when it is not a size or overflows.
std::uint64_t parse_bytes(std::string_view text, std::string_view what = "size");

// True when value is a non-zero power of two.
constexpr bool is_power_of_two(std::uint64_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

// Rounds value up to a multiple of a power-of-two alignment; false when the result would overflow.
constexpr bool align_up(std::uint64_t value, std::uint64_t alignment, std::uint64_t& out) {
  const std::uint64_t mask = alignment - 1;
  if (value > UINT64_MAX - mask) return false;
  out = (value + mask) & ~mask;
  return true;
}

}  // namespace gpumem
