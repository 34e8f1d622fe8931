// Zstandard and zlib streams for KTX2 levels: inflating never produces more than the level's
// declared uncompressedByteLength (so a hostile stream cannot grow memory without bound) and must
// produce exactly that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gpumem::ktx2::detail {

// The inflated bytes, or the reason the stream is bad.
struct Inflated {
  std::vector<std::byte> bytes;
  std::string error;  // empty on success
};

Inflated inflate_zstd(std::span<const std::byte> in, std::uint64_t expected_size);
Inflated inflate_zlib(std::span<const std::byte> in, std::uint64_t expected_size);

// Zstandard frame with a content checksum; level 1..22.
std::vector<std::byte> deflate_zstd(std::span<const std::byte> in, int level);

}  // namespace gpumem::ktx2::detail
