// load_texture: the description, memory cost and level data of real files; Unsupported for valid
// files gpumem cannot upload as they are, FormatError for invalid ones.
#include "gpumem/texture/load_texture.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/bc_codec.hpp"
#include "gpumem/texture/ktx2_writer.hpp"
#include "texture/ktx2_test_files.hpp"

namespace gpumem {
namespace {

using ktx2::testing::cts_invalid;
using ktx2::testing::cts_valid;
using ktx2::testing::kKtx2Data;

TEST(LoadTexture, Bc7SampleCostsAQuarterOfRgba8) {
  const LoadedTexture t = load_texture(kKtx2Data / "samples" / "2d_bc7.ktx2");
  EXPECT_EQ(t.desc.format, TextureFormat::BC7_SRGB_BLOCK);
  EXPECT_EQ(t.desc.width, 40U);
  EXPECT_EQ(t.desc.height, 40U);
  EXPECT_EQ(t.desc.mip_levels, 6U);
  EXPECT_EQ(t.dimensions, 2U);
  ASSERT_EQ(t.levels.size(), 6U);
  // 40x40 BC7: 10x10 blocks of 16 bytes; 20x20: 5x5; 10: 3x3; 5: 2x2; 2: 1; 1: 1.
  const std::vector<std::uint64_t> want = {1600, 400, 144, 64, 16, 16};
  EXPECT_EQ(t.level_bytes, want);
  EXPECT_EQ(t.memory_bytes, 1600U + 400 + 144 + 64 + 16 + 16);
  EXPECT_EQ(t.memory_bytes, texture_size_bytes(t.desc));
  EXPECT_EQ(t.rgba8_bytes, rgba8_equivalent_bytes(t.desc));
  EXPECT_NEAR(t.compression_ratio,
              static_cast<double>(t.rgba8_bytes) / static_cast<double>(t.memory_bytes), 1e-12);
  EXPECT_GT(t.compression_ratio, 2.5);
}

TEST(LoadTexture, SupercompressedLevelsComeBackInflated) {
  const LoadedTexture zstd = load_texture(cts_valid("valid_R8G8B8A8_UNORM_2D_ZSTD_9.ktx2"));
  const LoadedTexture zlib = load_texture(cts_valid("valid_R8G8B8A8_UNORM_2D_ZLIB_9.ktx2"));
  EXPECT_EQ(zstd.supercompression, ktx2::Supercompression::Zstandard);
  EXPECT_EQ(zstd.levels, zlib.levels);
  ASSERT_EQ(zstd.levels.size(), 1U);
  EXPECT_EQ(zstd.levels[0].size(), std::uint64_t{zstd.desc.width} * zstd.desc.height * 4);
  EXPECT_DOUBLE_EQ(zstd.compression_ratio, 1.0);  // RGBA8 in memory, whatever the file
}

TEST(LoadTexture, CubeArraysCountEveryFace) {
  const LoadedTexture t = load_texture(cts_valid("valid_R8G8B8A8_UNORM_CUBE_ARRAY.ktx2"));
  EXPECT_TRUE(t.desc.cube);
  EXPECT_TRUE(t.array);
  EXPECT_EQ(t.faces, 6U);
  EXPECT_EQ(t.level_bytes[0],
            std::uint64_t{t.desc.width} * t.desc.height * 4 * 6 * t.desc.array_layers);
  EXPECT_EQ(t.memory_bytes, t.level_bytes[0]);
}

TEST(LoadTexture, TranscodedFormatsAreUnsupportedNotCorrupt) {
  EXPECT_THROW((void)load_texture(cts_valid("valid_R8G8B8A8_UNORM_2D_BLZE.ktx2")), Unsupported);
  EXPECT_THROW((void)load_texture(cts_valid("valid_R8G8B8A8_UNORM_2D_UASTC.ktx2")), Unsupported);
  EXPECT_THROW((void)load_texture(kKtx2Data / "cts" / "warnings" / "3014_warning_ThreeDArray.ktx2"),
               Unsupported);
  EXPECT_THROW((void)load_texture(kKtx2Data / "cts" / "warnings" /
                                  "3018_warning_VendorSupercompression_01.ktx2"),
               Unsupported);
}

TEST(LoadTexture, InvalidFilesAreFormatErrors) {
  EXPECT_THROW((void)load_texture(cts_invalid("5006_error_DecompressChecksumError.ktx2")),
               FormatError);
  EXPECT_THROW((void)load_texture(cts_invalid("2001_fatal_NotKTX2.ktx2")), FormatError);
}

TEST(LoadTexture, OneDimensionalAndGenerateMipsAreReported) {
  ktx2::Ktx2Image image{.format = TextureFormat::R8_UNORM, .width = 16, .height = 0};
  image.levels.push_back(std::vector<std::byte>(16, std::byte{7}));
  const std::vector<std::byte> bytes = ktx2::write_ktx2(image);
  const LoadedTexture t = load_texture(ktx2::read_ktx2(bytes, "1d"));
  EXPECT_EQ(t.dimensions, 1U);
  EXPECT_EQ(t.desc.height, 1U);
  EXPECT_FALSE(t.generate_mips);
  EXPECT_EQ(t.levels[0], image.levels[0]);
}

TEST(LoadTexture, DescribeMatchesLoadWithoutTheLevels) {
  const auto path = cts_valid("valid_R16G16B16A16_SFLOAT_2D_ARRAY_MIP.ktx2");
  const LoadedTexture loaded = load_texture(path);
  const LoadedTexture described = describe_texture(ktx2::read_ktx2_file(path));
  EXPECT_TRUE(described.levels.empty());
  EXPECT_EQ(described.level_bytes, loaded.level_bytes);
  EXPECT_EQ(described.memory_bytes, loaded.memory_bytes);
  EXPECT_EQ(described.desc.array_layers, loaded.desc.array_layers);
  EXPECT_DOUBLE_EQ(described.compression_ratio, 0.5);  // 8 bytes a texel against RGBA8's 4
}

// A device without BC support: what load_texture hands over is RGBA8.
bool no_bc(TextureFormat format) { return !is_bc_format(format); }

TEST(LoadTexture, UnsampledFormatsAreDecodedToRgba8AndCostedBothWays) {
  const auto path = kKtx2Data / "samples" / "2d_bc7.ktx2";
  const LoadedTexture stored = load_texture(path);
  const LoadedTexture t = load_texture(path, {.samplable = no_bc, .decode_threads = 2});
  EXPECT_TRUE(t.decoded_to_rgba8);
  EXPECT_FALSE(stored.decoded_to_rgba8);
  EXPECT_EQ(t.stored_format, TextureFormat::BC7_SRGB_BLOCK);
  EXPECT_EQ(t.desc.format, TextureFormat::R8G8B8A8_SRGB);  // sRGB-ness kept
  EXPECT_EQ(t.stored_memory_bytes, stored.memory_bytes);
  EXPECT_EQ(t.stored_memory_bytes, 1600U + 400 + 144 + 64 + 16 + 16);
  EXPECT_EQ(t.memory_bytes, t.rgba8_bytes);  // resident: every texel at 4 bytes
  EXPECT_EQ(t.memory_bytes, (40U * 40 + 20 * 20 + 10 * 10 + 5 * 5 + 2 * 2 + 1) * 4);
  EXPECT_DOUBLE_EQ(t.compression_ratio, 1.0);
  ASSERT_EQ(t.levels.size(), stored.levels.size());
  for (std::uint32_t l = 0; l < t.levels.size(); ++l) {
    const std::uint32_t w = mip_dimension(40, l);
    EXPECT_EQ(t.level_bytes[l], std::uint64_t{w} * w * 4);
    const auto* blocks = reinterpret_cast<const std::uint8_t*>(stored.levels[l].data());
    const Image want =
        decode_bc({blocks, stored.levels[l].size()}, w, w, TextureFormat::BC7_SRGB_BLOCK);
    EXPECT_EQ(decode_image(t, l), want) << "level " << l;
    EXPECT_EQ(decode_image(stored, l), want) << "level " << l;
  }
  // The description alone reports the same costs.
  const LoadedTexture described =
      describe_texture(ktx2::read_ktx2_file(path), {.samplable = no_bc});
  EXPECT_EQ(described.level_bytes, t.level_bytes);
  EXPECT_EQ(described.memory_bytes, t.memory_bytes);
  EXPECT_EQ(described.stored_memory_bytes, t.stored_memory_bytes);
}

TEST(LoadTexture, FallbackDecodesEveryFaceOfACube) {
  // A BC1 cube map, 8x8 with two levels; each face's blocks differ.
  ktx2::Ktx2Image cube{
      .format = TextureFormat::BC1_RGB_UNORM_BLOCK, .width = 8, .height = 8, .faces = 6};
  for (std::uint32_t l = 0; l < 2; ++l) {
    std::vector<std::byte> level(bc_image_bytes(cube.format, 8 >> l, 8 >> l) * 6);
    for (std::size_t i = 0; i < level.size(); ++i) {
      level[i] = static_cast<std::byte>((i * 37 + std::size_t{l} * 11) & 0xFFU);
    }
    cube.levels.push_back(std::move(level));
  }
  const LoadedTexture t =
      load_texture(ktx2::read_ktx2(ktx2::write_ktx2(cube), "cube"), {.samplable = no_bc});
  EXPECT_EQ(t.desc.format, TextureFormat::R8G8B8A8_UNORM);
  EXPECT_EQ(t.faces, 6U);
  EXPECT_EQ(t.memory_bytes, (8U * 8 + 4 * 4) * 4 * 6);
  EXPECT_EQ(t.stored_memory_bytes, (32U + 8) * 6);
  for (std::uint32_t l = 0; l < 2; ++l) {
    const std::uint32_t w = 8 >> l;
    const std::size_t face_blocks = bc_image_bytes(cube.format, w, w);
    ASSERT_EQ(t.levels[l].size(), std::size_t{w} * w * 4 * 6);
    for (std::size_t face = 0; face < 6; ++face) {
      const auto* blocks = reinterpret_cast<const std::uint8_t*>(cube.levels[l].data());
      const Image want = decode_bc({blocks + face * face_blocks, face_blocks}, w, w, cube.format);
      EXPECT_EQ(0, std::memcmp(t.levels[l].data() + face * w * w * 4, want.bytes().data(),
                               want.bytes().size()))
          << "level " << l << " face " << face;
    }
  }
}

TEST(LoadTexture, SamplableFormatsAreLeftAlone) {
  const auto path = kKtx2Data / "samples" / "2d_bc7.ktx2";
  const LoadedTexture t = load_texture(path, {.samplable = [](TextureFormat) { return true; }});
  EXPECT_FALSE(t.decoded_to_rgba8);
  EXPECT_EQ(t.desc.format, TextureFormat::BC7_SRGB_BLOCK);
  EXPECT_EQ(t.memory_bytes, t.stored_memory_bytes);
  EXPECT_EQ(t.levels, load_texture(path).levels);
}

TEST(LoadTexture, FormatsWithoutAnRgba8DecoderAreUnsupported) {
  ktx2::Ktx2Image hdr{.format = TextureFormat::BC6H_UFLOAT_BLOCK, .width = 4, .height = 4};
  hdr.levels.emplace_back(16);
  const ktx2::Ktx2File file = ktx2::read_ktx2(ktx2::write_ktx2(hdr), "hdr.ktx2");
  try {
    (void)load_texture(file, {.samplable = no_bc});
    FAIL() << "BC6H has no RGBA8 fallback";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("hdr.ktx2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("BC6H_UFLOAT_BLOCK"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW((void)load_texture(file));  // sampled as it is, nothing to decode
  EXPECT_THROW((void)decode_image(load_texture(file)), Unsupported);
  EXPECT_THROW((void)decode_image(load_texture(file), 1), InvalidArgument);
}

}  // namespace
}  // namespace gpumem
