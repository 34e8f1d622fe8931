// The fixture of the transfer suites: one backend per parameter (host, sim, vulkan, cuda,
// opencl; skipped where absent), a manager over it, optionally through a GatedDevice so cases
// decide when copies complete, and checksummed patterns read back from device memory.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpumem/core/error.hpp"
#include "gpumem/memory/manager.hpp"
#include "support/backends.hpp"
#include "support/device_patterns.hpp"
#include "support/gated_device.hpp"
#include "transfer/block_copier.hpp"

// Skips a case whose backend has no bytes to transfer (see TransferTest::usable_manager).
#define SKIP_WITHOUT_BYTES() \
  if (!skipped_.empty()) GTEST_SKIP() << skipped_

namespace gpumem::test_support {

// FNV-1a: a mismatch names the range that differs without printing megabytes.
inline std::uint64_t checksum(const std::byte* bytes, std::size_t size) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h = (h ^ static_cast<std::uint64_t>(bytes[i])) * 1099511628211ULL;
  }
  return h;
}

inline std::vector<std::byte> pattern(std::size_t size, unsigned seed) {
  std::vector<std::byte> bytes(size);
  fill(bytes.data(), size, seed);
  return bytes;
}

class TransferTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    gate_ = std::make_shared<GatedDevice>(device_);
  }

  // A manager on the backend itself, or through the gate (copies complete when the case says).
  // Gated, device memory comes from pools: the gate passes copies to the backend's copy(), which
  // on CUDA knows blocks but not the page-mapped arena's reservations (BlockCopier does).
  std::unique_ptr<Manager> manager(bool gated = false, Config config = {}) {
    if (gated && config.allocators.device == AllocatorKind::Auto) {
      config.allocators.device = AllocatorKind::Pool;
    }
    return std::make_unique<Manager>(gated ? std::shared_ptr<Device>(gate_) : device_,
                                     std::move(config));
  }
  // Why the backend cannot run transfers (the simulator has no bytes to stage), or empty.
  static std::string no_bytes_reason(Manager& m) {
    Allocation probe = m.allocate({.size = 64, .kind = HeapKind::Upload});
    try {
      static_cast<void>(probe.map());
      return {};
    } catch (const Unsupported& e) {
      return std::string("the backend has no bytes to transfer: ") + e.what();
    }
  }
  // A manager whose backend has bytes to transfer; where it has none, `expect_refusal(manager)`
  // checks that the transfer object says so, and skipped_ holds the reason (SKIP_WITHOUT_BYTES).
  template <typename Refusal>
  std::unique_ptr<Manager> usable_manager(bool gated, Config config, Refusal expect_refusal) {
    auto m = manager(gated, std::move(config));
    if (const std::string why = no_bytes_reason(*m); !why.empty()) {
      expect_refusal(*m);
      skipped_ = why;
    }
    return m;
  }
  // Bytes of staging and readback memory the manager holds (live Category::Staging allocations).
  static std::uint64_t staging_bytes(const Manager& m) {
    std::uint64_t total = 0;
    for (const AllocationRecord& r : m.live_allocations()) {
      if (r.category == Category::Staging) total += r.size;
    }
    return total;
  }
  // Device memory to transfer to and from.
  static Allocation device_buffer(Manager& m, std::uint64_t size) {
    return m.allocate({.size = size, .movable = false});
  }
  // The bytes of [offset, +size) of `a`, copied to readback memory and mapped.
  std::vector<std::byte> read_back(Manager& m, const Allocation& a, std::uint64_t offset,
                                   std::uint64_t size) {
    Allocation host = m.allocate({.size = size, .kind = HeapKind::Readback});
    device_->wait(detail::BlockCopier(*device_)(a.block(), a.offset() + offset, host.block(),
                                                host.offset(), size));
    const std::byte* p = host.map();
    return {p, p + size};
  }
  void expect_content(Manager& m, const Allocation& a, std::uint64_t offset,
                      const std::vector<std::byte>& expected) {
    const std::vector<std::byte> got = read_back(m, a, offset, expected.size());
    EXPECT_EQ(checksum(got.data(), got.size()), checksum(expected.data(), expected.size()))
        << expected.size() << " bytes at offset " << offset;
  }
  // Bytes into device memory through upload memory. read_back and write copy on the backend
  // itself (the gate hands out the backend's blocks), so they work on gated managers too.
  void write(Manager& m, const Allocation& a, const std::vector<std::byte>& bytes) {
    Allocation host = m.allocate({.size = bytes.size(), .kind = HeapKind::Upload});
    std::copy(bytes.begin(), bytes.end(), host.map());
    device_->wait(detail::BlockCopier(*device_)(host.block(), host.offset(), a.block(), a.offset(),
                                                bytes.size()));
  }

  std::string skipped_;
  std::shared_ptr<GatedDevice> gate_;
};

}  // namespace gpumem::test_support
