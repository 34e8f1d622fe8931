#include "gpumem/texture/image.hpp"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// Images are held in one vector; refuse extents whose byte count would not fit comfortably
// (4 GiB texels), so a hostile header cannot ask for an absurd allocation through us.
constexpr std::uint64_t kMaxTexels = std::uint64_t{1} << 30;

std::size_t checked_bytes(std::uint32_t width, std::uint32_t height, const char* what) {
  const std::uint64_t texels = std::uint64_t{width} * height;
  if (texels > kMaxTexels) {
    throw InvalidArgument(fmt::format("{}: {}x{} texels is more than the {} an image may hold",
                                      what, width, height, kMaxTexels));
  }
  return static_cast<std::size_t>(texels * kRgba8Bytes);
}

}  // namespace

void validate(const ImageView& view, const char* what) {
  if (view.width == 0 || view.height == 0) {
    throw InvalidArgument(
        fmt::format("{}: image extent {}x{} is empty", what, view.width, view.height));
  }
  if (view.pixels == nullptr) throw InvalidArgument(fmt::format("{}: image has no pixels", what));
  if (view.row_bytes != 0 && view.row_bytes < std::size_t{view.width} * kRgba8Bytes) {
    throw InvalidArgument(fmt::format("{}: row_bytes {} is shorter than a row of {} texels", what,
                                      view.row_bytes, view.width));
  }
  checked_bytes(view.width, view.height, what);
}

Image::Image(std::uint32_t width, std::uint32_t height)
    : width_(width), height_(height), pixels_(checked_bytes(width, height, "Image")) {}

Image::Image(std::uint32_t width, std::uint32_t height, std::vector<std::uint8_t> rgba)
    : width_(width), height_(height), pixels_(std::move(rgba)) {
  if (pixels_.size() != checked_bytes(width, height, "Image")) {
    throw InvalidArgument(fmt::format("Image: {} bytes given for {}x{} RGBA8 texels (needs {})",
                                      pixels_.size(), width, height,
                                      std::size_t{width} * height * kRgba8Bytes));
  }
}

Image Image::crop(std::uint32_t x, std::uint32_t y, std::uint32_t width,
                  std::uint32_t height) const {
  if (std::uint64_t{x} + width > width_ || std::uint64_t{y} + height > height_) {
    throw InvalidArgument(
        fmt::format("Image::crop: rectangle ({}, {}) {}x{} leaves the {}x{} image", x, y, width,
                    height, width_, height_));
  }
  Image out(width, height);
  for (std::uint32_t row = 0; row < height; ++row) {
    const auto* src = pixel(x, y + row);
    std::copy(src, src + std::size_t{width} * kRgba8Bytes, out.pixel(0, row));
  }
  return out;
}

}  // namespace gpumem
