#include "gpumem/texture/load_texture.hpp"

#include <fmt/format.h>

#include <cstring>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/rgba8_fallback.hpp"

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

bool needs_fallback(TextureFormat format, const LoadOptions& options, const std::string& source) {
  if (!options.samplable || options.samplable(format)) return false;
  if (!can_decode_to_rgba8(format)) {
    throw Unsupported(
        fmt::format("{}: the device cannot sample {} and gpumem cannot decode it to RGBA8", source,
                    to_string(format)));
  }
  return true;
}

// Layers, faces and depth slices in one level: the images a level's bytes hold.
std::uint32_t images_in_level(const LoadedTexture& t, std::uint32_t level) {
  return t.desc.array_layers * t.faces * mip_dimension(t.desc.depth, level);
}

}  // namespace

LoadedTexture describe_texture(const ktx2::Ktx2File& file, const LoadOptions& options) {
  const TextureFormat format = usable_format(file);
  LoadedTexture t;
  t.source = file.source;
  t.desc = describe(file, format);
  t.stored_format = format;
  t.stored_memory_bytes = texture_size_bytes(t.desc);
  t.decoded_to_rgba8 = needs_fallback(format, options, file.source);
  if (t.decoded_to_rgba8) t.desc.format = rgba8_format_for(format);
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
  for (std::uint32_t level = 0; level < file.stored_levels(); ++level) {
    t.level_bytes.push_back(t.decoded_to_rgba8 ? mip_level_size_bytes(t.desc, level) *
                                                     t.desc.array_layers * t.faces
                                               : file.levels[level].uncompressed_byte_length);
  }
  return t;
}

LoadedTexture load_texture(const ktx2::Ktx2File& file, const LoadOptions& options) {
  if (file.payload != ktx2::Payload::Texels) verify_levels(file, options);
  LoadedTexture t = describe_texture(file, options);
  t.level_bytes.clear();
  for (std::uint32_t level = 0; level < file.stored_levels(); ++level) {
    std::vector<std::byte> data =
        ktx2::level_data(file, level, options.read.max_inflated_level_bytes);
    if (t.decoded_to_rgba8) {
      data = decode_level_to_rgba8(data, t.stored_format, mip_dimension(t.desc.width, level),
                                   mip_dimension(t.desc.height, level), images_in_level(t, level),
                                   options.decode_threads);
    }
    t.levels.push_back(std::move(data));
    t.level_bytes.push_back(t.levels.back().size());
  }
  return t;
}

Image decode_image(const LoadedTexture& texture, std::uint32_t level, unsigned threads) {
  if (level >= texture.levels.size()) {
    throw InvalidArgument(fmt::format("{}: level {} asked for, but the texture has {} loaded",
                                      texture.source, level, texture.levels.size()));
  }
  const std::uint32_t width = mip_dimension(texture.desc.width, level);
  const std::uint32_t height = mip_dimension(texture.desc.height, level);
  const std::vector<std::byte>& data = texture.levels[level];
  const std::size_t first = data.size() / images_in_level(texture, level);
  try {
    std::vector<std::byte> rgba = decode_level_to_rgba8(
        std::span(data).first(first), texture.desc.format, width, height, 1, threads);
    std::vector<std::uint8_t> texels(rgba.size());
    std::memcpy(texels.data(), rgba.data(), rgba.size());
    return {width, height, std::move(texels)};
  } catch (const Unsupported& e) {
    throw Unsupported(fmt::format("{}: level {}: {}", texture.source, level, e.what()));
  }
}

LoadedTexture load_texture(const std::filesystem::path& path, const LoadOptions& options) {
  ktx2::ReadOptions read = options.read;
  read.verify_supercompressed_levels = false;  // load_texture inflates every level anyway
  return load_texture(ktx2::read_ktx2_file(path, read), options);
}

}  // namespace gpumem
