#include "gpumem/backend/vulkan_device.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "backend/common/block_ledger.hpp"
#include "backend/common/copy_checks.hpp"
#include "backend/common/device_options.hpp"
#include "backend/vulkan/vulkan_check.hpp"
#include "backend/vulkan/vulkan_context.hpp"
#include "backend/vulkan/vulkan_copy_queue.hpp"
#include "backend/vulkan/vulkan_memory_types.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/texture_format.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// Vulkan has no allocation granularity of its own; a page keeps blocks whole for the CPU's
// mapping and is a multiple of every nonCoherentAtomSize (at most 256 bytes by the spec).
constexpr std::uint64_t kGranularity = 4 * kKiB;

std::uint32_t parse_index(std::string_view text) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw InvalidArgument(fmt::format("vulkan device option: '{}' is not a device number", text));
  }
  return value;
}

std::string heap_name(HeapKind kind) { return std::string(to_string(kind)); }

std::string format_name(VkFormat format) {
  if (const auto known = format_from_vk_format(static_cast<std::uint32_t>(format))) {
    return fmt::format("VK_FORMAT_{}", to_string(*known));
  }
  return fmt::format("VkFormat {}", static_cast<int>(format));
}

// The format features an image's usage needs (the ones gpumem names when they are missing).
VkFormatFeatureFlags needed_features(VkImageUsageFlags usage) {
  VkFormatFeatureFlags f = 0;
  if ((usage & VK_IMAGE_USAGE_SAMPLED_BIT) != 0) f |= VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT;
  if ((usage & VK_IMAGE_USAGE_STORAGE_BIT) != 0) f |= VK_FORMAT_FEATURE_STORAGE_IMAGE_BIT;
  if ((usage & VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT) != 0) {
    f |= VK_FORMAT_FEATURE_COLOR_ATTACHMENT_BIT;
  }
  if ((usage & VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT) != 0) {
    f |= VK_FORMAT_FEATURE_DEPTH_STENCIL_ATTACHMENT_BIT;
  }
  if ((usage & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0) f |= VK_FORMAT_FEATURE_TRANSFER_SRC_BIT;
  if ((usage & VK_IMAGE_USAGE_TRANSFER_DST_BIT) != 0) f |= VK_FORMAT_FEATURE_TRANSFER_DST_BIT;
  return f;
}

std::string missing_features_text(VkFormatFeatureFlags missing) {
  std::string out;
  const auto add = [&](VkFormatFeatureFlags bit, std::string_view name) {
    if ((missing & bit) != 0) out += fmt::format("{}{}", out.empty() ? "" : ", ", name);
  };
  add(VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT, "sampling (SAMPLED_IMAGE)");
  add(VK_FORMAT_FEATURE_STORAGE_IMAGE_BIT, "storage (STORAGE_IMAGE)");
  add(VK_FORMAT_FEATURE_COLOR_ATTACHMENT_BIT, "colour attachment");
  add(VK_FORMAT_FEATURE_DEPTH_STENCIL_ATTACHMENT_BIT, "depth/stencil attachment");
  add(VK_FORMAT_FEATURE_TRANSFER_SRC_BIT, "transfer source");
  add(VK_FORMAT_FEATURE_TRANSFER_DST_BIT, "transfer destination");
  return out;
}

// What the device learned at construction, before the bookkeeping exists.
struct Facts {
  DeviceInfo info;
  std::vector<detail::HeapChoice> choices;
  std::vector<std::uint64_t> vk_heap_sizes;
  bool uma = false;
  std::uint64_t non_coherent_atom = 1;
  std::uint64_t buffer_image_granularity = 1;
  std::uint64_t max_allocation = 0;
};

Facts gather(const detail::VulkanContext& c) {
  VkPhysicalDeviceMaintenance3Properties maintenance3{
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &maintenance3};
  VkPhysicalDeviceProperties2 props{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                    .pNext = &driver};
  vkGetPhysicalDeviceProperties2(c.physical_device, &props);
  const VkPhysicalDeviceProperties& p = props.properties;
  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(c.physical_device, &memory);

  Facts f;
  f.uma = detail::is_uma(memory) || p.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
          p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  f.non_coherent_atom = std::max<std::uint64_t>(1, p.limits.nonCoherentAtomSize);
  f.buffer_image_granularity = std::max<std::uint64_t>(1, p.limits.bufferImageGranularity);
  f.max_allocation = maintenance3.maxMemoryAllocationSize;
  f.info.backend = "vulkan";
  f.info.index = c.index;
  f.info.name = p.deviceName;
  switch (p.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      f.info.type = DeviceType::DiscreteGpu;
      break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      f.info.type = DeviceType::IntegratedGpu;
      break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      f.info.type = DeviceType::Cpu;
      break;
    default:
      f.info.type = DeviceType::Other;
      break;
  }
  for (std::uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    f.vk_heap_sizes.push_back(memory.memoryHeaps[i].size);
  }
  f.choices = detail::choose_heaps(memory);
  if (f.choices.empty()) {
    throw Unsupported(c.where +
                      ": no memory type gpumem can use (none is plain device-local, "
                      "host-visible or both)");
  }
  for (std::uint32_t i = 0; i < f.choices.size(); ++i) {
    const detail::HeapChoice& choice = f.choices[i];
    HeapInfo h;
    h.index = i;
    h.name = heap_name(choice.kind);
    h.kind = choice.kind;
    h.flags = detail::heap_flags(choice.properties, f.uma);
    h.size = memory.memoryHeaps[choice.vk_heap].size;
    h.granularity = kGranularity;
    f.info.heaps.push_back(h);
  }

  std::string heaps;
  for (std::uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    heaps += fmt::format(
        "{}{}{}", heaps.empty() ? "" : ", ", format_bytes(memory.memoryHeaps[i].size),
        (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0 ? " device-local"
                                                                             : "");
  }
  std::string types;
  for (const detail::HeapChoice& choice : f.choices) {
    types += fmt::format("{}{}=type {} (heap {})", types.empty() ? "" : ", ",
                         to_string(choice.kind), choice.memory_type, choice.vk_heap);
  }
  auto& out = f.info.properties;
  out.emplace_back("api version", fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(p.apiVersion),
                                              VK_API_VERSION_MINOR(p.apiVersion),
                                              VK_API_VERSION_PATCH(p.apiVersion)));
  out.emplace_back("driver", fmt::format("{} {}", driver.driverName, driver.driverInfo));
  out.emplace_back("memory", f.uma ? "unified (CPU and device share it)" : "dedicated");
  out.emplace_back("vulkan heaps", heaps);
  out.emplace_back("memory types used", types);
  out.emplace_back("budgets", c.memory_budget ? "VK_EXT_memory_budget"
                                              : "80% of each heap (no VK_EXT_memory_budget)");
  out.emplace_back("buffer device address", c.buffer_device_address ? "on" : "off");
  out.emplace_back("max allocation", f.max_allocation != 0
                                         ? format_bytes(f.max_allocation) + " (the largest block)"
                                         : std::string("not reported"));
  out.emplace_back("bufferImageGranularity", format_bytes(f.buffer_image_granularity));
  out.emplace_back("nonCoherentAtomSize", format_bytes(f.non_coherent_atom));
  out.emplace_back("copy queue family", std::to_string(c.queue_family));
  out.emplace_back("device", c.owned ? "created by gpumem" : "adopted from the application");
  out.emplace_back("validation", c.validation ? "VK_LAYER_KHRONOS_validation" : "off");
  return f;
}

}  // namespace

VulkanDeviceConfig VulkanDeviceConfig::parse(std::string_view spec) {
  VulkanDeviceConfig c;
  for (const auto& [key, value, has_value] : detail::split_device_options(spec)) {
    if (!has_value) {
      c.index = parse_index(key);
    } else if (key == "device") {
      c.index = parse_index(value);
    } else if (key == "validation") {
      c.validation = detail::parse_switch("vulkan", key, value);
    } else {
      throw InvalidArgument(fmt::format(
          "unknown vulkan device option '{}' (known: a device number, device, validation)", key));
    }
  }
  return c;
}

const VulkanAvailability& vulkan_availability() noexcept {
  static const VulkanAvailability availability = [] {
    try {
      return detail::probe_vulkan();
    } catch (const std::exception& e) {  // only allocation failures can get here
      VulkanAvailability a;
      a.detail = e.what();
      return a;
    }
  }();
  return availability;
}

// What gpumem made for one block: the memory, a buffer over it for copies (none for blocks
// dedicated to a resource), where the CPU sees it, and where the block's first byte lies in it.
struct BlockObjects {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  std::byte* mapped = nullptr;
  std::uint64_t pad = 0;        // memory offset of the block's byte 0 (for its alignment)
  std::uint64_t allocated = 0;  // bytes of the VkDeviceMemory
  bool coherent = true;
};

struct PendingInvalidation {
  FenceValue fence = 0;
  std::uint64_t block = 0;
  std::uint64_t offset = 0;  // in the memory
  std::uint64_t size = 0;
};

struct VulkanDevice::State {
  State(std::unique_ptr<detail::VulkanContext> c, Facts f)
      : context(std::move(c)),
        facts(std::move(f)),
        ledger(facts.info.heaps),
        queue(std::make_unique<detail::VulkanCopyQueue>(context->device, context->queue_family,
                                                        context->queue_index, context->where)) {}

  VkDevice device() const { return context->device; }
  const std::string& where() const { return context->where; }
  BlockObjects objects(std::uint64_t id) const {
    std::lock_guard lock(mutex);
    return blocks.at(id);
  }
  // Flush or invalidate [offset, +size) of a memory, widened to whole atoms.
  void sync_range(const BlockObjects& o, std::uint64_t offset, std::uint64_t size,
                  bool flush) const;
  RawBlock allocate(std::uint32_t heap, std::uint64_t rounded, std::uint64_t alignment,
                    const VkMemoryDedicatedAllocateInfo* dedicated);
  void release(const BlockObjects& o) const noexcept;
  void run_invalidations(FenceValue done);

  std::unique_ptr<detail::VulkanContext> context;
  Facts facts;
  detail::BlockLedger ledger;
  std::unique_ptr<detail::VulkanCopyQueue> queue;
  mutable std::mutex mutex;  // guards blocks and invalidations
  std::unordered_map<std::uint64_t, BlockObjects> blocks;
  std::deque<PendingInvalidation> invalidations;
};

void VulkanDevice::State::sync_range(const BlockObjects& o, std::uint64_t offset,
                                     std::uint64_t size, bool flush) const {
  if (o.coherent || o.mapped == nullptr || size == 0) return;
  const std::uint64_t atom = facts.non_coherent_atom;
  const std::uint64_t begin = offset / atom * atom;
  std::uint64_t end = 0;
  align_up(offset + size, atom, end);
  const VkMappedMemoryRange range{.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                  .memory = o.memory,
                                  .offset = begin,
                                  .size = end >= o.allocated ? VK_WHOLE_SIZE : end - begin};
  if (flush) {
    detail::check_vk(vkFlushMappedMemoryRanges(device(), 1, &range), where(),
                     "vkFlushMappedMemoryRanges");
  } else {
    detail::check_vk(vkInvalidateMappedMemoryRanges(device(), 1, &range), where(),
                     "vkInvalidateMappedMemoryRanges");
  }
}

void VulkanDevice::State::release(const BlockObjects& o) const noexcept {
  if (o.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device(), o.buffer, nullptr);
  vkFreeMemory(device(), o.memory, nullptr);  // unmaps it too
}

RawBlock VulkanDevice::State::allocate(std::uint32_t heap, std::uint64_t rounded,
                                       std::uint64_t alignment,
                                       const VkMemoryDedicatedAllocateInfo* dedicated) {
  const detail::HeapChoice& choice = facts.choices[heap];
  const bool host_visible = (choice.properties & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
  const bool device_address = context->buffer_device_address && dedicated == nullptr;
  BlockObjects o;
  o.coherent = (choice.properties & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
  std::uint64_t address = 0;
  // A base the driver did not align as asked is met by allocating more and starting inside, as
  // the CUDA backend does; a dedicated block must start at offset 0 and is never padded.
  for (int attempt = 0; attempt < 2; ++attempt) {
    o.allocated = attempt == 0 ? rounded : rounded + alignment;
    if (facts.max_allocation != 0 && o.allocated > facts.max_allocation) return {};
    const VkMemoryAllocateFlagsInfo flags{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                          .pNext = dedicated,
                                          .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    const VkMemoryAllocateInfo info{
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .pNext = device_address ? static_cast<const void*>(&flags) : dedicated,
        .allocationSize = o.allocated,
        .memoryTypeIndex = choice.memory_type};
    const VkResult result = vkAllocateMemory(device(), &info, nullptr, &o.memory);
    if (detail::is_out_of_memory(result)) return {};
    detail::check_vk(result, where(),
                     fmt::format("vkAllocateMemory({} on heap '{}')", format_bytes(o.allocated),
                                 facts.info.heaps[heap].name));
    try {
      if (host_visible) {
        void* pointer = nullptr;
        detail::check_vk(vkMapMemory(device(), o.memory, 0, VK_WHOLE_SIZE, 0, &pointer), where(),
                         "vkMapMemory");
        o.mapped = static_cast<std::byte*>(pointer);
      }
      if (dedicated == nullptr) {
        const VkBufferCreateInfo buffer{
            .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
            .size = o.allocated,
            .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                     (device_address ? VkBufferUsageFlags{VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT}
                                     : VkBufferUsageFlags{0}),
            .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
        detail::check_vk(vkCreateBuffer(device(), &buffer, nullptr, &o.buffer), where(),
                         "vkCreateBuffer(block)");
        VkMemoryRequirements needs{};
        vkGetBufferMemoryRequirements(device(), o.buffer, &needs);
        if ((needs.memoryTypeBits & (1U << choice.memory_type)) == 0 || needs.size > o.allocated) {
          // The driver will not put a transfer buffer in this memory: the block is usable for
          // resources, but copy() refuses it with a clear error.
          vkDestroyBuffer(device(), o.buffer, nullptr);
          o.buffer = VK_NULL_HANDLE;
        } else {
          detail::check_vk(vkBindBufferMemory(device(), o.buffer, o.memory, 0), where(),
                           "vkBindBufferMemory(block)");
        }
      }
      if (device_address && o.buffer != VK_NULL_HANDLE) {
        const VkBufferDeviceAddressInfo at{.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                           .buffer = o.buffer};
        address = vkGetBufferDeviceAddress(device(), &at);
      } else {
        address = reinterpret_cast<std::uintptr_t>(o.mapped);
      }
    } catch (...) {
      release(o);
      throw;
    }
    if (dedicated != nullptr || address % alignment == 0) break;
    if (attempt == 1) {
      std::uint64_t aligned = 0;
      align_up(address, alignment, aligned);
      o.pad = aligned - address;
      address = aligned;
      break;
    }
    release(o);
    o = BlockObjects{.coherent = o.coherent};
  }
  const RawBlock block{.id = reinterpret_cast<std::uint64_t>(o.memory),
                       .heap = heap,
                       .size = rounded,
                       .address = address};
  {
    std::lock_guard lock(mutex);
    blocks.emplace(block.id, o);
  }
  ledger.add(block);
  return block;
}

void VulkanDevice::State::run_invalidations(FenceValue done) {
  std::lock_guard lock(mutex);
  while (!invalidations.empty() && invalidations.front().fence <= done) {
    const PendingInvalidation p = invalidations.front();
    invalidations.pop_front();
    if (auto it = blocks.find(p.block); it != blocks.end()) {
      sync_range(it->second, p.offset, p.size, /*flush=*/false);
    }
  }
}

VulkanDevice::VulkanDevice(const VulkanDeviceConfig& config) {
  auto context = detail::VulkanContext::create(config);
  Facts facts = gather(*context);
  state_ = std::make_unique<State>(std::move(context), std::move(facts));
  note_driver_figures();
}

VulkanDevice::VulkanDevice(const VulkanAdoption& adoption) {
  auto context = detail::VulkanContext::adopt(adoption);
  Facts facts = gather(*context);
  state_ = std::make_unique<State>(std::move(context), std::move(facts));
  note_driver_figures();
}

void VulkanDevice::note_driver_figures() {
  for (HeapInfo& h : state_->facts.info.heaps) {
    const HeapReport report = query_heap(h.index);
    h.driver_budget = report.budget;
    h.driver_usage = report.usage;
  }
}

VulkanDevice::~VulkanDevice() {
  // The queue waits for copies in flight as it goes; only then may their memory be freed.
  state_->queue.reset();
  for (const RawBlock& block : state_->ledger.take_all()) {
    if (auto it = state_->blocks.find(block.id); it != state_->blocks.end()) {
      state_->release(it->second);
    }
  }
}

const DeviceInfo& VulkanDevice::info() const noexcept { return state_->facts.info; }

HeapReport VulkanDevice::query_heap(std::uint32_t heap) {
  const HeapInfo& h = this->heap(heap);
  const std::uint32_t vk_heap = state_->facts.choices[heap].vk_heap;
  if (state_->context->memory_budget) {
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 memory{
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &budget};
    vkGetPhysicalDeviceMemoryProperties2(state_->context->physical_device, &memory);
    return {.budget = std::min(budget.heapBudget[vk_heap], h.size),
            .usage = budget.heapUsage[vk_heap]};
  }
  // Without the extension the driver says nothing: 80 % of the heap leaves room for what the
  // driver and other programs take unseen; the usage is every gpumem block on the Vulkan heap.
  std::uint64_t usage = 0;
  for (std::uint32_t i = 0; i < state_->facts.choices.size(); ++i) {
    if (state_->facts.choices[i].vk_heap == vk_heap) usage += state_->ledger.report(i).usage;
  }
  return {.budget = h.size / 5 * 4, .usage = usage};
}

std::uint64_t VulkanDevice::max_block_size(std::uint32_t heap) const {
  const std::uint64_t heap_size = this->heap(heap).size;
  const std::uint64_t limit = state_->facts.max_allocation;
  return limit != 0 ? std::min(limit, heap_size) : heap_size;
}

std::uint64_t VulkanDevice::checked_block_size(std::uint32_t heap, std::uint64_t size,
                                               std::uint64_t alignment) const {
  const std::uint64_t rounded = state_->ledger.checked_size(info(), heap, size, alignment);
  // Above the heap's size the books refuse it with an empty block, as on every backend.
  const std::uint64_t limit = state_->facts.max_allocation;
  if (limit != 0 && rounded > limit && rounded <= info().heaps[heap].size) {
    throw InvalidArgument(fmt::format(
        "{}: a block of {} on heap '{}' is larger than maxMemoryAllocationSize ({}), the largest "
        "allocation the device makes",
        state_->where(), format_bytes(rounded), info().heaps[heap].name, format_bytes(limit)));
  }
  return rounded;
}

RawBlock VulkanDevice::try_allocate_block(std::uint32_t heap, std::uint64_t size,
                                          std::uint64_t alignment) {
  const std::uint64_t rounded = checked_block_size(heap, size, alignment);
  if (!state_->ledger.try_take(heap, rounded)) return {};
  try {
    const RawBlock block = state_->allocate(heap, rounded, alignment, nullptr);
    if (!block) state_->ledger.give_back(heap, rounded);
    return block;
  } catch (...) {
    state_->ledger.give_back(heap, rounded);
    throw;
  }
}

RawBlock VulkanDevice::try_allocate_dedicated_block(std::uint32_t heap, std::uint64_t size,
                                                    VkBuffer buffer, VkImage image) {
  if ((buffer == VK_NULL_HANDLE) == (image == VK_NULL_HANDLE)) {
    throw InvalidArgument(state_->where() +
                          ": a dedicated block is for exactly one buffer or one image");
  }
  const std::uint64_t rounded = checked_block_size(heap, size, 1);
  if (!state_->ledger.try_take(heap, rounded)) return {};
  const VkMemoryDedicatedAllocateInfo dedicated{
      .sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, .image = image, .buffer = buffer};
  try {
    const RawBlock block = state_->allocate(heap, rounded, 1, &dedicated);
    if (!block) state_->ledger.give_back(heap, rounded);
    return block;
  } catch (...) {
    state_->ledger.give_back(heap, rounded);
    throw;
  }
}

void VulkanDevice::free_block(const RawBlock& block) {
  const RawBlock found = state_->ledger.remove(info(), block);
  state_->ledger.give_back(found.heap, found.size);
  BlockObjects o;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->blocks.find(found.id);
    o = it->second;
    state_->blocks.erase(it);
  }
  state_->release(o);
}

std::byte* VulkanDevice::map(const RawBlock& block) {
  const RawBlock found = state_->ledger.find(info(), block);
  const BlockObjects o = state_->objects(found.id);
  if (o.mapped == nullptr) {
    throw Unsupported(fmt::format(
        "{}: block {:#x} of heap '{}' is device memory the CPU cannot map; copy it through an "
        "upload or readback block",
        state_->where(), found.id, info().heaps[found.heap].name));
  }
  return o.mapped + o.pad;
}

FenceValue VulkanDevice::copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                              std::uint64_t dst_offset, std::uint64_t size) {
  const RawBlock from = state_->ledger.find(info(), src);
  const RawBlock to = state_->ledger.find(info(), dst);
  detail::check_copy_range(info(), from, src_offset, to, dst_offset, size);
  const BlockObjects s = state_->objects(from.id);
  const BlockObjects d = state_->objects(to.id);
  for (const auto& [o, b] : {std::pair{s, from}, std::pair{d, to}}) {
    if (o.buffer == VK_NULL_HANDLE) {
      throw Unsupported(fmt::format(
          "{}: block {:#x} of heap '{}' has no transfer buffer (it is dedicated to a resource, or "
          "the driver refused one in its memory type): copy through the resource instead",
          state_->where(), b.id, info().heaps[b.heap].name));
    }
  }
  // CPU writes to non-coherent memory reach the device only when flushed.
  state_->sync_range(s, s.pad + src_offset, size, /*flush=*/true);
  const FenceValue fence =
      state_->queue->copy(s.buffer, s.pad + src_offset, d.buffer, d.pad + dst_offset, size);
  if (!d.coherent && d.mapped != nullptr) {
    std::lock_guard lock(state_->mutex);
    state_->invalidations.push_back(
        {.fence = fence, .block = to.id, .offset = d.pad + dst_offset, .size = size});
  }
  return fence;
}

bool VulkanDevice::is_complete(FenceValue fence) {
  detail::check_fence(info(), fence, state_->queue->last_issued());
  if (!state_->queue->is_complete(fence)) return false;
  state_->run_invalidations(fence);
  return true;
}

void VulkanDevice::wait(FenceValue fence) {
  detail::check_fence(info(), fence, state_->queue->last_issued());
  state_->queue->wait(fence);
  state_->run_invalidations(fence);
}

void VulkanDevice::flush(const RawBlock& block, std::uint64_t offset, std::uint64_t size) {
  const RawBlock found = state_->ledger.find(info(), block);
  detail::check_copy_range(info(), found, offset, found, offset, size);
  const BlockObjects o = state_->objects(found.id);
  state_->sync_range(o, o.pad + offset, size, /*flush=*/true);
}

void VulkanDevice::invalidate(const RawBlock& block, std::uint64_t offset, std::uint64_t size) {
  const RawBlock found = state_->ledger.find(info(), block);
  detail::check_copy_range(info(), found, offset, found, offset, size);
  const BlockObjects o = state_->objects(found.id);
  state_->sync_range(o, o.pad + offset, size, /*flush=*/false);
}

std::optional<std::uint32_t> VulkanDevice::heap_index(HeapKind kind) const noexcept {
  for (const HeapInfo& h : info().heaps) {
    if (h.kind == kind) return h.index;
  }
  return std::nullopt;
}

std::uint32_t VulkanDevice::memory_type(std::uint32_t heap) const {
  this->heap(heap);  // names a heap the device lacks
  return state_->facts.choices[heap].memory_type;
}

bool VulkanDevice::is_uma() const noexcept { return state_->facts.uma; }

std::uint64_t VulkanDevice::buffer_image_granularity() const noexcept {
  return state_->facts.buffer_image_granularity;
}

std::uint64_t VulkanDevice::validation_errors() const noexcept {
  return state_->context->validation_errors.load(std::memory_order_relaxed);
}

VkInstance VulkanDevice::vk_instance() const noexcept { return state_->context->instance; }
VkPhysicalDevice VulkanDevice::vk_physical_device() const noexcept {
  return state_->context->physical_device;
}
VkDevice VulkanDevice::vk_device() const noexcept { return state_->context->device; }

VkBuffer VulkanDevice::create_buffer(const VkBufferCreateInfo& info,
                                     VulkanMemoryRequirements& requirements) {
  if (info.size == 0) {
    throw InvalidArgument(state_->where() + ": create_buffer: VkBufferCreateInfo::size is 0");
  }
  if (info.usage == 0) {
    throw InvalidArgument(state_->where() + ": create_buffer: VkBufferCreateInfo::usage is 0");
  }
  VkBuffer buffer = VK_NULL_HANDLE;
  const VkResult result = vkCreateBuffer(state_->device(), &info, nullptr, &buffer);
  if (detail::is_out_of_memory(result)) {
    throw OutOfMemory({.heap = "(buffer object)", .requested = info.size},
                      fmt::format("vkCreateBuffer: {}", detail::vk_result_name(result)));
  }
  detail::check_vk(result, state_->where(), "vkCreateBuffer");
  VkMemoryDedicatedRequirements dedicated{.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
  VkMemoryRequirements2 needs{.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2,
                              .pNext = &dedicated};
  const VkBufferMemoryRequirementsInfo2 query{
      .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2, .buffer = buffer};
  vkGetBufferMemoryRequirements2(state_->device(), &query, &needs);
  requirements = {.size = needs.memoryRequirements.size,
                  .alignment = needs.memoryRequirements.alignment,
                  .memory_type_bits = needs.memoryRequirements.memoryTypeBits,
                  .prefers_dedicated = dedicated.prefersDedicatedAllocation == VK_TRUE,
                  .requires_dedicated = dedicated.requiresDedicatedAllocation == VK_TRUE};
  return buffer;
}

bool VulkanDevice::can_sample(TextureFormat format) const {
  VkFormatProperties features{};
  vkGetPhysicalDeviceFormatProperties(state_->context->physical_device,
                                      static_cast<VkFormat>(vk_format(format)), &features);
  return (features.optimalTilingFeatures & VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT) != 0;
}

VkImage VulkanDevice::create_image(const VkImageCreateInfo& info,
                                   VulkanMemoryRequirements& requirements) {
  const std::string format = format_name(info.format);
  const std::string_view tiling = info.tiling == VK_IMAGE_TILING_LINEAR ? "linear" : "optimal";
  if (info.format == VK_FORMAT_UNDEFINED) {
    throw InvalidArgument(state_->where() +
                          ": create_image: VkImageCreateInfo::format is "
                          "VK_FORMAT_UNDEFINED");
  }
  if (info.extent.width == 0 || info.extent.height == 0 || info.extent.depth == 0 ||
      info.mipLevels == 0 || info.arrayLayers == 0) {
    throw InvalidArgument(fmt::format(
        "{}: create_image: {}x{}x{} with {} mip levels and {} layers: every one must be at least "
        "1",
        state_->where(), info.extent.width, info.extent.height, info.extent.depth, info.mipLevels,
        info.arrayLayers));
  }
  VkFormatProperties features{};
  vkGetPhysicalDeviceFormatProperties(state_->context->physical_device, info.format, &features);
  const VkFormatFeatureFlags have = info.tiling == VK_IMAGE_TILING_LINEAR
                                        ? features.linearTilingFeatures
                                        : features.optimalTilingFeatures;
  if (const VkFormatFeatureFlags missing = needed_features(info.usage) & ~have; missing != 0) {
    throw InvalidArgument(
        fmt::format("{}: create_image: the device cannot use {} with {} tiling for {}",
                    state_->where(), format, tiling, missing_features_text(missing)));
  }
  VkImageFormatProperties limits{};
  const VkResult supported = vkGetPhysicalDeviceImageFormatProperties(
      state_->context->physical_device, info.format, info.imageType, info.tiling, info.usage,
      info.flags, &limits);
  if (supported == VK_ERROR_FORMAT_NOT_SUPPORTED) {
    throw InvalidArgument(fmt::format(
        "{}: create_image: the device does not support {} images of this type with {} tiling, "
        "usage {:#x} and flags {:#x}",
        state_->where(), format, tiling, info.usage, info.flags));
  }
  detail::check_vk(supported, state_->where(), "vkGetPhysicalDeviceImageFormatProperties");
  if (info.extent.width > limits.maxExtent.width || info.extent.height > limits.maxExtent.height ||
      info.extent.depth > limits.maxExtent.depth || info.mipLevels > limits.maxMipLevels ||
      info.arrayLayers > limits.maxArrayLayers) {
    throw InvalidArgument(fmt::format(
        "{}: create_image: {} {}x{}x{} with {} mip levels and {} layers exceeds the device's "
        "{}x{}x{}, {} levels, {} layers",
        state_->where(), format, info.extent.width, info.extent.height, info.extent.depth,
        info.mipLevels, info.arrayLayers, limits.maxExtent.width, limits.maxExtent.height,
        limits.maxExtent.depth, limits.maxMipLevels, limits.maxArrayLayers));
  }
  VkImage image = VK_NULL_HANDLE;
  const VkResult result = vkCreateImage(state_->device(), &info, nullptr, &image);
  if (detail::is_out_of_memory(result)) {
    throw OutOfMemory({.heap = "(image object)"},
                      fmt::format("vkCreateImage: {}", detail::vk_result_name(result)));
  }
  detail::check_vk(result, state_->where(), "vkCreateImage");
  VkMemoryDedicatedRequirements dedicated{.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
  VkMemoryRequirements2 needs{.sType = VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2,
                              .pNext = &dedicated};
  const VkImageMemoryRequirementsInfo2 query{
      .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2, .image = image};
  vkGetImageMemoryRequirements2(state_->device(), &query, &needs);
  requirements = {.size = needs.memoryRequirements.size,
                  .alignment = needs.memoryRequirements.alignment,
                  .memory_type_bits = needs.memoryRequirements.memoryTypeBits,
                  .prefers_dedicated = dedicated.prefersDedicatedAllocation == VK_TRUE,
                  .requires_dedicated = dedicated.requiresDedicatedAllocation == VK_TRUE};
  return image;
}

void VulkanDevice::destroy_buffer(VkBuffer buffer) noexcept {
  vkDestroyBuffer(state_->device(), buffer, nullptr);
}

void VulkanDevice::destroy_image(VkImage image) noexcept {
  vkDestroyImage(state_->device(), image, nullptr);
}

void VulkanDevice::bind_buffer(VkBuffer buffer, const RawBlock& block, std::uint64_t offset) {
  const RawBlock found = state_->ledger.find(info(), block);
  detail::check_copy_range(info(), found, offset, found, offset, 0);
  const BlockObjects o = state_->objects(found.id);
  detail::check_vk(vkBindBufferMemory(state_->device(), buffer, o.memory, o.pad + offset),
                   state_->where(), "vkBindBufferMemory");
}

void VulkanDevice::bind_image(VkImage image, const RawBlock& block, std::uint64_t offset) {
  const RawBlock found = state_->ledger.find(info(), block);
  detail::check_copy_range(info(), found, offset, found, offset, 0);
  const BlockObjects o = state_->objects(found.id);
  detail::check_vk(vkBindImageMemory(state_->device(), image, o.memory, o.pad + offset),
                   state_->where(), "vkBindImageMemory");
}

}  // namespace gpumem
