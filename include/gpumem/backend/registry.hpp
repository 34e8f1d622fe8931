// Finding devices: which backends this build has, which devices they see at run time, and
// opening one by name.
//
//   auto device = gpumem::open_device("sim:capacity=16GiB,page=2MiB");
//   auto best = gpumem::open_best_device();  // a GPU when there is one, else the host
//   for (const auto& status : gpumem::backend_statuses()) fmt::print("{}: {}\n", status.name,
//   status.detail);
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/device.hpp"

namespace gpumem {

struct BackendStatus {
  std::string name;  // "host", "sim", ...
  bool available = false;
  std::string detail;  // why not, or what was found
};

// Every backend compiled into this build, in order of preference (GPUs first), and whether it
// can be used on this machine now.
std::vector<BackendStatus> backend_statuses();

// Opens a device from a spec "BACKEND[:OPTIONS]": "host", "host:discrete" (device-local, upload
// and readback heaps in system memory), "sim", "sim:capacity=16GiB,page=2MiB", and in builds
// with those backends "cuda:N", "vulkan:0,validation=on" (the N-th physical device; see
// VulkanDeviceConfig::parse) and "opencl" / "opencl:N" / "opencl:P.D" (N-th device overall, or
// device D of platform P; see opencl_device.hpp for options). Throws
// InvalidArgument for an unknown backend or option and Unsupported for one not available here.
std::unique_ptr<Device> open_device(std::string_view spec);

// Every device of every available backend (for `gpumem info`); the simulator appears once with
// its default configuration.
std::vector<std::unique_ptr<Device>> open_all_devices();

// The most capable device available: a GPU backend's first GPU (CUDA, then a Vulkan GPU; a CPU
// Vulkan implementation such as lavapipe does not count), else the host.
std::unique_ptr<Device> open_best_device();

}  // namespace gpumem
