#include "gpumem/core/tag.hpp"

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gpumem {
namespace {

struct TagTable {
  std::mutex mutex;
  std::deque<std::string> names{""};  // deque: interned strings never move
  std::unordered_map<std::string_view, std::uint32_t> ids{{std::string_view(), 0}};
};

TagTable& table() {
  static TagTable* instance = new TagTable;  // never destroyed: tags may outlive static dtors
  return *instance;
}

}  // namespace

Tag::Tag(std::string_view name) {
  TagTable& t = table();
  std::lock_guard lock(t.mutex);
  if (auto it = t.ids.find(name); it != t.ids.end()) {
    id_ = it->second;
    name_ = t.names[id_];
    return;
  }
  id_ = static_cast<std::uint32_t>(t.names.size());
  name_ = t.names.emplace_back(name);
  t.ids.emplace(name_, id_);
}

}  // namespace gpumem
