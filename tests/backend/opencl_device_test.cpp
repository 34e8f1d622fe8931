// The OpenCL backend on a real implementation (PoCL in CI, NVIDIA's on a GPU machine): heaps,
// blocks of many sizes and alignments, content through maps and copies, fences, sub-buffers, the
// failure paths (too large, no room, double free) and a Manager end to end. Without an OpenCL
// platform (or in a build without OpenCL) only the tests that need none run; the rest skip with
// the reason. ctest also runs OpenclWithoutPlatform.* with the loader pointed at an empty vendor
// folder, so the no-platform path is tested on machines that have one.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"
#include "support/device_patterns.hpp"

#if GPUMEM_HAS_OPENCL
#include "gpumem/backend/opencl_device.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_OPENCL

TEST(OpenclBackend, IsNotBuilt) {
  for (const BackendStatus& s : backend_statuses()) EXPECT_NE(s.name, "opencl");
  EXPECT_THROW(open_device("opencl"), InvalidArgument);
  GTEST_SKIP() << "built with GPUMEM_WITH_OPENCL=OFF";
}

#else

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

std::uint32_t opencl_devices_listed() {
  std::uint32_t listed = 0;
  for (const auto& d : open_all_devices()) listed += d->info().backend == "opencl" ? 1U : 0U;
  return listed;
}

TEST(OpenclBackend, IsListedWithWhatWasFoundOrWhyNot) {
  const OpenclAvailability& opencl = opencl_availability();
  bool listed = false;
  for (const BackendStatus& s : backend_statuses()) {
    if (s.name != "opencl") continue;
    listed = true;
    EXPECT_EQ(s.available, opencl.available);
    EXPECT_EQ(s.detail, opencl.detail);
  }
  EXPECT_TRUE(listed);
  EXPECT_FALSE(opencl.detail.empty());
  EXPECT_EQ(opencl.available, !opencl.devices.empty());
  EXPECT_EQ(opencl_devices_listed(), opencl.devices.size());
  // The best device is an OpenCL one only where there is no CUDA and OpenCL has a GPU.
  bool gpu = false;
  for (const OpenclDeviceId& d : opencl.devices) {
    gpu = gpu || d.type == DeviceType::DiscreteGpu || d.type == DeviceType::IntegratedGpu;
  }
  if (!gpu) {
    EXPECT_NE(open_best_device()->info().backend, "opencl");
  }
}

TEST(OpenclBackend, ParsesDeviceOptions) {
  OpenclDeviceConfig c = OpenclDeviceConfig::parse("1.2,host_visible=64MiB");
  ASSERT_TRUE(c.platform.has_value());
  EXPECT_EQ(*c.platform, 1U);
  EXPECT_EQ(c.device, 2U);
  EXPECT_EQ(c.host_visible_bytes, 64 * kMiB);
  c = OpenclDeviceConfig::parse("3");
  EXPECT_FALSE(c.platform.has_value());
  EXPECT_EQ(c.device, 3U);
  EXPECT_EQ(OpenclDeviceConfig::parse("").device, 0U);
  EXPECT_THAT([] { OpenclDeviceConfig::parse("fast=yes"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'fast'")));
  EXPECT_THAT([] { OpenclDeviceConfig::parse("0.x"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("'x'")));
  EXPECT_THAT([] { OpenclDeviceConfig::parse("host_visible=lots"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("lots")));
  // Options are checked before the device is looked for, so this holds with or without OpenCL.
  EXPECT_THROW(open_device("opencl:turbo=on"), InvalidArgument);
}

// Run by ctest as opencl_without_platform, with OCL_ICD_VENDORS naming an empty folder.
TEST(OpenclWithoutPlatform, SaysWhyAndListsNothing) {
  if (std::getenv("GPUMEM_EXPECT_NO_OPENCL") == nullptr) {
    GTEST_SKIP() << "runs under ctest's opencl_without_platform, with no OpenCL vendor";
  }
  const OpenclAvailability& opencl = opencl_availability();
  EXPECT_FALSE(opencl.available);
  EXPECT_TRUE(opencl.devices.empty());
  EXPECT_THAT(opencl.detail, HasSubstr("no OpenCL platform"));
  EXPECT_THAT([] { open_device("opencl"); },
              ThrowsMessage<Unsupported>(HasSubstr("opencl: unavailable: no OpenCL platform")));
  EXPECT_EQ(opencl_devices_listed(), 0U);
  EXPECT_NE(open_best_device()->info().backend, "opencl");
}

using test_support::fill;

constexpr std::uint32_t kDevice = OpenclDevice::kDeviceHeap;
constexpr std::uint32_t kHost = OpenclDevice::kHostVisibleHeap;

class OpenclDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const OpenclAvailability& opencl = opencl_availability();
    if (!opencl.available) GTEST_SKIP() << opencl.detail;
    device_ = std::make_unique<OpenclDevice>(
        OpenclDeviceConfig{.platform = {}, .device = 0, .host_visible_bytes = 256 * kMiB});
  }

  RawBlock allocate(std::uint32_t heap, std::uint64_t size, std::uint64_t alignment = 256) {
    const RawBlock block = device_->try_allocate_block(heap, size, alignment);
    EXPECT_TRUE(block) << "heap " << heap << ", " << size << " bytes";
    return block;
  }

  bool unified() const { return device_->info().heaps[kDevice].kind == HeapKind::Shared; }

  std::unique_ptr<OpenclDevice> device_;
};

TEST_F(OpenclDeviceTest, DescribesItsHeapsAndItself) {
  const DeviceInfo& info = device_->info();
  EXPECT_EQ(info.backend, "opencl");
  EXPECT_EQ(info.index, 0U);
  EXPECT_EQ(info.name, opencl_availability().devices.front().device_name);
  EXPECT_EQ(info.type, opencl_availability().devices.front().type);
  ASSERT_EQ(info.heaps.size(), 2U);
  const HeapInfo& dev = info.heaps[kDevice];
  EXPECT_EQ(dev.name, "device");
  EXPECT_TRUE(dev.kind == HeapKind::DeviceLocal || dev.kind == HeapKind::Shared);
  EXPECT_TRUE(dev.flags.device_local);
  EXPECT_FALSE(dev.flags.host_visible);
  EXPECT_EQ(dev.flags.dedicated, !unified());
  EXPECT_GT(dev.size, 0U);
  EXPECT_TRUE(is_power_of_two(dev.granularity));
  if (info.type == DeviceType::Cpu) {
    EXPECT_TRUE(unified());  // a CPU works in host memory
  }
  const HeapInfo& host = info.heaps[kHost];
  EXPECT_EQ(host.name, "host-visible");
  EXPECT_EQ(host.kind, HeapKind::PinnedHost);
  EXPECT_EQ(host.size, 256 * kMiB);
  EXPECT_TRUE(host.flags.host_visible && host.flags.host_coherent);
  EXPECT_GT(device_->max_block_size(dev.index), 0U);
  EXPECT_LE(device_->max_block_size(dev.index), dev.size);
  EXPECT_TRUE(is_power_of_two(device_->sub_buffer_alignment()));
  std::vector<std::string> names;
  for (const auto& [name, value] : info.properties) {
    names.push_back(name);
    EXPECT_FALSE(value.empty()) << name;
  }
  EXPECT_THAT(
      names, ::testing::IsSupersetOf({"spec", "platform", "device version", "driver version",
                                      "max allocation", "unified memory", "sub-buffer alignment"}));
  const HeapReport report = device_->query_heap(kDevice);
  EXPECT_EQ(report.budget, dev.size);
  EXPECT_EQ(report.usage, 0U);
  EXPECT_EQ(device_->query_heap(kHost).budget, 256 * kMiB);
  EXPECT_THROW(device_->query_heap(2), InvalidArgument);
}

TEST_F(OpenclDeviceTest, AllocatesAndFreesManySizesAndAlignments) {
  const std::uint64_t sizes[] = {1, 255, 4097, kMiB + 3, 3 * kMiB + 1, 16 * kMiB - 7};
  const std::uint64_t alignments[] = {1, 256, 4096, 64 * kKiB, 4 * kMiB};
  std::vector<RawBlock> blocks;
  std::uint64_t taken[2] = {0, 0};
  for (const std::uint32_t heap : {kDevice, kHost}) {
    const std::uint64_t granularity = device_->info().heaps[heap].granularity;
    for (const std::uint64_t size : sizes) {
      for (const std::uint64_t alignment : alignments) {
        const RawBlock b = allocate(heap, size, alignment);
        ASSERT_TRUE(b);
        EXPECT_GE(b.size, size);
        EXPECT_EQ(b.size % granularity, 0U);
        if (heap == kHost) {
          ASSERT_NE(b.address, 0U);
          EXPECT_EQ(b.address % alignment, 0U) << size << " aligned to " << alignment;
          EXPECT_EQ(device_->map(b), reinterpret_cast<std::byte*>(b.address));
          std::memset(device_->map(b), 0x5a, size);  // all of it is there to write
        } else {
          EXPECT_EQ(b.address, 0U);  // OpenCL 1.2 buffers have no device address
        }
        // The block lies inside its buffer, wherever the alignment put its start.
        const OpenclRegion r = device_->region(b);
        ASSERT_NE(r.buffer, nullptr);
        std::size_t buffer_size = 0;
        ASSERT_EQ(
            clGetMemObjectInfo(r.buffer, CL_MEM_SIZE, sizeof buffer_size, &buffer_size, nullptr),
            CL_SUCCESS);
        EXPECT_LE(r.offset + b.size, buffer_size);
        taken[heap] += b.size;
        blocks.push_back(b);
      }
    }
  }
  EXPECT_EQ(device_->query_heap(kHost).usage, taken[kHost]);
  // On a unified device host-visible blocks are the device's memory too.
  EXPECT_EQ(device_->query_heap(kDevice).usage, taken[kDevice] + (unified() ? taken[kHost] : 0));
  for (const RawBlock& b : blocks) device_->free_block(b);
  EXPECT_EQ(device_->query_heap(kDevice).usage, 0U);
  EXPECT_EQ(device_->query_heap(kHost).usage, 0U);
  EXPECT_THROW(device_->try_allocate_block(kDevice, 0, 256), InvalidArgument);
  EXPECT_THROW(device_->try_allocate_block(kDevice, 64, 3), InvalidArgument);
  EXPECT_THROW(device_->try_allocate_block(2, 64, 256), InvalidArgument);
}

TEST_F(OpenclDeviceTest, CopiesHostToDeviceToHostWithFencesAndOffsets) {
  const std::uint64_t size = 8 * kMiB + 123;
  const RawBlock source = allocate(kHost, size);
  const RawBlock vram = allocate(kDevice, size);
  const RawBlock other = allocate(kDevice, size);
  const RawBlock target = allocate(kHost, size);
  std::byte* src = device_->map(source);
  std::byte* dst = device_->map(target);
  fill(src, size, 7);
  std::memset(dst, 0, size);
  const FenceValue up = device_->copy(source, 0, vram, 0, size);
  const FenceValue across = device_->copy(vram, 0, other, 0, size);
  const FenceValue down = device_->copy(other, 0, target, 0, size);
  EXPECT_LT(up, across);
  EXPECT_LT(across, down);
  device_->wait(down);
  EXPECT_TRUE(device_->is_complete(up));
  EXPECT_TRUE(device_->is_complete(down));
  EXPECT_EQ(std::memcmp(src, dst, size), 0);

  // Offsets, and overlapping ranges within one device block (defragmentation slides data): the
  // result is memmove's, for a shift long enough to go in pieces and a short one that takes the
  // temporary buffer.
  std::vector<std::byte> expected(src, src + size);
  test_support::slide_within(*device_, vram, expected);
  device_->wait(device_->copy(vram, 0, target, 0, size));
  EXPECT_EQ(std::memcmp(expected.data(), dst, size), 0);

  // Between two host-visible blocks, and within one, after the copies before it.
  device_->copy(vram, 0, source, 0, size);
  device_->wait(device_->copy(source, 10, target, 0, size - 10));
  EXPECT_EQ(std::memcmp(expected.data() + 10, dst, size - 10), 0);
  device_->wait(device_->copy(target, 0, target, 5, kMiB));
  std::memmove(expected.data() + 15, expected.data() + 10, kMiB);
  EXPECT_EQ(std::memcmp(expected.data() + 10, dst, size - 10), 0);

  // A copy of nothing still gets a fence, in order.
  const FenceValue nothing = device_->copy(vram, 0, other, 0, 0);
  device_->wait(nothing);
  EXPECT_TRUE(device_->is_complete(nothing));

  EXPECT_THROW(device_->copy(source, source.size - 10, vram, 0, 11), InvalidArgument);
  EXPECT_THROW(device_->wait(0), InvalidArgument);
  EXPECT_THROW(device_->is_complete(nothing + 1000), InvalidArgument);
  for (const RawBlock& b : {source, vram, other, target}) device_->free_block(b);
}

TEST_F(OpenclDeviceTest, FencesCompleteInIssueOrder) {
  const std::uint64_t size = 4 * kMiB;
  const RawBlock staging = allocate(kHost, size);
  const RawBlock a = allocate(kDevice, size);
  const RawBlock b = allocate(kDevice, size);
  fill(device_->map(staging), size, 3);
  std::vector<FenceValue> fences;
  fences.push_back(device_->copy(staging, 0, a, 0, size));
  for (int i = 0; i < 20; ++i) {
    fences.push_back(device_->copy(i % 2 == 0 ? a : b, 0, i % 2 == 0 ? b : a, 0, size));
  }
  for (std::size_t i = 1; i < fences.size(); ++i) EXPECT_EQ(fences[i], fences[i - 1] + 1);
  // Polling alone gets there: the queue is flushed as copies are issued.
  while (!device_->is_complete(fences[10])) std::this_thread::yield();
  for (std::size_t i = 0; i <= 10; ++i) EXPECT_TRUE(device_->is_complete(fences[i]));
  device_->wait(fences.back());
  for (const FenceValue f : fences) EXPECT_TRUE(device_->is_complete(f));
  std::memset(device_->map(staging), 0, size);
  device_->wait(device_->copy(a, 0, staging, 0, size));
  std::vector<std::byte> expected(size);
  fill(expected.data(), size, 3);
  EXPECT_EQ(std::memcmp(device_->map(staging), expected.data(), size), 0);
  for (const RawBlock& r : {staging, a, b}) device_->free_block(r);
}

TEST_F(OpenclDeviceTest, TooLargeIsAClearErrorAndNoRoomAnEmptyBlock) {
  const std::uint64_t max = device_->max_block_size(kDevice);
  EXPECT_THAT([&] { device_->try_allocate_block(kDevice, max + 1, 256); },
              ThrowsMessage<InvalidArgument>(HasSubstr("CL_DEVICE_MAX_MEM_ALLOC_SIZE")));
  // Larger than the heap: never possible, and refused by the books without asking OpenCL.
  EXPECT_FALSE(device_->try_allocate_block(kHost, 512 * kMiB, 256));
  // Fill the host-visible heap, then one more block finds no room; the device goes on.
  std::vector<RawBlock> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(allocate(kHost, 64 * kMiB));
  EXPECT_FALSE(device_->try_allocate_block(kHost, 4096, 256));
  device_->free_block(blocks.back());
  blocks.pop_back();
  const RawBlock again = allocate(kHost, 64 * kMiB);
  ASSERT_TRUE(again);
  blocks.push_back(again);
  const RawBlock vram = allocate(kDevice, kMiB);
  fill(device_->map(again), kMiB, 9);
  device_->copy(again, 0, vram, 0, kMiB);
  device_->wait(device_->copy(vram, 0, blocks.front(), 0, kMiB));
  EXPECT_EQ(std::memcmp(device_->map(again), device_->map(blocks.front()), kMiB), 0);
  device_->free_block(vram);
  for (const RawBlock& b : blocks) device_->free_block(b);
}

TEST_F(OpenclDeviceTest, DoubleFreeIsAnInvalidHandle) {
  const RawBlock vram = allocate(kDevice, kMiB);
  const RawBlock host = allocate(kHost, kMiB);
  EXPECT_THAT([&] { device_->map(vram); }, ThrowsMessage<Unsupported>(HasSubstr("'device'")));
  device_->free_block(vram);
  device_->free_block(host);
  EXPECT_THROW(device_->free_block(vram), InvalidHandle);
  EXPECT_THROW(device_->free_block(host), InvalidHandle);
  EXPECT_THROW(device_->map(host), InvalidHandle);
  EXPECT_THROW(device_->region(vram), InvalidHandle);
  EXPECT_THROW(device_->free_block(RawBlock{.id = 0x1234, .heap = 0, .size = 64, .address = 0}),
               InvalidHandle);
  // A new block may get the cl_mem handle the freed one had; the stale block is still refused.
  const RawBlock next = allocate(kDevice, kMiB);
  EXPECT_NE(next.id, vram.id);
  EXPECT_THROW(device_->free_block(vram), InvalidHandle);
  device_->free_block(next);
}

TEST_F(OpenclDeviceTest, RegionsAndSubBuffersReachTheBytesOfABlock) {
  const std::uint64_t size = 2 * kMiB;
  const std::uint64_t align = device_->sub_buffer_alignment();
  const RawBlock staging = allocate(kHost, size);
  const RawBlock vram = allocate(kDevice, size);
  fill(device_->map(staging), size, 21);
  device_->wait(device_->copy(staging, 0, vram, 0, size));

  const OpenclRegion r = device_->region(vram, 3 * align);
  ASSERT_NE(r.buffer, nullptr);
  EXPECT_EQ(r.offset, 3 * align);  // a device block starts at its buffer's first byte
  EXPECT_THROW(device_->region(vram, size + 1), InvalidArgument);

  // The sub-buffer's first bytes are the block's at that offset, read on the device's own queue.
  const OpenclSubBuffer sub = device_->sub_buffer(vram, 3 * align, 4096);
  ASSERT_TRUE(sub);
  std::vector<std::byte> bytes(4096);
  ASSERT_EQ(clEnqueueReadBuffer(device_->queue(), sub.get(), CL_TRUE, 0, bytes.size(), bytes.data(),
                                0, nullptr, nullptr),
            CL_SUCCESS);
  EXPECT_EQ(std::memcmp(bytes.data(), device_->map(staging) + 3 * align, bytes.size()), 0);
  cl_mem parent = nullptr;
  ASSERT_EQ(
      clGetMemObjectInfo(sub.get(), CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, nullptr),
      CL_SUCCESS);
  EXPECT_EQ(parent, r.buffer);

  if (align > 1) {
    EXPECT_THAT([&] { device_->sub_buffer(vram, align / 2, 64); },
                ThrowsMessage<InvalidArgument>(HasSubstr("CL_DEVICE_MEM_BASE_ADDR_ALIGN")));
  }
  EXPECT_THROW(device_->sub_buffer(vram, 0, size + 1), InvalidArgument);
  EXPECT_THROW(device_->sub_buffer(vram, 0, 0), InvalidArgument);
  OpenclSubBuffer moved = device_->sub_buffer(vram, 0, 64);
  moved = device_->sub_buffer(vram, align, 64);  // the first one is released
  EXPECT_TRUE(moved);
  device_->free_block(staging);
  device_->free_block(vram);
}

TEST_F(OpenclDeviceTest, ThreadsAllocateCopyAndFreeAtOnce) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        const std::uint64_t size =
            static_cast<std::uint64_t>(i + 1) * 64 * kKiB + static_cast<std::uint64_t>(t);
        const RawBlock up = device_->try_allocate_block(kHost, size, 64);
        const RawBlock vram = device_->try_allocate_block(kDevice, size, 256);
        const RawBlock down = device_->try_allocate_block(kHost, size, 64);
        if (!up || !vram || !down) {
          ++mismatches;
          return;
        }
        fill(device_->map(up), size, static_cast<unsigned>(t * 16 + i));
        device_->copy(up, 0, vram, 0, size);
        device_->wait(device_->copy(vram, 0, down, 0, size));
        if (std::memcmp(device_->map(up), device_->map(down), size) != 0) ++mismatches;
        for (const RawBlock& b : {up, vram, down}) device_->free_block(b);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(device_->query_heap(kHost).usage, 0U);
}

TEST_F(OpenclDeviceTest, OpensBySpecThroughTheRegistry) {
  const OpenclDeviceId& first = opencl_availability().devices.front();
  EXPECT_EQ(open_device("opencl")->info().name, first.device_name);
  EXPECT_EQ(open_device("opencl:0")->info().name, first.device_name);
  EXPECT_EQ(open_device(fmt::format("opencl:{}.{}", first.platform, first.device))->info().name,
            first.device_name);
  const auto small = open_device("opencl:0,host_visible=32MiB");
  EXPECT_EQ(small->info().heaps[kHost].size, 32 * kMiB);
  EXPECT_THAT([] { open_device("opencl:99"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("opencl device 99 does not exist")));
  EXPECT_THAT([] { open_device("opencl:0.99"); },
              ThrowsMessage<InvalidArgument>(HasSubstr("opencl device 0.99 does not exist")));
}

TEST_F(OpenclDeviceTest, AManagerAllocatesWritesAndReadsBack) {
  Manager manager(std::shared_ptr<Device>(std::move(device_)), Config::defaults());
  auto& cl = static_cast<OpenclDevice&>(manager.device());
  const std::uint64_t size = 3 * kMiB + 17;
  Allocation vram = manager.allocate({.size = size, .alignment = cl.sub_buffer_alignment()});
  Allocation upload = manager.allocate({.size = size, .kind = HeapKind::Upload});
  Allocation readback = manager.allocate({.size = size, .kind = HeapKind::Readback});
  EXPECT_EQ(vram.heap(), kDevice);
  EXPECT_EQ(upload.heap(), kHost);
  EXPECT_EQ(readback.heap(), kHost);
  EXPECT_THROW(static_cast<void>(vram.map()), Unsupported);

  fill(upload.map(), size, 13);
  std::memset(readback.map(), 0, size);
  cl.copy(upload.block(), upload.offset(), vram.block(), vram.offset(), size);
  cl.wait(cl.copy(vram.block(), vram.offset(), readback.block(), readback.offset(), size));
  EXPECT_EQ(std::memcmp(upload.map(), readback.map(), size), 0);

  // What a kernel would be given: the allocation as a sub-buffer of its block.
  const OpenclSubBuffer sub = cl.sub_buffer(vram.block(), vram.offset(), vram.size());
  std::vector<std::byte> head(256);
  ASSERT_EQ(clEnqueueReadBuffer(cl.queue(), sub.get(), CL_TRUE, 0, head.size(), head.data(), 0,
                                nullptr, nullptr),
            CL_SUCCESS);
  EXPECT_EQ(std::memcmp(head.data(), upload.map(), head.size()), 0);

  EXPECT_GE(manager.metrics().total.live_bytes, 3 * size);
  vram.reset();
  upload.reset();
  readback.reset();
  manager.trim();
  EXPECT_EQ(cl.query_heap(kDevice).usage, 0U);
  EXPECT_EQ(cl.query_heap(kHost).usage, 0U);
}

#endif  // GPUMEM_HAS_OPENCL

}  // namespace
}  // namespace gpumem
