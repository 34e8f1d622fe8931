// The reader on chosen files: what it finds in valid ones (format, levels, DFD, key/values,
// supercompression undone) and how its errors name the field, offset and level.
#include "gpumem/texture/ktx2_reader.hpp"

#include <gtest/gtest.h>

#include <string>

#include "gpumem/core/error.hpp"
#include "texture/ktx2_test_files.hpp"

namespace gpumem::ktx2 {
namespace {

using testing::cts_invalid;
using testing::cts_valid;
using testing::file_bytes;

FormatError read_error(const std::filesystem::path& path) {
  try {
    (void)read_ktx2_file(path);
  } catch (const FormatError& e) {
    return e;
  }
  throw std::runtime_error("no FormatError for " + path.string());
}

TEST(Ktx2Reader, ReadsAMipChainedRgba8FileWithItsFormatDfdAndKeys) {
  const Ktx2File f = read_ktx2_file(cts_valid("valid_R8G8B8A8_SRGB_2D_MIP.ktx2"));
  EXPECT_EQ(f.header.vk_format, 43U);
  ASSERT_TRUE(f.format.has_value());
  EXPECT_EQ(*f.format, TextureFormat::R8G8B8A8_SRGB);
  EXPECT_EQ(f.payload, Payload::Texels);
  EXPECT_EQ(f.stored_levels(), f.header.level_count);
  EXPECT_GT(f.stored_levels(), 1U);
  EXPECT_EQ(f.dfd.color_model, kModelRgbsda);
  EXPECT_EQ(f.dfd.transfer, kTransferSrgb);
  ASSERT_EQ(f.dfd.samples.size(), 4U);
  EXPECT_EQ(f.dfd.samples[3].channel, kChannelAlpha);
  EXPECT_TRUE(f.text("KTXwriter").has_value());
  // Level sizes follow the mip chain: RGBA8, every level 4 bytes a texel.
  for (std::uint32_t level = 0; level < f.stored_levels(); ++level) {
    const std::uint64_t w = mip_dimension(f.header.pixel_width, level);
    const std::uint64_t h = mip_dimension(f.header.pixel_height, level);
    EXPECT_EQ(level_data(f, level).size(), w * h * 4) << "level " << level;
  }
}

TEST(Ktx2Reader, ZstandardAndZlibLevelsInflateToTheSameTexels) {
  const Ktx2File zstd = read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_2D_ZSTD_9.ktx2"));
  const Ktx2File zlib = read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_2D_ZLIB_9.ktx2"));
  EXPECT_EQ(zstd.supercompression(), Supercompression::Zstandard);
  EXPECT_EQ(zlib.supercompression(), Supercompression::Zlib);
  EXPECT_NE(zstd.levels[0].byte_length, zstd.levels[0].uncompressed_byte_length);
  const std::vector<std::byte> texels = level_data(zstd, 0);
  EXPECT_EQ(texels.size(), zstd.levels[0].uncompressed_byte_length);
  EXPECT_EQ(level_data(zlib, 0), texels);
  // The same texels through the other scheme at another level of effort.
  EXPECT_EQ(level_data(read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_2D_ZSTD_1.ktx2")), 0),
            texels);
}

TEST(Ktx2Reader, CubeArraysAnd3dKeepTheirShape) {
  const Ktx2File cube = read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_CUBE_ARRAY_MIP.ktx2"));
  EXPECT_EQ(cube.header.face_count, 6U);
  EXPECT_GT(cube.header.layer_count, 0U);
  const Ktx2File volume = read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_3D_MIP.ktx2"));
  EXPECT_GT(volume.header.pixel_depth, 1U);
  EXPECT_EQ(level_data(volume, 0).size(), std::uint64_t{volume.header.pixel_width} *
                                              volume.header.pixel_height *
                                              volume.header.pixel_depth * 4);
}

TEST(Ktx2Reader, BasisLzAndUastcAreReadButTheirPayloadIsNamed) {
  const Ktx2File blze = read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_2D_BLZE.ktx2"));
  EXPECT_EQ(blze.payload, Payload::BasisLZ);
  EXPECT_FALSE(blze.format.has_value());
  EXPECT_FALSE(blze.supercompression_global_data.empty());
  EXPECT_THROW((void)level_data(blze, 0), Unsupported);
  const Ktx2File uastc = read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_2D_UASTC_ZSTD_9.ktx2"));
  EXPECT_EQ(uastc.payload, Payload::Uastc);
  EXPECT_EQ(level_data(uastc, 0).size() % 16, 0U);  // UASTC blocks, inflated
}

TEST(Ktx2Reader, ErrorsNameTheFieldAndItsByteOffset) {
  const FormatError faces = read_error(cts_invalid("3015_error_InvalidFaceCount_12.ktx2"));
  EXPECT_EQ(faces.field(), "faceCount");
  EXPECT_EQ(faces.offset(), 36U);
  EXPECT_NE(std::string(faces.what()).find("3015_error_InvalidFaceCount_12.ktx2"),
            std::string::npos);

  const FormatError order = read_error(cts_invalid("7012_error_OutOfOrder.ktx2"));
  EXPECT_NE(order.field().find("key/value"), std::string::npos) << order.what();
  EXPECT_NE(std::string(order.what()).find("sorted"), std::string::npos) << order.what();

  const FormatError transfer =
      read_error(cts_invalid("6012_error_BasicInvalidTransferFunction_0x14.ktx2"));
  EXPECT_EQ(transfer.field(), "DFD transferFunction");
  EXPECT_EQ(transfer.offset(), 118U);  // DFD at 104, basic block at 108, byte 10 of it
}

TEST(Ktx2Reader, LevelErrorsNameTheLevel) {
  const FormatError length =
      read_error(cts_invalid("4005_error_IncorrectByteLength_RGBA8_L1_minus4.ktx2"));
  EXPECT_NE(length.field().find("levelIndex[0]"), std::string::npos) << length.what();
  const FormatError checksum = read_error(cts_invalid("5006_error_DecompressChecksumError.ktx2"));
  EXPECT_EQ(checksum.field(), "level 0 data") << checksum.what();
}

TEST(Ktx2Reader, EveryTruncationOfAValidFileIsAFormatError) {
  const std::vector<std::byte> bytes =
      file_bytes(cts_valid("valid_R8G8B8A8_UNORM_CUBE_ARRAY_MIP.ktx2"));
  ASSERT_GT(bytes.size(), 200U);
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    EXPECT_THROW((void)read_ktx2(std::span(bytes).first(length), "truncated"), FormatError)
        << "length " << length;
  }
  EXPECT_NO_THROW((void)read_ktx2(bytes, "whole"));
}

TEST(Ktx2Reader, AHugeDeclaredInflatedSizeIsRefusedBeforeAllocating) {
  std::vector<std::byte> bytes = file_bytes(cts_valid("valid_R8_UNORM_2D_ZSTD_9.ktx2"));
  const Ktx2File f = read_ktx2(bytes, "zstd");
  EXPECT_THROW((void)level_data(f, 0, f.levels[0].uncompressed_byte_length - 1), FormatError);
  ReadOptions tight;
  tight.max_inflated_level_bytes = 8;
  EXPECT_THROW((void)read_ktx2(bytes, "zstd", tight), FormatError);
}

TEST(Ktx2Reader, UndefinedVkFormatIsDetectedFromTheDfd) {
  std::vector<std::byte> bytes = file_bytes(cts_valid("valid_R8G8B8A8_SRGB_2D_MIP.ktx2"));
  for (std::size_t i = 12; i < 16; ++i) bytes[i] = std::byte{0};  // vkFormat = UNDEFINED
  const Ktx2File f = read_ktx2(bytes, "undefined");
  EXPECT_EQ(f.header.vk_format, 0U);
  EXPECT_EQ(f.payload, Payload::Texels);
  ASSERT_TRUE(f.format.has_value());
  EXPECT_EQ(*f.format, TextureFormat::R8G8B8A8_SRGB);
  // A level four bytes short (byteLength and uncompressedByteLength agreeing) is found against
  // the detected format.
  for (const std::size_t at : {kHeaderBytes + 8, kHeaderBytes + 16}) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < 8; ++i)
      value |= std::uint64_t{std::to_integer<std::uint8_t>(bytes[at + i])} << (8 * i);
    value -= 4;
    for (std::size_t i = 0; i < 8; ++i) bytes[at + i] = static_cast<std::byte>(value >> (8 * i));
  }
  try {
    (void)read_ktx2(bytes, "undefined");
    ADD_FAILURE() << "a short level was accepted";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "levelIndex[0].byteLength") << e.what();
    EXPECT_NE(std::string(e.what()).find("R8G8B8A8_SRGB"), std::string::npos) << e.what();
  }
}

TEST(Ktx2Reader, AMissingFileIsInvalidArgument) {
  EXPECT_THROW((void)read_ktx2_file(testing::kKtx2Data / "no-such-file.ktx2"), InvalidArgument);
}

}  // namespace
}  // namespace gpumem::ktx2
