// Loads a KTX2 file for upload: validates it, undoes Zstandard/zlib supercompression and
// describes what the texture will cost in memory (gpumem's texture accounting) and how much
// smaller it is than the same texture as RGBA8. Files gpumem cannot upload as they are
// (BasisLZ/ETC1S and UASTC need a transcoder; VkFormats outside TextureFormat; vendor
// supercompression; 3D arrays) raise gpumem::Unsupported, never FormatError: they are valid.
//
//   gpumem::LoadedTexture t = gpumem::load_texture("albedo.ktx2");
//   std::cout << to_string(t.desc.format) << " " << t.memory_bytes << " bytes, "
//             << t.compression_ratio << ":1 against RGBA8\n";
//   for (std::uint32_t l = 0; l < t.levels.size(); ++l) upload(l, t.levels[l]);
//
// A LoadedTexture is a value; load_texture is safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/ktx2.hpp"
#include "gpumem/texture/ktx2_reader.hpp"

namespace gpumem {

struct LoadOptions {
  ktx2::ReadOptions read;  // validation rules and the inflation limit
};

struct LoadedTexture {
  std::string source;
  TextureDesc desc;              // format, extent (1 where KTX2 says 0), levels, layers, cube
  std::uint32_t dimensions = 2;  // 1, 2 or 3, from which of pixelHeight/pixelDepth are set
  bool array = false;            // layerCount > 0 in the file (an array, even of one layer)
  bool generate_mips = false;    // levelCount 0 in the file: one level stored, the rest wanted
  std::uint32_t faces = 1;
  std::vector<std::uint64_t> level_bytes;  // per level: every layer, face and slice
  std::uint64_t memory_bytes = 0;          // texture_size_bytes(desc)
  std::uint64_t rgba8_bytes = 0;           // rgba8_equivalent_bytes(desc)
  double compression_ratio = 1.0;          // rgba8_bytes / memory_bytes
  std::uint64_t file_bytes = 0;
  ktx2::Supercompression supercompression = ktx2::Supercompression::None;
  std::vector<ktx2::KeyValue> key_values;
  std::vector<std::vector<std::byte>> levels;  // level 0 first, supercompression undone
};

// Everything but the level data, from the header alone (level_bytes from the level index), for
// reports that should not inflate anything. Throws Unsupported as load_texture does, except
// that a corrupt supercompressed stream is not looked for.
LoadedTexture describe_texture(const ktx2::Ktx2File& file);

// Throws FormatError for an invalid file, Unsupported for a valid one gpumem cannot use as it
// is, InvalidArgument when the file cannot be read.
LoadedTexture load_texture(const std::filesystem::path& path, const LoadOptions& options = {});
LoadedTexture load_texture(const ktx2::Ktx2File& file, const LoadOptions& options = {});

}  // namespace gpumem
