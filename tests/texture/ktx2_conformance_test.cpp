// The KTX-Software conformance files and the KTX2-Samples collection, walked folder by folder:
// every invalid file must be refused with a FormatError that names a field and an offset inside
// the file, every valid, warning and sample file read.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/ktx2_reader.hpp"

namespace gpumem::ktx2 {
namespace {

namespace fs = std::filesystem;

const fs::path kData = GPUMEM_KTX2_DATA_DIR;

std::vector<fs::path> ktx2_files(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".ktx2") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The CTS checks these files with `ktx validate --gltf-basisu`; so do we.
ReadOptions options_for(const fs::path& file) {
  ReadOptions options;
  options.gltf_basisu = file.filename().string().find("GLTFBU") != std::string::npos;
  return options;
}

TEST(Ktx2Conformance, EveryInvalidFileIsRefusedWithAFormatErrorNamingFieldAndOffset) {
  const auto files = ktx2_files(kData / "cts" / "invalid");
  ASSERT_GE(files.size(), 250U);
  int refused = 0;
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    try {
      (void)read_ktx2_file(file, options_for(file));
      ADD_FAILURE() << "accepted an invalid file";
    } catch (const FormatError& e) {
      ++refused;
      EXPECT_FALSE(e.field().empty());
      // Inside the file, or where a part the file is too short for should have been.
      const std::string what = e.what();
      EXPECT_TRUE(e.offset() <= fs::file_size(file) ||
                  what.find("unexpected end of file") != std::string::npos)
          << what;
      EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(refused, static_cast<int>(files.size()));
}

TEST(Ktx2Conformance, EveryValidFileIsRead) {
  const auto files = ktx2_files(kData / "cts" / "valid");
  ASSERT_GE(files.size(), 39U);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    EXPECT_NO_THROW({
      const Ktx2File f = read_ktx2_file(file);
      EXPECT_FALSE(f.levels.empty());
    });
  }
}

TEST(Ktx2Conformance, FilesWithOnlyWarningsAreReadAndTheWarningsReported) {
  const auto files = ktx2_files(kData / "cts" / "warnings");
  ASSERT_GE(files.size(), 19U);
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    try {
      const Ktx2File f = read_ktx2_file(file);
      EXPECT_FALSE(f.warnings.empty()) << "no warning for a file the CTS warns about";
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

TEST(Ktx2Conformance, EverySampleIsReadExceptThoseMadeToFail) {
  const auto files = ktx2_files(kData / "samples");
  ASSERT_GE(files.size(), 38U);
  for (const fs::path& file : files) {
    if (file.filename().string().starts_with("fail_")) continue;
    SCOPED_TRACE(file.filename().string());
    try {
      (void)read_ktx2_file(file);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

}  // namespace
}  // namespace gpumem::ktx2
