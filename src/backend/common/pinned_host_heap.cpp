#include "backend/common/pinned_host_heap.hpp"

#include <fmt/format.h>

#include <utility>

#include "backend/common/device_options.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::detail {

HeapInfo pinned_host_heap(std::uint32_t index, std::string name, std::uint64_t configured_bytes,
                          std::uint64_t memory_bytes, std::string_view where) {
  HeapInfo heap;
  heap.index = index;
  heap.name = std::move(name);
  heap.kind = HeapKind::PinnedHost;
  heap.flags = {.host_visible = true, .host_coherent = true, .host_cached = true};
  heap.size = configured_bytes != 0 ? configured_bytes : memory_bytes / 4;
  heap.granularity = host_page_size();
  heap.driver_budget = heap.size;
  heap.driver_usage = 0;
  if (heap.size < heap.granularity) {
    throw InvalidArgument(fmt::format("{}: {} heap of {} is smaller than a page", where, heap.name,
                                      format_bytes(heap.size)));
  }
  return heap;
}

}  // namespace gpumem::detail
