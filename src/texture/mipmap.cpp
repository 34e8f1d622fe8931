// Separable resampling: a level is filtered across (src width -> dst width), then down. Each
// destination texel's weights are computed once per axis and normalised, so a constant image
// stays constant whatever the filter and the ratio, edges included (edge texels repeat).
#include "gpumem/texture/mipmap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <numbers>
#include <string>

#include "gpumem/core/error.hpp"
#include "gpumem/core/texture_format.hpp"

namespace gpumem {
namespace {

constexpr double kKaiserWidth = 3.0;  // destination texels kept on each side
constexpr double kKaiserAlpha = 4.0;

struct Taps {
  int first = 0;  // source index of weights[0]; may lie outside the image (clamped when read)
  std::vector<float> weights;
};

double bessel_i0(double x) {
  // The power series converges fast for the arguments a window uses (|x| <= alpha).
  double sum = 1, term = 1;
  for (int k = 1; k < 32; ++k) {
    term *= (x / (2.0 * k)) * (x / (2.0 * k));
    sum += term;
  }
  return sum;
}

double sinc(double x) {
  if (std::abs(x) < 1e-9) return 1;
  const double px = std::numbers::pi * x;
  return std::sin(px) / px;
}

double kaiser(double x) {
  const double t = x / kKaiserWidth;
  if (t <= -1 || t >= 1) return 0;
  return sinc(x) * bessel_i0(kKaiserAlpha * std::sqrt(1 - t * t)) / bessel_i0(kKaiserAlpha);
}

// Weights for every destination index along one axis of src texels resampled to dst.
std::vector<Taps> axis_taps(std::uint32_t src, std::uint32_t dst, MipFilter filter) {
  const double ratio = static_cast<double>(src) / dst;
  std::vector<Taps> taps(dst);
  for (std::uint32_t x = 0; x < dst; ++x) {
    const double lo = x * ratio, hi = (x + 1) * ratio, centre = (lo + hi) / 2;
    const double radius = filter == MipFilter::Box ? ratio / 2 : kKaiserWidth * ratio;
    const int first = static_cast<int>(std::floor(centre - radius));
    const int last = static_cast<int>(std::ceil(centre + radius)) - 1;
    Taps& t = taps[x];
    t.first = first;
    double total = 0;
    for (int i = first; i <= last; ++i) {
      double w = 0;
      if (filter == MipFilter::Box) {
        w = std::max(0.0, std::min(hi, i + 1.0) - std::max(lo, static_cast<double>(i)));
      } else {
        // In destination texels: the sinc's zeros fall on the destination's texel spacing, so
        // it cuts off at the destination's Nyquist rate.
        w = kaiser((i + 0.5 - centre) / ratio);
      }
      t.weights.push_back(static_cast<float>(w));
      total += w;
    }
    for (float& w : t.weights) w = static_cast<float>(w / total);
  }
  return taps;
}

struct FloatLevel {
  std::uint32_t width = 0, height = 0;
  std::vector<float> rgba;
};

FloatLevel resample(const FloatLevel& src, std::uint32_t dst_w, std::uint32_t dst_h,
                    MipFilter filter) {
  const auto clamp_index = [](int i, std::uint32_t n) {
    return static_cast<std::size_t>(std::clamp(i, 0, static_cast<int>(n) - 1));
  };
  const std::vector<Taps> across = axis_taps(src.width, dst_w, filter);
  FloatLevel mid{dst_w, src.height, std::vector<float>(std::size_t{dst_w} * src.height * 4)};
  for (std::uint32_t y = 0; y < src.height; ++y) {
    const float* row = src.rgba.data() + std::size_t{y} * src.width * 4;
    for (std::uint32_t x = 0; x < dst_w; ++x) {
      std::array<float, 4> sum{};
      const Taps& t = across[x];
      for (std::size_t k = 0; k < t.weights.size(); ++k) {
        const float* p = row + clamp_index(t.first + static_cast<int>(k), src.width) * 4;
        for (std::size_t c = 0; c < 4; ++c) sum[c] += t.weights[k] * p[c];
      }
      std::copy(sum.begin(), sum.end(), mid.rgba.data() + (std::size_t{y} * dst_w + x) * 4);
    }
  }
  const std::vector<Taps> down = axis_taps(src.height, dst_h, filter);
  FloatLevel out{dst_w, dst_h, std::vector<float>(std::size_t{dst_w} * dst_h * 4)};
  for (std::uint32_t y = 0; y < dst_h; ++y) {
    const Taps& t = down[y];
    float* dst = out.rgba.data() + std::size_t{y} * dst_w * 4;
    for (std::size_t k = 0; k < t.weights.size(); ++k) {
      const float* row =
          mid.rgba.data() + clamp_index(t.first + static_cast<int>(k), src.height) * dst_w * 4;
      for (std::size_t i = 0; i < std::size_t{dst_w} * 4; ++i) dst[i] += t.weights[k] * row[i];
    }
  }
  // The sinc's negative lobes can overshoot; light cannot be negative or above full scale.
  for (float& v : out.rgba) v = std::clamp(v, 0.0F, 1.0F);
  return out;
}

FloatLevel to_float(const ImageView& image, ColorSpace space) {
  std::array<float, 256> colour{}, plain{};
  for (std::size_t i = 0; i < 256; ++i) {
    plain[i] = static_cast<float>(i) / 255.0F;
    colour[i] = space == ColorSpace::Srgb ? srgb_to_linear(plain[i]) : plain[i];
  }
  FloatLevel level{image.width, image.height, {}};
  level.rgba.reserve(std::size_t{image.width} * image.height * 4);
  for (std::uint32_t y = 0; y < image.height; ++y) {
    for (std::uint32_t x = 0; x < image.width; ++x) {
      const std::uint8_t* p = image.pixel(x, y);
      for (int c = 0; c < 3; ++c) level.rgba.push_back(colour[p[c]]);
      level.rgba.push_back(plain[p[3]]);
    }
  }
  return level;
}

std::uint8_t quantise(float v) { return static_cast<std::uint8_t>(std::lround(v * 255.0F)); }

Image to_image(const FloatLevel& level, ColorSpace space) {
  Image image(level.width, level.height);
  std::uint8_t* out = image.bytes().data();
  for (std::size_t i = 0; i < level.rgba.size(); ++i) {
    const bool colour = (i & 3U) != 3;
    const float v = level.rgba[i];
    out[i] = quantise(colour && space == ColorSpace::Srgb ? linear_to_srgb(v) : v);
  }
  return image;
}

}  // namespace

float srgb_to_linear(float encoded) noexcept {
  return encoded <= 0.04045F ? encoded / 12.92F : std::pow((encoded + 0.055F) / 1.055F, 2.4F);
}

float linear_to_srgb(float linear) noexcept {
  return linear <= 0.0031308F ? linear * 12.92F : 1.055F * std::pow(linear, 1 / 2.4F) - 0.055F;
}

std::string_view to_string(MipFilter filter) noexcept {
  return filter == MipFilter::Box ? "box" : "kaiser";
}

std::optional<MipFilter> parse_mip_filter(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "box") return MipFilter::Box;
  if (lower == "kaiser") return MipFilter::Kaiser;
  return std::nullopt;
}

std::vector<Image> generate_mip_chain(const ImageView& base, MipFilter filter, ColorSpace space,
                                      std::uint32_t levels) {
  validate(base, "generate_mip_chain");
  const std::uint32_t full = full_mip_count(base.width, base.height);
  if (levels == 0) levels = full;
  if (levels > full) {
    throw InvalidArgument(
        fmt::format("generate_mip_chain: {} levels asked for, but a {}x{} image has at most {}",
                    levels, base.width, base.height, full));
  }
  std::vector<Image> chain;
  chain.reserve(levels);
  Image first(base.width, base.height);
  for (std::uint32_t y = 0; y < base.height; ++y) {
    std::copy_n(base.row(y), std::size_t{base.width} * kRgba8Bytes, first.pixel(0, y));
  }
  chain.push_back(std::move(first));
  FloatLevel current = levels > 1 ? to_float(base, space) : FloatLevel{};
  for (std::uint32_t l = 1; l < levels; ++l) {
    current =
        resample(current, mip_dimension(base.width, l), mip_dimension(base.height, l), filter);
    chain.push_back(to_image(current, space));
  }
  return chain;
}

}  // namespace gpumem
