// Vulkan devices for tests, with VK_LAYER_KHRONOS_validation on: every validation error fails the
// test that is running (from whichever thread the layer reports it), with the layer's message.
//
//   gpumem::VulkanDevice device(gpumem::test_support::validated_vulkan_config());
#pragma once

#if GPUMEM_HAS_VULKAN
#include <gtest/gtest.h>

#include <string>

#include "gpumem/backend/vulkan_device.hpp"

namespace gpumem::test_support {

inline VulkanDeviceConfig validated_vulkan_config(std::uint32_t index = 0) {
  VulkanDeviceConfig config{.index = index, .validation = true};
  config.on_validation_error = [](std::string_view message) {
    ADD_FAILURE() << "Vulkan validation error: " << message;
  };
  return config;
}

// Why a Vulkan test cannot run here, or empty when it can.
inline std::string vulkan_skip_reason() {
  const VulkanAvailability& vulkan = vulkan_availability();
  return vulkan.available ? std::string() : "no usable Vulkan device: " + vulkan.detail;
}

}  // namespace gpumem::test_support
#endif
