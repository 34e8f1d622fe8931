// The tool's version, from the project version CMake passes in at build time.
#pragma once

#include <string_view>

namespace gpumem::cli {

std::string_view tool_version() noexcept;

}  // namespace gpumem::cli
