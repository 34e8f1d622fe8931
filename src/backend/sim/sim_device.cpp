#include "gpumem/backend/sim_device.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "backend/common/block_ledger.hpp"
#include "backend/common/copy_checks.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// Each heap gets its own 16 TiB window of simulated addresses, far more than any capacity, so
// address space never runs out before pages do (as with a GPU's virtual address space).
constexpr std::uint64_t kAddressWindow = std::uint64_t{1} << 44;

DeviceInfo describe(const SimDeviceConfig& c) {
  if (!is_power_of_two(c.page_size)) {
    throw InvalidArgument(
        fmt::format("sim device '{}': page size {} is not a power of two", c.name, c.page_size));
  }
  if (c.capacity < c.page_size || c.capacity >= kAddressWindow) {
    throw InvalidArgument(
        fmt::format("sim device '{}': capacity {} must lie between one page ({}) and 16 TiB",
                    c.name, format_bytes(c.capacity), format_bytes(c.page_size)));
  }
  if (c.host_visible_capacity >= kAddressWindow) {
    throw InvalidArgument(fmt::format("sim device '{}': upload capacity {} exceeds 16 TiB", c.name,
                                      format_bytes(c.host_visible_capacity)));
  }
  DeviceInfo info;
  info.backend = "sim";
  info.name = c.name;
  info.type = DeviceType::Simulated;
  HeapInfo device;
  device.index = 0;
  device.name = "device-local";
  device.kind = HeapKind::DeviceLocal;
  device.flags = {.device_local = true, .dedicated = true};
  device.size = c.capacity / c.page_size * c.page_size;
  device.granularity = c.page_size;
  device.driver_budget = device.size;
  device.driver_usage = 0;
  info.heaps.push_back(device);
  if (c.host_visible_capacity >= c.page_size) {
    HeapInfo upload = device;
    upload.index = 1;
    upload.name = "upload";
    upload.kind = HeapKind::Upload;
    upload.flags = {.host_visible = true, .host_coherent = true};
    upload.size = c.host_visible_capacity / c.page_size * c.page_size;
    upload.driver_budget = upload.size;
    info.heaps.push_back(upload);
  }
  info.properties.emplace_back("page size", format_bytes(c.page_size));
  info.properties.emplace_back("memory", "simulated: address ranges only, no bytes");
  return info;
}

// First-fit over free address ranges with coalescing; only the simulator's bookkeeping.
class AddressSpace {
 public:
  AddressSpace(std::uint64_t base, std::uint64_t size) { free_.emplace(base, size); }

  std::uint64_t take(std::uint64_t size, std::uint64_t alignment) {
    std::lock_guard lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      std::uint64_t start = 0;
      if (!align_up(it->first, alignment, start)) continue;
      const std::uint64_t end = it->first + it->second;
      if (start > end || end - start < size) continue;
      const auto [range_start, range_size] = *it;
      free_.erase(it);
      if (start > range_start) free_.emplace(range_start, start - range_start);
      if (start + size < end) free_.emplace(start + size, end - start - size);
      return start;
    }
    return 0;
  }

  void give(std::uint64_t start, std::uint64_t size) {
    std::lock_guard lock(mutex_);
    auto next = free_.lower_bound(start);
    if (next != free_.end() && next->first == start + size) {
      size += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == start) {
        prev->second += size;
        return;
      }
    }
    free_.emplace(start, size);
  }

 private:
  std::mutex mutex_;
  std::map<std::uint64_t, std::uint64_t> free_;  // start -> size
};

}  // namespace

SimDeviceConfig SimDeviceConfig::parse(std::string_view spec) {
  SimDeviceConfig c;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw InvalidArgument(fmt::format("sim device option '{}' needs a value (key=value)", item));
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "capacity")
      c.capacity = parse_bytes(value, "sim capacity");
    else if (key == "page")
      c.page_size = parse_bytes(value, "sim page");
    else if (key == "upload")
      c.host_visible_capacity = parse_bytes(value, "sim upload");
    else if (key == "name")
      c.name = std::string(value);
    else {
      throw InvalidArgument(
          fmt::format("unknown sim device option '{}' (known: capacity, page, upload, name)", key));
    }
  }
  return c;
}

struct SimDevice::State {
  explicit State(const std::vector<HeapInfo>& heaps) : ledger(heaps) {
    for (std::size_t i = 0; i < heaps.size(); ++i) {
      spaces.push_back(std::make_unique<AddressSpace>((i + 1) * kAddressWindow, kAddressWindow));
    }
  }
  detail::BlockLedger ledger;
  std::vector<std::unique_ptr<AddressSpace>> spaces;
};

SimDevice::SimDevice(SimDeviceConfig config)
    : config_(std::move(config)),
      info_(describe(config_)),
      state_(std::make_unique<State>(info_.heaps)) {}

SimDevice::~SimDevice() = default;

HeapReport SimDevice::query_heap(std::uint32_t heap) {
  this->heap(heap);
  return state_->ledger.report(heap);
}

RawBlock SimDevice::try_allocate_block(std::uint32_t heap, std::uint64_t size,
                                       std::uint64_t alignment) {
  const std::uint64_t rounded = state_->ledger.checked_size(info_, heap, size, alignment);
  if (!state_->ledger.try_take(heap, rounded)) return {};
  const std::uint64_t address =
      state_->spaces[heap]->take(rounded, std::max(alignment, config_.page_size));
  if (address == 0) {
    state_->ledger.give_back(heap, rounded);
    return {};
  }
  const RawBlock block{.id = address, .heap = heap, .size = rounded, .address = address};
  state_->ledger.add(block);
  return block;
}

void SimDevice::free_block(const RawBlock& block) {
  const RawBlock found = state_->ledger.remove(info_, block);
  state_->spaces[found.heap]->give(found.address, found.size);
  state_->ledger.give_back(found.heap, found.size);
}

std::byte* SimDevice::map(const RawBlock& block) {
  state_->ledger.find(info_, block);
  throw Unsupported(fmt::format(
      "sim device '{}': blocks are address ranges without bytes and cannot be mapped", info_.name));
}

FenceValue SimDevice::copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                           std::uint64_t dst_offset, std::uint64_t size) {
  detail::check_copy_range(info_, state_->ledger.find(info_, src), src_offset,
                           state_->ledger.find(info_, dst), dst_offset, size);
  return state_->ledger.next_fence();
}

bool SimDevice::is_complete(FenceValue fence) {
  detail::check_fence(info_, fence, state_->ledger.last_fence());
  return true;
}

void SimDevice::wait(FenceValue fence) { is_complete(fence); }

void SimDevice::set_external_usage(std::uint32_t heap, std::uint64_t bytes) {
  this->heap(heap);
  state_->ledger.set_external_usage(heap, bytes);
}

}  // namespace gpumem
