#include "backend/cuda/cuda_driver_api.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "backend/cuda/cuda_check.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem::detail {
namespace {

// The driver hands out the newest version of each symbol that is not newer than this; 12.0
// matches the PFN_*_v10020/_v6000/_v2000 types above, whatever toolkit builds this file, so a
// later toolkit or driver cannot change a signature under us.
constexpr unsigned kDriverAbiVersion = 12000;

struct LoadedApi {
  DriverApi api;
  std::string why;  // empty when every entry point was found
};

template <class Function>
void look_up(const char* symbol, Function& function, std::string& why) {
  if (!why.empty()) return;
  void* pointer = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t error = cudaGetDriverEntryPointByVersion(symbol, &pointer, kDriverAbiVersion,
                                                             cudaEnableDefault, &status);
  if (error != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    why = fmt::format("cudaGetDriverEntryPointByVersion({}) failed: {}", symbol,
                      cuda_error_text(error));
  } else if (status != cudaDriverEntryPointSuccess || pointer == nullptr) {
    why = fmt::format("the driver has no {} (ABI {}.{})", symbol, kDriverAbiVersion / 1000,
                      kDriverAbiVersion % 1000 / 10);
  } else {
    function = reinterpret_cast<Function>(pointer);
  }
}

LoadedApi load() {
  LoadedApi loaded;
  DriverApi& a = loaded.api;
  std::string& why = loaded.why;
  look_up("cuDeviceGet", a.device_get, why);
  look_up("cuDeviceGetAttribute", a.device_get_attribute, why);
  look_up("cuMemAddressReserve", a.mem_address_reserve, why);
  look_up("cuMemAddressFree", a.mem_address_free, why);
  look_up("cuMemCreate", a.mem_create, why);
  look_up("cuMemRelease", a.mem_release, why);
  look_up("cuMemMap", a.mem_map, why);
  look_up("cuMemUnmap", a.mem_unmap, why);
  look_up("cuMemSetAccess", a.mem_set_access, why);
  look_up("cuMemGetAllocationGranularity", a.mem_get_allocation_granularity, why);
  look_up("cuGetErrorName", a.get_error_name, why);
  look_up("cuGetErrorString", a.get_error_string, why);
  return loaded;
}

}  // namespace

const DriverApi* driver_api(std::string& why) {
  static const LoadedApi loaded = load();
  why = loaded.why;
  return loaded.why.empty() ? &loaded.api : nullptr;
}

std::string driver_error_text(const DriverApi& api, CUresult result) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (api.get_error_name(result, &name) != CUDA_SUCCESS || name == nullptr) name = "CUresult";
  if (api.get_error_string(result, &text) != CUDA_SUCCESS || text == nullptr) text = "unknown";
  return fmt::format("{} {} ({})", name, static_cast<int>(result), text);
}

void check_driver(const DriverApi& api, CUresult result, std::string_view where,
                  std::string_view call) {
  if (result == CUDA_SUCCESS) return;
  throw Error(fmt::format("{}: {} failed: {}", where, call, driver_error_text(api, result)));
}

}  // namespace gpumem::detail
