// RGBA images in memory: the input of the block encoders and the output of the decoders.
// ImageView borrows 8-bit RGBA texels (rows may be padded: row_bytes); Image owns tightly packed
// RGBA8; FloatImage owns RGBA float texels, what BC6H decodes to.
//
//   gpumem::Image img(640, 480);                 // zero-filled
//   img.pixel(3, 2)[0] = 255;                    // red of texel (x 3, y 2)
//   gpumem::ImageView view = img.view();         // what encode_bc() and psnr() take
//
// A view does not own its texels: keep the memory alive while the view is used. Image and
// FloatImage are value types, safe to read from several threads, one writer at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gpumem {

inline constexpr std::size_t kRgba8Bytes = 4;

struct ImageView {
  const std::uint8_t* pixels = nullptr;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::size_t row_bytes = 0;  // 0 means width * 4 (tightly packed)

  std::size_t stride() const noexcept { return row_bytes ? row_bytes : width * kRgba8Bytes; }
  const std::uint8_t* row(std::uint32_t y) const noexcept { return pixels + y * stride(); }
  const std::uint8_t* pixel(std::uint32_t x, std::uint32_t y) const noexcept {
    return row(y) + x * kRgba8Bytes;
  }
};

// Throws InvalidArgument naming `what` when the view has no pixels, a zero extent, or a row
// stride shorter than a row.
void validate(const ImageView& view, const char* what);

class Image {
 public:
  Image() = default;
  Image(std::uint32_t width, std::uint32_t height);  // zero-filled; InvalidArgument when too big
  Image(std::uint32_t width, std::uint32_t height, std::vector<std::uint8_t> rgba);

  std::uint32_t width() const noexcept { return width_; }
  std::uint32_t height() const noexcept { return height_; }
  bool empty() const noexcept { return pixels_.empty(); }
  std::span<std::uint8_t> bytes() noexcept { return pixels_; }
  std::span<const std::uint8_t> bytes() const noexcept { return pixels_; }
  std::uint8_t* pixel(std::uint32_t x, std::uint32_t y) noexcept {
    return pixels_.data() + (std::size_t{y} * width_ + x) * kRgba8Bytes;
  }
  const std::uint8_t* pixel(std::uint32_t x, std::uint32_t y) const noexcept {
    return pixels_.data() + (std::size_t{y} * width_ + x) * kRgba8Bytes;
  }
  ImageView view() const noexcept { return {pixels_.data(), width_, height_, 0}; }

  // A copy of the rectangle (x, y, width, height); InvalidArgument when it leaves the image.
  Image crop(std::uint32_t x, std::uint32_t y, std::uint32_t width, std::uint32_t height) const;

  friend bool operator==(const Image&, const Image&) = default;

 private:
  std::uint32_t width_ = 0;
  std::uint32_t height_ = 0;
  std::vector<std::uint8_t> pixels_;
};

struct FloatImage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<float> rgba;  // width * height * 4 floats, row by row

  const float* pixel(std::uint32_t x, std::uint32_t y) const noexcept {
    return rgba.data() + (std::size_t{y} * width + x) * 4;
  }
};

}  // namespace gpumem
