// upload_texture: every level arrives intact at its aligned offset of one Texture allocation,
// through the staging ring, on the host backend (the transfer tests cover the ring on the GPUs).
#include "gpumem/texture/texture_upload.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/memory/manager.hpp"
#include "gpumem/texture/ktx2_reader.hpp"
#include "texture/ktx2_test_files.hpp"

namespace gpumem {
namespace {

using ktx2::testing::cts_valid;
using ktx2::testing::kKtx2Data;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class TextureUpload : public ::testing::Test {
 protected:
  // Small chunks, so a level spans several chunks and the ring wraps.
  Manager manager_{std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(kGiB, 64 * kMiB))};
  StagingRing ring_{manager_, {.ring_size = 4 * kKiB, .chunk_size = kKiB}};

  static void expect_levels_arrived(const LoadedTexture& t, UploadedTexture& gpu) {
    gpu.wait();
    EXPECT_TRUE(gpu.is_complete());
    ASSERT_EQ(gpu.level_count(), t.levels.size());
    const std::byte* memory = gpu.memory().map();
    for (std::uint32_t level = 0; level < gpu.level_count(); ++level) {
      EXPECT_EQ(gpu.level_bytes(level), t.levels[level].size());
      EXPECT_EQ(std::memcmp(memory + gpu.level_offset(level), t.levels[level].data(),
                            t.levels[level].size()),
                0)
          << "level " << level;
    }
  }
};

TEST_F(TextureUpload, EveryLevelArrivesAtItsAlignedOffset) {
  const LoadedTexture t = load_texture(kKtx2Data / "samples" / "2d_bc7.ktx2");
  UploadedTexture gpu = upload_texture(t, ring_, {.tag = Tag("albedo")});
  EXPECT_EQ(gpu.desc().format, TextureFormat::BC7_SRGB_BLOCK);
  EXPECT_EQ(gpu.memory().category(), Category::Texture);
  for (std::uint32_t level = 0; level < gpu.level_count(); ++level) {
    EXPECT_EQ(gpu.level_offset(level) % 256, 0U);
    if (level > 0) {
      EXPECT_GE(gpu.level_offset(level), gpu.level_offset(level - 1) + gpu.level_bytes(level - 1));
    }
  }
  expect_levels_arrived(t, gpu);
  EXPECT_EQ(manager_.metrics().category(Category::Texture).live_count, 1U);
  EXPECT_THROW(gpu.level_offset(gpu.level_count()), InvalidArgument);
}

TEST_F(TextureUpload, OddTexelBlocksStartOnWholeBlocks) {
  // RGB8: 3-byte texels, so levels start on a multiple of both 3 and the alignment.
  const LoadedTexture t = load_texture(kKtx2Data / "samples" / "2d_rgb8.ktx2");
  ASSERT_EQ(format_info(t.desc.format).bytes_per_block, 3U);
  UploadedTexture gpu = upload_texture(t, ring_, {.level_alignment = 16});
  for (std::uint32_t level = 0; level < gpu.level_count(); ++level) {
    EXPECT_EQ(gpu.level_offset(level) % 48, 0U) << "level " << level;
  }
  expect_levels_arrived(t, gpu);
}

TEST_F(TextureUpload, DecodedFallbackIsWhatIsUploaded) {
  const LoadedTexture t = load_texture(kKtx2Data / "samples" / "2d_bc7.ktx2",
                                       {.samplable = [](TextureFormat) { return false; }});
  ASSERT_TRUE(t.decoded_to_rgba8);
  UploadedTexture gpu = upload_texture(t, ring_);
  EXPECT_EQ(gpu.desc().format, TextureFormat::R8G8B8A8_SRGB);
  EXPECT_EQ(gpu.level_bytes(0), 40U * 40U * 4U);
  expect_levels_arrived(t, gpu);
}

TEST_F(TextureUpload, BadInputIsRefusedAndNothingIsAllocated) {
  const ktx2::Ktx2File file =
      ktx2::read_ktx2_file(cts_valid("valid_R8G8B8A8_UNORM_2D_ZSTD_9.ktx2"));
  EXPECT_THAT([&] { upload_texture(describe_texture(file), ring_); },
              ThrowsMessage<InvalidArgument>(HasSubstr("no level data")));
  LoadedTexture t = load_texture(kKtx2Data / "samples" / "2d_bc7.ktx2");
  EXPECT_THAT([&] { upload_texture(t, ring_, {.level_alignment = 48}); },
              ThrowsMessage<InvalidArgument>(HasSubstr("not a power of two")));
  t.levels[2].pop_back();
  EXPECT_THAT(
      [&] { upload_texture(t, ring_); },
      ThrowsMessage<InvalidArgument>(HasSubstr("level 2 holds 143 bytes, its size is 144")));
  EXPECT_EQ(manager_.metrics().category(Category::Texture).live_count, 0U);
}

TEST_F(TextureUpload, BudgetRefusalStagesNothing) {
  Config small;
  small.heap_budgets["device-local"] = {.soft = 0, .hard = kKiB};
  Manager manager(std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(kGiB, 64 * kMiB)),
                  small);
  StagingRing ring(manager, {.ring_size = 4 * kKiB, .chunk_size = kKiB});
  const LoadedTexture t = load_texture(kKtx2Data / "samples" / "2d_bc7.ktx2");
  EXPECT_THROW(upload_texture(t, ring), BudgetExceeded);
  EXPECT_EQ(ring.statistics().uploads, 0U);
}

}  // namespace
}  // namespace gpumem
