#include "gpumem/backend/sim_device.hpp"

#include <fmt/format.h>

#include "backend/common/block_ledger.hpp"
#include "backend/common/copy_checks.hpp"
#include "backend/common/device_options.hpp"
#include "backend/sim/sim_address_space.hpp"
#include "backend/sim/sim_virtual_memory.hpp"
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
  info.properties.emplace_back("virtual memory", c.virtual_memory ? "yes" : "no");
  return info;
}

}  // namespace

SimDeviceConfig SimDeviceConfig::parse(std::string_view spec) {
  SimDeviceConfig c;
  for (const auto& [key, value, has_value] : detail::split_device_options(spec)) {
    if (!has_value) {
      throw InvalidArgument(fmt::format("sim device option '{}' needs a value (key=value)", key));
    }
    if (key == "capacity")
      c.capacity = parse_bytes(value, "sim capacity");
    else if (key == "page")
      c.page_size = parse_bytes(value, "sim page");
    else if (key == "upload")
      c.host_visible_capacity = parse_bytes(value, "sim upload");
    else if (key == "name")
      c.name = std::string(value);
    else if (key == "vm")
      c.virtual_memory = detail::parse_switch("sim", key, value);
    else {
      throw InvalidArgument(fmt::format(
          "unknown sim device option '{}' (known: capacity, page, upload, name, vm)", key));
    }
  }
  return c;
}

struct SimDevice::State {
  State(const DeviceInfo& info, const SimDeviceConfig& config) : ledger(info.heaps) {
    for (std::size_t i = 0; i < info.heaps.size(); ++i) {
      spaces.push_back(
          std::make_unique<detail::SimAddressSpace>((i + 1) * kAddressWindow, kAddressWindow));
    }
    if (config.virtual_memory) {
      vm = std::make_unique<detail::SimVirtualMemory>(info, config.page_size, ledger, spaces);
    }
  }
  detail::BlockLedger ledger;
  std::vector<std::unique_ptr<detail::SimAddressSpace>> spaces;
  std::unique_ptr<detail::SimVirtualMemory> vm;  // declared last: it refers to the others
};

SimDevice::SimDevice(SimDeviceConfig config)
    : config_(std::move(config)),
      info_(describe(config_)),
      state_(std::make_unique<State>(info_, config_)) {}

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

VirtualMemory* SimDevice::virtual_memory() noexcept { return state_->vm.get(); }

SimVmCounters SimDevice::vm_counters() const noexcept {
  return state_->vm ? state_->vm->counts() : SimVmCounters{};
}

void SimDevice::set_external_usage(std::uint32_t heap, std::uint64_t bytes) {
  this->heap(heap);
  state_->ledger.set_external_usage(heap, bytes);
}

}  // namespace gpumem
