#include "gpumem/texture/ktx2_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <fstream>
#include <numeric>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/dfd.hpp"
#include "gpumem/texture/ktx2_reader.hpp"
#include "texture/supercompression.hpp"
#include "texture/vk_format_traits.hpp"

namespace gpumem::ktx2 {
namespace {

constexpr int kMaxZstdLevel = 22;

void put_u32(std::vector<std::byte>& out, std::size_t at, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i) out[at + i] = static_cast<std::byte>(value >> (8 * i));
}

void put_u64(std::vector<std::byte>& out, std::size_t at, std::uint64_t value) {
  put_u32(out, at, static_cast<std::uint32_t>(value));
  put_u32(out, at + 4, static_cast<std::uint32_t>(value >> 32U));
}

void append_u32(std::vector<std::byte>& out, std::uint32_t value) {
  out.resize(out.size() + 4);
  put_u32(out, out.size() - 4, value);
}

void pad_to(std::vector<std::byte>& out, std::uint64_t alignment) {
  while (out.size() % alignment != 0) out.push_back(std::byte{0});
}

std::vector<std::byte> text_value(std::string_view text) {
  std::vector<std::byte> value;
  for (const char c : text) value.push_back(static_cast<std::byte>(c));
  value.push_back(std::byte{0});
  return value;
}

std::vector<KeyValue> key_values_for(const Ktx2Image& image, const WriteOptions& options) {
  std::vector<KeyValue> kvs = image.key_values;
  const auto has = [&](std::string_view key) {
    return std::any_of(kvs.begin(), kvs.end(), [&](const KeyValue& kv) { return kv.key == key; });
  };
  if (!has("KTXwriter")) kvs.push_back({"KTXwriter", text_value(options.writer)});
  if (options.zstd_level && !has("KTXwriterScParams")) {
    kvs.push_back({"KTXwriterScParams", text_value(fmt::format("--zstd {}", *options.zstd_level))});
  }
  std::sort(kvs.begin(), kvs.end(),
            [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; });
  for (std::size_t i = 0; i < kvs.size(); ++i) {
    if (kvs[i].key.empty() || kvs[i].key.find('\0') != std::string::npos) {
      throw InvalidArgument("KTX2 keys must be non-empty and contain no NUL");
    }
    if (i > 0 && kvs[i].key == kvs[i - 1].key) {
      throw InvalidArgument(fmt::format("KTX2 key '{}' given twice", kvs[i].key));
    }
  }
  return kvs;
}

std::vector<std::byte> encode_key_values(const std::vector<KeyValue>& kvs) {
  std::vector<std::byte> out;
  for (const KeyValue& kv : kvs) {
    append_u32(out, static_cast<std::uint32_t>(kv.key.size() + 1 + kv.value.size()));
    for (const char c : kv.key) out.push_back(static_cast<std::byte>(c));
    out.push_back(std::byte{0});
    out.insert(out.end(), kv.value.begin(), kv.value.end());
    pad_to(out, 4);
  }
  return out;
}

void check_image(const Ktx2Image& image, const WriteOptions& options) {
  if (image.levels.empty()) throw InvalidArgument("a KTX2 image needs at least one level");
  if (image.width == 0) throw InvalidArgument("KTX2 width must not be 0");
  if (image.faces != 1 && image.faces != 6) {
    throw InvalidArgument(fmt::format("faces must be 1 or 6, not {}", image.faces));
  }
  if (image.faces == 6 && (image.width != image.height || image.depth != 0)) {
    throw InvalidArgument("a cube map's faces must be square and 2D");
  }
  if (image.depth != 0 && image.height == 0) {
    throw InvalidArgument("a 3D texture needs a height");
  }
  const FormatInfo& info = format_info(image.format);
  if (info.compressed && image.height == 0) {
    throw InvalidArgument(fmt::format("{} cannot be 1D", info.name));
  }
  if ((info.depth || info.stencil) && image.depth != 0) {
    throw InvalidArgument(fmt::format("{} cannot be 3D", info.name));
  }
  if (info.name.starts_with("A8B8G8R8")) {
    throw InvalidArgument(fmt::format("KTX2 prohibits {}; use R8G8B8A8", info.name));
  }
  const auto max_levels =
      static_cast<std::size_t>(std::bit_width(std::max({image.width, image.height, image.depth})));
  if (image.levels.size() > max_levels) {
    throw InvalidArgument(fmt::format("{} levels but a {}x{}x{} texture has at most {}",
                                      image.levels.size(), image.width, image.height, image.depth,
                                      max_levels));
  }
  for (std::uint32_t level = 0; level < image.levels.size(); ++level) {
    const std::uint64_t want = expected_level_bytes(image, level);
    if (image.levels[level].size() != want) {
      throw InvalidArgument(fmt::format("level {} has {} bytes but {} needs {}", level,
                                        image.levels[level].size(), info.name, want));
    }
  }
  validate(options);
}

}  // namespace

void validate(const WriteOptions& options) {
  if (options.zstd_level && (*options.zstd_level < 1 || *options.zstd_level > kMaxZstdLevel)) {
    throw InvalidArgument(
        fmt::format("Zstandard level {} is outside 1..{}", *options.zstd_level, kMaxZstdLevel));
  }
}

std::uint64_t expected_level_bytes(const Ktx2Image& image, std::uint32_t level) {
  const FormatInfo& info = format_info(image.format);
  const detail::VkFormatTraits traits = detail::vk_format_traits(info.vk_format);
  const auto blocks = [&](std::uint32_t extent, std::uint32_t block) -> std::uint64_t {
    return (mip_dimension(std::max(1U, extent), level) + block - 1) / block;
  };
  const std::uint64_t factors[] = {blocks(image.height, info.block_height),
                                   blocks(image.depth, info.block_depth), traits.bytes_per_block,
                                   std::max(1U, image.layers), image.faces};
  std::uint64_t total = blocks(image.width, info.block_width);
  for (const std::uint64_t f : factors) {
    if (__builtin_mul_overflow(total, f, &total)) {
      throw InvalidArgument("the texture is larger than 2^64 bytes");
    }
  }
  return total;
}

std::vector<std::byte> write_ktx2(const Ktx2Image& image, const WriteOptions& options) {
  check_image(image, options);
  const FormatInfo& info = format_info(image.format);
  const auto level_count = static_cast<std::uint32_t>(image.levels.size());
  const std::vector<std::byte> dfd = encode_dfd(basic_dfd_for(image.format));
  const std::vector<std::byte> kvd = encode_key_values(key_values_for(image, options));

  std::vector<std::vector<std::byte>> stored;
  for (const auto& level : image.levels) {
    stored.push_back(options.zstd_level ? detail::deflate_zstd(level, *options.zstd_level) : level);
  }

  std::vector<std::byte> out(kHeaderBytes + kLevelEntryBytes * level_count);
  std::copy(kIdentifier.begin(), kIdentifier.end(), reinterpret_cast<std::uint8_t*>(out.data()));
  const detail::VkFormatTraits traits = detail::vk_format_traits(info.vk_format);
  put_u32(out, 12, info.vk_format);
  put_u32(out, 16, traits.type_size);
  put_u32(out, 20, image.width);
  put_u32(out, 24, image.height);
  put_u32(out, 28, image.depth);
  put_u32(out, 32, image.layers);
  put_u32(out, 36, image.faces);
  put_u32(out, 40, level_count);
  put_u32(out, 44, options.zstd_level ? 2 : 0);
  put_u32(out, 48, static_cast<std::uint32_t>(out.size()));
  put_u32(out, 52, static_cast<std::uint32_t>(dfd.size()));
  out.insert(out.end(), dfd.begin(), dfd.end());
  put_u32(out, 56, static_cast<std::uint32_t>(out.size()));  // never empty: KTXwriter
  put_u32(out, 60, static_cast<std::uint32_t>(kvd.size()));
  out.insert(out.end(), kvd.begin(), kvd.end());
  // sgdByteOffset and sgdByteLength stay 0: neither scheme the writer uses has global data.

  const std::uint64_t alignment =
      options.zstd_level ? 1 : std::lcm(std::uint64_t{traits.bytes_per_block}, 4);
  for (std::uint32_t level = level_count; level-- > 0;) {  // smallest first
    pad_to(out, alignment);
    const std::size_t entry = kHeaderBytes + kLevelEntryBytes * level;
    put_u64(out, entry, out.size());
    put_u64(out, entry + 8, stored[level].size());
    put_u64(out, entry + 16, image.levels[level].size());
    out.insert(out.end(), stored[level].begin(), stored[level].end());
  }
  // The reader's checks are the specification as gpumem reads it: what fails them (a bad value
  // for a KTX* key, a reserved key) is the caller's mistake, reported before anything is saved.
  try {
    (void)read_ktx2(out, "the image being written", {.verify_supercompressed_levels = false});
  } catch (const FormatError& e) {
    throw InvalidArgument(fmt::format("the KTX2 file would be invalid: {}", e.what()));
  }
  return out;
}

void write_ktx2_file(const std::filesystem::path& path, const Ktx2Image& image,
                     const WriteOptions& options) {
  const std::vector<std::byte> bytes = write_ktx2(image, options);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw InvalidArgument(fmt::format("cannot write '{}'", path.string()));
}

}  // namespace gpumem::ktx2
