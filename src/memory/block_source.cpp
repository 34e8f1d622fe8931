#include "gpumem/memory/block_source.hpp"

#include <fmt/format.h>

#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {

BlockGrant BlockSource::acquire_block(std::uint64_t size, std::uint64_t alignment) {
  const std::uint64_t granularity = std::max(heap().granularity, alignment);
  std::uint64_t rounded = 0;
  if (!align_up(size, granularity, rounded)) return {.refusal = GrowthRefusal::Budget};
  if (!reserve(rounded)) return {.refusal = GrowthRefusal::Budget};
  const RawBlock block = device().try_allocate_block(heap().index, rounded, alignment);
  if (!block) {
    unreserve(rounded);
    return {.refusal = GrowthRefusal::Device};
  }
  if (block.size != rounded) {
    // The device rounded further than the heap's granularity says: count what it really took.
    if (block.size > rounded && !reserve(block.size - rounded)) {
      device().free_block(block);
      unreserve(rounded);
      return {.refusal = GrowthRefusal::Budget};
    }
    if (block.size < rounded) unreserve(rounded - block.size);
  }
  return {.block = block};
}

void BlockSource::release_block(const RawBlock& block) noexcept {
  try {
    device().free_block(block);
  } catch (const std::exception& e) {
    // Only a backend bug gets here (the block came from it); keep the books as if it were freed.
    log_message(LogLevel::Error, fmt::format("device refused to free block {:#x} of {}: {}",
                                             block.id, format_bytes(block.size), e.what()));
  }
  unreserve(block.size);
}

}  // namespace gpumem
