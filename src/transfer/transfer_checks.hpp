// Checks and requests shared by the transfer objects: a transfer's range must lie inside its
// block or allocation, and their host-visible memory is requested from the manager alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "gpumem/memory/manager.hpp"

namespace gpumem::detail {

// InvalidArgument naming `what` unless [offset, +size) lies inside the (non-empty) target.
void check_range(std::string_view what, std::uint64_t size, const RawBlock& target,
                 std::uint64_t offset);
void check_range(std::string_view what, std::uint64_t size, const Allocation& target,
                 std::uint64_t offset);

// The heap a transfer object's memory comes from: `chosen` when given (InvalidArgument naming
// `what` for an index the device lacks), else the manager's heap for `kind`.
std::uint32_t transfer_heap(std::string_view what, const Manager& manager,
                            std::optional<std::uint32_t> chosen, HeapKind kind);

// Staging or readback memory: never moved by defragmentation (copies point into it), page
// aligned at least, so that parallel copies split on page boundaries.
AllocationRequest staging_request(std::uint64_t size, std::uint32_t heap, std::uint64_t alignment,
                                  const Tag& tag);

}  // namespace gpumem::detail
