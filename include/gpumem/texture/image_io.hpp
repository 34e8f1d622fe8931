// Reading and writing images as files: PNG (through libpng; grey, grey+alpha, palette, RGB and
// RGBA, 8 or 16 bits, all converted to RGBA8) and raw RGBA8 (width * height * 4 bytes, no header).
//
//   gpumem::Image img = gpumem::load_png("kodim01.png");
//   gpumem::save_png("copy.png", img.view());
//   gpumem::Image raw = gpumem::load_raw_rgba("dump.rgba", 256, 256);
//
// Errors: a file that cannot be opened or written is InvalidArgument naming the path; a file
// whose contents break its format is FormatError naming the path, field and byte offset (a PNG's
// offset is where libpng had read up to). Every function is safe from several threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gpumem/texture/image.hpp"

namespace gpumem {

Image load_png(const std::string& path);
// PNG bytes already in memory; `source` names them in errors.
Image decode_png(std::span<const std::uint8_t> bytes, const std::string& source = "<memory>");
void save_png(const std::string& path, const ImageView& image);

// The file must hold exactly width * height * 4 bytes (FormatError otherwise).
Image load_raw_rgba(const std::string& path, std::uint32_t width, std::uint32_t height);
void save_raw_rgba(const std::string& path, const ImageView& image);

}  // namespace gpumem
