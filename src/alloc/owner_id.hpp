// Instance ids stamped into allocation handles, so that a handle given to the wrong allocator is
// told apart from a stale one of the right allocator.
#pragma once

#include <cstdint>

namespace gpumem::detail {

// A process-wide id, never 0 (0 marks a default-constructed handle). Ids repeat only after 2^32
// instances, which is far beyond what a process holds at once.
std::uint32_t next_owner_id() noexcept;

}  // namespace gpumem::detail
