// The state the KTX2 reader's checks share while they walk one file, and the checks themselves,
// one function per part of the file, called in the order ktx2_reader.hpp documents.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gpumem/texture/ktx2.hpp"
#include "gpumem/texture/ktx2_reader.hpp"
#include "texture/byte_view.hpp"
#include "texture/vk_format_traits.hpp"

namespace gpumem::ktx2::detail {

struct ReadContext {
  ByteView view;
  const ReadOptions& options;
  Ktx2File& file;
  VkFormatTraits traits;

  [[noreturn]] void fail(std::string_view field, std::uint64_t offset,
                         const std::string& problem) const {
    view.fail(field, offset, problem);
  }
  void warn(std::string field, std::uint64_t offset, std::string message) const {
    file.warnings.push_back({std::move(field), offset, std::move(message)});
  }

  // Header values with KTX2's zeros (1D, not an array, not 3D, generate mips) read as one.
  std::uint32_t levels() const { return std::max(1U, file.header.level_count); }
  std::uint32_t layers() const { return std::max(1U, file.header.layer_count); }
  std::uint32_t height() const { return std::max(1U, file.header.pixel_height); }
  std::uint32_t depth() const { return std::max(1U, file.header.pixel_depth); }
  bool basis_lz() const { return file.header.supercompression == 1; }
  bool inflatable() const {  // Zstandard or zlib
    return file.header.supercompression == 2 || file.header.supercompression == 3;
  }
};

// Byte offsets of the header's fields.
inline constexpr std::uint64_t kOffsetVkFormat = 12;
inline constexpr std::uint64_t kOffsetTypeSize = 16;
inline constexpr std::uint64_t kOffsetWidth = 20;
inline constexpr std::uint64_t kOffsetHeight = 24;
inline constexpr std::uint64_t kOffsetDepth = 28;
inline constexpr std::uint64_t kOffsetLayers = 32;
inline constexpr std::uint64_t kOffsetFaces = 36;
inline constexpr std::uint64_t kOffsetLevels = 40;
inline constexpr std::uint64_t kOffsetSupercompression = 44;
inline constexpr std::uint64_t kOffsetDfdOffset = 48;
inline constexpr std::uint64_t kOffsetDfdLength = 52;
inline constexpr std::uint64_t kOffsetKvdOffset = 56;
inline constexpr std::uint64_t kOffsetKvdLength = 60;
inline constexpr std::uint64_t kOffsetSgdOffset = 64;
inline constexpr std::uint64_t kOffsetSgdLength = 72;
inline constexpr std::uint64_t kOffsetLevelIndex = 80;

void check_header(ReadContext& ctx);         // identifier and header fields
void check_index(ReadContext& ctx);          // DFD, key/value and global data ranges
void check_level_index(ReadContext& ctx);    // order, alignment and placement of the levels
void check_dfd(ReadContext& ctx);            // parses file.dfd and sets payload and format
void check_level_lengths(ReadContext& ctx);  // byte lengths against the format and extent
void check_key_values(ReadContext& ctx);     // parses file.key_values
void check_global_data(ReadContext& ctx);    // BasisLZ image descriptions
void check_supercompressed_levels(ReadContext& ctx);
void check_gltf_basisu(ReadContext& ctx);

inline std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// Multiplies sizes, failing as the named field when the product does not fit in 64 bits.
std::uint64_t checked_mul(const ReadContext& ctx, std::uint64_t a, std::uint64_t b,
                          std::string_view field, std::uint64_t offset);

}  // namespace gpumem::ktx2::detail
