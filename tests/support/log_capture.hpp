// Captures gpumem's log lines ("warning: text") for the life of the object, so tests can check
// what was logged and keep their output quiet.
#pragma once

#include <fmt/format.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/core/log.hpp"

namespace gpumem::test_support {

struct LogCapture {
  LogCapture() {
    set_log_sink([this](LogLevel level, std::string_view text) {
      std::lock_guard lock(mutex);
      lines.emplace_back(fmt::format("{}: {}", to_string(level), text));
    });
  }
  ~LogCapture() { set_log_sink(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string all() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }

  std::mutex mutex;
  std::vector<std::string> lines;
};

}  // namespace gpumem::test_support
