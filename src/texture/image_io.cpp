// PNG through libpng's simplified API (png_image), which converts every colour type and depth
// to RGBA8 for us and reports errors as messages instead of longjmp.
#include <png.h>

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/image_io.hpp"

namespace gpumem {
namespace {

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(fmt::format("cannot open '{}' for reading", path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

Image decode_png(std::span<const std::uint8_t> bytes, const std::string& source) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()) == 0) {
    const std::string message = png.message;
    png_image_free(&png);
    throw FormatError(source, "PNG header", 0, message);
  }
  png.format = PNG_FORMAT_RGBA;
  if (png.width == 0 || png.height == 0) {
    png_image_free(&png);
    throw FormatError(source, "PNG IHDR", 16, "the image is empty");
  }
  Image image(png.width, png.height);  // throws for extents we refuse to allocate
  if (png_image_finish_read(&png, nullptr, image.bytes().data(), 0, nullptr) == 0) {
    const std::string message = png.message;
    png_image_free(&png);
    throw FormatError(source, "PNG image data", bytes.size(), message);
  }
  png_image_free(&png);
  return image;
}

Image load_png(const std::string& path) { return decode_png(read_file(path), path); }

void save_png(const std::string& path, const ImageView& image) {
  validate(image, "save_png");
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = image.width;
  png.height = image.height;
  png.format = PNG_FORMAT_RGBA;
  if (png_image_write_to_file(&png, path.c_str(), 0, image.pixels,
                              static_cast<png_int_32>(image.stride()), nullptr) == 0) {
    const std::string message = png.message;
    png_image_free(&png);
    throw InvalidArgument(fmt::format("cannot write PNG '{}': {}", path, message));
  }
}

Image load_raw_rgba(const std::string& path, std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> bytes = read_file(path);
  const std::uint64_t expected = std::uint64_t{width} * height * kRgba8Bytes;
  if (bytes.size() != expected) {
    throw FormatError(path, "raw RGBA8 size", bytes.size(),
                      fmt::format("{}x{} RGBA8 needs {} bytes, the file has {}", width, height,
                                  expected, bytes.size()));
  }
  return Image(width, height, std::move(bytes));
}

void save_raw_rgba(const std::string& path, const ImageView& image) {
  validate(image, "save_raw_rgba");
  std::ofstream out(path, std::ios::binary);
  for (std::uint32_t y = 0; out && y < image.height; ++y) {
    out.write(reinterpret_cast<const char*>(image.row(y)),
              static_cast<std::streamsize>(std::size_t{image.width} * kRgba8Bytes));
  }
  if (!out) throw InvalidArgument(fmt::format("cannot write '{}'", path));
}

}  // namespace gpumem
