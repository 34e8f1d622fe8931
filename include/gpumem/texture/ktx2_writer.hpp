// Writes KTX2 files from gpumem's formats: the level index, a basic DFD generated for the format
// (basic_dfd_for), key/value data sorted as the specification requires with a KTXwriter entry,
// and optionally Zstandard supercompression of every level. What it writes passes the reader's
// validation and reads back to the same header, DFD, key/values and level bytes.
//
//   gpumem::ktx2::Ktx2Image image{.format = gpumem::TextureFormat::BC7_SRGB_BLOCK,
//                                 .width = 256, .height = 256};
//   image.levels = {std::move(level0), std::move(level1)};  // largest first
//   gpumem::ktx2::write_ktx2_file("out.ktx2", image, {.zstd_level = 9});
//
// Pure functions of their arguments: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/ktx2.hpp"

namespace gpumem::ktx2 {

// A texture in KTX2's terms: height 0 makes it 1D, depth > 0 3D, layers > 0 an array,
// faces 6 a cube map. Each level holds every layer, then face, then depth slice, in that nesting
// (KTX2's order), tightly packed.
struct Ktx2Image {
  TextureFormat format = TextureFormat::R8G8B8A8_UNORM;
  std::uint32_t width = 1;
  std::uint32_t height = 1;
  std::uint32_t depth = 0;
  std::uint32_t layers = 0;
  std::uint32_t faces = 1;
  std::vector<std::vector<std::byte>> levels;  // level 0 (the largest) first
  std::vector<KeyValue> key_values;            // any order; KTXwriter is added unless present
};

struct WriteOptions {
  std::optional<int> zstd_level;  // Zstandard level 1..22 for every level; none when empty
  std::string writer = "gpumem";  // the KTXwriter value when the image has none
};

// Throws InvalidArgument for options the writer would refuse (a Zstandard level outside 1..22),
// so a caller can check them before doing the work that produces the image.
void validate(const WriteOptions& options);

// The bytes of level `level` the writer expects for this image's format and extent.
std::uint64_t expected_level_bytes(const Ktx2Image& image, std::uint32_t level);

// Throws InvalidArgument naming what is wrong: no levels, more levels than the extent allows,
// a level whose size does not match expected_level_bytes, faces other than 1 or 6, a bad
// Zstandard level, or a reserved KTX key the writer does not know.
std::vector<std::byte> write_ktx2(const Ktx2Image& image, const WriteOptions& options = {});
void write_ktx2_file(const std::filesystem::path& path, const Ktx2Image& image,
                     const WriteOptions& options = {});

}  // namespace gpumem::ktx2
