// Whole-image encoding and decoding: round trips on Kodak crops against PSNR floors (set a
// little under what the encoders reach today, so a regression in quality fails), odd extents,
// thread-count independence and the errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/bc_codec.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/psnr.hpp"

namespace gpumem {
namespace {

using Q = EncodeQuality;
using F = TextureFormat;

const Image& crop(const std::string& name) {
  static const Image kodim01 = load_png(GPUMEM_TEXTURE_TEST_DATA "/kodim01_crop.png");
  static const Image kodim03 = load_png(GPUMEM_TEXTURE_TEST_DATA "/kodim03_crop.png");
  return name == "kodim01" ? kodim01 : kodim03;
}

double round_trip_psnr(const Image& img, F format, Q quality, unsigned threads = 1) {
  // BC7 encodes alpha too; compare what the format stores.
  const auto blocks = encode_bc(img.view(), format, {.quality = quality, .threads = threads});
  EXPECT_EQ(blocks.size(), bc_image_bytes(format, img.width(), img.height()));
  const Image back = decode_bc(blocks, img.width(), img.height(), format);
  return psnr(img.view(), back.view(), stored_channels(format)).overall;
}

struct Floor {
  F format;
  Q quality;
  const char* image;
  double min_db;
};

class RoundTrip : public testing::TestWithParam<Floor> {};

TEST_P(RoundTrip, MeetsPsnrFloor) {
  const Floor& f = GetParam();
  const double db = round_trip_psnr(crop(f.image), f.format, f.quality);
  EXPECT_GE(db, f.min_db) << to_string(f.format) << " " << to_string(f.quality) << " on "
                          << f.image;
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(Kodak, RoundTrip, testing::Values(
    Floor{F::BC1_RGB_UNORM_BLOCK, Q::Fast, "kodim01", 32.85},
    Floor{F::BC1_RGB_UNORM_BLOCK, Q::Best, "kodim01", 33.30},
    Floor{F::BC1_RGB_UNORM_BLOCK, Q::Best, "kodim03", 35.75},
    Floor{F::BC1_RGBA_UNORM_BLOCK, Q::Normal, "kodim03", 35.38},
    Floor{F::BC3_UNORM_BLOCK, Q::Normal, "kodim01", 34.16},
    Floor{F::BC4_UNORM_BLOCK, Q::Fast, "kodim01", 39.97},
    Floor{F::BC4_UNORM_BLOCK, Q::Best, "kodim01", 40.67},
    Floor{F::BC5_UNORM_BLOCK, Q::Normal, "kodim03", 45.51},
    Floor{F::BC7_UNORM_BLOCK, Q::Fast, "kodim01", 44.62},
    Floor{F::BC7_UNORM_BLOCK, Q::Normal, "kodim01", 45.51},
    Floor{F::BC7_UNORM_BLOCK, Q::Best, "kodim03", 45.72}));
// clang-format on

// Noise puts texels outside the endpoints that refits and walks settle on, the case where an
// index computed by arithmetic must still be clamped to the palette.
TEST(BcCodec, NoiseStaysDecodable) {
  Image img(32, 32);
  std::uint32_t state = 12345;
  for (std::uint8_t& b : img.bytes()) {
    state = state * 1664525U + 1013904223U;
    b = static_cast<std::uint8_t>(state >> 24);
  }
  for (F format :
       {F::BC1_RGB_UNORM_BLOCK, F::BC4_UNORM_BLOCK, F::BC5_UNORM_BLOCK, F::BC7_UNORM_BLOCK}) {
    for (Q q : {Q::Fast, Q::Normal, Q::Best}) {
      // Uniform noise has an RMS of about 74 per channel around its mean; a block fit must do
      // clearly better than the mean (about 10.7 dB) whatever the format.
      EXPECT_GT(round_trip_psnr(img, format, q), 12.5) << to_string(format) << " " << to_string(q);
    }
  }
}

TEST(BcCodec, HigherQualityIsNoWorse) {
  for (F format : {F::BC1_RGB_UNORM_BLOCK, F::BC4_UNORM_BLOCK, F::BC7_UNORM_BLOCK}) {
    const double fast = round_trip_psnr(crop("kodim01"), format, Q::Fast);
    const double best = round_trip_psnr(crop("kodim01"), format, Q::Best);
    EXPECT_GT(best, fast) << to_string(format);
  }
}

TEST(BcCodec, ThreadCountDoesNotChangeTheOutput) {
  const Image& img = crop("kodim01");
  for (F format :
       {F::BC1_RGB_UNORM_BLOCK, F::BC3_UNORM_BLOCK, F::BC5_UNORM_BLOCK, F::BC7_UNORM_BLOCK}) {
    const auto one = encode_bc(img.view(), format, {.quality = Q::Normal, .threads = 1});
    const auto many = encode_bc(img.view(), format, {.quality = Q::Normal, .threads = 7});
    EXPECT_EQ(one, many) << to_string(format);
    EXPECT_EQ(decode_bc(one, img.width(), img.height(), format, 1),
              decode_bc(one, img.width(), img.height(), format, 5));
  }
}

// Encodes from several threads at once share one worker pool: whichever call holds it, the others
// start their own threads, and every result is the same as a one-thread encode.
TEST(BcCodec, ConcurrentEncodesAgree) {
  const Image& img = crop("kodim03");
  const auto expected =
      encode_bc(img.view(), F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Fast, .threads = 1});
  std::vector<std::vector<std::uint8_t>> results(4);
  std::vector<std::thread> callers;
  for (std::size_t c = 0; c < results.size(); ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 5; ++round) {
        results[c] =
            encode_bc(img.view(), F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Fast, .threads = 3});
        if (results[c] != expected) return;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

TEST(BcCodec, OddExtentsPadAndCrop) {
  const Image& img = crop("kodim03");
  for (auto [w, h] : {std::pair{1U, 1U}, std::pair{5U, 7U}, std::pair{13U, 2U}}) {
    const Image part = img.crop(10, 20, w, h);
    for (F format : {F::BC1_RGB_UNORM_BLOCK, F::BC4_UNORM_BLOCK, F::BC7_UNORM_BLOCK}) {
      const auto blocks = encode_bc(part.view(), format, {.quality = Q::Best});
      EXPECT_EQ(blocks.size(), bc_image_bytes(format, w, h));
      const Image back = decode_bc(blocks, w, h, format);
      ASSERT_EQ(back.width(), w);
      ASSERT_EQ(back.height(), h);
      EXPECT_GT(psnr(part.view(), back.view(), stored_channels(format)).overall, 30.0)
          << to_string(format) << " " << w << "x" << h;
    }
  }
}

TEST(BcCodec, SolidColoursComeBackExactlyWhereTheFormatAllows) {
  Image img(8, 8);
  for (std::uint32_t y = 0; y < 8; ++y) {
    for (std::uint32_t x = 0; x < 8; ++x) {
      std::uint8_t* p = img.pixel(x, y);
      p[0] = 200, p[1] = 17, p[2] = 90, p[3] = 255;
    }
  }
  for (F format : {F::BC4_UNORM_BLOCK, F::BC5_UNORM_BLOCK, F::BC7_UNORM_BLOCK}) {
    const auto blocks = encode_bc(img.view(), format, {.quality = Q::Fast});
    const Image back = decode_bc(blocks, 8, 8, format);
    EXPECT_TRUE(std::isinf(psnr(img.view(), back.view(), stored_channels(format)).overall))
        << to_string(format);
  }
  // BC1 reaches any 8-bit grey level within 1 through its 2/3 entry.
  const auto bc1 = encode_bc(img.view(), F::BC1_RGB_UNORM_BLOCK, {.quality = Q::Fast});
  const Image back = decode_bc(bc1, 8, 8, F::BC1_RGB_UNORM_BLOCK);
  for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(back.pixel(3, 3)[ch], img.pixel(3, 3)[ch], 1);
}

TEST(BcCodec, Bc1RgbaKeepsTransparentTexels) {
  Image img = crop("kodim03").crop(0, 0, 16, 16);
  for (std::uint32_t y = 0; y < 16; ++y) {
    for (std::uint32_t x = 0; x < 16; ++x) img.pixel(x, y)[3] = (x + y) % 3 == 0 ? 0 : 255;
  }
  for (Q q : {Q::Fast, Q::Best}) {
    const auto blocks = encode_bc(img.view(), F::BC1_RGBA_UNORM_BLOCK, {.quality = q});
    const Image back = decode_bc(blocks, 16, 16, F::BC1_RGBA_UNORM_BLOCK);
    for (std::uint32_t y = 0; y < 16; ++y) {
      for (std::uint32_t x = 0; x < 16; ++x) {
        EXPECT_EQ(back.pixel(x, y)[3], img.pixel(x, y)[3]) << x << "," << y;
      }
    }
  }
}

TEST(BcCodec, Bc7KeepsAlpha) {
  Image img = crop("kodim01").crop(0, 0, 32, 32);
  for (std::uint32_t y = 0; y < 32; ++y) {
    for (std::uint32_t x = 0; x < 32; ++x) img.pixel(x, y)[3] = static_cast<std::uint8_t>(x * 8);
  }
  const auto blocks = encode_bc(img.view(), F::BC7_UNORM_BLOCK, {.quality = Q::Normal});
  const Image back = decode_bc(blocks, 32, 32, F::BC7_UNORM_BLOCK);
  // Alpha unrelated to colour: modes 5 and 7 must carry it (mode 6 alone gave 30 dB here).
  const PsnrResult q = psnr(img.view(), back.view(), kChannelsRgba);
  EXPECT_GT(q.overall, 36.0);
  EXPECT_GT(q.channel[3], 33.0);
}

TEST(BcCodec, RejectsBadInput) {
  const Image& img = crop("kodim01");
  EXPECT_THROW(encode_bc(img.view(), F::BC6H_UFLOAT_BLOCK), Unsupported);
  EXPECT_THROW(encode_bc(img.view(), F::R8G8B8A8_UNORM), Unsupported);
  EXPECT_THROW(encode_bc(ImageView{}, F::BC1_RGB_UNORM_BLOCK), InvalidArgument);
  EXPECT_THROW(encode_bc(img.view(), F::BC1_RGB_UNORM_BLOCK, {.threads = 5000}), InvalidArgument);
  ImageView short_rows = img.view();
  short_rows.row_bytes = 8;
  EXPECT_THROW(encode_bc(short_rows, F::BC1_RGB_UNORM_BLOCK), InvalidArgument);

  const std::vector<std::uint8_t> blocks(std::size_t{8} * 4);  // 4 BC1 blocks: 8x8 texels
  EXPECT_NO_THROW(decode_bc(blocks, 8, 8, F::BC1_RGB_UNORM_BLOCK));
  EXPECT_NO_THROW(decode_bc(blocks, 5, 5, F::BC1_RGB_UNORM_BLOCK));
  try {
    decode_bc(blocks, 9, 8, F::BC1_RGB_UNORM_BLOCK);
    FAIL() << "a short block buffer was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("decode_bc: 32 bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs 48"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_bc(blocks, 0, 8, F::BC1_RGB_UNORM_BLOCK), InvalidArgument);
  EXPECT_THROW(decode_bc(blocks, 8, 8, F::R8_UNORM), Unsupported);
}

TEST(BcCodec, FloatDecodeOfBc6hAndSnorm) {
  std::vector<std::uint8_t> bc6h(16);
  bc6h[0] = 0x03;  // mode 11, all endpoints 0
  const FloatImage f = decode_bc_float(bc6h, 3, 3, F::BC6H_UFLOAT_BLOCK);
  ASSERT_EQ(f.rgba.size(), 3U * 3U * 4U);
  EXPECT_EQ(f.pixel(2, 2)[0], 0.0F);
  EXPECT_EQ(f.pixel(2, 2)[3], 1.0F);

  std::vector<std::uint8_t> bc4(8);
  bc4[0] = 0x81;  // -127, e1 = 0: six-value mode; index 0 everywhere
  const FloatImage s = decode_bc_float(bc4, 4, 4, F::BC4_SNORM_BLOCK);
  EXPECT_EQ(s.pixel(1, 1)[0], -1.0F);
}

}  // namespace
}  // namespace gpumem
