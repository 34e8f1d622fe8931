#include "gpumem/core/stack_trace.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>

namespace gpumem {

StackTrace StackTrace::capture(std::uint32_t skip, std::uint32_t depth) {
  constexpr std::uint32_t kMaxFrames = 160;
  void* buffer[kMaxFrames];
  const std::uint32_t wanted = std::min(kMaxFrames, depth + skip + 1);
  const int got = ::backtrace(buffer, static_cast<int>(wanted));
  StackTrace trace;
  const std::uint32_t first = skip + 1;  // +1: this function's own frame
  for (std::uint32_t i = first; i < static_cast<std::uint32_t>(got); ++i) {
    trace.frames.push_back(buffer[i]);
  }
  return trace;
}

std::vector<std::string> StackTrace::symbolize(std::string_view skip_prefix) const {
  std::vector<std::string> lines;
  lines.reserve(frames.size());
  bool skipping = !skip_prefix.empty();
  for (void* frame : frames) {
    Dl_info info{};
    if (::dladdr(frame, &info) == 0) {
      skipping = false;
      lines.push_back(fmt::format("{}", frame));
      continue;
    }
    const char* module = info.dli_fname != nullptr ? info.dli_fname : "?";
    if (info.dli_sname == nullptr) {
      skipping = false;
      const auto offset = reinterpret_cast<std::uintptr_t>(frame) -
                          reinterpret_cast<std::uintptr_t>(info.dli_fbase);
      lines.push_back(fmt::format("{}+{:#x}", module, offset));
      continue;
    }
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> demangled(
        abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status), &std::free);
    const char* name = status == 0 && demangled ? demangled.get() : info.dli_sname;
    if (skipping && std::string_view(name).starts_with(skip_prefix)) continue;
    skipping = false;
    const auto offset =
        reinterpret_cast<std::uintptr_t>(frame) - reinterpret_cast<std::uintptr_t>(info.dli_saddr);
    lines.push_back(fmt::format("{}+{:#x} ({})", name, offset, module));
  }
  return lines;
}

}  // namespace gpumem
