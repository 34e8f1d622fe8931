#include "cli/image_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/ktx2.hpp"
#include "gpumem/texture/load_texture.hpp"

namespace gpumem::cli {
namespace {

constexpr std::array<std::uint8_t, 8> kPngSignature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

enum class Kind { Png, Ktx2, Other };

Kind sniff(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(fmt::format("cannot open '{}' for reading", path));
  std::array<char, ktx2::kIdentifier.size()> head{};
  in.read(head.data(), head.size());
  const auto starts_with = [&](const auto& signature) {
    return static_cast<std::size_t>(in.gcount()) >= signature.size() &&
           std::equal(signature.begin(), signature.end(), head.begin(),
                      [](std::uint8_t s, char c) { return s == static_cast<std::uint8_t>(c); });
  };
  if (starts_with(kPngSignature)) return Kind::Png;
  if (starts_with(ktx2::kIdentifier)) return Kind::Ktx2;
  return Kind::Other;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

RawExtent parse_raw_extent(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgument(fmt::format(
        "raw extent '{}' is not WIDTHxHEIGHT with both above zero, e.g. 640x480", text));
  };
  const std::size_t x = text.find_first_of("xX");
  if (x == std::string_view::npos) throw bad();
  const auto number = [&](std::string_view part) {
    std::uint32_t value = 0;
    const char* end = part.data() + part.size();
    const auto [stop, error] = std::from_chars(part.data(), end, value);
    if (error != std::errc{} || stop != end || value == 0) throw bad();
    return value;
  };
  return {number(text.substr(0, x)), number(text.substr(x + 1))};
}

ImageFile read_image_file(const std::string& path, std::optional<RawExtent> raw,
                          std::uint32_t ktx2_level) {
  switch (sniff(path)) {
    case Kind::Png:
      return {load_png(path), "PNG"};
    case Kind::Ktx2: {
      const LoadedTexture texture = load_texture(path);
      return {decode_image(texture, ktx2_level, 0),
              fmt::format("KTX2 level {} of {}", ktx2_level, to_string(texture.desc.format))};
    }
    case Kind::Other:
      break;
  }
  if (!raw) {
    throw InvalidArgument(fmt::format(
        "'{}' is neither a PNG nor a KTX2 file (give --raw WxH to read raw RGBA8)", path));
  }
  return {load_raw_rgba(path, raw->width, raw->height), "raw RGBA8"};
}

void write_image_file(const std::string& path, const Image& image) {
  if (ends_with(path, ".rgba") || ends_with(path, ".raw")) {
    save_raw_rgba(path, image.view());
  } else {
    save_png(path, image.view());
  }
}

}  // namespace gpumem::cli
