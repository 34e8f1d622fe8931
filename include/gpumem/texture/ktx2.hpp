// A KTX2 file as the reader found it: header, level index, Data Format Descriptor, key/value
// data and supercompression global data, all validated (see ktx2_reader.hpp for the order of
// the checks). Level data stays as stored; level_data() undoes Zstandard or zlib
// supercompression. BasisLZ (ETC1S) and UASTC files are read and validated, but gpumem cannot
// transcode them: their `payload` says so and load_texture() reports them as Unsupported.
//
//   gpumem::ktx2::Ktx2File file = gpumem::ktx2::read_ktx2_file("albedo.ktx2");
//   if (file.format) upload(*file.format, gpumem::ktx2::level_data(file, 0));
//
// A Ktx2File is a value; reading it from several threads at once is safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/dfd.hpp"

namespace gpumem::ktx2 {

inline constexpr std::array<std::uint8_t, 12> kIdentifier = {0xAB, 'K',  'T',  'X',  ' ',  '2',
                                                             '0',  0xBB, '\r', '\n', 0x1A, '\n'};
inline constexpr std::size_t kHeaderBytes = 80;      // identifier, header and index
inline constexpr std::size_t kLevelEntryBytes = 24;  // byteOffset, byteLength, uncompressed
inline constexpr std::uint64_t kDefaultMaxInflatedLevelBytes = std::uint64_t{4} << 30U;  // 4 GiB

enum class Supercompression : std::uint32_t { None = 0, BasisLZ = 1, Zstandard = 2, Zlib = 3 };

// What the level data holds, from vkFormat and the DFD's colour model.
enum class Payload : std::uint8_t {
  Texels,   // a VkFormat gpumem knows (see Ktx2File::format)
  Other,    // a valid VkFormat outside gpumem's TextureFormat (e.g. ASTC HDR, PVRTC, 64-bit)
  BasisLZ,  // ETC1S in BasisLZ: needs a transcoder
  Uastc,    // UASTC: needs a transcoder
};

struct Header {
  std::uint32_t vk_format = 0;
  std::uint32_t type_size = 1;
  std::uint32_t pixel_width = 0;
  std::uint32_t pixel_height = 0;  // 0 for 1D
  std::uint32_t pixel_depth = 0;   // 0 unless 3D
  std::uint32_t layer_count = 0;   // 0 unless an array
  std::uint32_t face_count = 1;    // 1 or 6
  std::uint32_t level_count = 0;   // 0: the reader should generate mips (one level stored)
  std::uint32_t supercompression = 0;
  std::uint32_t dfd_offset = 0;
  std::uint32_t dfd_length = 0;
  std::uint32_t kvd_offset = 0;
  std::uint32_t kvd_length = 0;
  std::uint64_t sgd_offset = 0;
  std::uint64_t sgd_length = 0;
};

struct LevelIndexEntry {
  std::uint64_t byte_offset = 0;
  std::uint64_t byte_length = 0;
  std::uint64_t uncompressed_byte_length = 0;
};

// One key/value pair in file order. Values are raw bytes; text values keep their NUL.
struct KeyValue {
  std::string key;
  std::vector<std::byte> value;
};

// A problem the KTX-Software validator calls a warning: the file is readable as it is.
struct Warning {
  std::string field;
  std::uint64_t offset = 0;
  std::string message;
};

struct Ktx2File {
  std::string source;  // file name, or what the caller called the bytes
  Header header;
  std::vector<LevelIndexEntry> levels;  // header.level_count entries, at least one
  BasicDfd dfd;
  std::vector<KeyValue> key_values;
  std::vector<std::byte> supercompression_global_data;
  Payload payload = Payload::Texels;
  std::optional<TextureFormat> format;  // set when payload is Texels
  std::vector<Warning> warnings;
  std::vector<std::byte> bytes;  // the whole file, for level_data()

  Supercompression supercompression() const noexcept {
    return static_cast<Supercompression>(header.supercompression);
  }
  std::uint32_t stored_levels() const noexcept { return static_cast<std::uint32_t>(levels.size()); }
  // The value of a key, or nullptr.
  const KeyValue* find(std::string_view key) const noexcept;
  // A text value without its NUL (KTXwriter, KTXorientation, ...), or empty.
  std::optional<std::string> text(std::string_view key) const;
};

std::string_view to_string(Supercompression scheme) noexcept;
std::string_view to_string(Payload payload) noexcept;

// The bytes of one mip level, every layer, face and depth slice, with supercompression undone.
// Throws FormatError naming the level when the data does not inflate to uncompressedByteLength
// and Unsupported for BasisLZ (whose levels only a transcoder can use). Level 0 is the largest.
// A level declared to inflate to more than max_inflated_bytes is a FormatError, found before
// anything is allocated.
std::vector<std::byte> level_data(const Ktx2File& file, std::uint32_t level,
                                  std::uint64_t max_inflated_bytes = kDefaultMaxInflatedLevelBytes);

}  // namespace gpumem::ktx2
