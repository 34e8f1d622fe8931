// Vulkan buffers and images placed by gpumem, on a real implementation with the validation layer
// on (any validation error fails the test): requirements honoured, pools shared, granularity kept
// between linear and optimal resources, dedicated allocations, texture accounting, and the errors
// for what the device cannot do.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "support/vulkan_validation.hpp"

#if GPUMEM_HAS_VULKAN
#include "gpumem/core/texture_format.hpp"
#include "gpumem/memory/vulkan_resources.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_VULKAN

TEST(VulkanResources, AreNotBuilt) { GTEST_SKIP() << "built with GPUMEM_WITH_VULKAN=OFF"; }

#else

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

VkBufferCreateInfo buffer_info(std::uint64_t size, VkBufferUsageFlags usage) {
  return {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
          .size = size,
          .usage = usage,
          .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
}

VkImageCreateInfo image_info(VkFormat format, std::uint32_t width, std::uint32_t height,
                             std::uint32_t mips = 1,
                             VkImageTiling tiling = VK_IMAGE_TILING_OPTIMAL) {
  return {.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
          .imageType = VK_IMAGE_TYPE_2D,
          .format = format,
          .extent = {width, height, 1},
          .mipLevels = mips,
          .arrayLayers = 1,
          .samples = VK_SAMPLE_COUNT_1_BIT,
          .tiling = tiling,
          .usage = VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT,
          .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
          .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
}

class VulkanResourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = test_support::vulkan_skip_reason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    device_ = std::make_shared<VulkanDevice>(test_support::validated_vulkan_config());
    resources_ = std::make_unique<VulkanResources>(device_);
  }
  void TearDown() override {
    resources_.reset();
    if (device_) {
      EXPECT_EQ(device_->validation_errors(), 0U);
    }
  }

  std::shared_ptr<VulkanDevice> device_;
  std::unique_ptr<VulkanResources> resources_;
};

TEST_F(VulkanResourcesTest, BuffersAreSubAllocatedAndBoundWhereTheRequirementsSay) {
  Manager& m = resources_->manager();
  std::vector<VulkanBuffer> buffers;
  for (const std::uint64_t size : {std::uint64_t{1}, std::uint64_t{300}, 64 * kKiB + 1}) {
    VkBufferCreateInfo info =
        buffer_info(size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT);
    VulkanBuffer b = resources_->create_buffer(info, {.tag = Tag("ubo")});
    ASSERT_TRUE(b);
    EXPECT_FALSE(b.dedicated());
    EXPECT_GE(b.size(), size);
    EXPECT_EQ(b.allocation().category(), Category::Buffer);
    // The offset honours the driver's alignment (uniform buffers need minUniformBufferOffset...).
    VulkanMemoryRequirements needs;
    const VkBuffer probe = device_->create_buffer(info, needs);
    device_->destroy_buffer(probe);
    EXPECT_EQ(b.offset() % needs.alignment, 0U);
    EXPECT_NE(needs.memory_type_bits & (1U << device_->memory_type(b.heap())), 0U);
    buffers.push_back(std::move(b));
  }
  // Small buffers share a pool block: one device allocation, not one per buffer.
  EXPECT_EQ(buffers[0].block().id, buffers[1].block().id);
  EXPECT_EQ(m.metrics().total.live_count, 3U);
  EXPECT_EQ(m.allocator(buffers[0].heap()).name(), "pool");
  buffers.clear();
  EXPECT_EQ(m.metrics().total.live_count, 0U);
}

TEST_F(VulkanResourcesTest, UploadBuffersAreMappedPersistently) {
  VulkanBuffer staging = resources_->create_buffer(
      buffer_info(4096, VK_BUFFER_USAGE_TRANSFER_SRC_BIT), {.kind = HeapKind::Upload});
  std::byte* bytes = staging.map();
  std::memset(bytes, 0x5a, 4096);
  staging.flush();
  staging.invalidate();
  EXPECT_EQ(staging.map()[4095], std::byte{0x5a});
  EXPECT_TRUE(device_->info().heaps[staging.heap()].flags.host_visible);
}

TEST_F(VulkanResourcesTest, ImagesAreTexturesSizedByTheCoreRules) {
  VkImageCreateInfo info = image_info(VK_FORMAT_R8G8B8A8_UNORM, 256, 128, 9);
  VulkanImage image = resources_->create_image(info, {.tag = Tag("albedo")});
  ASSERT_TRUE(image);
  const TextureDesc desc{
      .format = TextureFormat::R8G8B8A8_UNORM, .width = 256, .height = 128, .mip_levels = 9};
  EXPECT_EQ(image.texel_bytes(), texture_size_bytes(desc));
  EXPECT_GE(image.size(), image.texel_bytes());
  EXPECT_EQ(image.allocation().category(), Category::Texture);
  const MetricsSnapshot s = resources_->manager().metrics();
  EXPECT_EQ(s.category(Category::Texture).live_count, 1U);
  EXPECT_EQ(s.category(Category::Texture).live_bytes, image.size());
  // The core rules reject what they know to be wrong before Vulkan sees it.
  EXPECT_THAT([&] { resources_->create_image(image_info(VK_FORMAT_R8G8B8A8_UNORM, 256, 128, 10)); },
              ThrowsMessage<InvalidArgument>(HasSubstr("mip_levels")));
  EXPECT_EQ(resources_->manager().metrics().total.live_count, 1U);  // nothing left behind
}

TEST_F(VulkanResourcesTest, LinearAndOptimalResourcesNeverShareAGranularityPage) {
  const std::uint64_t g = device_->buffer_image_granularity();
  std::vector<VulkanBuffer> buffers;
  std::vector<VulkanImage> images;
  for (int i = 0; i < 12; ++i) {
    buffers.push_back(resources_->create_buffer(
        buffer_info(100 + 37 * static_cast<std::uint64_t>(i), VK_BUFFER_USAGE_VERTEX_BUFFER_BIT)));
    images.push_back(resources_->create_image(
        image_info(VK_FORMAT_R8G8B8A8_UNORM, 8 + 4 * static_cast<std::uint32_t>(i), 8)));
  }
  for (const VulkanImage& image : images) {
    EXPECT_EQ(image.offset() % g, 0U);
    EXPECT_EQ(image.size() % g, 0U);
    const std::uint64_t first = image.offset() / g;
    const std::uint64_t last = (image.offset() + image.size() - 1) / g;
    for (const VulkanBuffer& buffer : buffers) {
      if (buffer.block().id != image.block().id) continue;
      const std::uint64_t b_first = buffer.offset() / g;
      const std::uint64_t b_last = (buffer.offset() + buffer.size() - 1) / g;
      EXPECT_TRUE(b_last < first || b_first > last)
          << "buffer at " << buffer.offset() << " shares a page with image at " << image.offset();
    }
  }
}

TEST_F(VulkanResourcesTest, DedicatedAllocationsAreTheirOwnMemoryAndTrackedByTheManager) {
  Manager& m = resources_->manager();
  const std::uint32_t heap = m.heap_for(HeapKind::DeviceLocal);
  const std::uint64_t own_before = m.budget(heap).own;
  {
    VulkanImage image = resources_->create_image(image_info(VK_FORMAT_R8G8B8A8_UNORM, 512, 512),
                                                 {.tag = Tag("albedo"), .dedicated = true});
    VulkanBuffer buffer = resources_->create_buffer(
        buffer_info(kMiB, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT), {.dedicated = true});
    EXPECT_TRUE(image.dedicated());
    EXPECT_TRUE(buffer.dedicated());
    EXPECT_EQ(image.offset(), 0U);
    EXPECT_NE(image.block().id, buffer.block().id);
    const MetricsSnapshot metrics = m.metrics();
    EXPECT_EQ(metrics.total.live_count, 2U);
    EXPECT_EQ(metrics.category(Category::Texture).live_count, 1U);
    EXPECT_EQ(m.budget(heap).own, own_before + image.size() + buffer.size());
    const LeakReport live = m.leak_report();
    ASSERT_EQ(live.leaks.size(), 2U);
    EXPECT_TRUE(live.leaks[0].dedicated);
    EXPECT_EQ(live.leaks[0].tag.name(), "albedo");
  }
  EXPECT_EQ(m.metrics().total.live_count, 0U);
  EXPECT_EQ(m.budget(heap).own, own_before);
}

TEST_F(VulkanResourcesTest, BudgetsCoverResources) {
  Config c;
  const std::uint32_t heap = resources_->manager().heap_for(HeapKind::DeviceLocal);
  c.heap_budgets[device_->info().heaps[heap].name] = {.soft = 0, .hard = 8 * kMiB};
  VulkanResources small(device_, c);
  VulkanBuffer a = small.create_buffer(buffer_info(6 * kMiB, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT));
  EXPECT_THROW(small.create_buffer(buffer_info(6 * kMiB, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT)),
               BudgetExceeded);
  EXPECT_THROW(small.create_buffer(buffer_info(6 * kMiB, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT),
                                   {.dedicated = true}),
               BudgetExceeded);
  EXPECT_EQ(small.manager().metrics().total.live_count, 1U);  // nothing left of the refusals
}

TEST_F(VulkanResourcesTest, WhatTheDeviceCannotDoIsNamed) {
  EXPECT_THAT(
      [&] { resources_->create_buffer(buffer_info(0, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT)); },
      ThrowsMessage<InvalidArgument>(HasSubstr("size is 0")));
  // A format the device cannot sample: the first of these it lacks.
  std::optional<VkFormat> unsupported;
  for (const VkFormat f : {VK_FORMAT_ASTC_4x4_UNORM_BLOCK, VK_FORMAT_ETC2_R8G8B8_UNORM_BLOCK,
                           VK_FORMAT_BC7_UNORM_BLOCK, VK_FORMAT_R64G64B64A64_SFLOAT}) {
    VkFormatProperties p{};
    vkGetPhysicalDeviceFormatProperties(device_->vk_physical_device(), f, &p);
    if ((p.optimalTilingFeatures & VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT) == 0) {
      unsupported = f;
      break;
    }
  }
  if (unsupported) {
    EXPECT_THAT([&] { resources_->create_image(image_info(*unsupported, 64, 64)); },
                ThrowsMessage<InvalidArgument>(
                    AllOf(HasSubstr("cannot use VK_FORMAT_"), HasSubstr("sampling"))));
  } else {
    ADD_FAILURE() << "the device samples every format tried: pick another";
  }
  VkImageCreateInfo huge = image_info(VK_FORMAT_R8G8B8A8_UNORM, 1U << 20, 1);
  EXPECT_THAT([&] { resources_->create_image(huge); },
              ThrowsMessage<InvalidArgument>(HasSubstr("exceeds the device's")));
  // A heap whose memory type the resource does not accept, asked for by index.
  VkBufferCreateInfo info = buffer_info(256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
  EXPECT_THROW(resources_->create_buffer(info, {.heap = 77}), InvalidArgument);
  EXPECT_EQ(resources_->manager().metrics().total.live_count, 0U);
}

#endif

}  // namespace
}  // namespace gpumem
