// The Vulkan objects a VulkanDevice works with: an instance, a physical device, a logical device
// and a queue family for copies, either created here (and destroyed with the context) or adopted
// from an application (and left alone), with what was enabled on them. Creating one also sets up
// validation (VK_LAYER_KHRONOS_validation and a debug-utils messenger) when asked.
//
//   auto context = detail::VulkanContext::create(config);        // its own instance and device
//   auto adopted = detail::VulkanContext::adopt(app_objects);     // the application's
//
// Thread safety: immutable after creation except the validation counters, which are atomics.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gpumem/backend/vulkan_device.hpp"

namespace gpumem::detail {

struct VulkanContext {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  std::uint32_t index = 0;  // of the physical device; 0 for an adopted one
  std::uint32_t queue_family = 0;
  std::uint32_t queue_index = 0;
  std::uint32_t api_version = 0;
  bool owned = false;  // created here: destroyed with the context
  bool buffer_device_address = false;
  bool memory_budget = false;
  bool validation = false;
  std::string where;  // "vulkan device 0 'llvmpipe (...)'" for messages

  std::function<void(std::string_view)> on_validation_error;
  std::atomic<std::uint64_t> validation_errors{0};

  // Throws Unsupported, InvalidArgument or Error as VulkanDevice's constructors document.
  static std::unique_ptr<VulkanContext> create(const VulkanDeviceConfig& config);
  static std::unique_ptr<VulkanContext> adopt(const VulkanAdoption& adoption);

  VulkanContext() = default;
  ~VulkanContext();
  VulkanContext(const VulkanContext&) = delete;
  VulkanContext& operator=(const VulkanContext&) = delete;
};

// Probes the machine: used by vulkan_availability().
VulkanAvailability probe_vulkan();

}  // namespace gpumem::detail
