// load_texture: the description, memory cost and level data of real files; Unsupported for valid
// files gpumem cannot upload as they are, FormatError for invalid ones.
#include "gpumem/texture/load_texture.hpp"

#include <gtest/gtest.h>

#include "gpumem/core/error.hpp"
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

}  // namespace
}  // namespace gpumem
