// Loads a KTX2 file for upload: validates it, undoes Zstandard/zlib supercompression and
// describes what the texture will cost in memory (gpumem's texture accounting) and how much
// smaller it is than the same texture as RGBA8. Files gpumem cannot upload as they are
// (BasisLZ/ETC1S and UASTC need a transcoder; VkFormats outside TextureFormat; vendor
// supercompression; 3D arrays) raise gpumem::Unsupported, never FormatError: they are valid.
//
// A device that cannot sample the stored format (LoadOptions::samplable says so; a backend
// answers, e.g. VulkanDevice::can_sample: the texture layer asks no backend itself)
// gets the texels decoded to RGBA8 (rgba8_fallback.hpp): desc.format, level_bytes and
// memory_bytes then describe what is resident, stored_format and stored_memory_bytes what the
// file held, so a report shows both costs.
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
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/image.hpp"
#include "gpumem/texture/ktx2.hpp"
#include "gpumem/texture/ktx2_reader.hpp"

namespace gpumem {

struct LoadOptions {
  ktx2::ReadOptions read;  // validation rules and the inflation limit
  // Whether the target device can sample a format; empty: every format. A format it cannot
  // sample is decoded to RGBA8 (Unsupported when gpumem has no decoder for it).
  std::function<bool(TextureFormat)> samplable;
  unsigned decode_threads = 0;  // for that decoding; 0: one per hardware thread
};

struct LoadedTexture {
  std::string source;
  TextureDesc desc;  // resident format, extent (1 where KTX2 says 0), levels, layers, cube
  std::uint32_t dimensions = 2;  // 1, 2 or 3, from which of pixelHeight/pixelDepth are set
  bool array = false;            // layerCount > 0 in the file (an array, even of one layer)
  bool generate_mips = false;    // levelCount 0 in the file: one level stored, the rest wanted
  std::uint32_t faces = 1;
  std::vector<std::uint64_t> level_bytes;  // per level: every layer, face and slice, resident
  std::uint64_t memory_bytes = 0;          // texture_size_bytes(desc): the resident cost
  TextureFormat stored_format = TextureFormat::R8G8B8A8_UNORM;  // the file's format
  std::uint64_t stored_memory_bytes = 0;  // texture_size_bytes(desc) in the stored format
  bool decoded_to_rgba8 = false;          // the device cannot sample stored_format
  std::uint64_t rgba8_bytes = 0;          // rgba8_equivalent_bytes(desc)
  double compression_ratio = 1.0;         // rgba8_bytes / memory_bytes
  std::uint64_t file_bytes = 0;
  ktx2::Supercompression supercompression = ktx2::Supercompression::None;
  std::vector<ktx2::KeyValue> key_values;
  std::vector<std::vector<std::byte>> levels;  // level 0 first, supercompression undone
};

// Everything but the level data, from the header alone (level_bytes from the level index, or
// the RGBA8 sizes when options.samplable refuses the format), for reports that should not
// inflate anything. Throws Unsupported as load_texture does, except that a corrupt
// supercompressed stream is not looked for.
LoadedTexture describe_texture(const ktx2::Ktx2File& file, const LoadOptions& options = {});

// Throws FormatError for an invalid file, Unsupported for a valid one gpumem cannot use as it
// is, InvalidArgument when the file cannot be read.
LoadedTexture load_texture(const std::filesystem::path& path, const LoadOptions& options = {});
LoadedTexture load_texture(const ktx2::Ktx2File& file, const LoadOptions& options = {});

// The first image (layer 0, face 0, depth slice 0) of a loaded level as RGBA8: what `gpumem ktx
// decompress` writes. Throws InvalidArgument for a level the texture does not have and
// Unsupported for a format without an RGBA8 decoder (can_decode_to_rgba8()).
Image decode_image(const LoadedTexture& texture, std::uint32_t level = 0, unsigned threads = 1);

}  // namespace gpumem
