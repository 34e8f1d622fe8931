// `gpumem ktx compress`, `decompress` and `compare`: in-process runs on a Kodak crop (what they
// write reads back and measures as reported), and the tool's exit code and message for every
// kind of bad input.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "cli/ktx_compare_command.hpp"
#include "cli/ktx_compress_command.hpp"
#include "cli/ktx_decompress_command.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/load_texture.hpp"
#include "gpumem/texture/psnr.hpp"
#include "support/run_tool.hpp"

namespace gpumem::cli {
namespace {

namespace fs = std::filesystem;
using test_support::run_tool;
using ::testing::HasSubstr;

// 96x96 texels of kodim01.
std::string photo_path() { return GPUMEM_TEXTURE_TEST_DATA "/kodim01_crop.png"; }

// A folder of its own for each test, removed with the object.
class TempDir {
 public:
  TempDir() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            (std::string("gpumem_ktx_") + test->name() + "_" + std::to_string(::getpid()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string compress_text(const KtxCompressOptions& options) {
  std::ostringstream out;
  run_ktx_compress(options, out);
  return out.str();
}

TEST(KtxCompressCommand, WritesAMipChainedSupercompressedBc7File) {
  const TempDir dir;
  const std::string out = dir.file("photo.ktx2");
  const std::string text = compress_text({.input = photo_path(),
                                          .output = out,
                                          .format = "bc7",
                                          .quality = "fast",
                                          .mips = "kaiser",
                                          .zstd_level = 9});
  EXPECT_THAT(text, HasSubstr("BC7_SRGB_BLOCK, quality fast, 7 level(s)"));
  EXPECT_THAT(text, HasSubstr("96x96"));
  EXPECT_THAT(text, HasSubstr("1x1"));
  EXPECT_THAT(text, HasSubstr("saved"));
  const LoadedTexture t = load_texture(out);
  EXPECT_EQ(t.desc.format, TextureFormat::BC7_SRGB_BLOCK);
  EXPECT_EQ(t.desc.mip_levels, 7U);
  EXPECT_EQ(t.supercompression, ktx2::Supercompression::Zstandard);
  // Level 0 decodes to within BC7's usual error of the photograph.
  const Image original = load_png(photo_path());
  EXPECT_GT(psnr(original.view(), decode_image(t).view(), kChannelsRgba).overall, 40.0);
}

TEST(KtxCompressCommand, FormatsAndColourSpaces) {
  const TempDir dir;
  const auto format_of = [&](KtxCompressOptions o) {
    o.input = photo_path();
    o.output = dir.file("out.ktx2");
    o.quality = "fast";
    compress_text(o);
    return load_texture(o.output).desc.format;
  };
  EXPECT_EQ(format_of({.format = "bc1"}), TextureFormat::BC1_RGB_SRGB_BLOCK);
  EXPECT_EQ(format_of({.format = "bc1a", .srgb = false}), TextureFormat::BC1_RGBA_UNORM_BLOCK);
  EXPECT_EQ(format_of({.format = "bc3", .srgb = true}), TextureFormat::BC3_SRGB_BLOCK);
  EXPECT_EQ(format_of({.format = "bc4"}), TextureFormat::BC4_UNORM_BLOCK);
  EXPECT_EQ(format_of({.format = "bc5", .srgb = false}), TextureFormat::BC5_UNORM_BLOCK);
  EXPECT_EQ(format_of({.format = "rgba8", .srgb = false}), TextureFormat::R8G8B8A8_UNORM);
  EXPECT_THROW(format_of({.format = "bc5", .srgb = true}), InvalidArgument);
  EXPECT_THROW(format_of({.format = "bc6h"}), InvalidArgument);
  EXPECT_THROW(
      compress_text({.input = photo_path(), .output = dir.file("q.ktx2"), .quality = "ultra"}),
      InvalidArgument);
}

TEST(KtxCompressCommand, UnreachableTargetWritesNothing) {
  const TempDir dir;
  const std::string out = dir.file("never.ktx2");
  try {
    compress_text({.input = photo_path(), .output = out, .format = "bc1", .target_psnr = 80.0});
    FAIL() << "no BC1 quality reaches 80 dB";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("80.00 dB"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("kodim01_crop.png"));
  }
  EXPECT_FALSE(fs::exists(out));
  const std::string text =
      compress_text({.input = photo_path(), .output = out, .format = "bc1", .target_psnr = 30.0});
  EXPECT_THAT(text, HasSubstr("target            30.00 dB, met by quality fast"));
}

TEST(KtxCompressCommand, RawInputCompressesLosslesslyToRgba8) {
  const TempDir dir;
  const Image original = load_png(photo_path());
  const std::string raw = dir.file("photo.rgba");
  save_raw_rgba(raw, original.view());
  const std::string out = dir.file("photo.ktx2");
  compress_text({.input = raw, .output = out, .format = "rgba8", .raw = RawExtent{96, 96}});
  std::ostringstream text;
  run_ktx_compare({.a = raw, .b = out, .raw = RawExtent{96, 96}}, text);
  EXPECT_THAT(text.str(), HasSubstr("RGBA     inf (identical)"));
  EXPECT_THROW(compress_text({.input = raw, .output = out}), InvalidArgument);  // no --raw
  EXPECT_THROW(compress_text({.input = raw, .output = out, .raw = RawExtent{95, 96}}),
               FormatError);  // the size does not match
}

TEST(KtxDecompressCommand, WritesTheLevelAskedFor) {
  const TempDir dir;
  const std::string ktx = dir.file("photo.ktx2");
  compress_text(
      {.input = photo_path(), .output = ktx, .format = "bc1", .quality = "fast", .mips = ""});
  const std::string png = dir.file("level2.png");
  std::ostringstream out;
  run_ktx_decompress({.input = ktx, .output = png, .level = 2}, out);
  EXPECT_THAT(out.str(), HasSubstr("level 2 of BC1_RGB_SRGB_BLOCK, 24x24"));
  const Image level2 = load_png(png);
  EXPECT_EQ(level2, decode_image(load_texture(ktx), 2));
  EXPECT_THROW(run_ktx_decompress({.input = ktx, .output = png, .level = 7}, out), InvalidArgument);
}

TEST(KtxCompareCommand, ReportsEveryChannelAndMatchesPsnr) {
  const TempDir dir;
  const std::string ktx = dir.file("photo.ktx2");
  compress_text({.input = photo_path(), .output = ktx, .format = "bc1", .quality = "fast"});
  std::ostringstream out;
  run_ktx_compare({.a = photo_path(), .b = ktx}, out);
  const Image a = load_png(photo_path());
  const Image b = decode_image(load_texture(ktx));
  const PsnrResult want = psnr(a.view(), b.view(), kChannelsRgb);
  for (const char* row : {"R  ", "G  ", "B  ", "A  ", "RGB  ", "RGBA  "}) {
    EXPECT_THAT(out.str(), HasSubstr(row));
  }
  EXPECT_THAT(out.str(), HasSubstr(fmt::format("{:.2f}", want.overall)));
  EXPECT_THAT(out.str(), HasSubstr(fmt::format("{:.2f}", want.channel[1])));
}

TEST(KtxCompareCommand, DifferentSizesAreRefusedNamingBoth) {
  const TempDir dir;
  const std::string small = dir.file("small.png");
  save_png(small, load_png(photo_path()).crop(0, 0, 40, 30).view());
  try {
    std::ostringstream out;
    run_ktx_compare({.a = photo_path(), .b = small}, out);
    FAIL() << "96x96 and 40x30 cannot be compared";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("(96x96)"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("small.png (40x30): sizes differ"));
  }
}

TEST(KtxToolsExecutable, BadInputExitsTwoWithAMessageNamingTheFile) {
  const TempDir dir;
  const std::string ktx = dir.file("good.ktx2");
  ASSERT_EQ(
      run_tool("ktx compress '" + photo_path() + "' '" + ktx + "' --format bc4 --mips box").first,
      0);
  // A truncated KTX2 file: the field and offset are named.
  const std::string cut = dir.file("cut.ktx2");
  fs::copy_file(ktx, cut);
  fs::resize_file(cut, 100);
  struct Case {
    std::string args;
    std::string says;
  };
  const Case cases[] = {
      {"ktx compress /no/such.png '" + ktx + "'", "/no/such.png"},
      {"ktx compress '" + photo_path() + "' '" + ktx + "' --format bc2", "unknown --format 'bc2'"},
      {"ktx compress '" + photo_path() + "' '" + ktx + "' --srgb --linear", "excludes"},
      {"ktx compress '" + photo_path() + "' '" + ktx + "' --mips lanczos", "lanczos"},
      {"ktx compress '" + photo_path() + "' '" + ktx + "' --raw 12", "'12'"},
      {"ktx compress '" + photo_path() + "' '" + ktx + "' --zstd 40", "--zstd: Zstandard level 40"},
      {"ktx compress '" + photo_path() + "' '" + dir.file("no/dir/x.ktx2") + "'", "no/dir/x.ktx2"},
      {"ktx decompress '" + cut + "' '" + dir.file("x.png") + "'", "byte offset"},
      {"ktx decompress '" + ktx + "' '" + dir.file("x.png") + "' --level 99", "level 99"},
      {"ktx decompress '" + photo_path() + "' '" + dir.file("x.png") + "'", "kodim01_crop.png"},
      {"ktx compare '" + photo_path() + "' '" + cut + "'", "cut.ktx2"},
      {"ktx compare '" + photo_path() + "' '" + ktx + "' --level 1", "sizes differ"},
      {"ktx compare '" + photo_path() + "' " + GPUMEM_TEXTURE_TEST_DATA "/README.md", "--raw WxH"},
      {"ktx compare '" + photo_path() + "'", "b is required"},
  };
  for (const Case& c : cases) {
    const auto [code, output] = run_tool(c.args);
    EXPECT_EQ(code, 2) << c.args << "\n" << output;
    EXPECT_THAT(output, HasSubstr("gpumem: error:")) << c.args;
    EXPECT_THAT(output, HasSubstr(c.says)) << c.args;
  }
  // And what worked writes what was asked for.
  EXPECT_EQ(run_tool("ktx decompress '" + ktx + "' '" + dir.file("ok.png") + "' --level 1").first,
            0);
  EXPECT_EQ(load_png(dir.file("ok.png")).width(), 48U);
  const auto [code, output] = run_tool("ktx compare '" + photo_path() + "' '" + ktx + "'");
  EXPECT_EQ(code, 0) << output;
  EXPECT_THAT(output, HasSubstr("KTX2 level 0 of BC4_UNORM_BLOCK"));
}

}  // namespace
}  // namespace gpumem::cli
