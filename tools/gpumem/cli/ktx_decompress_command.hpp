// `gpumem ktx decompress IN.ktx2 OUT.png [--level N]`: one level of a KTX2 file (its first
// layer and face) decoded to RGBA8 and written as PNG (or raw RGBA8 for an OUT ending in .rgba
// or .raw).
//
//   run_ktx_decompress({.input = "albedo.ktx2", .output = "albedo.png", .level = 0}, std::cout);
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace gpumem::cli {

struct KtxDecompressOptions {
  std::string input;
  std::string output;
  std::uint32_t level = 0;
};

// Throws FormatError for an invalid file, Unsupported for a format gpumem cannot decode and
// InvalidArgument for a missing level or a file that cannot be read or written.
void run_ktx_decompress(const KtxDecompressOptions& options, std::ostream& out);

}  // namespace gpumem::cli
