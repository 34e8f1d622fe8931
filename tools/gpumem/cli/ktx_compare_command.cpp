#include "cli/ktx_compare_command.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cli/text_table.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/texture/psnr.hpp"

namespace gpumem::cli {
namespace {

std::string db(double value) {
  return std::isinf(value) ? std::string("inf (identical)") : fmt::format("{:.2f}", value);
}

}  // namespace

void run_ktx_compare(const KtxCompareOptions& options, std::ostream& out) {
  const ImageFile a = read_image_file(options.a, options.raw, options.level);
  const ImageFile b = read_image_file(options.b, options.raw, options.level);
  if (a.image.width() != b.image.width() || a.image.height() != b.image.height()) {
    throw InvalidArgument(fmt::format("cannot compare {} ({}x{}) with {} ({}x{}): sizes differ",
                                      options.a, a.image.width(), a.image.height(), options.b,
                                      b.image.width(), b.image.height()));
  }
  const PsnrResult rgba = psnr(a.image.view(), b.image.view(), kChannelsRgba);
  const PsnrResult rgb = psnr(a.image.view(), b.image.view(), kChannelsRgb);
  out << fmt::format("A: {} ({}, {}x{})\nB: {} ({})\n", options.a, a.what, a.image.width(),
                     a.image.height(), options.b, b.what);
  TextTable table({"channel", "PSNR (dB)", "MSE"},
                  {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right});
  constexpr const char* kNames[4] = {"R", "G", "B", "A"};
  for (std::size_t c = 0; c < 4; ++c) {
    table.add_row({kNames[c], db(rgba.channel[c]), fmt::format("{:.3f}", rgba.mse[c])});
  }
  table.add_row({"RGB", db(rgb.overall), fmt::format("{:.3f}", rgb.overall_mse)});
  table.add_row({"RGBA", db(rgba.overall), fmt::format("{:.3f}", rgba.overall_mse)});
  table.write(out);
}

}  // namespace gpumem::cli
