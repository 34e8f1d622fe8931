// `gpumem ktx compare A B`: PSNR between two images, per channel (R, G, B, A) and over RGB and
// RGBA. Each of A and B is a PNG, a KTX2 file (its level --level, first layer and face, decoded)
// or, with --raw WxH, raw RGBA8. Images of different extents are refused, naming both.
//
//   run_ktx_compare({.a = "in.png", .b = "out.ktx2"}, std::cout);
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "cli/image_file.hpp"

namespace gpumem::cli {

struct KtxCompareOptions {
  std::string a;
  std::string b;
  std::uint32_t level = 0;       // for KTX2 inputs
  std::optional<RawExtent> raw;  // for inputs that are neither PNG nor KTX2
};

// Throws InvalidArgument for unreadable inputs or differing extents, FormatError for bad files.
void run_ktx_compare(const KtxCompareOptions& options, std::ostream& out);

}  // namespace gpumem::cli
