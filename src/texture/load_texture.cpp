#include "gpumem/texture/load_texture.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// A file read without verify_supercompressed_levels may still hide a corrupt stream; that makes
// it invalid, which must win over "unsupported".
void verify_levels(const ktx2::Ktx2File& file, const LoadOptions& options) {
  const auto scheme = file.supercompression();
  if (scheme != ktx2::Supercompression::Zstandard && scheme != ktx2::Supercompression::Zlib) {
    return;
  }
  for (std::uint32_t level = 0; level < file.stored_levels(); ++level) {
    (void)ktx2::level_data(file, level, options.read.max_inflated_level_bytes);
  }
}

TextureFormat usable_format(const ktx2::Ktx2File& file) {
  switch (file.payload) {
    case ktx2::Payload::Texels:
      return *file.format;
    case ktx2::Payload::BasisLZ:
    case ktx2::Payload::Uastc:
      throw Unsupported(
          fmt::format("{}: {} needs transcoding to a GPU format, which gpumem "
                      "does not do",
                      file.source, ktx2::to_string(file.payload)));
    case ktx2::Payload::Other:
      break;
  }
  throw Unsupported(fmt::format("{}: VkFormat {} has no gpumem TextureFormat", file.source,
                                file.header.vk_format));
}

TextureDesc describe(const ktx2::Ktx2File& file, TextureFormat format) {
  const ktx2::Header& h = file.header;
  TextureDesc desc{.format = format,
                   .width = h.pixel_width,
                   .height = std::max(1U, h.pixel_height),
                   .depth = std::max(1U, h.pixel_depth),
                   .mip_levels = file.stored_levels(),
                   .array_layers = std::max(1U, h.layer_count),
                   .cube = h.face_count == 6};
  try {
    validate(desc);
  } catch (const InvalidArgument& e) {
    // The file is valid KTX2 (e.g. a 3D array) but not a texture gpumem can account for.
    throw Unsupported(fmt::format("{}: {}", file.source, e.what()));
  }
  return desc;
}

}  // namespace

LoadedTexture describe_texture(const ktx2::Ktx2File& file) {
  const TextureFormat format = usable_format(file);
  LoadedTexture t;
  t.source = file.source;
  t.desc = describe(file, format);
  t.dimensions = file.header.pixel_depth != 0 ? 3 : file.header.pixel_height != 0 ? 2 : 1;
  t.array = file.header.layer_count != 0;
  t.generate_mips = file.header.level_count == 0;
  t.faces = file.header.face_count;
  t.file_bytes = file.bytes.size();
  t.supercompression = file.supercompression();
  t.key_values = file.key_values;
  t.memory_bytes = texture_size_bytes(t.desc);
  t.rgba8_bytes = rgba8_equivalent_bytes(t.desc);
  t.compression_ratio = t.memory_bytes == 0 ? 1.0
                                            : static_cast<double>(t.rgba8_bytes) /
                                                  static_cast<double>(t.memory_bytes);
  for (const ktx2::LevelIndexEntry& e : file.levels) {
    t.level_bytes.push_back(e.uncompressed_byte_length);
  }
  return t;
}

LoadedTexture load_texture(const ktx2::Ktx2File& file, const LoadOptions& options) {
  if (file.payload != ktx2::Payload::Texels) verify_levels(file, options);
  LoadedTexture t = describe_texture(file);
  t.level_bytes.clear();
  for (std::uint32_t level = 0; level < file.stored_levels(); ++level) {
    t.levels.push_back(ktx2::level_data(file, level, options.read.max_inflated_level_bytes));
    t.level_bytes.push_back(t.levels.back().size());
  }
  return t;
}

LoadedTexture load_texture(const std::filesystem::path& path, const LoadOptions& options) {
  ktx2::ReadOptions read = options.read;
  read.verify_supercompressed_levels = false;  // load_texture inflates every level anyway
  return load_texture(ktx2::read_ktx2_file(path, read), options);
}

}  // namespace gpumem
