// What an allocation is for. Metrics are broken down by category so that a renderer can see
// how much of its memory is textures and how much is staging.
//
//   manager.allocate({.size = bytes, .category = gpumem::Category::Texture});
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gpumem {

enum class Category : std::uint8_t { Buffer, Texture, Staging, Other };

inline constexpr std::size_t kCategoryCount = 4;

constexpr std::string_view to_string(Category category) {
  switch (category) {
    case Category::Buffer:
      return "buffer";
    case Category::Texture:
      return "texture";
    case Category::Staging:
      return "staging";
    case Category::Other:
      return "other";
  }
  return "unknown";
}

constexpr std::optional<Category> parse_category(std::string_view name) {
  for (std::size_t i = 0; i < kCategoryCount; ++i) {
    if (to_string(static_cast<Category>(i)) == name) return static_cast<Category>(i);
  }
  return std::nullopt;
}

}  // namespace gpumem
