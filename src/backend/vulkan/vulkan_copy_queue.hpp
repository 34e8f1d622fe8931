// The queue a Vulkan device copies on, and the fences that say when each copy is done: fence n is
// value n of one timeline semaphore, signalled by the n-th submission. Each submission's command
// buffer opens with a transfer-to-transfer barrier and closes with a transfer-to-host one, so
// copies see the results of earlier copies (defragmentation moves data twice in a row) and the
// CPU sees a copy's result once its fence is done.
//
//   detail::VulkanCopyQueue queue(device, family, 0, "vulkan device 0 'llvmpipe'");
//   FenceValue fence = queue.copy(src_buffer, src_offset, dst_buffer, dst_offset, bytes);
//   queue.wait(fence);
//
// Thread safety: every method may be called from several threads at once. One lock guards the
// command pool and the queue (both externally synchronised in Vulkan); it is held across
// vkQueueSubmit, never across a wait.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "gpumem/backend/device.hpp"

namespace gpumem::detail {

class VulkanCopyQueue {
 public:
  VulkanCopyQueue(VkDevice device, std::uint32_t family, std::uint32_t index, std::string where);
  // Waits for every copy, then destroys the command pool and the semaphore.
  ~VulkanCopyQueue();
  VulkanCopyQueue(const VulkanCopyQueue&) = delete;
  VulkanCopyQueue& operator=(const VulkanCopyQueue&) = delete;

  // Enqueues a copy of `size` bytes between buffers (ranges within one buffer may overlap: the
  // result is memmove's) and returns its fence.
  FenceValue copy(VkBuffer src, std::uint64_t src_offset, VkBuffer dst, std::uint64_t dst_offset,
                  std::uint64_t size);
  // For fences this queue issued; the caller checks that.
  bool is_complete(FenceValue fence);
  void wait(FenceValue fence);
  FenceValue last_issued() const noexcept { return issued_.load(std::memory_order_acquire); }

 private:
  struct InFlight {
    FenceValue fence = 0;
    VkCommandBuffer commands = VK_NULL_HANDLE;
  };
  void record(VkCommandBuffer commands, VkBuffer src, std::uint64_t src_offset, VkBuffer dst,
              std::uint64_t dst_offset, std::uint64_t size) const;
  VkCommandBuffer take_command_buffer();  // mutex_ must be held
  void retire_done();                     // mutex_ must be held
  std::uint64_t completed_value();

  const VkDevice device_;
  const std::string where_;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  std::mutex mutex_;
  std::deque<InFlight> in_flight_;
  std::vector<VkCommandBuffer> spare_;
  std::atomic<FenceValue> issued_{0};
};

}  // namespace gpumem::detail
