// `gpumem replay`: replays allocation traces against a heap allocator (or a whole Manager) on a
// device, the simulator by default, and reports the time per event and the peak device memory
// held over the peak live bytes, one row or one JSON line per trace.
//
//   run_replay({.traces = {"churn200k", "bench/traces/gpt2_train.trace.gz"}, .json = true}, out);
//
// A trace is a built-in name ("churn200k"), a synthetic churn spec
// ("churn:operations=20000,seed=3", keys as in gpumem::ChurnParams), or a trace file. Every trace
// is loaded before the first replay, so a bad one fails before any output.
//
// JSON fields, one object per line (stable, snake_case, bytes as integers):
//   {"trace", "device", "heap", "allocator", "through_manager", "alignment", "ops", "allocs",
//    "peak_live", "peak_reserved", "reserved_over_live", "elapsed_ns", "ns_per_op", "failures"}
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/memory/trace_replay.hpp"

namespace gpumem::cli {

struct ReplayCommandOptions {
  std::vector<std::string> traces;
  // The simulator with its defaults (80 GiB, 2 MiB pages): figures that hold on any machine.
  std::string device = "sim";
  std::string allocator = "auto";
  // A heap index; when empty, the device's first device-local heap (else its first shared one).
  std::optional<std::uint32_t> heap;
  std::uint64_t alignment = 256;
  bool through_manager = false;
  bool json = false;
};

// Throws gpumem::Error: InvalidArgument for an unknown allocator (listing the known ones), a
// bad device spec, heap or alignment; Error or FormatError (with the line) for a trace file that
// cannot be read.
void run_replay(const ReplayCommandOptions& options, std::ostream& out);

// "auto" and every allocator this build can make, for help and error messages.
std::vector<std::string> replay_allocator_names();

// A trace named on the command line: a built-in name, a "churn:key=value,..." spec or a path.
Trace load_replay_trace(std::string_view source);

// One line of JSON with the fields listed above.
std::string to_json(const ReplayResult& result);

}  // namespace gpumem::cli
