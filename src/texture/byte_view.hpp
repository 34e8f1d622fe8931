// Bounds-checked little-endian reads over a file's bytes. Every read names the field it is for,
// so running past the end of the file is a FormatError that says what was being read and where.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gpumem/core/error.hpp"

namespace gpumem::ktx2::detail {

class ByteView {
 public:
  ByteView(std::span<const std::byte> bytes, std::string_view source)
      : bytes_(bytes), source_(source) {}

  std::uint64_t size() const noexcept { return bytes_.size(); }
  std::string_view source() const noexcept { return source_; }

  // True when [offset, offset + length) lies inside the file, without overflowing.
  bool contains(std::uint64_t offset, std::uint64_t length) const noexcept {
    return offset <= bytes_.size() && length <= bytes_.size() - offset;
  }

  [[noreturn]] void fail(std::string_view field, std::uint64_t offset,
                         const std::string& problem) const {
    throw FormatError(std::string(source_), std::string(field), offset, problem);
  }

  void require(std::string_view field, std::uint64_t offset, std::uint64_t length) const;

  std::uint8_t u8(std::uint64_t offset, std::string_view field) const {
    require(field, offset, 1);
    return static_cast<std::uint8_t>(bytes_[offset]);
  }
  std::uint16_t u16(std::uint64_t offset, std::string_view field) const {
    require(field, offset, 2);
    return static_cast<std::uint16_t>(byte(offset) | byte(offset + 1) << 8U);
  }
  std::uint32_t u32(std::uint64_t offset, std::string_view field) const {
    require(field, offset, 4);
    return byte(offset) | byte(offset + 1) << 8U | byte(offset + 2) << 16U |
           byte(offset + 3) << 24U;
  }
  std::uint64_t u64(std::uint64_t offset, std::string_view field) const {
    require(field, offset, 8);
    return u32(offset, field) | std::uint64_t{u32(offset + 4, field)} << 32U;
  }
  std::span<const std::byte> slice(std::uint64_t offset, std::uint64_t length,
                                   std::string_view field) const {
    require(field, offset, length);
    return bytes_.subspan(offset, length);
  }

 private:
  std::uint32_t byte(std::uint64_t offset) const noexcept {
    return static_cast<std::uint32_t>(bytes_[offset]);
  }

  std::span<const std::byte> bytes_;
  std::string_view source_;
};

}  // namespace gpumem::ktx2::detail
