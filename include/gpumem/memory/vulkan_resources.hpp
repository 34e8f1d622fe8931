// Vulkan buffers and images whose memory gpumem places: the resource is created from the
// application's VkBufferCreateInfo / VkImageCreateInfo, its memory requirements are asked for,
// and it is bound to a range the Manager sub-allocates from its block pools (so budgets,
// pressure, metrics, tags and leak reports cover it), or to a dedicated allocation where the
// driver prefers or requires one.
//
//   auto gpu = std::make_shared<gpumem::VulkanDevice>();
//   gpumem::VulkanResources resources(gpu);
//   gpumem::VulkanBuffer vertices = resources.create_buffer(
//       {.sType = VK_BUFFER_CREATE_INFO, .size = 1 << 20, .usage =
//       VK_BUFFER_USAGE_VERTEX_BUFFER_BIT},
//       {.tag = gpumem::Tag("mesh")});
//   gpumem::VulkanImage albedo = resources.create_image(image_info);  // Category::Texture
//   vkCmdBindVertexBuffers(cmd, 0, 1, &vertices.buffer(), &zero);
//
// Placement rules:
// - The heap is the Manager's heap for the request's kind when its memory type is in the
//   resource's memoryTypeBits, else the next heap that can serve the kind (device-local falls
//   back to shared; upload and readback to shared, then to each other); none: InvalidArgument
//   naming the bits and the types gpumem's heaps use.
// - Size and alignment are the driver's (vkGet*MemoryRequirements2). Images with optimal tiling
//   are padded to bufferImageGranularity at both ends, so no linear resource (buffer, linear
//   image) ever shares a granularity page with one: what VulkanMemoryAllocator checks per
//   neighbour, bought with at most one page of padding per optimal image.
// - Resources are immovable (defragmentation cannot rebind them).
// - Dedicated allocations (VkMemoryDedicatedAllocateInfo) are made when the driver prefers or
//   requires one or the request asks for one, through Manager::allocate_dedicated: budgets,
//   metrics, tags and leak reports cover them like pooled ones.
// - Images are Category::Texture; texel_bytes() is their size by the core texture rules
//   (core/texture_format.hpp), which also validate the description first for formats gpumem
//   knows, naming the field that is wrong.
//
// Thread safety: every method may be called from several threads at once. A VulkanBuffer or
// VulkanImage is a move-only value with one owner at a time and must not outlive its
// VulkanResources.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "gpumem/backend/vulkan_device.hpp"
#include "gpumem/core/tag.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem {

class VulkanResources;

struct VulkanResourceRequest {
  HeapKind kind = HeapKind::DeviceLocal;
  std::optional<std::uint32_t> heap;     // a heap index instead of the kind's heap
  Category category = Category::Buffer;  // buffers only: images are always Category::Texture
  Tag tag;
  bool dedicated = false;  // a VkDeviceMemory of its own even if the driver does not ask
};

// Where a resource's memory is, common to buffers and images.
class VulkanBinding {
 public:
  std::uint32_t heap() const noexcept { return heap_; }
  std::uint64_t size() const noexcept { return size_; }   // bytes set aside (padding included)
  bool dedicated() const noexcept { return dedicated_; }  // a VkDeviceMemory of its own
  const Allocation& allocation() const noexcept { return allocation_; }
  RawBlock block() const;
  std::uint64_t offset() const;  // in block()
  // CPU pointer to the resource's first byte; Unsupported where the heap is not host-visible.
  std::byte* map() const;
  // For non-coherent heaps (no-ops elsewhere): CPU writes to the device, device writes to the CPU.
  void flush() const;
  void invalidate() const;

 protected:
  VulkanBinding() = default;
  VulkanBinding(VulkanBinding&& other) noexcept;
  VulkanBinding& operator=(VulkanBinding&& other) noexcept;
  ~VulkanBinding();
  void release_memory() noexcept;

  friend class VulkanResources;
  VulkanResources* owner_ = nullptr;
  Allocation allocation_;
  bool dedicated_ = false;
  std::uint32_t heap_ = 0;
  std::uint64_t size_ = 0;
};

class VulkanBuffer : public VulkanBinding {
 public:
  VulkanBuffer() = default;
  VulkanBuffer(VulkanBuffer&& other) noexcept;
  VulkanBuffer& operator=(VulkanBuffer&& other) noexcept;
  ~VulkanBuffer();  // destroys the buffer, then frees its memory
  void reset() noexcept;

  explicit operator bool() const noexcept { return buffer_ != VK_NULL_HANDLE; }
  VkBuffer buffer() const noexcept { return buffer_; }

 private:
  friend class VulkanResources;
  VkBuffer buffer_ = VK_NULL_HANDLE;
};

class VulkanImage : public VulkanBinding {
 public:
  VulkanImage() = default;
  VulkanImage(VulkanImage&& other) noexcept;
  VulkanImage& operator=(VulkanImage&& other) noexcept;
  ~VulkanImage();
  void reset() noexcept;

  explicit operator bool() const noexcept { return image_ != VK_NULL_HANDLE; }
  VkImage image() const noexcept { return image_; }
  // Bytes the texels take by the core texture rules; 0 for formats the core does not know.
  std::uint64_t texel_bytes() const noexcept { return texel_bytes_; }

 private:
  friend class VulkanResources;
  VkImage image_ = VK_NULL_HANDLE;
  std::uint64_t texel_bytes_ = 0;
};

class VulkanResources {
 public:
  // The manager pools every heap (AllocatorKind::Pool), whatever `config` says about allocators.
  // Throws InvalidArgument for a null device or a bad config.
  explicit VulkanResources(std::shared_ptr<VulkanDevice> device,
                           Config config = Config::defaults());
  VulkanResources(const VulkanResources&) = delete;
  VulkanResources& operator=(const VulkanResources&) = delete;

  // Throw InvalidArgument for bad create infos (zero size, an image the device cannot make with
  // that format, usage, tiling or extent, a texture description the core rules reject, no heap
  // whose memory type the resource accepts), BudgetExceeded and OutOfMemory as Manager::allocate
  // does. Nothing is left behind when they throw.
  VulkanBuffer create_buffer(const VkBufferCreateInfo& info,
                             const VulkanResourceRequest& request = {});
  VulkanImage create_image(const VkImageCreateInfo& info,
                           const VulkanResourceRequest& request = {});

  Manager& manager() noexcept { return manager_; }
  VulkanDevice& device() const noexcept { return *device_; }

 private:
  friend class VulkanBinding;
  // Places memory for a resource with these requirements and fills `binding`.
  void place(const VulkanMemoryRequirements& needs, bool optimal_image,
             const VulkanResourceRequest& request, Category category, VkBuffer buffer,
             VkImage image, VulkanBinding& binding);
  std::uint32_t choose_heap(const VulkanMemoryRequirements& needs,
                            const VulkanResourceRequest& request, std::string_view what) const;

  std::shared_ptr<VulkanDevice> device_;
  Manager manager_;  // its leak report names resources still live when this is destroyed
};

}  // namespace gpumem
