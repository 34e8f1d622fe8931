// Call stacks captured at allocation time, so that a leak report says who allocated.
// Capturing costs a few microseconds, so the tracker samples (Config::tracking); symbols are
// resolved only when a report is printed.
//
//   gpumem::StackTrace trace = gpumem::StackTrace::capture(/*skip=*/1, /*depth=*/16);
//   for (const std::string& frame : trace.symbolize()) fmt::print("  {}\n", frame);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gpumem {

struct StackTrace {
  std::vector<void*> frames;

  // Frames of the caller, leaving out `skip` innermost frames (capture itself is never included).
  static StackTrace capture(std::uint32_t skip, std::uint32_t depth);
  // One line per frame: "function+0xoffset (module)" where symbols are known, else the address.
  // Leading frames whose symbol starts with `skip_prefix` (e.g. the library's own namespace)
  // are left out, so a report starts at the caller whatever the compiler inlined.
  std::vector<std::string> symbolize(std::string_view skip_prefix = {}) const;
};

}  // namespace gpumem
