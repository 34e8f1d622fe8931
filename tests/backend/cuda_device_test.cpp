// The CUDA backend on a real GPU: heaps, blocks, copies with fences, virtual memory, and the
// failure paths (out of memory, double free). Without a GPU (or a build without CUDA) only the
// tests that need none run; the rest skip with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "support/device_patterns.hpp"

#if GPUMEM_HAS_CUDA
#include "gpumem/backend/cuda_device.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_CUDA

TEST(CudaBackend, IsNotBuilt) {
  for (const BackendStatus& s : backend_statuses()) EXPECT_NE(s.name, "cuda");
  GTEST_SKIP() << "built with GPUMEM_WITH_CUDA=OFF";
}

#else

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(CudaBackend, IsListedFirstWithWhatWasFoundOrWhyNot) {
  const std::vector<BackendStatus> statuses = backend_statuses();
  ASSERT_FALSE(statuses.empty());
  EXPECT_EQ(statuses.front().name, "cuda");
  EXPECT_FALSE(statuses.front().detail.empty());
  const CudaAvailability& cuda = cuda_availability();
  EXPECT_EQ(statuses.front().available, cuda.available);
  std::uint32_t listed = 0;
  for (const auto& d : open_all_devices()) listed += d->info().backend == "cuda" ? 1U : 0U;
  EXPECT_EQ(listed, cuda.device_count);
  if (cuda.available) {
    EXPECT_EQ(open_best_device()->info().backend, "cuda");
  } else {
    EXPECT_EQ(cuda.device_count, 0U);
    EXPECT_EQ(open_best_device()->info().backend, "host");
    EXPECT_THAT([] { open_device("cuda"); },
                ThrowsMessage<Unsupported>(HasSubstr("cuda: unavailable: ")));
  }
}

TEST(CudaBackend, ParsesDeviceOptions) {
  const CudaDeviceConfig c = CudaDeviceConfig::parse("1,pinned=8GiB,managed=on");
  EXPECT_EQ(c.ordinal, 1U);
  EXPECT_EQ(c.pinned_host_bytes, 8 * kGiB);
  EXPECT_TRUE(c.managed);
  EXPECT_EQ(CudaDeviceConfig::parse("device=3").ordinal, 3U);
  EXPECT_EQ(CudaDeviceConfig::parse("").ordinal, 0U);
  EXPECT_THAT([] { CudaDeviceConfig::parse("fast=yes"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'fast'")));
  EXPECT_THAT([] { CudaDeviceConfig::parse("managed=maybe"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'maybe'")));
  EXPECT_THAT([] { CudaDeviceConfig::parse("x1"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'x1'")));
  // Options are checked before the device is looked for, so this holds with or without a GPU.
  EXPECT_THROW(open_device("cuda:turbo=on"), InvalidArgument);
}

using test_support::fill;

class CudaDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const CudaAvailability& cuda = cuda_availability();
    if (!cuda.available) GTEST_SKIP() << "no CUDA device: " << cuda.detail;
    device_ = std::make_unique<CudaDevice>(make_config());
  }
  virtual CudaDeviceConfig make_config() const {
    return {.ordinal = 0, .pinned_host_bytes = 1 * kGiB, .managed = false};
  }

  RawBlock allocate(std::uint32_t heap, std::uint64_t size, std::uint64_t alignment = 256) {
    const RawBlock block = device_->try_allocate_block(heap, size, alignment);
    EXPECT_TRUE(block) << "heap " << heap << ", " << size << " bytes";
    return block;
  }

  // Fills `from` with a pattern, copies it to `through` and on to `to` (host-visible both), frees
  // all three and expects the pattern back.
  void expect_round_trip(std::uint32_t from_heap, std::uint32_t through_heap, std::uint64_t size,
                         unsigned seed) {
    const RawBlock from = allocate(from_heap, size);
    const RawBlock through = allocate(through_heap, size);
    const RawBlock to = allocate(CudaDevice::kPinnedHostHeap, size);
    ASSERT_TRUE(from && through && to);
    fill(device_->map(from), size, seed);
    std::memset(device_->map(to), 0, size);
    device_->copy(from, 0, through, 0, size);
    device_->wait(device_->copy(through, 0, to, 0, size));
    EXPECT_EQ(std::memcmp(device_->map(from), device_->map(to), size), 0);
    for (const RawBlock& b : {from, through, to}) device_->free_block(b);
  }

  std::unique_ptr<CudaDevice> device_;
};

constexpr std::uint32_t kDevice = CudaDevice::kDeviceLocalHeap;
constexpr std::uint32_t kPinned = CudaDevice::kPinnedHostHeap;

TEST_F(CudaDeviceTest, DescribesItsHeapsAndItself) {
  const DeviceInfo& info = device_->info();
  EXPECT_EQ(info.backend, "cuda");
  EXPECT_FALSE(info.name.empty());
  EXPECT_TRUE(info.type == DeviceType::DiscreteGpu || info.type == DeviceType::IntegratedGpu);
  ASSERT_EQ(info.heaps.size(), 2U);
  const HeapInfo& vram = info.heaps[kDevice];
  EXPECT_EQ(vram.kind, HeapKind::DeviceLocal);
  EXPECT_GE(vram.size, 1 * kGiB);
  EXPECT_TRUE(is_power_of_two(vram.granularity));
  EXPECT_GE(vram.granularity, 64 * kKiB);
  EXPECT_TRUE(vram.flags.device_local);
  const HeapInfo& pinned = info.heaps[kPinned];
  EXPECT_EQ(pinned.kind, HeapKind::PinnedHost);
  EXPECT_EQ(pinned.size, 1 * kGiB);
  EXPECT_TRUE(pinned.flags.host_visible && pinned.flags.host_coherent);
  std::vector<std::string> names;
  for (const auto& [name, value] : info.properties) {
    names.push_back(name);
    EXPECT_FALSE(value.empty()) << name;
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"compute capability", "total memory", "PCI bus id",
                                              "driver version", "runtime version", "virtual memory",
                                              "NVML"}));
  const HeapReport report = device_->query_heap(kDevice);
  EXPECT_GT(report.budget, 0U);
  EXPECT_LE(report.budget, vram.size);
  EXPECT_GT(report.usage, 0U);  // the context itself takes memory
  EXPECT_LE(report.usage, vram.size);
  EXPECT_EQ(device_->query_heap(kPinned).budget, 1 * kGiB);
  EXPECT_THROW(device_->query_heap(7), InvalidArgument);
}

TEST_F(CudaDeviceTest, AllocatesAndFreesManySizesAndAlignments) {
  const std::uint64_t sizes[] = {1, 255, 4097, kMiB + 3, 2 * kMiB, 3 * kMiB + 1, 64 * kMiB - 7};
  const std::uint64_t alignments[] = {1, 256, 4096, 64 * kKiB, 4 * kMiB};
  std::vector<RawBlock> blocks;
  for (const std::uint32_t heap : {kDevice, kPinned}) {
    const std::uint64_t granularity = device_->info().heaps[heap].granularity;
    for (const std::uint64_t size : sizes) {
      for (const std::uint64_t alignment : alignments) {
        const RawBlock b = allocate(heap, size, alignment);
        ASSERT_TRUE(b);
        EXPECT_GE(b.size, size);
        EXPECT_EQ(b.size % granularity, 0U);
        EXPECT_EQ(b.address % alignment, 0U) << size << " aligned to " << alignment;
        blocks.push_back(b);
      }
    }
  }
  for (const RawBlock& b : blocks) device_->free_block(b);
  EXPECT_THROW(device_->try_allocate_block(kDevice, 0, 256), InvalidArgument);
  EXPECT_THROW(device_->try_allocate_block(kDevice, 64, 3), InvalidArgument);
  EXPECT_THROW(device_->try_allocate_block(9, 64, 256), InvalidArgument);
}

TEST_F(CudaDeviceTest, CopiesPinnedToDeviceToPinnedWithFences) {
  const std::uint64_t size = 8 * kMiB + 123;
  const RawBlock source = allocate(kPinned, size);
  const RawBlock vram = allocate(kDevice, size);
  const RawBlock target = allocate(kPinned, size);
  std::byte* src = device_->map(source);
  std::byte* dst = device_->map(target);
  fill(src, size, 7);
  std::memset(dst, 0, size);
  const FenceValue up = device_->copy(source, 0, vram, 0, size);
  const FenceValue down = device_->copy(vram, 0, target, 0, size);
  EXPECT_LT(up, down);
  device_->wait(down);
  EXPECT_TRUE(device_->is_complete(up));
  EXPECT_TRUE(device_->is_complete(down));
  EXPECT_EQ(std::memcmp(src, dst, size), 0);

  // Offsets, and overlapping ranges within one block (defragmentation slides data): the result
  // is memmove's, for a shift longer than the piece limit allows and for a short one.
  std::vector<std::byte> expected(src, src + size);
  test_support::slide_within(*device_, vram, expected);
  device_->wait(device_->copy(vram, 0, target, 0, size));
  EXPECT_EQ(std::memcmp(expected.data(), dst, size), 0);

  EXPECT_THROW(device_->copy(source, source.size - 10, vram, 0, 11), InvalidArgument);
  EXPECT_THROW(device_->wait(0), InvalidArgument);
  EXPECT_THROW(device_->is_complete(down + 1000), InvalidArgument);
  for (const RawBlock& b : {source, vram, target}) device_->free_block(b);
}

TEST_F(CudaDeviceTest, VirtualMemoryMapsPagesThatCopiesReach) {
  VirtualMemory* vm = device_->virtual_memory();
  if (vm == nullptr) GTEST_SKIP() << "the device has no virtual memory management";
  const std::uint64_t page = vm->page_size(0);
  EXPECT_TRUE(is_power_of_two(page));
  EXPECT_THROW(vm->page_size(kPinned), InvalidArgument);
  EXPECT_THROW(vm->reserve(0, page + 1), InvalidArgument);

  const std::uint64_t base = vm->reserve(0, 4 * page);
  ASSERT_NE(base, 0U);
  EXPECT_EQ(base % page, 0U);
  const PhysicalMemory first = vm->try_create(0, 1);
  const PhysicalMemory second = vm->try_create(0, 1);
  ASSERT_TRUE(first && second);
  vm->map(0, base + page, first);
  vm->map(0, base + 2 * page, second);
  EXPECT_THROW(vm->map(0, base + page, second), InvalidArgument);   // mapped there already
  EXPECT_THROW(vm->map(0, base + 1, second), InvalidArgument);      // not page-aligned
  EXPECT_THROW(vm->release(0, first), InvalidArgument);             // still mapped
  EXPECT_THROW(vm->unreserve(0, base, 4 * page), InvalidArgument);  // pages still mapped

  // Through both pages at once, across the boundary between them.
  const std::uint64_t size = 2 * page;
  const RawBlock source = allocate(kPinned, size);
  const RawBlock target = allocate(kPinned, size);
  fill(device_->map(source), size, 3);
  std::memset(device_->map(target), 0, size);
  device_->copy_addresses(source.address, base + page, size);
  device_->wait(device_->copy_addresses(base + page, target.address, size));
  EXPECT_EQ(std::memcmp(device_->map(source), device_->map(target), size), 0);

  vm->unmap(0, base + page);
  vm->unmap(0, base + 2 * page);
  EXPECT_THROW(vm->unmap(0, base + page), InvalidArgument);
  vm->release(0, first);
  vm->release(0, second);
  EXPECT_THROW(vm->release(0, first), InvalidHandle);
  // A piece of three pages: one cuMemCreate, mapped and unmapped whole, reached by copies
  // across its page boundaries, and moved.
  const PhysicalMemory three = vm->try_create(0, 3);
  ASSERT_TRUE(three);
  vm->map(0, base, three);
  EXPECT_THROW(vm->unmap(0, base + page), InvalidArgument);  // inside the piece
  const PhysicalMemory one = vm->try_create(0, 1);
  ASSERT_TRUE(one);
  EXPECT_THROW(vm->map(0, base + 2 * page, one), InvalidArgument);  // over the piece
  vm->release(0, one);
  EXPECT_THROW(vm->map(0, base + 3 * page, three), InvalidArgument);  // past the reservation
  device_->copy_addresses(source.address, base + page / 2, size);
  device_->wait(device_->copy_addresses(base + page / 2, target.address, size));
  EXPECT_EQ(std::memcmp(device_->map(source), device_->map(target), size), 0);
  const std::uint64_t elsewhere = vm->reserve(0, 3 * page);
  ASSERT_NE(elsewhere, 0U);
  vm->unmap(0, base);
  vm->map(0, elsewhere, three);
  std::memset(device_->map(target), 0, size);
  device_->wait(device_->copy_addresses(elsewhere + page / 2, target.address, size));
  EXPECT_EQ(std::memcmp(device_->map(source), device_->map(target), size), 0)
      << "the piece keeps its bytes when it moves";
  vm->unmap(0, elsewhere);
  vm->release(0, three);
  vm->unreserve(0, elsewhere, 3 * page);

  vm->unreserve(0, base, 4 * page);
  EXPECT_THROW(vm->unreserve(0, base, 4 * page), InvalidHandle);
  device_->free_block(source);
  device_->free_block(target);
}

TEST_F(CudaDeviceTest, DoubleFreeIsAnInvalidHandle) {
  const RawBlock vram = allocate(kDevice, kMiB);
  const RawBlock pinned = allocate(kPinned, kMiB);
  EXPECT_THAT([&] { device_->map(vram); }, ThrowsMessage<Unsupported>(HasSubstr("device-local")));
  device_->free_block(vram);
  device_->free_block(pinned);
  EXPECT_THROW(device_->free_block(vram), InvalidHandle);
  EXPECT_THROW(device_->free_block(pinned), InvalidHandle);
  EXPECT_THROW(device_->map(pinned), InvalidHandle);
  EXPECT_THROW(device_->free_block(RawBlock{.id = 0x1234, .heap = 0, .size = 64, .address = 1}),
               InvalidHandle);
}

TEST_F(CudaDeviceTest, MoreThanIsFreeGivesAnEmptyBlockAndTheDeviceGoesOn) {
  const HeapInfo& vram = device_->info().heaps[kDevice];
  const std::uint64_t free = vram.size - device_->query_heap(kDevice).usage;
  // Past what is free but within the heap, so the driver itself says no.
  const std::uint64_t beyond = free + std::min<std::uint64_t>(vram.size - free, kGiB) / 2;
  EXPECT_FALSE(device_->try_allocate_block(kDevice, beyond, 256));
  EXPECT_FALSE(device_->try_allocate_block(kDevice, 2 * vram.size, 256));
  EXPECT_FALSE(device_->try_allocate_block(kPinned, 2 * kGiB, 256));  // over the heap's cap

  expect_round_trip(kPinned, kDevice, kMiB, 11);
}

TEST_F(CudaDeviceTest, UsageRisesByAnAllocation) {
  const std::uint64_t size = 256 * kMiB;
  const HeapReport before = device_->query_heap(kDevice);
  const RawBlock block = allocate(kDevice, size);
  const HeapReport after = device_->query_heap(kDevice);
  EXPECT_GE(after.usage, before.usage + size);
  EXPECT_GE(after.budget, size);  // ours counts towards the budget
  if (const std::optional<std::uint64_t> process = device_->process_usage()) {
    EXPECT_GE(*process, size);
  }
  const std::uint64_t pinned_before = device_->query_heap(kPinned).usage;
  const RawBlock pinned = allocate(kPinned, 3 * kMiB);
  EXPECT_EQ(device_->query_heap(kPinned).usage, pinned_before + pinned.size);
  device_->free_block(pinned);
  device_->free_block(block);
  EXPECT_LT(device_->query_heap(kDevice).usage, after.usage);
}

// Device memory runs out as the driver says, and every byte comes back: blocks of 1 GiB until
// the device has none, all freed, the device's usage back where it was, the same count again.
TEST_F(CudaDeviceTest, FillingTheDeviceAndFreeingEverythingGivesEveryByteBack) {
  constexpr std::uint64_t kChunk = kGiB;
  const auto fill = [&] {
    std::vector<RawBlock> held;
    for (RawBlock b = device_->try_allocate_block(kDevice, kChunk, 256); b;
         b = device_->try_allocate_block(kDevice, kChunk, 256)) {
      held.push_back(b);
    }
    return held;
  };
  const HeapInfo& vram = device_->info().heaps[kDevice];
  const std::uint64_t usage_before = device_->query_heap(kDevice).usage;
  std::vector<RawBlock> first = fill();
  // Less than a chunk (and what the driver keeps for itself) was left unused.
  EXPECT_GE((first.size() + 2) * kChunk, vram.size - usage_before) << first.size() << " blocks";
  EXPECT_GE(device_->query_heap(kDevice).usage, usage_before + first.size() * kChunk);
  for (const RawBlock& b : first) device_->free_block(b);
  // The driver's own bookkeeping may move by a few MiB, never by a chunk.
  EXPECT_LT(device_->query_heap(kDevice).usage, usage_before + kChunk / 16);
  const std::vector<RawBlock> second = fill();
  EXPECT_EQ(second.size(), first.size());
  for (const RawBlock& b : second) device_->free_block(b);
  expect_round_trip(kPinned, kDevice, kMiB, 12);  // the device goes on
}

class CudaManagedTest : public CudaDeviceTest {
 protected:
  CudaDeviceConfig make_config() const override {
    return {.ordinal = 0, .pinned_host_bytes = 256 * kMiB, .managed = true};
  }
};

TEST_F(CudaManagedTest, ManagedHeapIsHostVisibleAndCopiesLikeTheOthers) {
  ASSERT_EQ(device_->info().heaps.size(), 3U);
  const HeapInfo& managed = device_->info().heaps[CudaDevice::kManagedHeap];
  EXPECT_EQ(managed.kind, HeapKind::Shared);
  EXPECT_TRUE(managed.flags.host_visible);
  expect_round_trip(CudaDevice::kManagedHeap, kDevice, 4 * kMiB, 5);
}

#endif  // GPUMEM_HAS_CUDA

}  // namespace
}  // namespace gpumem
