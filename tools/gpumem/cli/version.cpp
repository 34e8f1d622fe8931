#include "cli/version.hpp"

#ifndef GPUMEM_VERSION
#error "GPUMEM_VERSION must be defined by the build (the CMake project version)"
#endif

namespace gpumem::cli {

std::string_view tool_version() noexcept { return GPUMEM_VERSION; }

}  // namespace gpumem::cli
