#include "gpumem/memory/recording_allocator.hpp"

#include <fmt/format.h>

#include <exception>
#include <optional>

#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"

namespace gpumem {

std::size_t RecordingAllocator::KeyHash::operator()(const Key& key) const noexcept {
  // Offsets within a block are multiples of the alignment, so mix rather than xor.
  return std::hash<std::uint64_t>{}(key.block * 0x9E3779B97F4A7C15ULL + key.offset);
}

RecordingAllocator::RecordingAllocator(std::unique_ptr<HeapAllocator> inner,
                                       TraceRecorder& recorder)
    : inner_(std::move(inner)), recorder_(recorder) {
  if (!inner_) throw InvalidArgument("RecordingAllocator: the allocator to wrap is null");
}

Placement RecordingAllocator::allocate(std::uint64_t size, std::uint64_t alignment, bool movable) {
  const Placement placement = inner_->allocate(size, alignment, movable);
  if (!placement) return placement;
  const Key key{placement.block.id, placement.offset};
  std::uint64_t id = 0;
  try {
    {
      std::lock_guard lock(mutex_);
      id = next_id_++;
      ids_.emplace(key, id);
    }
    // After the allocation succeeded, as the recorder asks; nobody can free it before we return.
    recorder_.on_allocate(id, size);
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      ids_.erase(key);
    }
    inner_->deallocate(placement);
    throw;
  }
  return placement;
}

void RecordingAllocator::deallocate(const Placement& placement) noexcept {
  std::optional<std::uint64_t> id;
  {
    std::lock_guard lock(mutex_);
    if (const auto it = ids_.find({placement.block.id, placement.offset}); it != ids_.end()) {
      id = it->second;
      ids_.erase(it);
    }
  }
  // Before the memory is released: once it is, another thread may get the same placement back.
  try {
    if (id) recorder_.on_free(*id);
  } catch (const std::exception& e) {
    log_message(
        LogLevel::Error,
        fmt::format("RecordingAllocator: could not record the free of #{}: {}", *id, e.what()));
  }
  inner_->deallocate(placement);
}

}  // namespace gpumem
