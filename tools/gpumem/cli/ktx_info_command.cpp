#include "cli/ktx_info_command.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "cli/text_table.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/texture/ktx2_reader.hpp"
#include "gpumem/texture/load_texture.hpp"

namespace gpumem::cli {
namespace {

using Json = nlohmann::ordered_json;

// What the tool knows about a file that read: the texture view when gpumem can use it.
struct Report {
  const ktx2::Ktx2File& file;
  std::optional<LoadedTexture> texture;
  std::string unsupported;
};

std::string format_name(const ktx2::Ktx2File& f) {
  if (f.format) return std::string(to_string(*f.format));
  if (f.header.vk_format == 0) return std::string(ktx2::to_string(f.payload));
  return fmt::format("VkFormat {}", f.header.vk_format);
}

std::string scheme_name(std::uint32_t scheme) {
  return scheme <= 3 ? std::string(ktx2::to_string(static_cast<ktx2::Supercompression>(scheme)))
                     : fmt::format("vendor 0x{:X}", scheme);
}

// Text values (NUL-terminated, printable) as text; anything else as hex.
std::optional<std::string> as_text(const ktx2::KeyValue& kv) {
  if (kv.value.empty() || kv.value.back() != std::byte{0}) return std::nullopt;
  std::string text;
  for (std::size_t i = 0; i + 1 < kv.value.size(); ++i) {
    const auto c = static_cast<unsigned char>(kv.value[i]);
    if (c < 0x20 && c != '\t') return std::nullopt;
    text += static_cast<char>(c);
  }
  return text;
}

std::string as_hex(const ktx2::KeyValue& kv) {
  std::string hex;
  for (const std::byte b : kv.value) hex += fmt::format("{:02x}", static_cast<unsigned>(b));
  return hex;
}

std::string extent_text(const ktx2::Header& h) {
  if (h.pixel_depth != 0)
    return fmt::format("{}x{}x{} (3D)", h.pixel_width, h.pixel_height, h.pixel_depth);
  if (h.pixel_height != 0) return fmt::format("{}x{} (2D)", h.pixel_width, h.pixel_height);
  return fmt::format("{} (1D)", h.pixel_width);
}

Json error_json(const FormatError& e) {
  return {{"field", e.field()}, {"offset", e.offset()}, {"message", e.what()}};
}

Json report_json(const Report& r) {
  const ktx2::Ktx2File& f = r.file;
  const ktx2::Header& h = f.header;
  Json warnings = Json::array();
  for (const ktx2::Warning& w : f.warnings) {
    warnings.push_back({{"field", w.field}, {"offset", w.offset}, {"message", w.message}});
  }
  Json levels = Json::array();
  for (std::uint32_t l = 0; l < f.stored_levels(); ++l) {
    const ktx2::LevelIndexEntry& e = f.levels[l];
    levels.push_back({{"level", l},
                      {"width", mip_dimension(h.pixel_width, l)},
                      {"height", mip_dimension(std::max(1U, h.pixel_height), l)},
                      {"depth", mip_dimension(std::max(1U, h.pixel_depth), l)},
                      {"byte_offset", e.byte_offset},
                      {"byte_length", e.byte_length},
                      {"uncompressed_byte_length", e.uncompressed_byte_length}});
  }
  Json samples = Json::array();
  for (const ktx2::DfdSample& s : f.dfd.samples) {
    samples.push_back({{"channel", ktx2::channel_name(f.dfd.color_model, s.channel)},
                       {"bit_offset", s.bit_offset},
                       {"bit_length", s.bit_length},
                       {"qualifiers", s.qualifiers},
                       {"lower", s.lower},
                       {"upper", s.upper}});
  }
  Json kvs = Json::array();
  for (const ktx2::KeyValue& kv : f.key_values) {
    Json entry = {{"key", kv.key}};
    if (const auto text = as_text(kv)) {
      entry["text"] = *text;
    } else {
      entry["hex"] = as_hex(kv);
    }
    entry["bytes"] = kv.value.size();
    kvs.push_back(entry);
  }
  Json texture = nullptr;
  if (r.texture) {
    texture = {{"format", to_string(r.texture->desc.format)},
               {"memory_bytes", r.texture->memory_bytes},
               {"rgba8_bytes", r.texture->rgba8_bytes},
               {"compression_ratio", r.texture->compression_ratio}};
  }
  return {{"file", f.source},
          {"file_bytes", f.bytes.size()},
          {"valid", true},
          {"warnings", warnings},
          {"header",
           {{"vk_format", h.vk_format},
            {"format", format_name(f)},
            {"type_size", h.type_size},
            {"pixel_width", h.pixel_width},
            {"pixel_height", h.pixel_height},
            {"pixel_depth", h.pixel_depth},
            {"layer_count", h.layer_count},
            {"face_count", h.face_count},
            {"level_count", h.level_count},
            {"supercompression", scheme_name(h.supercompression)}}},
          {"payload", ktx2::to_string(f.payload)},
          {"levels", levels},
          {"dfd",
           {{"color_model", ktx2::model_name(f.dfd.color_model)},
            {"color_primaries", ktx2::primaries_name(f.dfd.primaries)},
            {"transfer_function", ktx2::transfer_name(f.dfd.transfer)},
            {"flags", f.dfd.flags},
            {"texel_block_dimensions",
             {f.dfd.texel_block[0] + 1, f.dfd.texel_block[1] + 1, f.dfd.texel_block[2] + 1}},
            {"bytes_plane0", f.dfd.bytes_planes[0]},
            {"samples", samples}}},
          {"key_values", kvs},
          {"texture", texture},
          {"unsupported", r.unsupported.empty() ? Json(nullptr) : Json(r.unsupported)}};
}

void write_text(const Report& r, std::ostream& out) {
  const ktx2::Ktx2File& f = r.file;
  const ktx2::Header& h = f.header;
  out << fmt::format(
      "{}: valid KTX2, {} ({})\n", f.source, format_bytes(f.bytes.size()),
      f.warnings.empty() ? "no warnings" : fmt::format("{} warnings", f.warnings.size()));
  out << fmt::format("  format            {} (vkFormat {}, typeSize {}), {}\n", format_name(f),
                     h.vk_format, h.type_size, ktx2::to_string(f.payload));
  out << fmt::format("  extent            {}, layers {}, faces {}, levels {}{}\n", extent_text(h),
                     h.layer_count, h.face_count, h.level_count,
                     h.level_count == 0 ? " (generate mips)" : "");
  out << fmt::format("  supercompression  {}\n", scheme_name(h.supercompression));
  out << fmt::format(
      "  DFD               model {}, primaries {}, transfer {}, flags {}, "
      "block {}x{}x{}, bytesPlane0 {}\n",
      ktx2::model_name(f.dfd.color_model), ktx2::primaries_name(f.dfd.primaries),
      ktx2::transfer_name(f.dfd.transfer), f.dfd.flags, f.dfd.texel_block[0] + 1,
      f.dfd.texel_block[1] + 1, f.dfd.texel_block[2] + 1, f.dfd.bytes_planes[0]);
  std::string samples;
  for (const ktx2::DfdSample& s : f.dfd.samples) {
    samples += fmt::format("{}{}[{}..{})", samples.empty() ? "" : " ",
                           ktx2::channel_name(f.dfd.color_model, s.channel), s.bit_offset,
                           s.bit_offset + s.bit_length);
  }
  out << fmt::format("  samples           {}\n", samples);
  if (r.texture) {
    out << fmt::format("  memory            {} ({} as RGBA8, {:.2f}:1)\n",
                       format_bytes(r.texture->memory_bytes), format_bytes(r.texture->rgba8_bytes),
                       r.texture->compression_ratio);
  } else {
    out << fmt::format("  memory            unknown: {}\n", r.unsupported);
  }
  out << "\nLevels\n";
  TextTable levels({"level", "extent", "offset", "stored", "uncompressed"},
                   {TextTable::Align::Right, TextTable::Align::Left, TextTable::Align::Right,
                    TextTable::Align::Right, TextTable::Align::Right});
  for (std::uint32_t l = 0; l < f.stored_levels(); ++l) {
    const ktx2::LevelIndexEntry& e = f.levels[l];
    levels.add_row({std::to_string(l),
                    fmt::format("{}x{}x{}", mip_dimension(h.pixel_width, l),
                                mip_dimension(std::max(1U, h.pixel_height), l),
                                mip_dimension(std::max(1U, h.pixel_depth), l)),
                    std::to_string(e.byte_offset), std::to_string(e.byte_length),
                    std::to_string(e.uncompressed_byte_length)});
  }
  levels.write(out);
  if (!f.key_values.empty()) {
    out << "\nKey/value data\n";
    TextTable kvs({"key", "value"});
    for (const ktx2::KeyValue& kv : f.key_values) {
      const auto text = as_text(kv);
      kvs.add_row({kv.key, text ? "\"" + *text + "\""
                                : fmt::format("{} bytes: {}", kv.value.size(), as_hex(kv))});
    }
    kvs.write(out);
  }
  if (!f.warnings.empty()) {
    out << "\nWarnings\n";
    for (const ktx2::Warning& w : f.warnings) {
      out << fmt::format("  {} at byte offset {}: {}\n", w.field, w.offset, w.message);
    }
  }
}

}  // namespace

void run_ktx_info(const KtxInfoOptions& options, std::ostream& out) {
  ktx2::ReadOptions read;
  read.gltf_basisu = options.gltf_basisu;
  std::optional<ktx2::Ktx2File> file;
  try {
    file = ktx2::read_ktx2_file(options.path, read);
  } catch (const FormatError& e) {
    if (options.json) {
      const Json doc = {{"file", options.path}, {"valid", false}, {"error", error_json(e)}};
      out << doc.dump(2) << '\n';
    }
    throw;
  }
  Report report{.file = *file, .texture = std::nullopt, .unsupported = {}};
  try {
    report.texture = describe_texture(*file);
  } catch (const Unsupported& e) {
    report.unsupported = e.what();
  }
  if (options.json) {
    out << report_json(report).dump(2) << '\n';
  } else {
    write_text(report, out);
  }
}

}  // namespace gpumem::cli
