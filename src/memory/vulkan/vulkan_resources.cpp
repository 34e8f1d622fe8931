#include "gpumem/memory/vulkan_resources.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/texture_format.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// Heaps that can stand in for a kind, best first.
std::vector<HeapKind> stand_ins(HeapKind kind) {
  switch (kind) {
    case HeapKind::DeviceLocal:
      return {HeapKind::DeviceLocal, HeapKind::Shared};
    case HeapKind::Upload:
      return {HeapKind::Upload, HeapKind::Shared, HeapKind::Readback};
    case HeapKind::Readback:
      return {HeapKind::Readback, HeapKind::Shared, HeapKind::Upload};
    case HeapKind::Shared:
      return {HeapKind::Shared};
    case HeapKind::PinnedHost:
      return {HeapKind::PinnedHost, HeapKind::Upload, HeapKind::Shared};
  }
  return {kind};
}

// The core's description of an image, for the formats it knows.
std::optional<TextureDesc> texture_desc(const VkImageCreateInfo& info) {
  const auto format = format_from_vk_format(static_cast<std::uint32_t>(info.format));
  if (!format) return std::nullopt;
  const bool cube = (info.flags & VK_IMAGE_CREATE_CUBE_COMPATIBLE_BIT) != 0 &&
                    info.arrayLayers % 6 == 0 && info.extent.width == info.extent.height;
  return TextureDesc{.format = *format,
                     .width = info.extent.width,
                     .height = info.extent.height,
                     .depth = info.extent.depth,
                     .mip_levels = info.mipLevels,
                     .array_layers = cube ? info.arrayLayers / 6 : info.arrayLayers,
                     .cube = cube};
}

}  // namespace

// ---- VulkanBinding ---------------------------------------------------------------------------

VulkanBinding::VulkanBinding(VulkanBinding&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      allocation_(std::move(other.allocation_)),
      dedicated_(std::exchange(other.dedicated_, false)),
      heap_(other.heap_),
      size_(std::exchange(other.size_, 0)) {}

VulkanBinding& VulkanBinding::operator=(VulkanBinding&& other) noexcept {
  if (this != &other) {
    release_memory();
    owner_ = std::exchange(other.owner_, nullptr);
    allocation_ = std::move(other.allocation_);
    dedicated_ = std::exchange(other.dedicated_, false);
    heap_ = other.heap_;
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

VulkanBinding::~VulkanBinding() { release_memory(); }

void VulkanBinding::release_memory() noexcept {
  allocation_.reset();
  dedicated_ = false;
  size_ = 0;
}

RawBlock VulkanBinding::block() const { return allocation_.block(); }

std::uint64_t VulkanBinding::offset() const { return allocation_.offset(); }

std::byte* VulkanBinding::map() const {
  if (owner_ == nullptr) throw InvalidArgument("map: the Vulkan resource is empty");
  return owner_->device().map(block()) + offset();
}

void VulkanBinding::flush() const {
  if (owner_ != nullptr) owner_->device().flush(block(), offset(), size_);
}

void VulkanBinding::invalidate() const {
  if (owner_ != nullptr) owner_->device().invalidate(block(), offset(), size_);
}

// ---- VulkanBuffer and VulkanImage ------------------------------------------------------------

VulkanBuffer::VulkanBuffer(VulkanBuffer&& other) noexcept
    : VulkanBinding(std::move(other)), buffer_(std::exchange(other.buffer_, VK_NULL_HANDLE)) {}

VulkanBuffer& VulkanBuffer::operator=(VulkanBuffer&& other) noexcept {
  if (this != &other) {
    reset();
    const VkBuffer taken = std::exchange(other.buffer_, VK_NULL_HANDLE);
    VulkanBinding::operator=(std::move(other));  // the base's fields only
    buffer_ = taken;
  }
  return *this;
}

VulkanBuffer::~VulkanBuffer() { reset(); }

void VulkanBuffer::reset() noexcept {
  // The buffer goes before its memory: nothing may stay bound to freed memory.
  if (buffer_ != VK_NULL_HANDLE && owner_ != nullptr) owner_->device().destroy_buffer(buffer_);
  buffer_ = VK_NULL_HANDLE;
  release_memory();
}

VulkanImage::VulkanImage(VulkanImage&& other) noexcept
    : VulkanBinding(std::move(other)),
      image_(std::exchange(other.image_, VK_NULL_HANDLE)),
      texel_bytes_(std::exchange(other.texel_bytes_, 0)) {}

VulkanImage& VulkanImage::operator=(VulkanImage&& other) noexcept {
  if (this != &other) {
    reset();
    const VkImage taken = std::exchange(other.image_, VK_NULL_HANDLE);
    texel_bytes_ = std::exchange(other.texel_bytes_, 0);
    VulkanBinding::operator=(std::move(other));  // the base's fields only
    image_ = taken;
  }
  return *this;
}

VulkanImage::~VulkanImage() { reset(); }

void VulkanImage::reset() noexcept {
  if (image_ != VK_NULL_HANDLE && owner_ != nullptr) owner_->device().destroy_image(image_);
  image_ = VK_NULL_HANDLE;
  texel_bytes_ = 0;
  release_memory();
}

// ---- VulkanResources -------------------------------------------------------------------------

namespace {

Config pooled(Config config) {
  config.allocators = {.device = AllocatorKind::Pool, .host_visible = AllocatorKind::Pool};
  return config;
}

std::shared_ptr<VulkanDevice> checked(std::shared_ptr<VulkanDevice> device) {
  if (!device) throw InvalidArgument("VulkanResources: the device is null");
  return device;
}

}  // namespace

VulkanResources::VulkanResources(std::shared_ptr<VulkanDevice> device, Config config)
    : device_(checked(std::move(device))), manager_(device_, pooled(std::move(config))) {}

std::uint32_t VulkanResources::choose_heap(const VulkanMemoryRequirements& needs,
                                           const VulkanResourceRequest& request,
                                           std::string_view what) const {
  const auto accepts = [&](std::uint32_t heap) {
    return (needs.memory_type_bits & (1U << device_->memory_type(heap))) != 0;
  };
  std::string types;
  for (const HeapInfo& h : device_->info().heaps) {
    types += fmt::format("{}'{}' type {}", types.empty() ? "" : ", ", h.name,
                         device_->memory_type(h.index));
  }
  if (request.heap) {
    const std::uint32_t heap = device_->heap(*request.heap).index;
    if (accepts(heap)) return heap;
    throw InvalidArgument(fmt::format(
        "{}: heap '{}' uses memory type {}, which the {} does not accept (memoryTypeBits {:#x})",
        device_->info().name, device_->info().heaps[heap].name, device_->memory_type(heap), what,
        needs.memory_type_bits));
  }
  for (const HeapKind kind : stand_ins(request.kind)) {
    if (const auto heap = device_->heap_index(kind); heap && accepts(*heap)) return *heap;
  }
  throw InvalidArgument(fmt::format(
      "{}: no heap for a {} {} request: it accepts memory types {:#x}, gpumem's heaps use {}",
      device_->info().name, what, to_string(request.kind), needs.memory_type_bits, types));
}

void VulkanResources::place(const VulkanMemoryRequirements& needs, bool optimal_image,
                            const VulkanResourceRequest& request, Category category,
                            VkBuffer buffer, VkImage image, VulkanBinding& binding) {
  const std::string_view what = image != VK_NULL_HANDLE ? "image" : "buffer";
  const std::uint32_t heap = choose_heap(needs, request, what);
  binding.owner_ = this;
  binding.heap_ = heap;
  if (request.dedicated || needs.prefers_dedicated || needs.requires_dedicated) {
    binding.allocation_ = manager_.allocate_dedicated(
        {.size = needs.size,
         .heap = heap,
         .category = category,
         .tag = request.tag,
         .movable = false},
        [&](std::uint32_t h, std::uint64_t size) {
          return device_->try_allocate_dedicated_block(h, size, buffer, image);
        });
    binding.dedicated_ = true;
    binding.size_ = binding.allocation_.block().size;
    return;
  }
  // Optimal images fill whole bufferImageGranularity pages, so no linear neighbour shares one.
  std::uint64_t size = needs.size;
  std::uint64_t alignment = needs.alignment;
  if (optimal_image) {
    const std::uint64_t g = device_->buffer_image_granularity();
    alignment = std::max(alignment, g);
    align_up(size, g, size);
  }
  binding.allocation_ = manager_.allocate({.size = size,
                                           .alignment = alignment,
                                           .heap = heap,
                                           .category = category,
                                           .tag = request.tag,
                                           .movable = false});
  binding.size_ = size;
}

VulkanBuffer VulkanResources::create_buffer(const VkBufferCreateInfo& info,
                                            const VulkanResourceRequest& request) {
  VulkanMemoryRequirements needs;
  VulkanBuffer result;
  result.buffer_ = device_->create_buffer(info, needs);
  result.owner_ = this;
  // From here on, a throw destroys the buffer (and any memory placed) through `result`.
  place(needs, false, request, request.category, result.buffer_, VK_NULL_HANDLE, result);
  device_->bind_buffer(result.buffer_, result.block(), result.offset());
  return result;
}

VulkanImage VulkanResources::create_image(const VkImageCreateInfo& info,
                                          const VulkanResourceRequest& request) {
  std::uint64_t texel_bytes = 0;
  if (const auto desc = texture_desc(info)) {
    texel_bytes = texture_size_bytes(*desc);  // validates, naming the field that is wrong
  }
  VulkanMemoryRequirements needs;
  VulkanImage result;
  result.image_ = device_->create_image(info, needs);
  result.owner_ = this;
  result.texel_bytes_ = texel_bytes;
  place(needs, info.tiling == VK_IMAGE_TILING_OPTIMAL, request, Category::Texture, VK_NULL_HANDLE,
        result.image_, result);
  device_->bind_image(result.image_, result.block(), result.offset());
  return result;
}

}  // namespace gpumem
