// The Vulkan backend on a real implementation (lavapipe on any CPU, a GPU's driver where there is
// one), with the validation layer on: heaps, blocks, mapping, copies with fences, adoption of an
// application's device and the errors for what it lacks. Without Vulkan (or a build without it)
// only the tests that need none run; the rest skip with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <cstring>
#include <vector>

#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "support/vulkan_validation.hpp"

#if GPUMEM_HAS_VULKAN
#include "gpumem/backend/vulkan_device.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_VULKAN

TEST(VulkanBackend, IsNotBuilt) {
  for (const BackendStatus& s : backend_statuses()) EXPECT_NE(s.name, "vulkan");
  GTEST_SKIP() << "built with GPUMEM_WITH_VULKAN=OFF";
}

#else

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(VulkanBackend, IsListedWithWhatWasFoundOrWhyNot) {
  const VulkanAvailability& vulkan = vulkan_availability();
  bool listed = false;
  for (const BackendStatus& s : backend_statuses()) {
    if (s.name != "vulkan") continue;
    listed = true;
    EXPECT_EQ(s.available, vulkan.available);
    EXPECT_FALSE(s.detail.empty());
  }
  EXPECT_TRUE(listed);
  std::size_t usable = 0;
  for (const auto& d : vulkan.devices) usable += d.usable ? 1U : 0U;
  std::size_t opened = 0;
  for (const auto& d : open_all_devices()) opened += d->info().backend == "vulkan" ? 1U : 0U;
  EXPECT_EQ(opened, usable);
  if (!vulkan.available) {
    EXPECT_THAT([] { open_device("vulkan"); }, ThrowsMessage<Unsupported>(HasSubstr("vulkan")));
  }
}

TEST(VulkanBackend, ParsesDeviceOptions) {
  const VulkanDeviceConfig c = VulkanDeviceConfig::parse("1,validation=on");
  EXPECT_EQ(c.index, 1U);
  EXPECT_TRUE(c.validation);
  EXPECT_EQ(VulkanDeviceConfig::parse("device=2").index, 2U);
  EXPECT_FALSE(VulkanDeviceConfig::parse("").validation);
  EXPECT_THAT([] { VulkanDeviceConfig::parse("turbo=on"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'turbo'")));
  EXPECT_THAT([] { VulkanDeviceConfig::parse("validation=maybe"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'maybe'")));
  EXPECT_THROW(open_device("vulkan:x"), InvalidArgument);
  // Where Vulkan is unavailable (a GPU machine without a loader's driver) that is the error.
  const std::vector<BackendStatus> statuses = backend_statuses();
  const bool available = std::any_of(statuses.begin(), statuses.end(), [](const BackendStatus& s) {
    return s.name == "vulkan" && s.available;
  });
  if (available) {
    EXPECT_THAT([] { open_device("vulkan:999"); }, ThrowsMessage<Error>(HasSubstr("999")));
  } else {
    EXPECT_THAT([] { open_device("vulkan:999"); }, ThrowsMessage<Error>(HasSubstr("unavailable")));
  }
}

TEST(VulkanBackend, AdoptionRefusesWhatIsMissingNamingIt) {
  EXPECT_THAT([] { VulkanDevice d(VulkanAdoption{}); },
              ThrowsMessage<InvalidArgument>(HasSubstr("VkInstance is null")));
}

void fill(std::byte* bytes, std::size_t size, unsigned seed) {
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
}

class VulkanDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = test_support::vulkan_skip_reason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    device_ = std::make_unique<VulkanDevice>(test_support::validated_vulkan_config());
  }
  void TearDown() override {
    if (device_) {
      EXPECT_EQ(device_->validation_errors(), 0U);
    }
  }
  // A heap the CPU can map: upload where there is one, else shared.
  std::uint32_t mappable() const {
    return device_->heap_index(HeapKind::Upload)
        .value_or(device_->heap_index(HeapKind::Shared).value_or(0));
  }
  // Device memory: device-local where there is any, else shared.
  std::uint32_t device_memory() const {
    return device_->heap_index(HeapKind::DeviceLocal)
        .value_or(device_->heap_index(HeapKind::Shared).value_or(0));
  }

  std::unique_ptr<VulkanDevice> device_;
};

TEST_F(VulkanDeviceTest, DescribesItsHeapsAndItself) {
  const DeviceInfo& info = device_->info();
  EXPECT_EQ(info.backend, "vulkan");
  EXPECT_FALSE(info.name.empty());
  ASSERT_FALSE(info.heaps.empty());
  for (const HeapInfo& h : info.heaps) {
    EXPECT_GT(h.size, 0U) << h.name;
    EXPECT_EQ(h.name, to_string(h.kind));
    EXPECT_TRUE(is_power_of_two(h.granularity));
    const HeapReport r = device_->query_heap(h.index);
    EXPECT_GT(r.budget, 0U);
    EXPECT_LE(r.budget, h.size);
    if (h.kind != HeapKind::DeviceLocal) {
      EXPECT_TRUE(h.flags.host_visible) << h.name;
    }
  }
  if (info.type == DeviceType::Cpu || info.type == DeviceType::IntegratedGpu) {
    EXPECT_TRUE(device_->is_uma());
  }
  if (device_->is_uma()) {
    // One memory: gpumem sees one shared heap, and the CPU maps it.
    ASSERT_EQ(info.heaps.size(), 1U);
    EXPECT_EQ(info.heaps[0].kind, HeapKind::Shared);
    EXPECT_FALSE(info.heaps[0].flags.dedicated);
  }
  std::vector<std::string> names;
  for (const auto& [name, value] : info.properties) names.push_back(name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"api version", "driver", "memory", "budgets"}));
  EXPECT_THROW(device_->query_heap(99), InvalidArgument);
}

TEST_F(VulkanDeviceTest, BudgetIsEightyPercentWithoutTheExtension) {
  bool has_extension = false;
  for (const auto& [name, value] : device_->info().properties) {
    if (name == "budgets") has_extension = value == "VK_EXT_memory_budget";
  }
  if (has_extension) GTEST_SKIP() << "the device reports budgets through VK_EXT_memory_budget";
  const std::uint32_t heap = device_memory();
  EXPECT_EQ(device_->query_heap(heap).budget, device_->info().heaps[heap].size / 5 * 4);
  const std::uint64_t before = device_->query_heap(heap).usage;
  const RawBlock b = device_->try_allocate_block(heap, 3 * kMiB, 256);
  ASSERT_TRUE(b);
  EXPECT_EQ(device_->query_heap(heap).usage, before + 3 * kMiB);
  device_->free_block(b);
  EXPECT_EQ(device_->query_heap(heap).usage, before);
}

TEST_F(VulkanDeviceTest, AllocatesAlignedBlocksAndRefusesBadRequests) {
  std::vector<RawBlock> blocks;
  for (const std::uint64_t size :
       {std::uint64_t{1}, std::uint64_t{255}, std::uint64_t{4097}, kMiB + 3}) {
    for (const std::uint64_t alignment :
         {std::uint64_t{1}, std::uint64_t{256}, 64 * kKiB, 2 * kMiB}) {
      const RawBlock b = device_->try_allocate_block(device_memory(), size, alignment);
      ASSERT_TRUE(b);
      EXPECT_GE(b.size, size);
      EXPECT_EQ(b.address % alignment, 0U) << size << " aligned to " << alignment;
      blocks.push_back(b);
    }
  }
  for (const RawBlock& b : blocks) device_->free_block(b);
  EXPECT_THROW(device_->try_allocate_block(0, 0, 256), InvalidArgument);
  EXPECT_THROW(device_->try_allocate_block(0, 64, 3), InvalidArgument);
  EXPECT_THROW(device_->try_allocate_block(42, 64, 256), InvalidArgument);
  EXPECT_THROW(device_->free_block(blocks.front()), InvalidHandle);
}

TEST_F(VulkanDeviceTest, BlocksAboveMaxMemoryAllocationSizeAreRefusedNamingIt) {
  const std::uint32_t heap = device_memory();
  const std::uint64_t max = device_->max_block_size(heap);
  ASSERT_GT(max, 0U);
  ASSERT_LE(max, device_->heap(heap).size);
  if (max == device_->heap(heap).size) GTEST_SKIP() << "the device can allocate its whole heap";
  EXPECT_THAT([&] { device_->try_allocate_block(heap, max + 1, 256); },
              ThrowsMessage<InvalidArgument>(HasSubstr("maxMemoryAllocationSize")));
}

TEST_F(VulkanDeviceTest, CopiesThroughTheTransferQueueWithFences) {
  const std::uint64_t size = 4 * kMiB + 123;
  const RawBlock source = device_->try_allocate_block(mappable(), size, 256);
  const RawBlock middle = device_->try_allocate_block(device_memory(), size, 256);
  const RawBlock target = device_->try_allocate_block(mappable(), size, 256);
  ASSERT_TRUE(source && middle && target);
  std::byte* src = device_->map(source);
  std::byte* dst = device_->map(target);
  fill(src, size, 3);
  std::memset(dst, 0, size);
  const FenceValue up = device_->copy(source, 0, middle, 0, size);
  const FenceValue down = device_->copy(middle, 0, target, 0, size);
  EXPECT_LT(up, down);
  device_->wait(down);
  EXPECT_TRUE(device_->is_complete(up));
  EXPECT_EQ(std::memcmp(src, dst, size), 0);

  // Overlapping ranges within one block give memmove's result (defragmentation slides data).
  std::vector<std::byte> expected(src, src + size);
  struct Slide {
    std::uint64_t from, to, bytes;
  };
  for (const Slide& s : {Slide{4096, 0, 2 * kMiB}, Slide{0, 100, kMiB}, Slide{0, 0, 10}}) {
    device_->copy(middle, s.from, middle, s.to, s.bytes);
    std::memmove(expected.data() + s.to, expected.data() + s.from, s.bytes);
  }
  device_->wait(device_->copy(middle, 0, target, 0, size));
  EXPECT_EQ(std::memcmp(expected.data(), dst, size), 0);

  EXPECT_THROW(device_->copy(source, source.size - 10, middle, 0, 11), InvalidArgument);
  EXPECT_THROW(device_->wait(down + 100), InvalidArgument);
  EXPECT_THROW(device_->flush(source, source.size, 1), InvalidArgument);
  device_->flush(source, 0, 16);
  device_->invalidate(target, 0, 16);
  for (const RawBlock& b : {source, middle, target}) device_->free_block(b);
}

TEST_F(VulkanDeviceTest, MoreThanTheHeapGivesAnEmptyBlockAndTheDeviceGoesOn) {
  const HeapInfo& heap = device_->info().heaps[device_memory()];
  EXPECT_FALSE(device_->try_allocate_block(heap.index, heap.size + kMiB, 256));
  const RawBlock b = device_->try_allocate_block(heap.index, kMiB, 256);
  EXPECT_TRUE(b);
  device_->free_block(b);
}

TEST_F(VulkanDeviceTest, SaysWhichTextureFormatsItSamples) {
  // Every Vulkan device samples RGBA8 (a format the specification requires); BCn exactly when
  // the device has the textureCompressionBC feature, which requires all of them.
  EXPECT_TRUE(device_->can_sample(TextureFormat::R8G8B8A8_UNORM));
  EXPECT_TRUE(device_->can_sample(TextureFormat::R8G8B8A8_SRGB));
  VkPhysicalDeviceFeatures features{};
  vkGetPhysicalDeviceFeatures(device_->vk_physical_device(), &features);
  for (const TextureFormat bc : {TextureFormat::BC1_RGBA_UNORM_BLOCK, TextureFormat::BC3_SRGB_BLOCK,
                                 TextureFormat::BC5_UNORM_BLOCK, TextureFormat::BC7_UNORM_BLOCK}) {
    EXPECT_EQ(device_->can_sample(bc), features.textureCompressionBC == VK_TRUE) << to_string(bc);
  }
}

TEST_F(VulkanDeviceTest, AdoptsTheApplicationsDeviceAndChecksItsFeatures) {
  VulkanAdoption app{.instance = device_->vk_instance(),
                     .physical_device = device_->vk_physical_device(),
                     .device = device_->vk_device(),
                     .queue_family = 0};
  // What gpumem needs and the application did not enable is named.
  EXPECT_THAT([&] { VulkanDevice d(app); },
              ThrowsMessage<InvalidArgument>(HasSubstr("timelineSemaphore")));
  app.timeline_semaphore = true;
  app.api_version = VK_API_VERSION_1_1;
  EXPECT_THAT([&] { VulkanDevice d(app); },
              ThrowsMessage<InvalidArgument>(HasSubstr("gpumem needs 1.2")));
  app.api_version = VK_API_VERSION_1_2;
  app.queue_family = 1000;
  EXPECT_THAT([&] { VulkanDevice d(app); },
              ThrowsMessage<InvalidArgument>(HasSubstr("no queue family 1000")));
  std::string family;
  for (const auto& [name, value] : device_->info().properties) {
    if (name == "copy queue family") family = value;
  }
  app.queue_family = static_cast<std::uint32_t>(std::stoul(family));
  // The adopted device works on the same VkDevice, on its own books, and leaves it alive.
  {
    VulkanDevice adopted(app);
    EXPECT_EQ(adopted.vk_device(), device_->vk_device());
    const std::uint32_t heap = adopted.heap_index(HeapKind::DeviceLocal)
                                   .value_or(adopted.heap_index(HeapKind::Shared).value_or(0));
    const RawBlock b = adopted.try_allocate_block(heap, kMiB, 256);
    ASSERT_TRUE(b);
    adopted.free_block(b);
    EXPECT_THROW(device_->free_block(b), InvalidHandle);
  }
  const RawBlock still = device_->try_allocate_block(device_memory(), kMiB, 256);
  EXPECT_TRUE(still);
  device_->free_block(still);
}

TEST(VulkanValidation, ReportsMisuseThroughTheMessenger) {
  if (const std::string why = test_support::vulkan_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  std::vector<std::string> messages;
  VulkanDeviceConfig config{.validation = true};
  config.on_validation_error = [&](std::string_view m) { messages.emplace_back(m); };
  VulkanDevice device(config);
  const std::uint32_t heap = device.heap_index(HeapKind::DeviceLocal)
                                 .value_or(device.heap_index(HeapKind::Shared).value_or(0));
  const RawBlock block = device.try_allocate_block(heap, kMiB, 256);
  ASSERT_TRUE(block);
  const VkBufferCreateInfo info{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                                .size = 4096,
                                .usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VulkanMemoryRequirements needs;
  const VkBuffer buffer = device.create_buffer(info, needs);
  device.bind_buffer(buffer, block, 0);
  device.bind_buffer(buffer, block, 0);  // bound twice: invalid usage the layer reports
  device.destroy_buffer(buffer);
  device.free_block(block);
  EXPECT_GE(device.validation_errors(), 1U);
  ASSERT_FALSE(messages.empty());
  EXPECT_THAT(messages.front(), HasSubstr("vkBindBufferMemory"));
}

#endif

}  // namespace
}  // namespace gpumem
