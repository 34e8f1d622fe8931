// Which Vulkan memory types serve gpumem's heap kinds: a pure function of the device's memory
// properties, so the choice is tested on made-up devices (discrete with and without ReBAR,
// integrated, CPU) without a driver.
//
//   std::vector<detail::HeapChoice> heaps = detail::choose_heaps(memory_properties);
//
// Every function here is pure; all are safe from any thread.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <vector>

#include "gpumem/core/heap.hpp"

namespace gpumem::detail {

struct HeapChoice {
  HeapKind kind = HeapKind::DeviceLocal;
  std::uint32_t memory_type = 0;
  std::uint32_t vk_heap = 0;
  VkMemoryPropertyFlags properties = 0;
};

// In the order the heaps are listed: device-local, shared, upload, readback, each where the device
// has a type for it. UMA devices (no device-local type that the CPU cannot see, no host type
// outside device-local memory) get one shared heap. Types with properties beyond the four basic
// ones (protected, lazily allocated, device-coherent) are never chosen: they need care gpumem's
// general-purpose heaps cannot give.
std::vector<HeapChoice> choose_heaps(const VkPhysicalDeviceMemoryProperties& memory);

// HeapFlags for a chosen type: dedicated when it lives in device-local memory of a non-UMA device.
HeapFlags heap_flags(VkMemoryPropertyFlags properties, bool uma);

// True when every device-local type is host-visible and every host-visible type device-local.
bool is_uma(const VkPhysicalDeviceMemoryProperties& memory);

}  // namespace gpumem::detail
