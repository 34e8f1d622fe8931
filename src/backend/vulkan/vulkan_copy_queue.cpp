#include "backend/vulkan/vulkan_copy_queue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "backend/vulkan/vulkan_check.hpp"

namespace gpumem::detail {
namespace {

void barrier(VkCommandBuffer commands, VkPipelineStageFlags src_stage, VkAccessFlags src_access,
             VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  const VkMemoryBarrier memory{.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = src_access,
                               .dstAccessMask = dst_access};
  vkCmdPipelineBarrier(commands, src_stage, dst_stage, 0, 1, &memory, 0, nullptr, 0, nullptr);
}

}  // namespace

VulkanCopyQueue::VulkanCopyQueue(VkDevice device, std::uint32_t family, std::uint32_t index,
                                 std::string where)
    : device_(device), where_(std::move(where)) {
  vkGetDeviceQueue(device_, family, index, &queue_);
  const VkCommandPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                     .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                     .queueFamilyIndex = family};
  check_vk(vkCreateCommandPool(device_, &pool, nullptr, &pool_), where_, "vkCreateCommandPool");
  VkSemaphoreTypeCreateInfo type{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                 .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
                                 .initialValue = 0};
  const VkSemaphoreCreateInfo semaphore{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
                                        .pNext = &type};
  const VkResult result = vkCreateSemaphore(device_, &semaphore, nullptr, &timeline_);
  if (result != VK_SUCCESS) {
    vkDestroyCommandPool(device_, pool_, nullptr);
    check_vk(result, where_, "vkCreateSemaphore(timeline)");
  }
}

VulkanCopyQueue::~VulkanCopyQueue() {
  const FenceValue last = issued_.load(std::memory_order_acquire);
  if (last != 0) {
    const VkSemaphoreWaitInfo info{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                   .semaphoreCount = 1,
                                   .pSemaphores = &timeline_,
                                   .pValues = &last};
    static_cast<void>(vkWaitSemaphores(device_, &info, std::numeric_limits<std::uint64_t>::max()));
  }
  vkDestroyCommandPool(device_, pool_, nullptr);  // frees its command buffers
  vkDestroySemaphore(device_, timeline_, nullptr);
}

void VulkanCopyQueue::record(VkCommandBuffer commands, VkBuffer src, std::uint64_t src_offset,
                             VkBuffer dst, std::uint64_t dst_offset, std::uint64_t size) const {
  const VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                       .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  check_vk(vkBeginCommandBuffer(commands, &begin), where_, "vkBeginCommandBuffer");
  // Earlier submissions' copies are in this barrier's first scope (submission order).
  barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
          VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
  const std::uint64_t distance =
      src == dst ? (src_offset > dst_offset ? src_offset - dst_offset : dst_offset - src_offset)
                 : size;
  if (distance >= size) {
    const VkBufferCopy region{.srcOffset = src_offset, .dstOffset = dst_offset, .size = size};
    vkCmdCopyBuffer(commands, src, dst, 1, &region);
  } else if (distance != 0) {
    // Overlapping regions are undefined for vkCmdCopyBuffer: copy pieces no longer than the
    // distance, in memmove's order, each after a barrier, so no piece reads what another writes.
    std::uint64_t done = 0;
    while (done < size) {
      const std::uint64_t piece = std::min(distance, size - done);
      const std::uint64_t at = dst_offset < src_offset ? done : size - done - piece;
      const VkBufferCopy region{
          .srcOffset = src_offset + at, .dstOffset = dst_offset + at, .size = piece};
      vkCmdCopyBuffer(commands, src, dst, 1, &region);
      barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
              VK_PIPELINE_STAGE_TRANSFER_BIT,
              VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
      done += piece;
    }
  }
  barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
          VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT);
  check_vk(vkEndCommandBuffer(commands), where_, "vkEndCommandBuffer");
}

std::uint64_t VulkanCopyQueue::completed_value() {
  std::uint64_t value = 0;
  check_vk(vkGetSemaphoreCounterValue(device_, timeline_, &value), where_,
           "vkGetSemaphoreCounterValue");
  return value;
}

void VulkanCopyQueue::retire_done() {
  if (in_flight_.empty()) return;
  const std::uint64_t done = completed_value();
  while (!in_flight_.empty() && in_flight_.front().fence <= done) {
    spare_.push_back(in_flight_.front().commands);
    in_flight_.pop_front();
  }
}

VkCommandBuffer VulkanCopyQueue::take_command_buffer() {
  if (!spare_.empty()) {
    VkCommandBuffer commands = spare_.back();
    spare_.pop_back();
    check_vk(vkResetCommandBuffer(commands, 0), where_, "vkResetCommandBuffer");
    return commands;
  }
  const VkCommandBufferAllocateInfo info{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                         .commandPool = pool_,
                                         .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                         .commandBufferCount = 1};
  VkCommandBuffer commands = VK_NULL_HANDLE;
  check_vk(vkAllocateCommandBuffers(device_, &info, &commands), where_, "vkAllocateCommandBuffers");
  return commands;
}

FenceValue VulkanCopyQueue::copy(VkBuffer src, std::uint64_t src_offset, VkBuffer dst,
                                 std::uint64_t dst_offset, std::uint64_t size) {
  std::lock_guard lock(mutex_);
  retire_done();
  VkCommandBuffer commands = take_command_buffer();
  try {
    record(commands, src, src_offset, dst, dst_offset, size);
    const FenceValue fence = issued_.load(std::memory_order_relaxed) + 1;
    const VkTimelineSemaphoreSubmitInfo timeline{
        .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
        .signalSemaphoreValueCount = 1,
        .pSignalSemaphoreValues = &fence};
    const VkSubmitInfo submit{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                              .pNext = &timeline,
                              .commandBufferCount = 1,
                              .pCommandBuffers = &commands,
                              .signalSemaphoreCount = 1,
                              .pSignalSemaphores = &timeline_};
    check_vk(vkQueueSubmit(queue_, 1, &submit, VK_NULL_HANDLE), where_,
             fmt::format("vkQueueSubmit(copy of {} bytes)", size));
    in_flight_.push_back({.fence = fence, .commands = commands});
    issued_.store(fence, std::memory_order_release);
    return fence;
  } catch (...) {
    spare_.push_back(commands);
    throw;
  }
}

bool VulkanCopyQueue::is_complete(FenceValue fence) { return completed_value() >= fence; }

void VulkanCopyQueue::wait(FenceValue fence) {
  const VkSemaphoreWaitInfo info{.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                                 .semaphoreCount = 1,
                                 .pSemaphores = &timeline_,
                                 .pValues = &fence};
  check_vk(vkWaitSemaphores(device_, &info, std::numeric_limits<std::uint64_t>::max()), where_,
           fmt::format("vkWaitSemaphores(fence {})", fence));
}

}  // namespace gpumem::detail
