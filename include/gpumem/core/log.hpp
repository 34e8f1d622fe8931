// Where gpumem's warnings go. By default they are written to stderr; applications route them
// into their own logging with set_log_sink.
//
//   gpumem::set_log_sink([](gpumem::LogLevel level, std::string_view text) { my_log(text); });
//
// Thread safety: the sink may be replaced and messages logged from any thread; the sink itself
// is called under a lock, one message at a time.
#pragma once

#include <functional>
#include <string_view>

namespace gpumem {

enum class LogLevel { Debug, Info, Warning, Error };

std::string_view to_string(LogLevel level);

using LogSink = std::function<void(LogLevel, std::string_view)>;

// Replaces the sink; an empty function restores the default (stderr). Returns the previous one.
LogSink set_log_sink(LogSink sink);
void log_message(LogLevel level, std::string_view text);

}  // namespace gpumem
