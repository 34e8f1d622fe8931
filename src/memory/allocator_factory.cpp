#include "gpumem/memory/allocator_factory.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"

namespace gpumem {

AllocatorKind resolve_allocator_kind(AllocatorKind kind, BlockSource& /*source*/) {
  if (kind != AllocatorKind::Auto) return kind;
  return AllocatorKind::Direct;
}

std::unique_ptr<HeapAllocator> make_heap_allocator(AllocatorKind kind, BlockSource& source) {
  switch (resolve_allocator_kind(kind, source)) {
    case AllocatorKind::Direct:
      return std::make_unique<DirectAllocator>(source);
    default:
      break;
  }
  throw Unsupported(fmt::format("allocator '{}' is not available for heap '{}' of device '{}'",
                                to_string(kind), source.heap().name, source.device().info().name));
}

std::vector<AllocatorKind> available_allocator_kinds() { return {AllocatorKind::Direct}; }

}  // namespace gpumem
