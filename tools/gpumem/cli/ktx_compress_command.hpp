// `gpumem ktx compress IN OUT.ktx2`: an image (PNG, or raw RGBA8 with --raw WxH) compressed to a
// BCn format or RGBA8, optionally with a mip chain, written as KTX2 (optionally Zstandard
// supercompressed). Reports every level's PSNR and the memory saved against RGBA8.
//
//   run_ktx_compress({.input = "in.png", .output = "out.ktx2", .format = "bc7",
//                     .quality = "best", .mips = "kaiser"}, std::cout);
//
// Formats: bc1 (RGB), bc1a (RGB + 1-bit alpha), bc3, bc4 (R), bc5 (RG), bc7, rgba8. Colour
// formats default to sRGB (photographs are sRGB); bc4 and bc5 are always linear. With a target
// PSNR the cheapest quality reaching it on every level is used; when none does, nothing is
// written and the command fails naming the best PSNR reached.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "cli/image_file.hpp"

namespace gpumem::cli {

struct KtxCompressOptions {
  std::string input;
  std::string output;
  std::string format = "bc7";
  std::string quality = "normal";  // fast, normal or best
  std::optional<double> target_psnr;
  std::optional<std::string> mips;  // "box" or "kaiser"; "" means box; none: one level
  std::optional<bool> srgb;         // none: sRGB for colour formats, linear for bc4/bc5
  std::optional<int> zstd_level;
  std::optional<RawExtent> raw;
  unsigned threads = 0;
};

// Throws gpumem::Error (InvalidArgument, FormatError) naming the file and what is wrong.
void run_ktx_compress(const KtxCompressOptions& options, std::ostream& out);

}  // namespace gpumem::cli
