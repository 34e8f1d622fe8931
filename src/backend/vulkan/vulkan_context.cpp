#include "backend/vulkan/vulkan_context.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/vulkan/vulkan_check.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace gpumem::detail {
namespace {

// Under LeakSanitizer: Mesa's drivers (and LLVM inside lavapipe) allocate once per process when
// the loader first initialises them and never free it; the loader then unloads the drivers, so
// by the time LeakSanitizer looks their frames have no module to name and no suppression can
// match them. Allocations made on this thread while the loader creates an instance or lists
// devices are therefore not reported. Nothing of gpumem's own runs inside these calls.
class DriverLoading {
 public:
  DriverLoading();
  ~DriverLoading();
  DriverLoading(const DriverLoading&) = delete;
  DriverLoading& operator=(const DriverLoading&) = delete;
};

#if defined(__SANITIZE_ADDRESS__)
DriverLoading::DriverLoading() { __lsan_disable(); }
DriverLoading::~DriverLoading() { __lsan_enable(); }
#else
DriverLoading::DriverLoading() {}   // NOLINT(modernize-use-equals-default): keeps it "used"
DriverLoading::~DriverLoading() {}  // NOLINT(modernize-use-equals-default)
#endif

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
constexpr std::uint32_t kRequiredVersion = VK_API_VERSION_1_2;

std::string version_text(std::uint32_t version) {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version),
                     VK_API_VERSION_PATCH(version));
}

DeviceType device_type(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return DeviceType::DiscreteGpu;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return DeviceType::IntegratedGpu;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return DeviceType::Cpu;
    default:
      return DeviceType::Other;
  }
}

bool has_layer(const char* name) {
  std::uint32_t count = 0;
  if (vkEnumerateInstanceLayerProperties(&count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(count);
  if (vkEnumerateInstanceLayerProperties(&count, layers.data()) != VK_SUCCESS) return false;
  for (const VkLayerProperties& l : layers) {
    if (std::strcmp(l.layerName, name) == 0) return true;
  }
  return false;
}

bool has_device_extension(VkPhysicalDevice device, const char* name) {
  std::uint32_t count = 0;
  if (vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr) != VK_SUCCESS) {
    return false;
  }
  std::vector<VkExtensionProperties> extensions(count);
  if (vkEnumerateDeviceExtensionProperties(device, nullptr, &count, extensions.data()) !=
      VK_SUCCESS) {
    return false;
  }
  for (const VkExtensionProperties& e : extensions) {
    if (std::strcmp(e.extensionName, name) == 0) return true;
  }
  return false;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                          VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                                          const VkDebugUtilsMessengerCallbackDataEXT* data,
                                          void* user) {
  auto* context = static_cast<VulkanContext*>(user);
  const std::string_view text = data != nullptr && data->pMessage != nullptr ? data->pMessage : "";
  if ((severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0) {
    context->validation_errors.fetch_add(1, std::memory_order_relaxed);
    log_message(LogLevel::Error, fmt::format("{}: validation: {}", context->where, text));
    if (context->on_validation_error) context->on_validation_error(text);
  } else if ((severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) != 0) {
    log_message(LogLevel::Warning, fmt::format("{}: validation: {}", context->where, text));
  }
  return VK_FALSE;  // the call goes on, as the layer's own default does
}

VkDebugUtilsMessengerCreateInfoEXT messenger_info(VulkanContext* context) {
  return {.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
          .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                             VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
          .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
          .pfnUserCallback = on_message,
          .pUserData = context};
}

VkInstance create_instance(VulkanContext* messages_to) {
  const VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                              .pApplicationName = "gpumem",
                              .pEngineName = "gpumem",
                              .apiVersion = kRequiredVersion};
  VkInstanceCreateInfo info{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                            .pApplicationInfo = &app};
  const char* extension = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  // Chained here too, so messages about instance creation itself are caught.
  const VkDebugUtilsMessengerCreateInfoEXT messenger =
      messages_to != nullptr ? messenger_info(messages_to) : VkDebugUtilsMessengerCreateInfoEXT{};
  if (messages_to != nullptr) {
    info.pNext = &messenger;
    info.enabledLayerCount = 1;
    info.ppEnabledLayerNames = &kValidationLayer;
    info.enabledExtensionCount = 1;
    info.ppEnabledExtensionNames = &extension;
  }
  VkInstance instance = VK_NULL_HANDLE;
  const DriverLoading loading;
  check_vk(vkCreateInstance(&info, nullptr, &instance), "vulkan", "vkCreateInstance");
  return instance;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  std::uint32_t count = 0;
  const DriverLoading loading;
  check_vk(vkEnumeratePhysicalDevices(instance, &count, nullptr), "vulkan",
           "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devices(count);
  check_vk(vkEnumeratePhysicalDevices(instance, &count, devices.data()), "vulkan",
           "vkEnumeratePhysicalDevices");
  devices.resize(count);
  return devices;
}

VkPhysicalDeviceVulkan12Features features12(VkPhysicalDevice device) {
  VkPhysicalDeviceVulkan12Features v12{.sType =
                                           VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 features{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                     .pNext = &v12};
  vkGetPhysicalDeviceFeatures2(device, &features);
  return v12;
}

VulkanPhysicalDeviceSummary summarise(VkPhysicalDevice device) {
  VkPhysicalDeviceProperties p{};
  vkGetPhysicalDeviceProperties(device, &p);
  VulkanPhysicalDeviceSummary s{
      .name = p.deviceName, .type = device_type(p.deviceType), .api_version = p.apiVersion};
  if (p.apiVersion < kRequiredVersion) {
    s.problem = fmt::format("Vulkan {}: gpumem needs 1.2 (timeline semaphores)",
                            version_text(p.apiVersion));
  } else if (features12(device).timelineSemaphore == VK_FALSE) {
    s.problem = "no timelineSemaphore feature (gpumem's copy fences)";
  }
  s.usable = s.problem.empty();
  return s;
}

// The queue family copies go to: one for transfers only where the device has it (a DMA engine
// that runs beside the application's graphics and compute work), else the first that transfers.
std::uint32_t copy_queue_family(VkPhysicalDevice device, const std::string& where) {
  std::uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  constexpr VkQueueFlags kCan =
      VK_QUEUE_TRANSFER_BIT | VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT;
  for (std::uint32_t i = 0; i < count; ++i) {
    const VkQueueFlags f = families[i].queueFlags;
    if ((f & VK_QUEUE_TRANSFER_BIT) != 0 &&
        (f & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) == 0)
      return i;
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    if ((families[i].queueFlags & kCan) != 0) return i;
  }
  throw Unsupported(where + ": no queue family can transfer");
}

}  // namespace

VulkanAvailability probe_vulkan() {
  VulkanAvailability a;
  VkInstance instance = VK_NULL_HANDLE;
  try {
    instance = create_instance(nullptr);
    for (VkPhysicalDevice d : physical_devices(instance)) a.devices.push_back(summarise(d));
  } catch (const Error& e) {
    if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
    a.detail = fmt::format("no Vulkan driver: {}", e.what());
    return a;
  }
  vkDestroyInstance(instance, nullptr);
  std::string names;
  for (const auto& d : a.devices) {
    a.available = a.available || d.usable;
    names += fmt::format("{}{} ({}{})", names.empty() ? "" : ", ", d.name, to_string(d.type),
                         d.usable ? "" : ", unusable: " + d.problem);
  }
  if (a.devices.empty()) {
    a.detail = "the Vulkan loader found no device (no ICD installed, e.g. mesa-vulkan-drivers)";
  } else {
    a.detail =
        fmt::format("{} device{}: {}", a.devices.size(), a.devices.size() == 1 ? "" : "s", names);
  }
  return a;
}

std::unique_ptr<VulkanContext> VulkanContext::create(const VulkanDeviceConfig& config) {
  const VulkanAvailability& vulkan = vulkan_availability();
  if (vulkan.devices.empty()) throw Unsupported("vulkan: unavailable: " + vulkan.detail);
  if (config.index >= vulkan.devices.size()) {
    throw InvalidArgument(fmt::format("vulkan device {} does not exist (this machine has {})",
                                      config.index, vulkan.devices.size()));
  }
  const VulkanPhysicalDeviceSummary& summary = vulkan.devices[config.index];
  if (!summary.usable) {
    throw Unsupported(fmt::format("vulkan device {} '{}' cannot be used: {}", config.index,
                                  summary.name, summary.problem));
  }
  if (config.validation && !has_layer(kValidationLayer)) {
    throw Unsupported(
        fmt::format("vulkan: validation asked for, but {} is not installed (apt-get install "
                    "vulkan-validationlayers)",
                    kValidationLayer));
  }
  auto c = std::make_unique<VulkanContext>();
  c->owned = true;
  c->index = config.index;
  c->validation = config.validation;
  c->on_validation_error = config.on_validation_error;
  c->where = fmt::format("vulkan device {} '{}'", config.index, summary.name);
  c->instance = create_instance(config.validation ? c.get() : nullptr);
  if (config.validation) {
    const auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(c->instance, "vkCreateDebugUtilsMessengerEXT"));
    const VkDebugUtilsMessengerCreateInfoEXT info = messenger_info(c.get());
    if (create_messenger == nullptr) {
      throw Unsupported(c->where + ": VK_EXT_debug_utils is missing");
    }
    check_vk(create_messenger(c->instance, &info, nullptr, &c->messenger), c->where,
             "vkCreateDebugUtilsMessengerEXT");
  }
  const std::vector<VkPhysicalDevice> devices = physical_devices(c->instance);
  if (config.index >= devices.size()) {
    throw InvalidArgument(c->where + " disappeared since the probe");
  }
  c->physical_device = devices[config.index];
  c->api_version = std::min(summary.api_version, VK_API_VERSION_1_3);
  c->queue_family = copy_queue_family(c->physical_device, c->where);

  const VkPhysicalDeviceVulkan12Features supported = features12(c->physical_device);
  c->buffer_device_address = supported.bufferDeviceAddress == VK_TRUE;
  c->memory_budget = has_device_extension(c->physical_device, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  VkPhysicalDeviceVulkan12Features enable{
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  enable.timelineSemaphore = VK_TRUE;
  enable.bufferDeviceAddress = supported.bufferDeviceAddress;
  std::vector<const char*> extensions;
  if (c->memory_budget) extensions.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  const float priority = 1.0F;
  const VkDeviceQueueCreateInfo queue{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                      .queueFamilyIndex = c->queue_family,
                                      .queueCount = 1,
                                      .pQueuePriorities = &priority};
  const VkDeviceCreateInfo info{
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
      .pNext = &enable,
      .queueCreateInfoCount = 1,
      .pQueueCreateInfos = &queue,
      .enabledExtensionCount = static_cast<std::uint32_t>(extensions.size()),
      .ppEnabledExtensionNames = extensions.data()};
  check_vk(vkCreateDevice(c->physical_device, &info, nullptr, &c->device), c->where,
           "vkCreateDevice");
  return c;
}

std::unique_ptr<VulkanContext> VulkanContext::adopt(const VulkanAdoption& a) {
  const auto missing = [](const std::string& what) {
    return InvalidArgument("vulkan: cannot adopt the application's device: " + what);
  };
  if (a.instance == VK_NULL_HANDLE) throw missing("VkInstance is null");
  if (a.physical_device == VK_NULL_HANDLE) throw missing("VkPhysicalDevice is null");
  if (a.device == VK_NULL_HANDLE) throw missing("VkDevice is null");
  VkPhysicalDeviceProperties p{};
  vkGetPhysicalDeviceProperties(a.physical_device, &p);
  const std::string where = fmt::format("vulkan device '{}' (adopted)", p.deviceName);
  const std::uint32_t version = std::min(a.api_version, p.apiVersion);
  if (version < kRequiredVersion) {
    throw missing(fmt::format("{} runs Vulkan {}; gpumem needs 1.2 (timeline semaphores)", where,
                              version_text(version)));
  }
  if (!a.timeline_semaphore) {
    throw missing(where +
                  " was created without the timelineSemaphore feature, which gpumem's copy "
                  "fences need (enable VkPhysicalDeviceVulkan12Features::timelineSemaphore)");
  }
  std::uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(a.physical_device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(a.physical_device, &count, families.data());
  if (a.queue_family >= count) {
    throw missing(
        fmt::format("{} has no queue family {} (it has {})", where, a.queue_family, count));
  }
  constexpr VkQueueFlags kCan =
      VK_QUEUE_TRANSFER_BIT | VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT;
  if ((families[a.queue_family].queueFlags & kCan) == 0) {
    throw missing(fmt::format("queue family {} of {} cannot transfer", a.queue_family, where));
  }
  if (a.queue_index >= families[a.queue_family].queueCount) {
    throw missing(
        fmt::format("queue family {} of {} has no queue {}", a.queue_family, where, a.queue_index));
  }
  auto c = std::make_unique<VulkanContext>();
  c->instance = a.instance;
  c->physical_device = a.physical_device;
  c->device = a.device;
  c->queue_family = a.queue_family;
  c->queue_index = a.queue_index;
  c->api_version = version;
  c->buffer_device_address = a.buffer_device_address;
  c->memory_budget = a.memory_budget;
  c->where = where;
  return c;
}

VulkanContext::~VulkanContext() {
  if (!owned) return;
  if (device != VK_NULL_HANDLE) vkDestroyDevice(device, nullptr);
  if (messenger != VK_NULL_HANDLE) {
    const auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(instance, messenger, nullptr);
  }
  if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
}

}  // namespace gpumem::detail
