// A Device that wraps another and decides itself when copies complete, so tests can hold copies
// "in flight" as long as they like and complete them in any order: a full staging ring, a waiting
// policy, out-of-order fences, destruction with copies pending. The bytes move at once (the
// wrapped device's copy is waited for inside copy()); only the fences returned are gated.
//
//   auto gate = std::make_shared<test_support::GatedDevice>(device);
//   gpumem::FenceValue f = gate->copy(src, 0, dst, 0, n);   // gate->is_complete(f) == false
//   gate->release(f);                                        // now true; wait(f) returns
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem::test_support {

class GatedDevice final : public Device {
 public:
  explicit GatedDevice(std::shared_ptr<Device> inner) : inner_(std::move(inner)) {}

  const DeviceInfo& info() const noexcept override { return inner_->info(); }
  HeapReport query_heap(std::uint32_t heap) override { return inner_->query_heap(heap); }
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override {
    return inner_->try_allocate_block(heap, size, alignment);
  }
  void free_block(const RawBlock& block) override { inner_->free_block(block); }
  std::byte* map(const RawBlock& block) override { return inner_->map(block); }

  FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                  std::uint64_t dst_offset, std::uint64_t size) override {
    inner_->wait(inner_->copy(src, src_offset, dst, dst_offset, size));
    std::lock_guard lock(mutex_);
    ++issued_;
    if (open_) released_.insert(issued_);
    return issued_;
  }
  bool is_complete(FenceValue fence) override {
    std::lock_guard lock(mutex_);
    check(fence);
    return released_.contains(fence);
  }
  void wait(FenceValue fence) override {
    std::unique_lock lock(mutex_);
    check(fence);
    changed_.wait(lock, [&] { return released_.contains(fence); });
  }

  // Completes one copy's fence (or every fence issued so far); later copies stay gated unless
  // set_open(true) completes them as they are made.
  void release(FenceValue fence) {
    {
      std::lock_guard lock(mutex_);
      check(fence);
      released_.insert(fence);
    }
    changed_.notify_all();
  }
  void release_all() {
    {
      std::lock_guard lock(mutex_);
      for (FenceValue f = 1; f <= issued_; ++f) released_.insert(f);
    }
    changed_.notify_all();
  }
  void set_open(bool open) {
    std::lock_guard lock(mutex_);
    open_ = open;
  }
  FenceValue issued() const {
    std::lock_guard lock(mutex_);
    return issued_;
  }

 private:
  void check(FenceValue fence) const {
    if (fence == 0 || fence > issued_) throw InvalidArgument("gated device: fence never issued");
  }

  std::shared_ptr<Device> inner_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::set<FenceValue> released_;
  FenceValue issued_ = 0;
  bool open_ = false;
};

}  // namespace gpumem::test_support
