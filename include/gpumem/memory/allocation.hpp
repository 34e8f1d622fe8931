// An allocation a user holds: a move-only RAII handle that frees its memory when destroyed.
//
//   gpumem::Allocation buffer = manager.allocate({.size = 64 * gpumem::kMiB});
//   std::uint64_t gpu_address = buffer.address();
//   gpumem::AllocationHandle raw = buffer.release();  // now manager.free(raw) is the owner's job
//
// An Allocation must not outlive its Manager. Defragmentation may move it (unless it was made
// with AllocationRequest::movable = false): the handle stays, the address changes. Thread safety: a
// single Allocation is not to be used from several threads at once; different Allocations of one
// Manager may be.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gpumem/core/allocation_registry.hpp"
#include "gpumem/core/category.hpp"
#include "gpumem/core/heap.hpp"

namespace gpumem {

class Manager;

class Allocation {
 public:
  Allocation() noexcept = default;
  Allocation(Allocation&& other) noexcept;
  Allocation& operator=(Allocation&& other) noexcept;
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;
  // Frees through the manager; never throws (a failure is logged).
  ~Allocation();

  explicit operator bool() const noexcept { return manager_ != nullptr; }
  const AllocationHandle& handle() const noexcept { return handle_; }
  std::uint64_t id() const noexcept { return handle_.id; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint32_t heap() const noexcept { return heap_; }
  Category category() const noexcept { return category_; }
  // Device address (or host address on the host backend) of the first byte; 0 for size 0.
  // Read from the manager each time, since Manager::defragment may move a movable allocation:
  // keep the value only until the next defragmentation pass.
  std::uint64_t address() const;
  RawBlock block() const;
  std::uint64_t offset() const;

  // CPU pointer to the first byte; Unsupported when the heap cannot be mapped. Like address(),
  // valid until the next defragmentation pass.
  std::byte* map() const;

  // Frees now; the Allocation becomes empty.
  void reset();
  // Gives up ownership without freeing: the caller frees the handle with Manager::free.
  AllocationHandle release() noexcept;

 private:
  friend class Manager;
  AllocationRegistry::Location location() const;

  Manager* manager_ = nullptr;
  AllocationHandle handle_;
  std::uint64_t size_ = 0;
  std::uint32_t heap_ = 0;
  Category category_ = Category::Buffer;
};

}  // namespace gpumem
