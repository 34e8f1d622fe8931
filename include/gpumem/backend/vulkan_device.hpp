// The Vulkan backend: one physical device through the system's Vulkan loader, either on an
// instance and device it creates itself or on an application's own (adopted) ones.
//
// Heaps are memory types chosen per role, in this order where the device has them:
//   "device-local"  DEVICE_LOCAL and not host-visible (VRAM of a discrete GPU)
//   "shared"        DEVICE_LOCAL and HOST_VISIBLE: ReBAR on a discrete GPU, all memory on an
//                   integrated or CPU device (UMA), where it is the only heap
//   "upload"        HOST_VISIBLE|HOST_COHERENT system memory, preferring a type that is not cached
//                   (write-combined: the CPU writes, the device reads)
//   "readback"      HOST_VISIBLE|HOST_CACHED system memory, preferring a coherent type
// Each heap's size is its Vulkan heap's; two gpumem heaps may sit on one Vulkan heap (upload and
// readback on system memory), and each then sees the other's blocks as usage by others. Budgets
// come from VK_EXT_memory_budget where the device has it, else 80 % of the heap's size; the
// manager's Config then applies (the 512 MiB host-visible default included).
//
// Blocks are vkAllocateMemory allocations, persistently mapped where host-visible; each has a
// buffer bound over all of it, which copies (vkCmdCopyBuffer on a transfer queue) use. A copy's
// fence is a value of one timeline semaphore. Copies flush non-coherent sources before they are
// submitted and invalidate non-coherent destinations when waited for; CPU writes and reads around
// GPU work of the application's own use flush() and invalidate(). RawBlock::address is the
// block's device address where the device has bufferDeviceAddress, else its mapped address, else
// 0. Resources (VkBuffer, VkImage) are made and bound here so that no layer above calls Vulkan;
// memory/vulkan_resources.hpp places them with the manager's pools.
//
//   if (gpumem::vulkan_availability().available) {
//     gpumem::VulkanDevice gpu(gpumem::VulkanDeviceConfig::parse("0,validation=on"));
//     gpumem::RawBlock staging = gpu.try_allocate_block(gpu.heap_index(gpumem::HeapKind::Upload)
//                                                       .value_or(0), n, 256);
//     std::memcpy(gpu.map(staging), data, n);
//   }
//
// The class exists in builds with Vulkan (GPUMEM_HAS_VULKAN is defined for users of
// gpumem::backend). Thread safety: every method may be called from several threads at once. An
// adopted device's queue is submitted to under gpumem's own lock only: the application must not
// use that queue at the same time (give gpumem a queue of its own).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/texture_format.hpp"

namespace gpumem {

struct VulkanDeviceConfig {
  std::uint32_t index = 0;  // the physical device, as vkEnumeratePhysicalDevices lists them
  // Enables VK_LAYER_KHRONOS_validation with a debug-utils messenger: every validation error is
  // logged, counted (validation_errors()) and passed to on_validation_error.
  bool validation = false;
  std::function<void(std::string_view message)> on_validation_error;

  // "1", "1,validation=on", "device=1": a bare number is the index; unknown keys, bad numbers and
  // validation values other than on/off throw InvalidArgument.
  static VulkanDeviceConfig parse(std::string_view spec);
};

// An application's Vulkan objects for gpumem to use (and never destroy). Vulkan cannot be asked
// what a device was created with, so the application says: gpumem needs Vulkan 1.2 with the
// timelineSemaphore feature (its copy fences), uses bufferDeviceAddress and VK_EXT_memory_budget
// where they were enabled, and submits copies on queue `queue_index` of `queue_family`, which must
// support transfers.
struct VulkanAdoption {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  std::uint32_t queue_family = 0;
  std::uint32_t queue_index = 0;
  std::uint32_t api_version = VK_API_VERSION_1_2;  // VkApplicationInfo::apiVersion it used
  bool timeline_semaphore = false;                 // VkPhysicalDeviceVulkan12Features
  bool buffer_device_address = false;              // VkPhysicalDeviceVulkan12Features
  bool memory_budget = false;                      // VK_EXT_memory_budget enabled
};

// One physical device as the probe saw it.
struct VulkanPhysicalDeviceSummary {
  std::string name;
  DeviceType type = DeviceType::Other;
  std::uint32_t api_version = 0;
  bool usable = false;  // new enough for gpumem (Vulkan 1.2, timeline semaphores)
  std::string problem;  // why not, when not usable
};

// Whether Vulkan can be used in this process, probed once (the first call creates and destroys
// an instance, later calls return the same answer); never throws.
struct VulkanAvailability {
  bool available = false;  // at least one usable device
  std::vector<VulkanPhysicalDeviceSummary> devices;
  std::string detail;  // what was found, or why nothing
};
const VulkanAvailability& vulkan_availability() noexcept;

// What a resource needs of the memory bound to it (vkGet*MemoryRequirements2).
struct VulkanMemoryRequirements {
  std::uint64_t size = 0;
  std::uint64_t alignment = 1;
  std::uint32_t memory_type_bits = 0;
  bool prefers_dedicated = false;  // VkMemoryDedicatedRequirements
  bool requires_dedicated = false;
};

class VulkanDevice final : public Device {
 public:
  // Creates an instance and a logical device of its own. Unsupported when Vulkan is unavailable
  // or the device is too old, InvalidArgument for an index beyond the last device, Error naming
  // the Vulkan call when one fails.
  explicit VulkanDevice(const VulkanDeviceConfig& config = {});
  // Uses the application's objects; InvalidArgument naming what is missing (a null handle, a
  // Vulkan version below 1.2, timeline semaphores not enabled, a queue family without transfers).
  explicit VulkanDevice(const VulkanAdoption& adoption);
  // Waits for copies in flight, frees the blocks still out, and destroys what it created.
  ~VulkanDevice() override;

  const DeviceInfo& info() const noexcept override;
  HeapReport query_heap(std::uint32_t heap) override;
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override;
  void free_block(const RawBlock& block) override;
  // maxMemoryAllocationSize, or the heap's size where that is smaller.
  std::uint64_t max_block_size(std::uint32_t heap) const override;
  // Host-visible blocks (mapped when allocated); Unsupported for device-local ones.
  std::byte* map(const RawBlock& block) override;
  FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                  std::uint64_t dst_offset, std::uint64_t size) override;
  bool is_complete(FenceValue fence) override;
  void wait(FenceValue fence) override;

  // Makes CPU writes to [offset, +size) of a block visible to the device / the device's writes
  // visible to the CPU. No-ops on coherent heaps; InvalidArgument for a range outside the block.
  void flush(const RawBlock& block, std::uint64_t offset, std::uint64_t size);
  void invalidate(const RawBlock& block, std::uint64_t offset, std::uint64_t size);

  // The first heap of `kind`, if the device has one.
  std::optional<std::uint32_t> heap_index(HeapKind kind) const noexcept;
  std::uint32_t memory_type(std::uint32_t heap) const;  // the heap's Vulkan memory type index
  bool is_uma() const noexcept;  // one memory for CPU and GPU (integrated or CPU device)
  std::uint64_t buffer_image_granularity() const noexcept;
  std::uint64_t validation_errors() const noexcept;
  // Whether optimal-tiling images of the format can be sampled (SAMPLED_IMAGE), the question
  // gpumem::LoadOptions::samplable asks: `options.samplable = [&](TextureFormat f) { return
  // vulkan.can_sample(f); };` decodes what the device lacks (BCn on mobile GPUs) to RGBA8.
  bool can_sample(TextureFormat format) const;

  // Resources, for memory/vulkan_resources.hpp. Creation validates what Vulkan would leave
  // undefined (a format without the features the usage needs, an unsupported extent) and throws
  // InvalidArgument naming it; binding checks the range lies in the block.
  VkBuffer create_buffer(const VkBufferCreateInfo& info, VulkanMemoryRequirements& requirements);
  VkImage create_image(const VkImageCreateInfo& info, VulkanMemoryRequirements& requirements);
  void destroy_buffer(VkBuffer buffer) noexcept;
  void destroy_image(VkImage image) noexcept;
  void bind_buffer(VkBuffer buffer, const RawBlock& block, std::uint64_t offset);
  void bind_image(VkImage image, const RawBlock& block, std::uint64_t offset);
  // A block dedicated to one resource (VkMemoryDedicatedAllocateInfo), bound at offset 0 by the
  // caller; exactly one of buffer and image is non-null. Empty when the device has no room.
  RawBlock try_allocate_dedicated_block(std::uint32_t heap, std::uint64_t size, VkBuffer buffer,
                                        VkImage image);

  VkInstance vk_instance() const noexcept;
  VkPhysicalDevice vk_physical_device() const noexcept;
  VkDevice vk_device() const noexcept;

 private:
  struct State;
  void note_driver_figures();  // into info()'s heaps, as other backends report them
  // The size rounded by the heap's rules; InvalidArgument above maxMemoryAllocationSize.
  std::uint64_t checked_block_size(std::uint32_t heap, std::uint64_t size,
                                   std::uint64_t alignment) const;
  std::unique_ptr<State> state_;
};

}  // namespace gpumem
