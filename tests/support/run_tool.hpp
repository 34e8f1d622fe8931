// Runs the gpumem executable (GPUMEM_TOOL_PATH, set for the tools tests) as a user would, for
// tests of exit codes and of what reaches the terminal.
//
//   const auto [code, output] = gpumem::test_support::run_tool("ktx info missing.ktx2");
//   EXPECT_EQ(code, 2);
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace gpumem::test_support {

// The exit code and what the tool wrote to stdout and stderr together.
inline std::pair<int, std::string> run_tool(const std::string& args) {
  const std::string command = std::string(GPUMEM_TOOL_PATH) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    output += buffer.data();
  }
  const int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

}  // namespace gpumem::test_support
