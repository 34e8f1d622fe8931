#include "backend/vulkan/vulkan_memory_types.hpp"

#include <optional>

namespace gpumem::detail {
namespace {

constexpr VkMemoryPropertyFlags kBasic =
    VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
    VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;

bool has(VkMemoryPropertyFlags flags, VkMemoryPropertyFlags bits) { return (flags & bits) == bits; }

// The first basic type (drivers list their preferred types first) that has `required`, lacks
// `forbidden`, and, among those, the first that also has `preferred` and lacks `avoided`.
std::optional<std::uint32_t> pick(const VkPhysicalDeviceMemoryProperties& memory,
                                  VkMemoryPropertyFlags required, VkMemoryPropertyFlags forbidden,
                                  VkMemoryPropertyFlags preferred = 0,
                                  VkMemoryPropertyFlags avoided = 0) {
  std::optional<std::uint32_t> fallback;
  for (std::uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
    if ((f & ~kBasic) != 0 || !has(f, required) || (f & forbidden) != 0) continue;
    if (has(f, preferred) && (f & avoided) == 0) return i;
    if (!fallback) fallback = i;
  }
  return fallback;
}

}  // namespace

bool is_uma(const VkPhysicalDeviceMemoryProperties& memory) {
  bool any_device_local = false;
  for (std::uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    const VkMemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
    if ((f & ~kBasic) != 0 || f == 0) continue;
    const bool device_local = (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) != 0;
    const bool host_visible = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
    if (device_local != host_visible) return false;
    any_device_local = any_device_local || device_local;
  }
  return any_device_local;
}

std::vector<HeapChoice> choose_heaps(const VkPhysicalDeviceMemoryProperties& memory) {
  constexpr VkMemoryPropertyFlags kDevice = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  constexpr VkMemoryPropertyFlags kVisible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
  constexpr VkMemoryPropertyFlags kCoherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  constexpr VkMemoryPropertyFlags kCached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  std::vector<HeapChoice> heaps;
  const auto add = [&](HeapKind kind, std::optional<std::uint32_t> type) {
    if (!type) return;
    heaps.push_back({.kind = kind,
                     .memory_type = *type,
                     .vk_heap = memory.memoryTypes[*type].heapIndex,
                     .properties = memory.memoryTypes[*type].propertyFlags});
  };
  add(HeapKind::DeviceLocal, pick(memory, kDevice, kVisible));
  // Coherent first: a shared heap is written by the CPU like an upload heap.
  add(HeapKind::Shared, pick(memory, kDevice | kVisible, 0, kCoherent));
  // Write-combined (uncached) memory is fastest for the CPU to write and the GPU to read.
  add(HeapKind::Upload, pick(memory, kVisible | kCoherent, kDevice, 0, kCached));
  add(HeapKind::Readback, pick(memory, kVisible | kCached, kDevice, kCoherent));
  return heaps;
}

HeapFlags heap_flags(VkMemoryPropertyFlags properties, bool uma) {
  const bool device_local = (properties & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) != 0;
  return {.device_local = device_local,
          .host_visible = (properties & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0,
          .host_coherent = (properties & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0,
          .host_cached = (properties & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) != 0,
          .dedicated = device_local && !uma};
}

}  // namespace gpumem::detail
