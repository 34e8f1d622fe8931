// The writer: what it writes reads back identically through the validating reader, with and
// without Zstandard, for 1D, 2D, 3D, arrays, cube maps and block-compressed formats.
#include "gpumem/texture/ktx2_writer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/ktx2_reader.hpp"

namespace gpumem::ktx2 {
namespace {

std::vector<std::byte> pattern(std::uint64_t size, unsigned seed) {
  std::vector<std::byte> out(size);
  for (std::uint64_t i = 0; i < size; ++i) {
    out[i] = static_cast<std::byte>((i * 31 + seed * 7 + i / 64) & 0xFFU);
  }
  return out;
}

Ktx2Image make_image(TextureFormat format, std::uint32_t w, std::uint32_t h, std::uint32_t d,
                     std::uint32_t layers, std::uint32_t faces, std::uint32_t levels) {
  Ktx2Image image{
      .format = format, .width = w, .height = h, .depth = d, .layers = layers, .faces = faces};
  for (std::uint32_t level = 0; level < levels; ++level) {
    image.levels.push_back(pattern(expected_level_bytes(image, level), level));
  }
  return image;
}

void expect_round_trip(const Ktx2Image& image, const WriteOptions& options) {
  const std::vector<std::byte> bytes = write_ktx2(image, options);
  const Ktx2File f = read_ktx2(bytes, "written");
  EXPECT_EQ(f.header.vk_format, vk_format(image.format));
  ASSERT_TRUE(f.format.has_value());
  EXPECT_EQ(*f.format, image.format);
  EXPECT_EQ(f.header.pixel_width, image.width);
  EXPECT_EQ(f.header.pixel_height, image.height);
  EXPECT_EQ(f.header.pixel_depth, image.depth);
  EXPECT_EQ(f.header.layer_count, image.layers);
  EXPECT_EQ(f.header.face_count, image.faces);
  EXPECT_EQ(f.dfd, basic_dfd_for(image.format));
  EXPECT_TRUE(f.warnings.empty()) << f.warnings.front().field << ": " << f.warnings.front().message;
  ASSERT_EQ(f.stored_levels(), image.levels.size());
  for (std::uint32_t level = 0; level < f.stored_levels(); ++level) {
    EXPECT_EQ(level_data(f, level), image.levels[level]) << "level " << level;
  }
  for (const KeyValue& kv : image.key_values) {
    const KeyValue* found = f.find(kv.key);
    ASSERT_NE(found, nullptr) << kv.key;
    EXPECT_EQ(found->value, kv.value) << kv.key;
  }
  // Writing what was read gives the same file.
  Ktx2Image again = image;
  again.key_values = f.key_values;
  EXPECT_EQ(write_ktx2(again, options), bytes);
}

TEST(Ktx2Writer, EveryFormatRoundTripsAsA2dMipChain) {
  for (const FormatInfo& info : texture_formats()) {
    if (info.name.starts_with("A8B8G8R8")) continue;  // prohibited in KTX2
    SCOPED_TRACE(std::string(info.name));
    expect_round_trip(make_image(info.format, 13, 7, 0, 0, 1, 4), {});
  }
}

TEST(Ktx2Writer, ShapesRoundTripWithAndWithoutZstandard) {
  const std::vector<Ktx2Image> images = {
      make_image(TextureFormat::R8_UNORM, 64, 0, 0, 0, 1, 7),              // 1D
      make_image(TextureFormat::R16G16B16A16_SFLOAT, 8, 8, 4, 0, 1, 4),    // 3D
      make_image(TextureFormat::BC7_SRGB_BLOCK, 16, 16, 0, 3, 1, 5),       // array
      make_image(TextureFormat::BC1_RGB_UNORM_BLOCK, 16, 16, 0, 0, 6, 5),  // cube
      make_image(TextureFormat::R8G8B8A8_UNORM, 4, 4, 0, 2, 6, 3),         // cube array
      make_image(TextureFormat::R8G8B8_SRGB, 5, 3, 0, 0, 1, 3),            // 12-byte alignment
  };
  for (const Ktx2Image& image : images) {
    SCOPED_TRACE(std::string(to_string(image.format)));
    expect_round_trip(image, {});
    expect_round_trip(image, {.zstd_level = 3});
  }
}

TEST(Ktx2Writer, KeysAreSortedAndKtxWriterAdded) {
  Ktx2Image image = make_image(TextureFormat::R8G8B8A8_SRGB, 4, 4, 0, 0, 1, 1);
  image.key_values = {{"zeta", {std::byte{1}}},
                      {"KTXorientation", {std::byte{'r'}, std::byte{'d'}, std::byte{0}}}};
  const Ktx2File f = read_ktx2(write_ktx2(image, {.zstd_level = 19, .writer = "gpumem test"}), "w");
  ASSERT_EQ(f.key_values.size(), 4U);
  EXPECT_EQ(f.key_values[0].key, "KTXorientation");
  EXPECT_EQ(f.text("KTXwriter"), "gpumem test");
  EXPECT_EQ(f.text("KTXwriterScParams"), "--zstd 19");
  EXPECT_EQ(f.key_values[3].key, "zeta");
  EXPECT_EQ(f.supercompression(), Supercompression::Zstandard);
}

TEST(Ktx2Writer, RefusesWhatWouldNotBeAValidFile) {
  Ktx2Image image = make_image(TextureFormat::R8G8B8A8_UNORM, 4, 4, 0, 0, 1, 1);
  image.levels[0].pop_back();
  EXPECT_THROW((void)write_ktx2(image), InvalidArgument);
  image = make_image(TextureFormat::R8G8B8A8_UNORM, 4, 4, 0, 0, 1, 1);
  image.key_values = {{"KTXunknown", {std::byte{0}}}};
  EXPECT_THROW((void)write_ktx2(image), InvalidArgument);
  image.key_values = {{"KTXorientation", {std::byte{'x'}, std::byte{0}}}};
  EXPECT_THROW((void)write_ktx2(image), InvalidArgument);
  image.key_values.clear();
  EXPECT_THROW((void)write_ktx2(image, {.zstd_level = 23}), InvalidArgument);
  image.faces = 6;
  image.width = 8;
  EXPECT_THROW((void)write_ktx2(image), InvalidArgument);
  Ktx2Image too_many = make_image(TextureFormat::R8_UNORM, 4, 4, 0, 0, 1, 3);
  too_many.levels.push_back({std::byte{0}});
  EXPECT_THROW((void)write_ktx2(too_many), InvalidArgument);
  EXPECT_THROW((void)write_ktx2(Ktx2Image{}), InvalidArgument);
}

}  // namespace
}  // namespace gpumem::ktx2
