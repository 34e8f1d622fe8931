// The heap of page-locked host memory a GPU backend stages through (CUDA's cudaHostAlloc,
// OpenCL's CL_MEM_ALLOC_HOST_PTR), described by one rule for every backend.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gpumem/core/heap.hpp"

namespace gpumem::detail {

// Page-locked memory is taken from the OS for good (it cannot be swapped), so unless the user
// configured a size (`configured_bytes` != 0) the heap gets a quarter of `memory_bytes`, the
// memory it comes out of, leaving room for everything else. InvalidArgument naming `where` when
// the heap would be smaller than a host page.
HeapInfo pinned_host_heap(std::uint32_t index, std::string name, std::uint64_t configured_bytes,
                          std::uint64_t memory_bytes, std::string_view where);

}  // namespace gpumem::detail
