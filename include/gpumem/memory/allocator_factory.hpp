// Builds the heap allocator a Config asks for, resolving AllocatorKind::Auto for the device.
//
//   auto allocator = gpumem::make_heap_allocator(gpumem::AllocatorKind::Auto, governor);
#pragma once

#include <memory>
#include <vector>

#include "gpumem/core/config.hpp"
#include "gpumem/memory/heap_allocator.hpp"

namespace gpumem {

// What Auto means on this heap of this device.
AllocatorKind resolve_allocator_kind(AllocatorKind kind, BlockSource& source);

// Throws Unsupported when the kind needs something the device lacks (the arena needs virtual
// memory management), naming the device and heap.
std::unique_ptr<HeapAllocator> make_heap_allocator(AllocatorKind kind, BlockSource& source);

// The kinds this build can make (for command-line help), Auto excluded.
std::vector<AllocatorKind> available_allocator_kinds();

}  // namespace gpumem
