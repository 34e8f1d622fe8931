#include "backend/common/block_ledger.hpp"

#include <fmt/format.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::detail {

BlockLedger::BlockLedger(const std::vector<HeapInfo>& heaps)
    : heaps_(heaps), state_(new HeapState[heaps.size()]) {
  for (std::size_t i = 0; i < heaps.size(); ++i) {
    state_[i].capacity.set_limits({.soft = 0, .hard = heaps[i].size});
  }
}

std::uint64_t BlockLedger::checked_size(const DeviceInfo& device, std::uint32_t heap,
                                        std::uint64_t size, std::uint64_t alignment) const {
  if (heap >= heaps_.size()) {
    throw InvalidArgument(fmt::format("{} device '{}' has no heap {} (it has {})", device.backend,
                                      device.name, heap, heaps_.size()));
  }
  const HeapInfo& info = heaps_[heap];
  if (size == 0) {
    throw InvalidArgument(fmt::format("{} device '{}': a block of 0 bytes on heap '{}'",
                                      device.backend, device.name, info.name));
  }
  if (!is_power_of_two(alignment)) {
    throw InvalidArgument(fmt::format("{} device '{}': alignment {} is not a power of two",
                                      device.backend, device.name, alignment));
  }
  std::uint64_t rounded = 0;
  if (!align_up(size, std::max(info.granularity, alignment), rounded)) {
    throw InvalidArgument(fmt::format("{} device '{}': size {} overflows when rounded up",
                                      device.backend, device.name, size));
  }
  return rounded;
}

bool BlockLedger::try_take(std::uint32_t heap, std::uint64_t bytes) noexcept {
  // Memory used by others leaves less for us, as on a shared GPU.
  return state_[heap].capacity.try_reserve(bytes,
                                           state_[heap].external.load(std::memory_order_relaxed));
}

void BlockLedger::give_back(std::uint32_t heap, std::uint64_t bytes) noexcept {
  state_[heap].capacity.release(bytes);
}

void BlockLedger::add(const RawBlock& block) {
  std::lock_guard lock(mutex_);
  live_.emplace(block.id, block);
}

namespace {

InvalidHandle not_live(const DeviceInfo& device, const RawBlock& block) {
  return InvalidHandle(fmt::format(
      "{} device '{}': block {:#x} ({} on heap {}) is not live: freed twice or not from this "
      "device",
      device.backend, device.name, block.id, format_bytes(block.size), block.heap));
}

}  // namespace

BlockLedger::LiveMap::const_iterator BlockLedger::live_entry(const DeviceInfo& device,
                                                             const RawBlock& block) const {
  auto it = live_.find(block.id);
  if (it == live_.end() || it->second.heap != block.heap || it->second.size != block.size) {
    throw not_live(device, block);
  }
  return it;
}

RawBlock BlockLedger::find(const DeviceInfo& device, const RawBlock& block) const {
  std::lock_guard lock(mutex_);
  return live_entry(device, block)->second;
}

RawBlock BlockLedger::remove(const DeviceInfo& device, const RawBlock& block) {
  std::lock_guard lock(mutex_);
  auto it = live_entry(device, block);
  const RawBlock found = it->second;
  live_.erase(it);
  return found;
}

std::vector<RawBlock> BlockLedger::take_all() {
  std::lock_guard lock(mutex_);
  std::vector<RawBlock> blocks;
  blocks.reserve(live_.size());
  for (const auto& entry : live_) blocks.push_back(entry.second);
  live_.clear();
  return blocks;
}

void BlockLedger::set_external_usage(std::uint32_t heap, std::uint64_t bytes) {
  state_[heap].external.store(bytes, std::memory_order_relaxed);
}

HeapReport BlockLedger::report(std::uint32_t heap) const {
  const HeapState& s = state_[heap];
  return {.budget = heaps_[heap].size,
          .usage = s.capacity.used() + s.external.load(std::memory_order_relaxed)};
}

}  // namespace gpumem::detail
