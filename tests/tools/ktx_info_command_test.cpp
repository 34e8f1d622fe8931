// `gpumem ktx info`: in-process text and JSON for valid files, the verdict for invalid ones, and
// the tool's exit code and message when run as a program.
#include "cli/ktx_info_command.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/ktx_command.hpp"
#include "gpumem/core/error.hpp"
#include "support/run_tool.hpp"

namespace gpumem::cli {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kData = GPUMEM_KTX2_DATA_DIR;

std::string info_text(const fs::path& file, bool json = false) {
  std::ostringstream out;
  run_ktx_info({.path = file.string(), .json = json}, out);
  return out.str();
}

TEST(KtxInfoCommand, TextShowsFormatLevelsDfdKeysAndMemory) {
  const std::string text = info_text(kData / "samples" / "2d_bc7.ktx2");
  EXPECT_NE(text.find("valid KTX2"), std::string::npos) << text;
  EXPECT_NE(text.find("BC7_SRGB_BLOCK (vkFormat 146"), std::string::npos) << text;
  EXPECT_NE(text.find("40x40 (2D), layers 0, faces 1, levels 6"), std::string::npos) << text;
  EXPECT_NE(text.find("model BC7"), std::string::npos) << text;
  EXPECT_NE(text.find("transfer sRGB"), std::string::npos) << text;
  EXPECT_NE(text.find("KTXwriter"), std::string::npos) << text;
  EXPECT_NE(text.find("memory"), std::string::npos) << text;
  EXPECT_NE(text.find("1600"), std::string::npos) << text;  // level 0: 10x10 blocks of 16 bytes
}

TEST(KtxInfoCommand, JsonHasTheDocumentedFields) {
  const Json doc =
      Json::parse(info_text(kData / "cts" / "valid" / "valid_R8G8B8A8_UNORM_2D_ZSTD_9.ktx2", true));
  EXPECT_EQ(doc.at("valid"), true);
  EXPECT_EQ(doc.at("header").at("vk_format"), 37);
  EXPECT_EQ(doc.at("header").at("format"), "R8G8B8A8_UNORM");
  EXPECT_EQ(doc.at("header").at("supercompression"), "Zstandard");
  ASSERT_EQ(doc.at("levels").size(), 1U);
  const Json& level = doc.at("levels")[0];
  EXPECT_EQ(level.at("uncompressed_byte_length").get<std::uint64_t>(),
            level.at("width").get<std::uint64_t>() * level.at("height").get<std::uint64_t>() * 4);
  EXPECT_EQ(doc.at("dfd").at("color_model"), "RGBSDA");
  EXPECT_EQ(doc.at("dfd").at("samples").size(), 4U);
  EXPECT_EQ(doc.at("texture").at("compression_ratio"), 1.0);
  EXPECT_TRUE(doc.at("unsupported").is_null());
  bool writer = false;
  for (const Json& kv : doc.at("key_values")) writer = writer || kv.at("key") == "KTXwriter";
  EXPECT_TRUE(writer);
}

TEST(KtxInfoCommand, BasisFilesAreValidWithTheirMemoryUnknown) {
  const Json doc = Json::parse(info_text(kData / "samples" / "2d_etc1s.ktx2", true));
  EXPECT_EQ(doc.at("valid"), true);
  EXPECT_EQ(doc.at("payload"), "BasisLZ/ETC1S");
  EXPECT_TRUE(doc.at("texture").is_null());
  EXPECT_NE(doc.at("unsupported").get<std::string>().find("transcoding"), std::string::npos);
}

TEST(KtxInfoCommand, InvalidFileThrowsAndJsonStillGivesTheVerdict) {
  const fs::path bad = kData / "cts" / "invalid" / "3015_error_InvalidFaceCount_12.ktx2";
  std::ostringstream out;
  EXPECT_THROW(run_ktx_info({.path = bad.string(), .json = true}, out), FormatError);
  const Json doc = Json::parse(out.str());
  EXPECT_EQ(doc.at("valid"), false);
  EXPECT_EQ(doc.at("error").at("field"), "faceCount");
  EXPECT_EQ(doc.at("error").at("offset"), 36);
}

TEST(KtxCommand, ParsesKtxInfoAndRunsIt) {
  CLI::App app;
  KtxCommand ktx(app);
  const std::string file = (kData / "cts" / "valid" / "valid_R8_UNORM_2D.ktx2").string();
  std::vector<std::string> args = {"--json", file, "info", "ktx"};  // CLI11 takes them reversed
  app.parse(args);
  ASSERT_TRUE(ktx.parsed());
  std::ostringstream out;
  ktx.run(out);
  EXPECT_EQ(Json::parse(out.str()).at("header").at("format"), "R8_UNORM");
}

using test_support::run_tool;

TEST(KtxInfoTool, ExitsNonZeroNamingTheFieldForAnInvalidFile) {
  const fs::path bad = kData / "cts" / "invalid" / "7012_error_OutOfOrder.ktx2";
  const auto [code, output] = run_tool("ktx info '" + bad.string() + "'");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("gpumem: error:"), std::string::npos) << output;
  EXPECT_NE(output.find("byte offset"), std::string::npos) << output;
  EXPECT_NE(output.find("sorted"), std::string::npos) << output;
}

TEST(KtxInfoTool, ExitsZeroForAValidFileAndNonZeroForAMissingOne) {
  const fs::path good = kData / "samples" / "cubemap_rgba8.ktx2";
  EXPECT_EQ(run_tool("ktx info '" + good.string() + "'").first, 0);
  EXPECT_EQ(run_tool("ktx info /no/such/file.ktx2").first, 2);
  EXPECT_EQ(run_tool("ktx").first, 2);  // a subcommand is required
}

}  // namespace
}  // namespace gpumem::cli
