// compress(): level extents and sizes with mips, the memory accounting, per-level PSNR as a
// decode of what was stored measures it, target-PSNR selection of the cheapest quality, sRGB
// formats filtering in linear light, the KTX2 round trip and bad arguments.
#include "gpumem/texture/compress.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/ktx2_reader.hpp"
#include "gpumem/texture/load_texture.hpp"

namespace gpumem {
namespace {

using F = TextureFormat;
using Q = EncodeQuality;

// 90x70 of a Kodak crop: neither side a power of two or a multiple of four below level 1.
const Image& photo() {
  static const Image img =
      load_png(GPUMEM_TEXTURE_TEST_DATA "/kodim01_crop.png").crop(2, 11, 90, 70);
  return img;
}

TEST(Compress, MipLevelsHaveTheirExtentsBlockSizesAndTheCoreAccounting) {
  const CompressedTexture t =
      compress(photo().view(), F::BC7_SRGB_BLOCK, {.quality = Q::Fast, .mips = MipFilter::Box});
  ASSERT_EQ(t.levels.size(), full_mip_count(90, 70));
  std::uint64_t total = 0;
  for (std::uint32_t l = 0; l < t.levels.size(); ++l) {
    const CompressedLevel& level = t.levels[l];
    EXPECT_EQ(level.width, mip_dimension(90, l));
    EXPECT_EQ(level.height, mip_dimension(70, l));
    EXPECT_EQ(level.data.size(), bc_image_bytes(F::BC7_SRGB_BLOCK, level.width, level.height));
    total += level.data.size();
  }
  const TextureDesc desc = t.desc();
  EXPECT_EQ(desc.mip_levels, t.levels.size());
  EXPECT_EQ(t.memory_bytes, total);
  EXPECT_EQ(t.memory_bytes, texture_size_bytes(desc));
  EXPECT_EQ(t.rgba8_bytes, rgba8_equivalent_bytes(desc));
  EXPECT_EQ(t.saved_bytes, t.rgba8_bytes - t.memory_bytes);
  EXPECT_NEAR(t.compression_ratio, double(t.rgba8_bytes) / double(t.memory_bytes), 1e-12);
  EXPECT_GT(t.compression_ratio, 3.0);  // 1 byte a texel against 4, less the edge padding
}

TEST(Compress, WithoutMipsThereIsOneLevel) {
  const CompressedTexture t = compress(photo().view(), F::BC1_RGB_UNORM_BLOCK);
  ASSERT_EQ(t.levels.size(), 1U);
  EXPECT_EQ(t.quality, Q::Normal);
  EXPECT_EQ(t.memory_bytes, bc_image_bytes(F::BC1_RGB_UNORM_BLOCK, 90, 70));
  EXPECT_NEAR(t.compression_ratio, 90.0 * 70 * 4 / double(23 * 18 * 8), 1e-12);
}

TEST(Compress, LevelPsnrIsTheDecodedLevelAgainstTheFilteredOne) {
  const CompressedTexture t = compress(photo().view(), F::BC3_SRGB_BLOCK,
                                       {.quality = Q::Normal, .mips = MipFilter::Kaiser});
  const auto chain = generate_mip_chain(photo().view(), MipFilter::Kaiser, ColorSpace::Srgb);
  ASSERT_EQ(chain.size(), t.levels.size());
  for (std::uint32_t l = 0; l < t.levels.size(); ++l) {
    const Image back =
        decode_bc(t.levels[l].data, t.levels[l].width, t.levels[l].height, F::BC3_SRGB_BLOCK);
    const double want = psnr(chain[l].view(), back.view(), kChannelsRgba).overall;
    EXPECT_DOUBLE_EQ(t.levels[l].psnr.overall, want) << "level " << l;
  }
  EXPECT_GT(t.levels[0].psnr.overall, 30.0);
  EXPECT_LE(t.min_psnr(), t.levels[0].psnr.overall);
}

TEST(Compress, TargetPsnrPicksTheCheapestQualityThatReachesIt) {
  const ImageView view = photo().view();
  const double fast = compress(view, F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Fast}).min_psnr();
  const double normal = compress(view, F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Normal}).min_psnr();
  const double best = compress(view, F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Best}).min_psnr();
  // The encoders' quality levels differ on this image, so the choice below is a real one.
  ASSERT_GT(normal, fast + 0.01);
  ASSERT_GT(best, fast + 0.01);

  const auto pick = [&](double target) {
    return compress(view, F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Best, .target_psnr = target});
  };
  const CompressedTexture easy = pick(fast - 1);
  EXPECT_EQ(easy.quality, Q::Fast);  // quality is ignored under a target
  EXPECT_TRUE(easy.target_met);
  EXPECT_EQ(easy.target_psnr, fast - 1);

  const CompressedTexture harder = pick(fast + 0.01);
  EXPECT_EQ(harder.quality, normal >= fast + 0.01 ? Q::Normal : Q::Best);
  EXPECT_TRUE(harder.target_met);
  EXPECT_GE(harder.min_psnr(), fast + 0.01);

  const CompressedTexture impossible = pick(best + 5);
  EXPECT_FALSE(impossible.target_met);
  EXPECT_EQ(impossible.quality, Q::Best);
  EXPECT_DOUBLE_EQ(impossible.min_psnr(), best);
}

TEST(Compress, SrgbFormatsFilterInLinearLightUnormFormatsDoNot) {
  Image checker(8, 8);
  for (std::uint32_t y = 0; y < 8; ++y) {
    for (std::uint32_t x = 0; x < 8; ++x) {
      std::uint8_t* p = checker.pixel(x, y);
      p[0] = p[1] = p[2] = ((x + y) % 2) != 0 ? 255 : 0;
      p[3] = 255;
    }
  }
  const CompressOptions mips{.mips = MipFilter::Box};
  const CompressedTexture srgb = compress(checker.view(), F::R8G8B8A8_SRGB, mips);
  const CompressedTexture unorm = compress(checker.view(), F::R8G8B8A8_UNORM, mips);
  ASSERT_EQ(srgb.levels.size(), 4U);
  EXPECT_EQ(srgb.levels[1].data[0], 188);
  EXPECT_EQ(unorm.levels[1].data[0], 128);
  EXPECT_EQ(srgb.levels[1].data[3], 255);
  // RGBA8 stores the levels as they are: lossless, nothing saved.
  EXPECT_TRUE(std::isinf(srgb.min_psnr()));
  EXPECT_EQ(srgb.saved_bytes, 0U);
  EXPECT_DOUBLE_EQ(srgb.compression_ratio, 1.0);
}

TEST(Compress, Ktx2RoundTripDecodesToTheReportedPsnr) {
  const CompressedTexture t =
      compress(photo().view(), F::BC7_SRGB_BLOCK, {.quality = Q::Fast, .mips = MipFilter::Kaiser});
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("gpumem_compress_" + std::to_string(::getpid()) + ".ktx2");
  ktx2::write_ktx2_file(path, to_ktx2_image(t), {.zstd_level = 5});
  const LoadedTexture loaded = load_texture(path);
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.supercompression, ktx2::Supercompression::Zstandard);
  EXPECT_EQ(loaded.desc.format, F::BC7_SRGB_BLOCK);
  EXPECT_EQ(loaded.memory_bytes, t.memory_bytes);
  ASSERT_EQ(loaded.levels.size(), t.levels.size());
  const auto chain = generate_mip_chain(photo().view(), MipFilter::Kaiser, ColorSpace::Srgb);
  for (std::uint32_t l = 0; l < t.levels.size(); ++l) {
    const Image back = decode_image(loaded, l);
    EXPECT_DOUBLE_EQ(psnr(chain[l].view(), back.view(), kChannelsRgba).overall,
                     t.levels[l].psnr.overall)
        << "level " << l;
  }
}

TEST(Compress, RejectsFormatsItCannotWriteAndBadTargets) {
  EXPECT_THROW((void)compress(photo().view(), F::BC2_UNORM_BLOCK), InvalidArgument);
  EXPECT_THROW((void)compress(photo().view(), F::BC6H_UFLOAT_BLOCK), InvalidArgument);
  EXPECT_THROW((void)compress(photo().view(), F::R16G16B16A16_SFLOAT), InvalidArgument);
  EXPECT_THROW((void)compress(photo().view(), F::BC1_RGB_UNORM_BLOCK, {.target_psnr = -3.0}),
               InvalidArgument);
  EXPECT_THROW((void)compress(photo().view(), F::BC1_RGB_UNORM_BLOCK, {.target_psnr = NAN}),
               InvalidArgument);
  EXPECT_THROW((void)compress(ImageView{}, F::BC1_RGB_UNORM_BLOCK), InvalidArgument);
  try {
    (void)compress(photo().view(), F::BC2_UNORM_BLOCK);
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("BC2_UNORM_BLOCK"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(can_compress(F::BC5_UNORM_BLOCK));
  EXPECT_FALSE(can_compress(F::BC5_SNORM_BLOCK));
}

}  // namespace
}  // namespace gpumem
