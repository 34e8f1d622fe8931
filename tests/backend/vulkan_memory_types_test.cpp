// Which memory types serve which heap kinds, on made-up devices: what the Vulkan backend does on
// GPUs this machine does not have.
#if GPUMEM_HAS_VULKAN
#include "backend/vulkan/vulkan_memory_types.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <utility>

namespace gpumem::detail {
namespace {

constexpr VkMemoryPropertyFlags kDL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
constexpr VkMemoryPropertyFlags kHV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
constexpr VkMemoryPropertyFlags kHC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
constexpr VkMemoryPropertyFlags kCached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;

// Types as (heap, flags); heap 0 is device-local VRAM, heap 1 system memory.
VkPhysicalDeviceMemoryProperties device(
    std::initializer_list<std::pair<std::uint32_t, VkMemoryPropertyFlags>> types,
    bool unified = false) {
  VkPhysicalDeviceMemoryProperties m{};
  m.memoryHeapCount = unified ? 1 : 2;
  m.memoryHeaps[0] = {.size = 8ULL << 30, .flags = VK_MEMORY_HEAP_DEVICE_LOCAL_BIT};
  m.memoryHeaps[1] = {.size = 16ULL << 30, .flags = 0};
  for (const auto& [heap, flags] : types) {
    m.memoryTypes[m.memoryTypeCount++] = {.propertyFlags = flags, .heapIndex = heap};
  }
  return m;
}

std::vector<std::pair<HeapKind, std::uint32_t>> kinds(const VkPhysicalDeviceMemoryProperties& m) {
  std::vector<std::pair<HeapKind, std::uint32_t>> out;
  for (const HeapChoice& c : choose_heaps(m)) out.emplace_back(c.kind, c.memory_type);
  return out;
}

TEST(VulkanMemoryTypes, DiscreteGpuWithReBar) {
  // Like NVIDIA's: a cached+coherent and an uncached system type, VRAM, and VRAM the CPU maps.
  const auto m =
      device({{1, 0}, {0, kDL}, {1, kHV | kHC}, {1, kHV | kHC | kCached}, {0, kDL | kHV | kHC}});
  using K = HeapKind;
  const std::vector<std::pair<K, std::uint32_t>> expected{
      {K::DeviceLocal, 1}, {K::Shared, 4}, {K::Upload, 2}, {K::Readback, 3}};
  EXPECT_EQ(kinds(m), expected);
  EXPECT_FALSE(is_uma(m));
  const HeapFlags vram = heap_flags(kDL, false);
  EXPECT_TRUE(vram.device_local && vram.dedicated && !vram.host_visible);
}

TEST(VulkanMemoryTypes, ReadbackPrefersCoherentAndUploadAvoidsCached) {
  const auto m = device({{0, kDL}, {1, kHV | kCached}, {1, kHV | kHC | kCached}, {1, kHV | kHC}});
  using K = HeapKind;
  const std::vector<std::pair<K, std::uint32_t>> expected{
      {K::DeviceLocal, 0}, {K::Upload, 3}, {K::Readback, 2}};
  EXPECT_EQ(kinds(m), expected);
  // Only a non-coherent cached type: readback takes it (the backend flushes and invalidates).
  const auto n = device({{0, kDL}, {1, kHV | kHC}, {1, kHV | kCached}});
  EXPECT_EQ(choose_heaps(n).back().kind, HeapKind::Readback);
  EXPECT_EQ(choose_heaps(n).back().memory_type, 2U);
  EXPECT_FALSE(heap_flags(kHV | kCached, false).host_coherent);
}

TEST(VulkanMemoryTypes, UnifiedMemoryIsOneSharedHeap) {
  // lavapipe and many integrated GPUs: one heap, every type device-local and host-visible.
  const auto m = device({{0, kDL | kHV | kHC | kCached}}, true);
  EXPECT_TRUE(is_uma(m));
  const auto heaps = choose_heaps(m);
  ASSERT_EQ(heaps.size(), 1U);
  EXPECT_EQ(heaps[0].kind, HeapKind::Shared);
  EXPECT_FALSE(heap_flags(heaps[0].properties, true).dedicated);
}

TEST(VulkanMemoryTypes, SpecialTypesAreNeverChosen) {
  const auto m = device({{0, kDL | VK_MEMORY_PROPERTY_PROTECTED_BIT},
                         {0, kDL | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT},
                         {0, kDL},
                         {1, kHV | kHC}});
  const auto heaps = choose_heaps(m);
  ASSERT_EQ(heaps.size(), 2U);  // device-local and upload; nothing cached for readback
  EXPECT_EQ(heaps[0].memory_type, 2U);
  EXPECT_TRUE(choose_heaps(device({{0, VK_MEMORY_PROPERTY_PROTECTED_BIT}})).empty());
}

}  // namespace
}  // namespace gpumem::detail
#endif
