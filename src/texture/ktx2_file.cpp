#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/ktx2.hpp"
#include "texture/supercompression.hpp"

namespace gpumem::ktx2 {

const KeyValue* Ktx2File::find(std::string_view key) const noexcept {
  for (const KeyValue& kv : key_values) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

std::optional<std::string> Ktx2File::text(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (kv == nullptr) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(kv->value.data()), kv->value.size());
  if (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

std::string_view to_string(Supercompression scheme) noexcept {
  switch (scheme) {
    case Supercompression::None:
      return "none";
    case Supercompression::BasisLZ:
      return "BasisLZ";
    case Supercompression::Zstandard:
      return "Zstandard";
    case Supercompression::Zlib:
      return "zlib";
  }
  return "vendor";
}

std::string_view to_string(Payload payload) noexcept {
  switch (payload) {
    case Payload::Texels:
      return "texels";
    case Payload::Other:
      return "other format";
    case Payload::BasisLZ:
      return "BasisLZ/ETC1S";
    case Payload::Uastc:
      return "UASTC";
  }
  return "unknown";
}

std::vector<std::byte> level_data(const Ktx2File& file, std::uint32_t level,
                                  std::uint64_t max_inflated_bytes) {
  if (level >= file.levels.size()) {
    throw InvalidArgument(fmt::format("{}: level {} does not exist ({} levels)", file.source, level,
                                      file.levels.size()));
  }
  const LevelIndexEntry& e = file.levels[level];
  if (e.byte_offset > file.bytes.size() || e.byte_length > file.bytes.size() - e.byte_offset) {
    throw FormatError(file.source, fmt::format("levelIndex[{}].byteLength", level),
                      kHeaderBytes + kLevelEntryBytes * level + 8, "past the end of the file");
  }
  const std::span<const std::byte> stored(file.bytes.data() + e.byte_offset, e.byte_length);
  const std::uint64_t entry = kHeaderBytes + std::uint64_t{kLevelEntryBytes} * level;
  if (file.header.supercompression != 0 && e.uncompressed_byte_length > max_inflated_bytes) {
    throw FormatError(file.source, fmt::format("levelIndex[{}].uncompressedByteLength", level),
                      entry + 16,
                      fmt::format("{} bytes is more than the {} this reader may inflate",
                                  e.uncompressed_byte_length, max_inflated_bytes));
  }
  detail::Inflated inflated;
  switch (file.header.supercompression) {
    case 0:
      return {stored.begin(), stored.end()};
    case 2:
      inflated = detail::inflate_zstd(stored, e.uncompressed_byte_length);
      break;
    case 3:
      inflated = detail::inflate_zlib(stored, e.uncompressed_byte_length);
      break;
    default:
      throw Unsupported(fmt::format("{}: level {} is {}-supercompressed, which gpumem cannot undo",
                                    file.source, level,
                                    file.header.supercompression == 1 ? "BasisLZ" : "vendor"));
  }
  if (!inflated.error.empty()) {
    throw FormatError(file.source, fmt::format("level {} data", level), e.byte_offset,
                      fmt::format("{} (declared uncompressedByteLength {} at byte {})",
                                  inflated.error, e.uncompressed_byte_length, entry + 16));
  }
  return std::move(inflated.bytes);
}

}  // namespace gpumem::ktx2
