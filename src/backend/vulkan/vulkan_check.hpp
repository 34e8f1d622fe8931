// How the Vulkan backend turns VkResult failures into gpumem errors: every message names the
// device, the call and the result's name.
#pragma once

#include <vulkan/vulkan.h>

#include <string_view>

namespace gpumem::detail {

// "VK_ERROR_OUT_OF_DEVICE_MEMORY"; the number for results it does not know.
std::string_view vk_result_name(VkResult result);

// Throws gpumem::Error "<where>: <call> failed: <result>" unless `result` is VK_SUCCESS.
void check_vk(VkResult result, std::string_view where, std::string_view call);

// Whether a failed allocation is the device being full (an answer, not a failure).
constexpr bool is_out_of_memory(VkResult result) {
  return result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY ||
         result == VK_ERROR_TOO_MANY_OBJECTS;
}

}  // namespace gpumem::detail
