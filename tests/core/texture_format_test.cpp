#include "gpumem/core/texture_format.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

using F = TextureFormat;

// Parameterised tests are named after each case's label (or format name), so a failure says
// which hand-computed case broke.
std::string_view label_of(TextureFormat format) { return to_string(format); }
template <typename Case>
std::string_view label_of(const Case& c) {
  return c.label;
}
struct CaseName {
  template <typename Case>
  std::string operator()(const testing::TestParamInfo<Case>& param) const {
    return std::string(label_of(param.param));
  }
};

// ---------------------------------------------------------------------------------------------
// Whole-texture sizes. Every expected value is worked out by hand in the comment beside it.

struct SizeCase {
  const char* label;
  TextureDesc desc;
  std::uint64_t expected;
};

class TextureSizeTest : public testing::TestWithParam<SizeCase> {};

TEST_P(TextureSizeTest, MatchesHandComputedBytes) {
  EXPECT_EQ(texture_size_bytes(GetParam().desc), GetParam().expected);
}

const SizeCase kSizeCases[] = {
    // 1024 * 1024 texels * 4 bytes.
    {"Rgba8_1024", {.format = F::R8G8B8A8_UNORM, .width = 1024, .height = 1024}, 4 * kMiB},
    // 256 * 256 blocks * 16 bytes.
    {"Bc3_1024", {.format = F::BC3_UNORM_BLOCK, .width = 1024, .height = 1024}, 1 * kMiB},
    // 256 * 256 blocks * 8 bytes.
    {"Bc1_1024", {.format = F::BC1_RGB_UNORM_BLOCK, .width = 1024, .height = 1024}, 512 * kKiB},
    // 4 * (4^10 + 4^9 + ... + 4^0) = 4 * (4^11 - 1) / 3 = 4 * 1398101.
    {"Rgba8_1024_FullChain",
     {.format = F::R8G8B8A8_UNORM, .width = 1024, .height = 1024, .mip_levels = 11},
     5592404},
    // Blocks per level 256^2 + 128^2 + ... + 1^2 (= 87380) + 1 + 1 (2x2 and 1x1) = 87383; * 8.
    {"Bc1_1024_FullChain",
     {.format = F::BC1_RGBA_SRGB_BLOCK, .width = 1024, .height = 1024, .mip_levels = 11},
     699064},
    // The header's example: blocks 512^2 + ... + 1^2 = 349525, + 2 for 2x2 and 1x1; * 16.
    {"Bc7_2048_FullChain",
     {.format = F::BC7_SRGB_BLOCK, .width = 2048, .height = 2048, .mip_levels = 12},
     5592432},
    // Partial blocks round up: 2 * 2 blocks * 8 bytes; one block for a single texel.
    {"Bc1_5x5", {.format = F::BC1_RGB_UNORM_BLOCK, .width = 5, .height = 5}, 32},
    {"Bc1_1x1", {.format = F::BC1_RGB_UNORM_BLOCK, .width = 1, .height = 1}, 8},
    {"Bc7_1x1", {.format = F::BC7_UNORM_BLOCK, .width = 1, .height = 1}, 16},
    // 2 * 1 blocks * 16 bytes.
    {"Bc2_7x3", {.format = F::BC2_SRGB_BLOCK, .width = 7, .height = 3}, 32},
    // 1920 / 12 = 160, 1080 / 10 = 108 blocks; 160 * 108 * 16.
    {"Astc12x10_1080p",
     {.format = F::ASTC_12x10_UNORM_BLOCK, .width = 1920, .height = 1080},
     276480},
    // Block width and height are not interchangeable: 2 * 1 blocks here, where 10x12 needs 3 * 1.
    {"Astc12x10_24x10", {.format = F::ASTC_12x10_SRGB_BLOCK, .width = 24, .height = 10}, 32},
    // 480 * 270 blocks * 16.
    {"Astc4x4_1080p", {.format = F::ASTC_4x4_SRGB_BLOCK, .width = 1920, .height = 1080}, 2073600},
    // ceil(13 / 6) = 3, ceil(11 / 5) = 3: 9 blocks * 16.
    {"Astc6x5_13x11", {.format = F::ASTC_6x5_SRGB_BLOCK, .width = 13, .height = 11}, 144},
    // 11 levels. Widths 1920 960 480 240 120 60 30 15 7 3 1, heights 1080 540 270 135 67 33 16
    // 8 4 2 1; 12x12 blocks: 160*90 + 80*45 + 40*23 + 20*12 + 10*6 + 5*3 + 3*2 + 2*1 + 1 + 1 + 1
    // = 14400 + 3600 + 920 + 240 + 60 + 15 + 6 + 2 + 3 = 19246; * 16.
    {"Astc12x12_1080p_FullChain",
     {.format = F::ASTC_12x12_SRGB_BLOCK, .width = 1920, .height = 1080, .mip_levels = 11},
     307936},
    // 250 * 250 blocks * 8 or 16 bytes.
    {"Etc2Rgb8_1000",
     {.format = F::ETC2_R8G8B8_UNORM_BLOCK, .width = 1000, .height = 1000},
     500000},
    {"Etc2Rgba8_1000",
     {.format = F::ETC2_R8G8B8A8_SRGB_BLOCK, .width = 1000, .height = 1000},
     1000000},
    {"Etc2Rgb8A1_4x4", {.format = F::ETC2_R8G8B8A1_UNORM_BLOCK, .width = 4, .height = 4}, 8},
    // 2 * 2 blocks * 8 (R11) or 16 (RG11).
    {"EacR11_6x6", {.format = F::EAC_R11_UNORM_BLOCK, .width = 6, .height = 6}, 32},
    {"EacRg11_6x6", {.format = F::EAC_R11G11_SNORM_BLOCK, .width = 6, .height = 6}, 64},
    // Six faces of 256 * 256 * 4.
    {"Cube_Rgba8_256",
     {.format = F::R8G8B8A8_UNORM, .width = 256, .height = 256, .cube = true},
     1572864},
    // Two cubes of 128^2 BC1, 8 levels: blocks 32^2 16^2 8^2 4^2 2^2 1 1 1 -> bytes 8192 + 2048
    // + 512 + 128 + 32 + 8 + 8 + 8 = 10936 a face; * 6 faces * 2 cubes.
    {"CubeArray_Bc1_128_FullChain",
     {.format = F::BC1_RGB_UNORM_BLOCK,
      .width = 128,
      .height = 128,
      .mip_levels = 8,
      .array_layers = 2,
      .cube = true},
     131232},
    // Levels 64x32, 32x16, 16x8 at 8 bytes: 16384 + 4096 + 1024 = 21504 a layer; * 4 layers.
    {"Array_Rgba16f_64x32",
     {.format = F::R16G16B16A16_SFLOAT,
      .width = 64,
      .height = 32,
      .mip_levels = 3,
      .array_layers = 4},
     86016},
    // Depth halves too: 64*32*16 + 32*16*8 + 16*8*4 + 8*4*2 + 4*2*1 + 2*1*1 + 1
    // = 32768 + 4096 + 512 + 64 + 8 + 2 + 1.
    {"Volume_R8_64x32x16_FullChain",
     {.format = F::R8_UNORM, .width = 64, .height = 32, .depth = 16, .mip_levels = 7},
     37451},
    // Depth sets the chain's length: 4*4*64 + 2*2*32 + 16 + 8 + 4 + 2 + 1 = 1024 + 128 + 31.
    {"Volume_R8_4x4x64_FullChain",
     {.format = F::R8_UNORM, .width = 4, .height = 4, .depth = 64, .mip_levels = 7},
     1183},
    // Each depth slice is its own layer of 2D blocks: 4*4 blocks * 8 * 4 slices, then 2*2 * 8 * 2.
    {"Volume_Bc4_16x16x4_TwoLevels",
     {.format = F::BC4_SNORM_BLOCK, .width = 16, .height = 16, .depth = 4, .mip_levels = 2},
     576},
    // 2 * 2 blocks * 16 bytes * 8 slices.
    {"Volume_Bc7_8x8x8", {.format = F::BC7_UNORM_BLOCK, .width = 8, .height = 8, .depth = 8}, 512},
    // Non-power-of-two chains: 5x3, 2x1, 1x1 = 18 texels; 256 + 128 + ... + 1 = 511 texels.
    {"Rgba8_5x3_FullChain",
     {.format = F::R8G8B8A8_UNORM, .width = 5, .height = 3, .mip_levels = 3},
     72},
    {"Rgba8_256x1_FullChain", {.format = F::B8G8R8A8_UNORM, .width = 256, .mip_levels = 9}, 2044},
    {"Rgb32f_1000x1", {.format = F::R32G32B32_SFLOAT, .width = 1000}, 12000},
    {"Rgba32f_1x1", {.format = F::R32G32B32A32_SFLOAT}, 16},
    {"Rgb8_3x3", {.format = F::R8G8B8_SRGB, .width = 3, .height = 3}, 27},
    {"Bgra8Srgb_1080p", {.format = F::B8G8R8A8_SRGB, .width = 1920, .height = 1080}, 8294400},
    // Packed formats: bytes per texel * texels.
    {"R5G6B5_100x50", {.format = F::R5G6B5_UNORM_PACK16, .width = 100, .height = 50}, 10000},
    {"Rgba4_16x16", {.format = F::R4G4B4A4_UNORM_PACK16, .width = 16, .height = 16}, 512},
    {"Rgb5A1_10x10", {.format = F::R5G5B5A1_UNORM_PACK16, .width = 10, .height = 10}, 200},
    {"Rg4_8x8", {.format = F::R4G4_UNORM_PACK8, .width = 8, .height = 8}, 64},
    {"A2B10G10R10_10x10", {.format = F::A2B10G10R10_UNORM_PACK32, .width = 10, .height = 10}, 400},
    {"B10G11R11_3x3", {.format = F::B10G11R11_UFLOAT_PACK32, .width = 3, .height = 3}, 36},
    {"E5B9G9R9_1000x1", {.format = F::E5B9G9R9_UFLOAT_PACK32, .width = 1000}, 4000},
    // Depth/stencil at 1920 * 1080 = 2073600 texels.
    {"D16_1080p", {.format = F::D16_UNORM, .width = 1920, .height = 1080}, 4147200},
    {"X8D24_1080p", {.format = F::X8_D24_UNORM_PACK32, .width = 1920, .height = 1080}, 8294400},
    {"D32F_1080p", {.format = F::D32_SFLOAT, .width = 1920, .height = 1080}, 8294400},
    {"S8_1080p", {.format = F::S8_UINT, .width = 1920, .height = 1080}, 2073600},
    {"D16S8_1080p", {.format = F::D16_UNORM_S8_UINT, .width = 1920, .height = 1080}, 6220800},
    {"D24S8_1080p", {.format = F::D24_UNORM_S8_UINT, .width = 1920, .height = 1080}, 8294400},
    {"D32FS8_1080p", {.format = F::D32_SFLOAT_S8_UINT, .width = 1920, .height = 1080}, 10368000},
    // The largest 2D R8 level still fits: (2^32 - 1)^2 = 2^64 - 2^33 + 1.
    {"R8_Max2D",
     {.format = F::R8_UNORM, .width = 0xFFFFFFFF, .height = 0xFFFFFFFF},
     18446744065119617025ULL},
    // 65536^2 * 16 bytes = 2^36 a layer; 2^27 layers make exactly 2^63.
    {"Rgba32f_Array_2pow63",
     {.format = F::R32G32B32A32_SFLOAT, .width = 65536, .height = 65536, .array_layers = 1U << 27},
     1ULL << 63},
};

INSTANTIATE_TEST_SUITE_P(HandComputed, TextureSizeTest, testing::ValuesIn(kSizeCases), CaseName());

// ---------------------------------------------------------------------------------------------
// Single levels.

struct LevelCase {
  const char* label;
  TextureDesc desc;
  std::uint32_t level;
  std::uint64_t expected;
};

class MipLevelSizeTest : public testing::TestWithParam<LevelCase> {};

TEST_P(MipLevelSizeTest, MatchesHandComputedBytes) {
  EXPECT_EQ(mip_level_size_bytes(GetParam().desc, GetParam().level), GetParam().expected);
}

constexpr TextureDesc kBc1Chain{
    .format = F::BC1_RGB_UNORM_BLOCK, .width = 1024, .height = 1024, .mip_levels = 11};
constexpr TextureDesc kVolumeChain{
    .format = F::R8_UNORM, .width = 64, .height = 32, .depth = 16, .mip_levels = 7};

const LevelCase kLevelCases[] = {
    {"Bc1_Level0", kBc1Chain, 0, 524288},  // 256 * 256 * 8
    {"Bc1_Level1", kBc1Chain, 1, 131072},  // 128 * 128 * 8
    {"Bc1_Level8_4x4", kBc1Chain, 8, 8},
    {"Bc1_Level9_2x2", kBc1Chain, 9, 8},
    {"Bc1_Level10_1x1", kBc1Chain, 10, 8},
    {"Volume_Level2", kVolumeChain, 2, 512},  // 16 * 8 * 4
    {"Volume_Level6", kVolumeChain, 6, 1},
    // One face only: 256 * 256 * 4.
    {"Cube_Face",
     {.format = F::R8G8B8A8_UNORM, .width = 256, .height = 256, .cube = true},
     0,
     262144},
    // 480x270 in 12x12 blocks: 40 * 23 * 16.
    {"Astc12x12_Level2",
     {.format = F::ASTC_12x12_UNORM_BLOCK, .width = 1920, .height = 1080, .mip_levels = 11},
     2,
     14720},
};

INSTANTIATE_TEST_SUITE_P(HandComputed, MipLevelSizeTest, testing::ValuesIn(kLevelCases),
                         CaseName());

TEST(MipLevelSize, LevelsSumToTheTotal) {
  for (const TextureDesc& desc : {kBc1Chain, kVolumeChain}) {
    std::uint64_t sum = 0;
    for (std::uint32_t level = 0; level < desc.mip_levels; ++level) {
      sum += mip_level_size_bytes(desc, level);
    }
    EXPECT_EQ(sum, texture_size_bytes(desc)) << to_string(desc.format);
  }
}

TEST(MipLevelSize, RejectsALevelPastTheChain) {
  try {
    mip_level_size_bytes(kBc1Chain, 11);
    FAIL() << "level 11 of an 11-level chain was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("mip_levels is 11"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Mip chain arithmetic.

TEST(MipChain, FullCountIsOnePlusLog2OfTheLargestAxis) {
  EXPECT_EQ(full_mip_count(1024, 1024), 11U);
  EXPECT_EQ(full_mip_count(1920, 1080), 11U);
  EXPECT_EQ(full_mip_count(1, 1), 1U);
  EXPECT_EQ(full_mip_count(5, 3), 3U);
  EXPECT_EQ(full_mip_count(4, 4, 64), 7U);
  EXPECT_EQ(full_mip_count(0xFFFFFFFF, 1), 32U);
  EXPECT_EQ(full_mip_count(0, 0, 0), 0U);
  static_assert(full_mip_count(2048, 2048) == 12);
}

TEST(MipChain, DimensionHalvesAndStopsAtOne) {
  EXPECT_EQ(mip_dimension(1080, 0), 1080U);
  EXPECT_EQ(mip_dimension(1080, 4), 67U);
  EXPECT_EQ(mip_dimension(1080, 11), 1U);
  EXPECT_EQ(mip_dimension(0xFFFFFFFF, 31), 1U);
  EXPECT_EQ(mip_dimension(0xFFFFFFFF, 32), 1U);
  EXPECT_EQ(mip_dimension(0xFFFFFFFF, 1000), 1U);
}

// ---------------------------------------------------------------------------------------------
// Compression-ratio baseline.

TEST(Rgba8Equivalent, CountsFourBytesATexelWhateverTheFormat) {
  const TextureDesc bc1{
      .format = F::BC1_RGB_UNORM_BLOCK, .width = 1024, .height = 1024, .mip_levels = 11};
  EXPECT_EQ(rgba8_equivalent_bytes(bc1), 5592404U);
  const TextureDesc bc7{
      .format = F::BC7_SRGB_BLOCK, .width = 2048, .height = 2048, .mip_levels = 12};
  EXPECT_EQ(rgba8_equivalent_bytes(bc7), 22369620U);  // 4 * (4^12 - 1) / 3
  const TextureDesc cube{
      .format = F::D32_SFLOAT_S8_UINT, .width = 256, .height = 256, .cube = true};
  EXPECT_EQ(rgba8_equivalent_bytes(cube), 1572864U);
}

TEST(Rgba8Equivalent, ValidatesTheDescriptionAsGiven) {
  const TextureDesc bad{.format = static_cast<TextureFormat>(60000), .width = 4, .height = 4};
  EXPECT_THROW(rgba8_equivalent_bytes(bad), InvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Invalid descriptions: InvalidArgument, naming the field.

struct InvalidCase {
  const char* label;
  TextureDesc desc;
  const char* names;  // must appear in what()
};

class InvalidDescTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidDescTest, ThrowsNamingTheField) {
  const InvalidCase& c = GetParam();
  for (int call = 0; call < 3; ++call) {
    try {
      if (call == 0) validate(c.desc);
      if (call == 1) texture_size_bytes(c.desc);
      if (call == 2) mip_level_size_bytes(c.desc, 0);
      ADD_FAILURE() << "call " << call << " accepted the description";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(c.names), std::string::npos)
          << "call " << call << ": " << e.what();
    }
  }
}

constexpr std::uint32_t kMax = 0xFFFFFFFF;

const InvalidCase kInvalidCases[] = {
    {"ZeroWidth", {.width = 0, .height = 4}, "TextureDesc.width is 0"},
    {"ZeroHeight", {.width = 4, .height = 0}, "TextureDesc.height is 0"},
    {"ZeroDepth", {.width = 4, .height = 4, .depth = 0}, "TextureDesc.depth is 0"},
    {"ZeroLayers", {.width = 4, .height = 4, .array_layers = 0}, "TextureDesc.array_layers is 0"},
    {"ZeroLevels", {.width = 4, .height = 4, .mip_levels = 0}, "TextureDesc.mip_levels is 0"},
    // Width is checked before mip_levels.
    {"ZeroWidthAndLevels", {.width = 0, .mip_levels = 0}, "TextureDesc.width is 0"},
    {"TooManyLevels",
     {.width = 1024, .height = 1024, .mip_levels = 12},
     "TextureDesc.mip_levels is 12, but a 1024x1024x1 texture has at most 11 levels"},
    {"LevelsOn1x1", {.mip_levels = 2}, "TextureDesc.mip_levels is 2"},
    {"UnknownFormat", {.format = static_cast<TextureFormat>(9999)}, "TextureDesc.format is 9999"},
    {"FormatJustPastTheEnd",
     {.format = static_cast<TextureFormat>(kTextureFormatCount)},
     "TextureDesc.format"},
    {"CubeNotSquare", {.width = 256, .height = 128, .cube = true}, "TextureDesc.cube"},
    {"CubeWithDepth", {.width = 64, .height = 64, .depth = 2, .cube = true}, "depth is 2"},
    {"VolumeArray",
     {.width = 8, .height = 8, .depth = 4, .array_layers = 2},
     "TextureDesc.array_layers is 2"},
    // (2^32 - 1)^2 texels fit one byte each, not four; nor does a second level on top.
    {"OverflowTexels", {.format = F::R8G8B8A8_UNORM, .width = kMax, .height = kMax}, "overflows"},
    {"OverflowLevels",
     {.format = F::R8_UNORM, .width = kMax, .height = kMax, .mip_levels = 2},
     "overflows"},
    {"OverflowVolume",
     {.format = F::R8_UNORM, .width = kMax, .height = kMax, .depth = 2},
     "overflows"},
    // 2^63 bytes as an array (see Rgba32f_Array_2pow63) times six faces.
    {"OverflowCubeFaces",
     {.format = F::R32G32B32A32_SFLOAT,
      .width = 65536,
      .height = 65536,
      .array_layers = 1U << 27,
      .cube = true},
     "overflows"},
    // 2^36 bytes a layer fits; (2^32 - 1) layers of it do not.
    {"OverflowLayers",
     {.format = F::R32G32B32A32_SFLOAT, .width = 65536, .height = 65536, .array_layers = kMax},
     "overflows"},
};

INSTANTIATE_TEST_SUITE_P(Rejected, InvalidDescTest, testing::ValuesIn(kInvalidCases), CaseName());

// ---------------------------------------------------------------------------------------------
// Format table: every enum value, then spot checks against the Vulkan spec.

class EveryFormatTest : public testing::TestWithParam<TextureFormat> {};

std::vector<TextureFormat> all_formats() {
  std::vector<TextureFormat> formats;
  for (const FormatInfo& info : texture_formats()) formats.push_back(info.format);
  return formats;
}

TEST_P(EveryFormatTest, InfoIsSane) {
  const FormatInfo& info = format_info(GetParam());
  EXPECT_EQ(info.format, GetParam());
  EXPECT_EQ(to_string(info.format), info.name);
  EXPECT_GE(info.block_width, 1);
  EXPECT_GE(info.block_height, 1);
  EXPECT_EQ(info.block_depth, 1);  // no 3D-block formats yet
  EXPECT_GT(info.bytes_per_block, 0);
  const bool blocky = info.block_width > 1 || info.block_height > 1;
  EXPECT_EQ(info.compressed, blocky);
  EXPECT_EQ(info.family == FormatFamily::DepthStencil, info.depth || info.stencil);
  EXPECT_EQ(info.family == FormatFamily::Uncompressed || info.family == FormatFamily::DepthStencil,
            !info.compressed);
  if (info.family == FormatFamily::ASTC) {
    EXPECT_EQ(info.bytes_per_block, 16);
  }
  if (info.compressed && info.family != FormatFamily::ASTC) {
    EXPECT_EQ(info.block_width, 4);
    EXPECT_EQ(info.block_height, 4);
    EXPECT_TRUE(info.bytes_per_block == 8 || info.bytes_per_block == 16);
  }
  // A single texel takes exactly one block.
  EXPECT_EQ(texture_size_bytes({.format = info.format}), info.bytes_per_block);
}

TEST_P(EveryFormatTest, NameRoundTripsThroughParse) {
  const FormatInfo& info = format_info(GetParam());
  EXPECT_EQ(parse_texture_format(info.name), info.format);
  std::string lower(info.name);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  EXPECT_EQ(parse_texture_format(lower), info.format);
  EXPECT_EQ(parse_texture_format("VK_FORMAT_" + std::string(info.name)), info.format);
  EXPECT_EQ(parse_texture_format("vk_format_" + lower), info.format);
}

TEST_P(EveryFormatTest, VkFormatRoundTrips) {
  const FormatInfo& info = format_info(GetParam());
  EXPECT_EQ(vk_format(info.format), info.vk_format);
  EXPECT_EQ(format_from_vk_format(info.vk_format), info.format);
  // All of today's formats are Vulkan 1.0 core formats.
  EXPECT_GE(info.vk_format, 1U);
  EXPECT_LE(info.vk_format, 184U);
}

INSTANTIATE_TEST_SUITE_P(All, EveryFormatTest, testing::ValuesIn(all_formats()), CaseName());

TEST(FormatTable, CoversEveryEnumValueOnceWithDistinctNamesAndNumbers) {
  ASSERT_EQ(texture_formats().size(), kTextureFormatCount);
  std::set<std::string_view> names;
  std::set<std::uint32_t> vk_values;
  for (std::size_t i = 0; i < kTextureFormatCount; ++i) {
    const FormatInfo& info = texture_formats()[i];
    EXPECT_EQ(static_cast<std::size_t>(info.format), i);
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_TRUE(vk_values.insert(info.vk_format).second) << info.name;
  }
}

// Copied by hand from enum VkFormat in vulkan_core.h, independently of the table under test.
TEST(FormatTable, VkFormatNumbersMatchTheVulkanHeaders) {
  const std::pair<TextureFormat, std::uint32_t> kSpec[] = {
      {F::R4G4_UNORM_PACK8, 1},
      {F::R5G6B5_UNORM_PACK16, 4},
      {F::A1R5G5B5_UNORM_PACK16, 8},
      {F::R8_UNORM, 9},
      {F::R8_SRGB, 15},
      {F::R8G8B8_UNORM, 23},
      {F::B8G8R8_SRGB, 36},
      {F::R8G8B8A8_UNORM, 37},
      {F::R8G8B8A8_SRGB, 43},
      {F::B8G8R8A8_UNORM, 44},
      {F::B8G8R8A8_SRGB, 50},
      {F::A8B8G8R8_SRGB_PACK32, 57},
      {F::A2R10G10B10_UNORM_PACK32, 58},
      {F::A2B10G10R10_UNORM_PACK32, 64},
      {F::A2B10G10R10_SINT_PACK32, 69},
      {F::R16_SFLOAT, 76},
      {F::R16G16B16A16_SFLOAT, 97},
      {F::R32_UINT, 98},
      {F::R32G32B32A32_SFLOAT, 109},
      {F::B10G11R11_UFLOAT_PACK32, 122},
      {F::E5B9G9R9_UFLOAT_PACK32, 123},
      {F::D16_UNORM, 124},
      {F::X8_D24_UNORM_PACK32, 125},
      {F::D32_SFLOAT, 126},
      {F::S8_UINT, 127},
      {F::D16_UNORM_S8_UINT, 128},
      {F::D24_UNORM_S8_UINT, 129},
      {F::D32_SFLOAT_S8_UINT, 130},
      {F::BC1_RGB_UNORM_BLOCK, 131},
      {F::BC1_RGBA_SRGB_BLOCK, 134},
      {F::BC3_SRGB_BLOCK, 138},
      {F::BC4_SNORM_BLOCK, 140},
      {F::BC5_UNORM_BLOCK, 141},
      {F::BC6H_UFLOAT_BLOCK, 143},
      {F::BC6H_SFLOAT_BLOCK, 144},
      {F::BC7_UNORM_BLOCK, 145},
      {F::BC7_SRGB_BLOCK, 146},
      {F::ETC2_R8G8B8_UNORM_BLOCK, 147},
      {F::ETC2_R8G8B8A1_SRGB_BLOCK, 150},
      {F::ETC2_R8G8B8A8_UNORM_BLOCK, 151},
      {F::EAC_R11_UNORM_BLOCK, 153},
      {F::EAC_R11G11_SNORM_BLOCK, 156},
      {F::ASTC_4x4_UNORM_BLOCK, 157},
      {F::ASTC_6x5_SRGB_BLOCK, 164},
      {F::ASTC_10x5_UNORM_BLOCK, 173},
      {F::ASTC_12x10_UNORM_BLOCK, 181},
      {F::ASTC_12x12_SRGB_BLOCK, 184},
  };
  for (const auto& [format, vk] : kSpec) {
    EXPECT_EQ(vk_format(format), vk) << to_string(format);
    EXPECT_EQ(format_from_vk_format(vk), format) << vk;
  }
}

TEST(FormatTable, VkFormatsOutsideTheEnumAreEmpty) {
  // UNDEFINED, R8_USCALED, R64_UINT, one past ASTC_12x12_SRGB, ASTC_4x4_SFLOAT, MAX_ENUM.
  for (std::uint32_t vk : {0U, 11U, 110U, 185U, 1000066000U, 0x7FFFFFFFU, 0xFFFFFFFFU}) {
    EXPECT_EQ(format_from_vk_format(vk), std::nullopt) << vk;
  }
}

struct InfoSpec {
  TextureFormat format;
  FormatFamily family;
  int block_width, block_height, bytes;
  bool srgb, depth, stencil;
};

TEST(FormatTable, SpotChecksMatchTheFormatSpecs) {
  using Fam = FormatFamily;
  const InfoSpec kSpecs[] = {
      {F::R8G8B8A8_SRGB, Fam::Uncompressed, 1, 1, 4, true, false, false},
      {F::R16G16B16_SFLOAT, Fam::Uncompressed, 1, 1, 6, false, false, false},
      {F::R32G32B32_SFLOAT, Fam::Uncompressed, 1, 1, 12, false, false, false},
      {F::E5B9G9R9_UFLOAT_PACK32, Fam::Uncompressed, 1, 1, 4, false, false, false},
      {F::B5G6R5_UNORM_PACK16, Fam::Uncompressed, 1, 1, 2, false, false, false},
      {F::D16_UNORM, Fam::DepthStencil, 1, 1, 2, false, true, false},
      {F::X8_D24_UNORM_PACK32, Fam::DepthStencil, 1, 1, 4, false, true, false},
      {F::D32_SFLOAT, Fam::DepthStencil, 1, 1, 4, false, true, false},
      {F::S8_UINT, Fam::DepthStencil, 1, 1, 1, false, false, true},
      {F::D16_UNORM_S8_UINT, Fam::DepthStencil, 1, 1, 3, false, true, true},
      {F::D24_UNORM_S8_UINT, Fam::DepthStencil, 1, 1, 4, false, true, true},
      {F::D32_SFLOAT_S8_UINT, Fam::DepthStencil, 1, 1, 5, false, true, true},
      {F::BC1_RGB_SRGB_BLOCK, Fam::BC, 4, 4, 8, true, false, false},
      {F::BC2_UNORM_BLOCK, Fam::BC, 4, 4, 16, false, false, false},
      {F::BC4_UNORM_BLOCK, Fam::BC, 4, 4, 8, false, false, false},
      {F::BC5_SNORM_BLOCK, Fam::BC, 4, 4, 16, false, false, false},
      {F::BC6H_SFLOAT_BLOCK, Fam::BC, 4, 4, 16, false, false, false},
      {F::BC7_SRGB_BLOCK, Fam::BC, 4, 4, 16, true, false, false},
      {F::ETC2_R8G8B8_SRGB_BLOCK, Fam::ETC2, 4, 4, 8, true, false, false},
      {F::ETC2_R8G8B8A1_UNORM_BLOCK, Fam::ETC2, 4, 4, 8, false, false, false},
      {F::ETC2_R8G8B8A8_UNORM_BLOCK, Fam::ETC2, 4, 4, 16, false, false, false},
      {F::EAC_R11_SNORM_BLOCK, Fam::EAC, 4, 4, 8, false, false, false},
      {F::EAC_R11G11_UNORM_BLOCK, Fam::EAC, 4, 4, 16, false, false, false},
      {F::ASTC_5x4_UNORM_BLOCK, Fam::ASTC, 5, 4, 16, false, false, false},
      {F::ASTC_10x8_SRGB_BLOCK, Fam::ASTC, 10, 8, 16, true, false, false},
      {F::ASTC_12x10_UNORM_BLOCK, Fam::ASTC, 12, 10, 16, false, false, false},
      {F::ASTC_12x12_UNORM_BLOCK, Fam::ASTC, 12, 12, 16, false, false, false},
  };
  for (const InfoSpec& spec : kSpecs) {
    const FormatInfo& info = format_info(spec.format);
    SCOPED_TRACE(info.name);
    EXPECT_EQ(info.family, spec.family);
    EXPECT_EQ(info.block_width, spec.block_width);
    EXPECT_EQ(info.block_height, spec.block_height);
    EXPECT_EQ(info.bytes_per_block, spec.bytes);
    EXPECT_EQ(info.srgb, spec.srgb);
    EXPECT_EQ(info.depth, spec.depth);
    EXPECT_EQ(info.stencil, spec.stencil);
  }
}

TEST(FormatTable, UnknownEnumValuesThrowOrReadUnknown) {
  const auto bogus = static_cast<TextureFormat>(kTextureFormatCount);
  EXPECT_THROW(format_info(bogus), InvalidArgument);
  EXPECT_THROW(vk_format(bogus), InvalidArgument);
  EXPECT_EQ(to_string(bogus), "unknown");
}

TEST(ParseTextureFormat, RejectsWhatIsNotAName) {
  for (std::string_view text :
       {"", "VK_FORMAT_", "vk_format_", " R8_UNORM", "R8_UNORM ", "R8", "RGBA8", "R8G8B8A8_USCALED",
        "VK_FORMAT_UNDEFINED", "VK_FORMAT_VK_FORMAT_R8_UNORM", "BC7_SRGB",
        "ASTC_3x3_UNORM_BLOCK"}) {
    EXPECT_EQ(parse_texture_format(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(ParseTextureFormat, IgnoresCaseAnywhere) {
  EXPECT_EQ(parse_texture_format("Bc7_Srgb_Block"), F::BC7_SRGB_BLOCK);
  EXPECT_EQ(parse_texture_format("astc_12X10_unorm_block"), F::ASTC_12x10_UNORM_BLOCK);
  EXPECT_EQ(parse_texture_format("Vk_Format_d24_unorm_s8_uint"), F::D24_UNORM_S8_UINT);
}

}  // namespace
}  // namespace gpumem
