#include "owner_id.hpp"

#include <atomic>

namespace gpumem::detail {

std::uint32_t next_owner_id() noexcept {
  static std::atomic<std::uint32_t> next{1};
  std::uint32_t id = next.fetch_add(1, std::memory_order_relaxed);
  while (id == 0) id = next.fetch_add(1, std::memory_order_relaxed);
  return id;
}

}  // namespace gpumem::detail
