#include "cli/ktx_compress_command.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <string_view>

#include "cli/text_table.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/texture/compress.hpp"
#include "gpumem/texture/ktx2_writer.hpp"

namespace gpumem::cli {
namespace {

struct FormatName {
  std::string_view name;
  TextureFormat linear;
  std::optional<TextureFormat> srgb;  // none: the format has no sRGB variant
};

constexpr std::array<FormatName, 7> kFormats = {{
    {"bc1", TextureFormat::BC1_RGB_UNORM_BLOCK, TextureFormat::BC1_RGB_SRGB_BLOCK},
    {"bc1a", TextureFormat::BC1_RGBA_UNORM_BLOCK, TextureFormat::BC1_RGBA_SRGB_BLOCK},
    {"bc3", TextureFormat::BC3_UNORM_BLOCK, TextureFormat::BC3_SRGB_BLOCK},
    {"bc4", TextureFormat::BC4_UNORM_BLOCK, std::nullopt},
    {"bc5", TextureFormat::BC5_UNORM_BLOCK, std::nullopt},
    {"bc7", TextureFormat::BC7_UNORM_BLOCK, TextureFormat::BC7_SRGB_BLOCK},
    {"rgba8", TextureFormat::R8G8B8A8_UNORM, TextureFormat::R8G8B8A8_SRGB},
}};

TextureFormat choose_format(const KtxCompressOptions& o) {
  for (const FormatName& f : kFormats) {
    if (f.name != o.format) continue;
    if (!f.srgb) {
      if (o.srgb.value_or(false)) {
        throw InvalidArgument(fmt::format("--format {} has no sRGB variant (drop --srgb)", f.name));
      }
      return f.linear;
    }
    return o.srgb.value_or(true) ? *f.srgb : f.linear;
  }
  throw InvalidArgument(
      fmt::format("unknown --format '{}' (known: bc1, bc1a, bc3, bc4, bc5, bc7, rgba8)", o.format));
}

EncodeQuality parse_quality(const std::string& name) {
  for (const EncodeQuality q : {EncodeQuality::Fast, EncodeQuality::Normal, EncodeQuality::Best}) {
    if (name == to_string(q)) return q;
  }
  throw InvalidArgument(fmt::format("unknown --quality '{}' (known: fast, normal, best)", name));
}

std::optional<MipFilter> parse_mips(const std::optional<std::string>& mips) {
  if (!mips) return std::nullopt;
  if (mips->empty()) return MipFilter::Box;
  if (auto filter = parse_mip_filter(*mips)) return filter;
  throw InvalidArgument(fmt::format("unknown --mips filter '{}' (known: box, kaiser)", *mips));
}

std::string db(double value) {
  return std::isinf(value) ? std::string("inf") : fmt::format("{:.2f}", value);
}

void report(const KtxCompressOptions& o, const CompressedTexture& t, std::ostream& out) {
  out << fmt::format("{} -> {}: {}, quality {}, {} level(s)\n", o.input, o.output,
                     to_string(t.format), to_string(t.quality), t.levels.size());
  TextTable table({"level", "extent", "bytes", "PSNR (dB)"},
                  {TextTable::Align::Right, TextTable::Align::Left, TextTable::Align::Right,
                   TextTable::Align::Right});
  for (std::size_t l = 0; l < t.levels.size(); ++l) {
    const CompressedLevel& level = t.levels[l];
    table.add_row({std::to_string(l), fmt::format("{}x{}", level.width, level.height),
                   std::to_string(level.data.size()), db(level.psnr.overall)});
  }
  table.write(out);
  if (t.target_psnr) {
    out << fmt::format("  target            {} dB, met by quality {} (lowest level {} dB)\n",
                       db(*t.target_psnr), to_string(t.quality), db(t.min_psnr()));
  }
  out << fmt::format(
      "  memory            {} ({} as RGBA8, {:.2f}:1, {} saved, {:.1f} %)\n",
      format_bytes(t.memory_bytes), format_bytes(t.rgba8_bytes), t.compression_ratio,
      format_bytes(t.saved_bytes),
      100.0 * static_cast<double>(t.saved_bytes) / static_cast<double>(t.rgba8_bytes));
}

}  // namespace

void run_ktx_compress(const KtxCompressOptions& options, std::ostream& out) {
  const ktx2::WriteOptions write_options{.zstd_level = options.zstd_level};
  try {
    ktx2::validate(write_options);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(fmt::format("--zstd: {}", e.what()));
  }
  const TextureFormat format = choose_format(options);
  const CompressOptions compress_options{.quality = parse_quality(options.quality),
                                         .target_psnr = options.target_psnr,
                                         .mips = parse_mips(options.mips),
                                         .threads = options.threads};
  const ImageFile input = read_image_file(options.input, options.raw);
  const CompressedTexture texture = compress(input.image.view(), format, compress_options);
  if (!texture.target_met) {
    throw InvalidArgument(fmt::format(
        "{}: no quality level reaches {} dB on every level with {} (best quality reaches {} dB); "
        "{} not written",
        options.input, db(*texture.target_psnr), to_string(format), db(texture.min_psnr()),
        options.output));
  }
  ktx2::write_ktx2_file(options.output, to_ktx2_image(texture), write_options);
  report(options, texture, out);
}

}  // namespace gpumem::cli
