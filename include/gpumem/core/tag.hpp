// User tags: short names ("textures", "kv-cache") attached to allocations for budgets, metrics
// and leak reports. Names are interned once in a process-wide table, so a Tag is two words and
// passing one on the hot path costs nothing; create tags once and reuse them.
//
//   static const gpumem::Tag kTextures("textures");
//   manager.allocate({.size = bytes, .tag = kTextures});
//
// Thread safety: tags may be created and read from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace gpumem {

class Tag {
 public:
  // The untagged tag (id 0, name "").
  constexpr Tag() noexcept = default;
  // Interns `name`; the same name always yields the same id.
  explicit Tag(std::string_view name);

  std::uint32_t id() const noexcept { return id_; }
  std::string_view name() const noexcept { return name_; }
  bool empty() const noexcept { return id_ == 0; }

  friend bool operator==(const Tag& a, const Tag& b) noexcept { return a.id_ == b.id_; }

 private:
  std::uint32_t id_ = 0;
  std::string_view name_;  // points into the intern table, which lives as long as the process
};

}  // namespace gpumem
