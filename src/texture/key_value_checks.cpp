// Section 5 of the reader's checks: key/value data. Entries are length-prefixed, NUL-separated
// key and value, padded to 4 bytes with zeros, sorted by key without duplicates; keys starting
// with "KTX"/"ktx" are reserved and their values must follow the specification.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "texture/read_context.hpp"
#include "texture/utf8.hpp"

namespace gpumem::ktx2::detail {
namespace {

constexpr std::size_t kManyEntries = 100;

constexpr std::array<std::string_view, 11> kKnownKeys = {
    "KTXcubemapIncomplete", "KTXorientation", "KTXglFormat", "KTXdxgiFormat__",
    "KTXmetalPixelFormat",  "KTXswizzle",     "KTXwriter",   "KTXwriterScParams",
    "KTXastcDecodeMode",    "KTXanimData",    "KTXmapRange"};

struct Entry {
  const KeyValue* kv;
  std::uint64_t value_offset;  // of the value's first byte in the file
};

bool reserved(std::string_view key) {
  if (key.size() < 3) return false;
  const auto lower = [](char c) { return static_cast<char>(c | 0x20); };
  return lower(key[0]) == 'k' && lower(key[1]) == 't' && lower(key[2]) == 'x';
}

std::string key_field(std::string_view key) { return fmt::format("key/value '{}'", key); }

// Text values end in NUL; returns the text before it.
std::string_view text_value(const ReadContext& ctx, const Entry& e) {
  const auto& v = e.kv->value;
  if (v.empty() || v.back() != std::byte{0}) {
    ctx.fail(key_field(e.kv->key), e.value_offset, "the value must end with a NUL");
  }
  return {reinterpret_cast<const char*>(v.data()), v.size() - 1};
}

void require_size(const ReadContext& ctx, const Entry& e, std::size_t size) {
  if (e.kv->value.size() != size) {
    ctx.fail(key_field(e.kv->key), e.value_offset,
             fmt::format("the value is {} bytes but must be {}", e.kv->value.size(), size));
  }
}

void require_undefined_format(const ReadContext& ctx, const Entry& e) {
  if (ctx.file.header.vk_format != 0) {
    ctx.fail(key_field(e.kv->key), e.value_offset,
             fmt::format("only allowed with VK_FORMAT_UNDEFINED, not {}", ctx.traits.name));
  }
}

std::uint32_t u32_at(const Entry& e, std::size_t i) {
  std::uint32_t x = 0;
  std::memcpy(&x, e.kv->value.data() + 4 * i, 4);  // KTX2 and every host gpumem runs on: LE
  return x;
}

void check_cubemap_incomplete(const ReadContext& ctx, const Entry& e) {
  require_size(ctx, e, 1);
  const auto bits = static_cast<std::uint8_t>(e.kv->value[0]);
  const std::string field = key_field(e.kv->key);
  if ((bits & 0xC0U) != 0) ctx.fail(field, e.value_offset, "bits 6 and 7 must be 0");
  const int faces = std::popcount(static_cast<unsigned>(bits & 0x3FU));
  if (faces == 0) ctx.fail(field, e.value_offset, "no face is present");
  if (faces == 6) ctx.fail(field, e.value_offset, "all six faces: write a cube map instead");
  if (ctx.file.header.face_count != 1) {
    ctx.fail(field, e.value_offset, "faceCount must be 1 for an incomplete cube map");
  }
  if (ctx.layers() % static_cast<std::uint32_t>(faces) != 0) {
    ctx.fail(field, e.value_offset,
             fmt::format("layerCount {} is not a multiple of the {} faces present", ctx.layers(),
                         faces));
  }
}

void check_orientation(const ReadContext& ctx, const Entry& e) {
  const std::string_view text = text_value(ctx, e);
  const Header& h = ctx.file.header;
  const std::size_t dimensions = h.pixel_depth != 0 ? 3 : h.pixel_height != 0 ? 2 : 1;
  if (text.size() != dimensions) {
    ctx.fail(key_field(e.kv->key), e.value_offset,
             fmt::format("'{}' has {} letters for a {}D texture", text, text.size(), dimensions));
  }
  constexpr std::array<std::string_view, 3> kLetters = {"rl", "du", "oi"};
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (kLetters[i].find(text[i]) == std::string_view::npos) {
      ctx.fail(key_field(e.kv->key), e.value_offset + i,
               fmt::format("letter {} is '{}', not one of '{}'", i + 1, text[i], kLetters[i]));
    }
  }
}

void check_swizzle(const ReadContext& ctx, const Entry& e) {
  const std::string_view text = text_value(ctx, e);
  if (text.size() != 4) {
    ctx.fail(key_field(e.kv->key), e.value_offset, "must be four letters and a NUL");
  }
  for (std::size_t i = 0; i < 4; ++i) {
    if (std::string_view("rgba01").find(text[i]) == std::string_view::npos) {
      ctx.fail(key_field(e.kv->key), e.value_offset + i,
               fmt::format("'{}' is not one of r, g, b, a, 0, 1", text[i]));
    }
  }
  if (ctx.traits.depth_or_stencil) {
    ctx.fail(key_field(e.kv->key), e.value_offset,
             fmt::format("not allowed for the depth/stencil format {}", ctx.traits.name));
  }
}

void check_utf8_text(const ReadContext& ctx, const Entry& e) {
  if (!valid_utf8(text_value(ctx, e))) {
    ctx.fail(key_field(e.kv->key), e.value_offset, "the value is not valid UTF-8");
  }
}

void check_astc_decode_mode(const ReadContext& ctx, const Entry& e) {
  const std::string_view text = text_value(ctx, e);
  if (text != "rgb9e5" && text != "unorm8") {
    ctx.fail(key_field(e.kv->key), e.value_offset,
             fmt::format("'{}' is neither 'rgb9e5' nor 'unorm8'", text));
  }
  if (text == "unorm8" && ctx.traits.hdr_astc) {
    ctx.fail(key_field(e.kv->key), e.value_offset,
             fmt::format("'unorm8' needs an LDR format, but {} is HDR", ctx.traits.name));
  }
  if (!ctx.traits.astc) {
    ctx.warn(key_field(e.kv->key), e.value_offset, "ignored: the format is not ASTC");
  } else if (ctx.traits.srgb) {
    ctx.warn(key_field(e.kv->key), e.value_offset, "ignored for sRGB formats");
  }
}

void check_map_range(const ReadContext& ctx, const Entry& e) {
  require_size(ctx, e, 8);
  const std::string field = key_field(e.kv->key);
  const auto scale = std::bit_cast<float>(u32_at(e, 0));
  const auto offset = std::bit_cast<float>(u32_at(e, 1));
  if (!std::isfinite(scale) || scale == 0.0F) {
    ctx.fail(field, e.value_offset, "scale must be finite and not 0");
  }
  if (!std::isfinite(offset)) ctx.fail(field, e.value_offset + 4, "offset must be finite");
}

void check_known_values(const ReadContext& ctx, const std::vector<Entry>& entries) {
  const auto find = [&](std::string_view key) -> const Entry* {
    for (const Entry& e : entries) {
      if (e.kv->key == key) return &e;
    }
    return nullptr;
  };
  for (const Entry& e : entries) {
    const std::string& key = e.kv->key;
    if (key == "KTXcubemapIncomplete") check_cubemap_incomplete(ctx, e);
    if (key == "KTXorientation") check_orientation(ctx, e);
    if (key == "KTXglFormat") {
      require_size(ctx, e, 12);
      require_undefined_format(ctx, e);
    }
    if (key == "KTXdxgiFormat__" || key == "KTXmetalPixelFormat") {
      require_size(ctx, e, 4);
      require_undefined_format(ctx, e);
    }
    if (key == "KTXswizzle") check_swizzle(ctx, e);
    if (key == "KTXwriter" || key == "KTXwriterScParams") check_utf8_text(ctx, e);
    if (key == "KTXwriterScParams" && find("KTXwriter") == nullptr) {
      ctx.fail(key_field(key), e.value_offset, "KTXwriterScParams needs a KTXwriter entry");
    }
    if (key == "KTXanimData") {
      require_size(ctx, e, 12);
      if (ctx.file.header.layer_count == 0) {
        ctx.fail(key_field(key), e.value_offset, "an animation needs an array (layerCount > 0)");
      }
      if (find("KTXcubemapIncomplete") != nullptr) {
        ctx.fail(key_field(key), e.value_offset, "not allowed with KTXcubemapIncomplete");
      }
    }
    if (key == "KTXastcDecodeMode") check_astc_decode_mode(ctx, e);
    if (key == "KTXmapRange") check_map_range(ctx, e);
  }
  if (find("KTXwriter") == nullptr) {
    ctx.warn("key/value data", ctx.file.header.kvd_offset, "no KTXwriter entry");
  }
}

}  // namespace

void check_key_values(ReadContext& ctx) {
  const Header& h = ctx.file.header;
  const std::uint64_t end = std::uint64_t{h.kvd_offset} + h.kvd_length;
  std::uint64_t pos = h.kvd_offset;
  std::vector<std::uint64_t> value_offsets;
  auto& kvs = ctx.file.key_values;
  while (pos < end && h.kvd_length != 0) {
    if (end - pos < 4) {
      ctx.fail("keyAndValueByteLength", pos,
               fmt::format("{} bytes left in the key/value data, too few for an entry", end - pos));
    }
    const std::uint32_t length = ctx.view.u32(pos, "keyAndValueByteLength");
    if (length > end - pos - 4) {
      ctx.fail(
          "keyAndValueByteLength", pos,
          fmt::format("{} runs past the key/value data ({} bytes left)", length, end - pos - 4));
    }
    if (length < 2) {
      ctx.fail("keyAndValueByteLength", pos,
               fmt::format("{} is too small for a key and its NUL", length));
    }
    const std::span<const std::byte> entry = ctx.view.slice(pos + 4, length, "keyAndValue");
    const auto* chars = reinterpret_cast<const char*>(entry.data());
    const std::size_t key_length = std::string_view(chars, length).find('\0');
    if (key_length == std::string_view::npos) {
      ctx.fail("key", pos + 4, "the key has no NUL terminator");
    }
    if (key_length == 0) ctx.fail("key", pos + 4, "the key is empty");
    const std::string_view key(chars, key_length);
    if (key.starts_with("\xEF\xBB\xBF")) ctx.fail("key", pos + 4, "the key starts with a BOM");
    if (!valid_utf8(key)) ctx.warn("key", pos + 4, "the key is not valid UTF-8");
    if (!kvs.empty()) {
      if (kvs.back().key == key) {
        ctx.fail(key_field(key), pos + 4, "the key appears twice");
      }
      if (kvs.back().key > key) {
        ctx.fail(key_field(key), pos + 4,
                 fmt::format("keys must be sorted: '{}' comes after '{}'", key, kvs.back().key));
      }
    }
    if (reserved(key) && std::find(kKnownKeys.begin(), kKnownKeys.end(), key) == kKnownKeys.end()) {
      ctx.fail(key_field(key), pos + 4,
               "keys starting with 'KTX' or 'ktx' are reserved and this one is not defined");
    }
    if (!reserved(key)) ctx.warn(key_field(key), pos + 4, "custom metadata");
    const auto value = entry.subspan(key_length + 1);
    kvs.push_back({std::string(key), std::vector<std::byte>(value.begin(), value.end())});
    value_offsets.push_back(pos + 4 + key_length + 1);
    const std::uint64_t padded = (std::uint64_t{length} + 3) / 4 * 4;
    if (pos + 4 + padded > end) {
      ctx.fail("kvdByteLength", kOffsetKvdLength,
               fmt::format("the entries and their padding need {} bytes, more than {}",
                           pos + 4 + padded - h.kvd_offset, h.kvd_length));
    }
    for (std::uint64_t p = pos + 4 + length; p < pos + 4 + padded; ++p) {
      if (ctx.view.u8(p, "valuePadding") != 0) ctx.fail("valuePadding", p, "must be 0");
    }
    pos += 4 + padded;
  }
  if (kvs.size() > kManyEntries) {
    ctx.warn("key/value data", h.kvd_offset, fmt::format("{} entries", kvs.size()));
  }
  std::vector<Entry> entries;
  for (std::size_t i = 0; i < kvs.size(); ++i) entries.push_back({&kvs[i], value_offsets[i]});
  check_known_values(ctx, entries);
}

}  // namespace gpumem::ktx2::detail
