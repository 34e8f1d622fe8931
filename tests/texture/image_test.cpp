// Images, their files and PSNR.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/psnr.hpp"

namespace gpumem {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("gpumem_texture_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

Image gradient(std::uint32_t w, std::uint32_t h) {
  Image img(w, h);
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      std::uint8_t* p = img.pixel(x, y);
      p[0] = static_cast<std::uint8_t>(x * 9);
      p[1] = static_cast<std::uint8_t>(y * 5);
      p[2] = static_cast<std::uint8_t>(x + y);
      p[3] = static_cast<std::uint8_t>(255 - x);
    }
  }
  return img;
}

TEST(ImageIo, KodakCropLoads) {
  const Image img = load_png(GPUMEM_TEXTURE_TEST_DATA "/kodim01_crop.png");
  EXPECT_EQ(img.width(), 96U);
  EXPECT_EQ(img.height(), 96U);
  EXPECT_EQ(img.pixel(5, 5)[3], 255);
}

TEST(ImageIo, PngAndRawRoundTrip) {
  const Image img = gradient(13, 7);
  const std::string png = temp_path("a.png");
  const std::string raw = temp_path("a.rgba");
  save_png(png, img.view());
  save_raw_rgba(raw, img.view());
  EXPECT_EQ(load_png(png), img);
  EXPECT_EQ(load_raw_rgba(raw, 13, 7), img);
  EXPECT_THROW(load_raw_rgba(raw, 13, 8), FormatError);
  std::remove(png.c_str());
  std::remove(raw.c_str());
}

TEST(ImageIo, PaddedRowsAreHonoured) {
  const Image img = gradient(6, 4);
  std::vector<std::uint8_t> padded(std::size_t{4} * 32);
  for (std::uint32_t y = 0; y < 4; ++y)
    std::copy(img.pixel(0, y), img.pixel(0, y) + 24, &padded[std::size_t{y} * 32]);
  const ImageView view{padded.data(), 6, 4, 32};
  const std::string png = temp_path("padded.png");
  save_png(png, view);
  EXPECT_EQ(load_png(png), img);
  std::remove(png.c_str());
}

TEST(ImageIo, BadFilesSayWhat) {
  EXPECT_THROW(load_png("/nonexistent/x.png"), InvalidArgument);
  const std::uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  try {
    decode_png(junk, "junk.png");
    FAIL() << "junk decoded";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.source(), "junk.png");
    EXPECT_EQ(e.field(), "PNG header");
  }
  // A PNG cut short after its header.
  const std::string png = temp_path("cut.png");
  save_png(png, gradient(40, 40).view());
  std::ifstream in(png, std::ios::binary);
  std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  bytes.resize(bytes.size() / 2);
  EXPECT_THROW(decode_png(bytes, "cut.png"), FormatError);
  std::remove(png.c_str());
}

TEST(ImageTest, CropAndBadExtents) {
  const Image img = gradient(10, 10);
  const Image part = img.crop(2, 3, 4, 5);
  EXPECT_EQ(part.width(), 4U);
  EXPECT_EQ(part.pixel(1, 1)[0], img.pixel(3, 4)[0]);
  EXPECT_THROW(img.crop(8, 0, 4, 1), InvalidArgument);
  EXPECT_THROW(Image(4, 4, std::vector<std::uint8_t>(10)), InvalidArgument);
  EXPECT_THROW(Image(1U << 16, 1U << 16), InvalidArgument);  // 2^32 texels: refused
}

TEST(Psnr, KnownErrors) {
  const Image a = gradient(8, 8);
  EXPECT_TRUE(std::isinf(psnr(a.view(), a.view()).overall));
  Image b = a;
  for (std::uint32_t y = 0; y < 8; ++y) {
    for (std::uint32_t x = 0; x < 8; ++x) {
      b.pixel(x, y)[0] = static_cast<std::uint8_t>(a.pixel(x, y)[0] ^ 1U);  // red off by 1
      b.pixel(x, y)[1] = static_cast<std::uint8_t>(a.pixel(x, y)[1] ^ 2U);  // green off by 2
    }
  }
  const PsnrResult q = psnr(a.view(), b.view(), kChannelsRgb);
  EXPECT_DOUBLE_EQ(q.mse[0], 1.0);
  EXPECT_DOUBLE_EQ(q.mse[1], 4.0);
  EXPECT_DOUBLE_EQ(q.mse[2], 0.0);
  EXPECT_DOUBLE_EQ(q.overall_mse, 5.0 / 3.0);
  EXPECT_NEAR(q.channel[0], 48.1308, 1e-4);  // 10 log10(65025)
  EXPECT_NEAR(q.overall, 10 * std::log10(65025.0 * 3 / 5), 1e-9);
  EXPECT_NEAR(psnr(a.view(), b.view(), kChannelsR).overall, q.channel[0], 1e-12);
}

TEST(Psnr, RejectsMismatches) {
  const Image a = gradient(8, 8);
  const Image b = gradient(8, 7);
  EXPECT_THROW(psnr(a.view(), b.view()), InvalidArgument);
  EXPECT_THROW(psnr(a.view(), a.view(), 0), InvalidArgument);
  EXPECT_THROW(stored_channels(TextureFormat::R8_UNORM), InvalidArgument);
  EXPECT_EQ(stored_channels(TextureFormat::BC5_UNORM_BLOCK), kChannelsRg);
  EXPECT_EQ(stored_channels(TextureFormat::BC1_RGBA_SRGB_BLOCK), kChannelsRgb);
  EXPECT_EQ(stored_channels(TextureFormat::BC7_UNORM_BLOCK), kChannelsRgba);
}

}  // namespace
}  // namespace gpumem
