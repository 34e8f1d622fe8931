// The few CUDA driver-API functions the backend needs (virtual memory management and device
// attributes), looked up at run time through the runtime's cudaGetDriverEntryPointByVersion:
// nothing links against libcuda, so a program starts where no driver is installed.
//
//   std::string why;
//   if (const detail::DriverApi* api = detail::driver_api(why)) api->mem_release(handle);
//
// Thread safety: the table is filled once per process and only read afterwards.
#pragma once

#include <cudaTypedefs.h>

#include <string>
#include <string_view>

namespace gpumem::detail {

// Each pointer has the signature of the ABI version named in its type, which is the version
// the lookup asks for (see kDriverAbiVersion in the .cpp).
struct DriverApi {
  PFN_cuDeviceGet_v2000 device_get = nullptr;
  PFN_cuDeviceGetAttribute_v2000 device_get_attribute = nullptr;
  PFN_cuMemAddressReserve_v10020 mem_address_reserve = nullptr;
  PFN_cuMemAddressFree_v10020 mem_address_free = nullptr;
  PFN_cuMemCreate_v10020 mem_create = nullptr;
  PFN_cuMemRelease_v10020 mem_release = nullptr;
  PFN_cuMemMap_v10020 mem_map = nullptr;
  PFN_cuMemUnmap_v10020 mem_unmap = nullptr;
  PFN_cuMemSetAccess_v10020 mem_set_access = nullptr;
  PFN_cuMemGetAllocationGranularity_v10020 mem_get_allocation_granularity = nullptr;
  PFN_cuGetErrorName_v6000 get_error_name = nullptr;
  PFN_cuGetErrorString_v6000 get_error_string = nullptr;
};

// The entry points, looked up on the first call; null, with `why` set, when any is missing.
// Call only once the runtime has found a device.
const DriverApi* driver_api(std::string& why);

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"
std::string driver_error_text(const DriverApi& api, CUresult result);

// Throws gpumem::Error "<where>: <call> failed: <error text>" unless `result` is CUDA_SUCCESS.
void check_driver(const DriverApi& api, CUresult result, std::string_view where,
                  std::string_view call);

}  // namespace gpumem::detail
