// Generated DFDs against the ones KTX-Software wrote into the sample and conformance files, bit
// for bit (samples, bounds, model, block size, plane bytes), and their encoding.
#include "gpumem/texture/dfd.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "gpumem/texture/ktx2_reader.hpp"
#include "texture/ktx2_test_files.hpp"

namespace gpumem::ktx2 {
namespace {

namespace fs = std::filesystem;

TEST(Dfd, GeneratedDescriptorsMatchThoseKtxSoftwareWrote) {
  std::set<TextureFormat> checked;
  for (const fs::path& folder :
       {testing::kKtx2Data / "samples", testing::kKtx2Data / "cts" / "valid"}) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.path().extension() != ".ktx2") continue;
      const Ktx2File f = read_ktx2_file(entry.path());
      if (!f.format) continue;
      SCOPED_TRACE(entry.path().filename().string());
      const BasicDfd want = basic_dfd_for(*f.format);
      EXPECT_EQ(f.dfd.color_model, want.color_model);
      EXPECT_EQ(f.dfd.transfer, want.transfer);
      EXPECT_EQ(std::vector(std::begin(f.dfd.texel_block), std::end(f.dfd.texel_block)),
                std::vector(std::begin(want.texel_block), std::end(want.texel_block)));
      if (f.header.supercompression == 0) {
        EXPECT_EQ(f.dfd.bytes_planes[0], want.bytes_planes[0]);
      }
      EXPECT_EQ(f.dfd.samples, want.samples);
      checked.insert(*f.format);
    }
  }
  EXPECT_GE(checked.size(), 15U);  // RGBA8, sRGB, 16/32-bit float, packed, BCn, ETC2, ASTC
}

TEST(Dfd, EncodingStartsWithTheTotalSizeAndHoldsEverySample) {
  const BasicDfd dfd = basic_dfd_for(TextureFormat::R8G8B8A8_SRGB);
  const std::vector<std::byte> bytes = encode_dfd(dfd);
  ASSERT_EQ(bytes.size(), 4U + 24U + 16U * 4U);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), bytes.size());
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[4 + 6]), 24 + 16 * 4);  // descriptorBlockSize
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[4 + 10]), kTransferSrgb);
  // Alpha is the fourth sample, linear under sRGB: qualifier bit 28 of its first word.
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[4 + 24 + 48 + 3]), 0x10 | kChannelAlpha);
}

TEST(Dfd, PackedFormatsListSamplesFromTheLowestBit) {
  const BasicDfd dfd = basic_dfd_for(TextureFormat::A2B10G10R10_UNORM_PACK32);
  ASSERT_EQ(dfd.samples.size(), 4U);
  EXPECT_EQ(dfd.samples[0].channel, kChannelRed);
  EXPECT_EQ(dfd.samples[0].bit_offset, 0);
  EXPECT_EQ(dfd.samples[3].channel, kChannelAlpha);
  EXPECT_EQ(dfd.samples[3].bit_offset, 30);
  EXPECT_EQ(dfd.samples[3].bit_length, 2);
}

TEST(Dfd, NamesForReports) {
  EXPECT_EQ(model_name(kModelBc7), "BC7");
  EXPECT_EQ(model_name(200), "model 200");
  EXPECT_EQ(transfer_name(kTransferSrgb), "sRGB");
  EXPECT_EQ(primaries_name(10), "Display P3");
  EXPECT_EQ(channel_name(kModelRgbsda, kChannelAlpha), "A");
}

}  // namespace
}  // namespace gpumem::ktx2
