// Mip chains: level extents for odd sizes, exact box weights where a texel covers 2.5 source
// texels, constant images staying constant, filtering in linear light for sRGB (and only for
// the colour channels), and the Kaiser filter staying close to the box one on a photograph.
#include "gpumem/texture/mipmap.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "gpumem/core/error.hpp"
#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/psnr.hpp"

namespace gpumem {
namespace {

Image filled(std::uint32_t w, std::uint32_t h, std::uint8_t value, std::uint8_t alpha) {
  Image img(w, h);
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      std::uint8_t* p = img.pixel(x, y);
      p[0] = p[1] = p[2] = value;
      p[3] = alpha;
    }
  }
  return img;
}

// Black and white texels alternating, alpha alternating the same way.
Image checker(std::uint32_t w, std::uint32_t h) {
  Image img(w, h);
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      std::uint8_t* p = img.pixel(x, y);
      p[0] = p[1] = p[2] = p[3] = ((x + y) % 2) != 0 ? 255 : 0;
    }
  }
  return img;
}

TEST(MipChain, OddExtentsHalveRoundingDownToOneByOne) {
  const Image img = filled(90, 35, 10, 255);
  const auto chain = generate_mip_chain(img.view(), MipFilter::Box, ColorSpace::Linear);
  ASSERT_EQ(chain.size(), full_mip_count(90, 35));  // 7: 90, 45, 22, 11, 5, 2, 1
  for (std::uint32_t l = 0; l < chain.size(); ++l) {
    EXPECT_EQ(chain[l].width(), mip_dimension(90, l)) << "level " << l;
    EXPECT_EQ(chain[l].height(), mip_dimension(35, l)) << "level " << l;
  }
  EXPECT_EQ(chain[0], img);
  EXPECT_EQ(chain.back().width(), 1U);
  EXPECT_EQ(chain.back().height(), 1U);
  EXPECT_EQ(generate_mip_chain(img.view(), MipFilter::Box, ColorSpace::Linear, 3).size(), 3U);
}

TEST(MipChain, BoxWeighsAPartlyCoveredTexelByItsArea) {
  // Five texels to two: each destination texel covers 2.5 source texels, the middle one half.
  Image row(5, 1);
  const std::uint8_t values[5] = {0, 50, 100, 150, 200};
  for (std::uint32_t x = 0; x < 5; ++x) {
    std::uint8_t* p = row.pixel(x, 0);
    p[0] = p[1] = p[2] = values[x];
    p[3] = 255;
  }
  const auto chain = generate_mip_chain(row.view(), MipFilter::Box, ColorSpace::Linear);
  ASSERT_EQ(chain.size(), 3U);
  EXPECT_EQ(chain[1].pixel(0, 0)[0], 40);   // (0 + 50 + 100 / 2) / 2.5
  EXPECT_EQ(chain[1].pixel(1, 0)[0], 160);  // (100 / 2 + 150 + 200) / 2.5
  EXPECT_EQ(chain[2].pixel(0, 0)[0], 100);  // from the unrounded 40 and 160
  EXPECT_EQ(chain[1].pixel(0, 0)[3], 255);
}

TEST(MipChain, ConstantImagesStayConstantWithEveryFilterAndSpace) {
  const Image img = filled(13, 7, 77, 201);
  for (MipFilter filter : {MipFilter::Box, MipFilter::Kaiser}) {
    for (ColorSpace space : {ColorSpace::Linear, ColorSpace::Srgb}) {
      for (const Image& level : generate_mip_chain(img.view(), filter, space)) {
        EXPECT_EQ(level, filled(level.width(), level.height(), 77, 201))
            << to_string(filter) << " " << level.width() << "x" << level.height();
      }
    }
  }
}

TEST(MipChain, SrgbAveragesLightNotBytesAndLeavesAlphaLinear) {
  const Image img = checker(8, 6);
  // Half of full light is 0.5 in linear terms: byte 128 stored linearly, 188 encoded as sRGB.
  const auto box_linear = generate_mip_chain(img.view(), MipFilter::Box, ColorSpace::Linear, 2);
  const auto box_srgb = generate_mip_chain(img.view(), MipFilter::Box, ColorSpace::Srgb, 2);
  EXPECT_EQ(box_linear[1], filled(4, 3, 128, 128));
  EXPECT_EQ(box_srgb[1], filled(4, 3, 188, 128));  // alpha: never sRGB
  // Black and white are 0 and 1 in both spaces, so any filter computes the same light; the sRGB
  // chain stores it encoded, the linear chain as it is.
  const auto linear = generate_mip_chain(img.view(), MipFilter::Kaiser, ColorSpace::Linear, 2);
  const auto srgb = generate_mip_chain(img.view(), MipFilter::Kaiser, ColorSpace::Srgb, 2);
  for (std::uint32_t y = 0; y < 3; ++y) {
    for (std::uint32_t x = 0; x < 4; ++x) {
      const float light = static_cast<float>(linear[1].pixel(x, y)[0]) / 255.0F;
      EXPECT_NEAR(srgb[1].pixel(x, y)[0], linear_to_srgb(light) * 255.0F, 1.5);
      EXPECT_EQ(srgb[1].pixel(x, y)[3], linear[1].pixel(x, y)[3]);
    }
  }
}

TEST(MipChain, SrgbTransferFunctionRoundTrips) {
  for (int v = 0; v < 256; ++v) {
    const float encoded = static_cast<float>(v) / 255.0F;
    EXPECT_EQ(std::lround(linear_to_srgb(srgb_to_linear(encoded)) * 255.0F), v);
  }
  EXPECT_NEAR(srgb_to_linear(0.5F), 0.2140F, 1e-4);
}

TEST(MipChain, KaiserIsCloseToBoxButNotTheSame) {
  const Image photo = load_png(GPUMEM_TEXTURE_TEST_DATA "/kodim01_crop.png");
  const Image img = photo.crop(3, 5, 77, 61);  // odd on both axes
  const auto box = generate_mip_chain(img.view(), MipFilter::Box, ColorSpace::Srgb);
  const auto kaiser = generate_mip_chain(img.view(), MipFilter::Kaiser, ColorSpace::Srgb);
  ASSERT_EQ(box.size(), kaiser.size());
  EXPECT_NE(box[1], kaiser[1]);
  EXPECT_GT(psnr(box[1].view(), kaiser[1].view(), kChannelsRgba).overall, 25.0);
  // The sharper filter keeps more of the detail: more contrast between neighbours.
  const auto contrast = [](const Image& level) {
    double sum = 0;
    for (std::uint32_t y = 0; y < level.height(); ++y) {
      for (std::uint32_t x = 1; x < level.width(); ++x) {
        sum += std::abs(int{level.pixel(x, y)[1]} - int{level.pixel(x - 1, y)[1]});
      }
    }
    return sum;
  };
  EXPECT_GT(contrast(kaiser[1]), contrast(box[1]));
}

TEST(MipChain, RejectsTooManyLevelsAndEmptyImages) {
  const Image img = filled(5, 3, 0, 0);
  EXPECT_THROW((void)generate_mip_chain(img.view(), MipFilter::Box, ColorSpace::Linear, 4),
               InvalidArgument);
  EXPECT_THROW((void)generate_mip_chain(ImageView{}, MipFilter::Box, ColorSpace::Linear),
               InvalidArgument);
}

TEST(MipChain, FilterNamesParse) {
  EXPECT_EQ(parse_mip_filter("Kaiser"), MipFilter::Kaiser);
  EXPECT_EQ(parse_mip_filter("box"), MipFilter::Box);
  EXPECT_FALSE(parse_mip_filter("lanczos"));
  EXPECT_EQ(to_string(MipFilter::Kaiser), "kaiser");
}

}  // namespace
}  // namespace gpumem
