// Asking the ICD loader what is there: platforms, their devices, and the devices' facts. Every
// query names what it asked for when it fails, so an implementation's odd answer is explained.
#pragma once

#include <CL/cl.h>

#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/opencl_device.hpp"

namespace gpumem::detail {

// The platforms the loader lists; empty with `why` set when there are none or the loader fails.
std::vector<cl_platform_id> opencl_platforms(std::string& why);
// Every device of a platform (all types); empty when it has none.
std::vector<cl_device_id> opencl_devices(cl_platform_id platform, std::string_view where);

std::string platform_text(cl_platform_id platform, cl_platform_info what);
std::string device_text(cl_device_id device, cl_device_info what, std::string_view where);

// A fixed-size device fact: cl_ulong (and cl_device_type, which is one) or cl_uint (and cl_bool);
// throws naming the call.
template <typename T>
T device_value(cl_device_id device, cl_device_info what, std::string_view where);

// GPUs are integrated where they work in host memory (CL_DEVICE_HOST_UNIFIED_MEMORY).
DeviceType opencl_device_type(cl_device_id device, std::string_view where);

// What opencl_availability() reports; never throws for a missing platform.
OpenclAvailability probe_opencl();

}  // namespace gpumem::detail
