// Image files as the `gpumem ktx` subcommands read and write them: PNG and KTX2 recognised by
// their signatures, anything else read as raw RGBA8 when an extent is given (--raw WxH). A KTX2
// file gives the first image of one of its levels, decoded to RGBA8.
//
//   gpumem::Image img = read_image_file("photo.png", std::nullopt);
//   gpumem::Image raw = read_image_file("dump.rgba", parse_raw_extent("640x480"));
//   write_image_file("out.png", img);  // ".rgba" or ".raw" write raw RGBA8
//
// Errors: InvalidArgument naming the file and what is wrong with it; FormatError for a PNG or
// KTX2 file that breaks its format. Safe from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/image.hpp"

namespace gpumem::cli {

struct RawExtent {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// "WxH" with both positive; InvalidArgument otherwise, quoting the text.
RawExtent parse_raw_extent(std::string_view text);

struct ImageFile {
  Image image;
  std::string what;  // e.g. "PNG", "raw RGBA8", "KTX2 level 0 of BC7_SRGB_BLOCK"
};

ImageFile read_image_file(const std::string& path, std::optional<RawExtent> raw,
                          std::uint32_t ktx2_level = 0);

void write_image_file(const std::string& path, const Image& image);

}  // namespace gpumem::cli
