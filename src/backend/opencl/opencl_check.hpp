// How the OpenCL backend turns error codes into gpumem errors: every message names the device,
// the call and OpenCL's name for the code, so a failure reads the same on every implementation.
#pragma once

#include <CL/cl.h>

#include <string>
#include <string_view>

namespace gpumem::detail {

// "CL_MEM_OBJECT_ALLOCATION_FAILURE (-4)"; codes OpenCL 1.2 does not name read "error -1234".
std::string opencl_error_text(cl_int code);

// Whether the code means "no memory for it" (the answer to an allocation, not a failure).
bool is_out_of_memory(cl_int code) noexcept;

// Throws gpumem::Error "<where>: <call> failed: <error text>" unless `code` is CL_SUCCESS.
void check_cl(cl_int code, std::string_view where, std::string_view call);

}  // namespace gpumem::detail
