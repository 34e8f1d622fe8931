// Allocation traces: the sequence of allocations and frees a program asked a GPU allocator for,
// in order, so allocators can be replayed, compared and tuned on real workloads without the
// program. A trace is a text file (usually gzip-compressed), one record per line:
//
//   # trace v1 <name> <description>     required first line; the format is versioned
//   a <id> <bytes> <stream>             allocation <id> of <bytes> on <stream> (0 = default)
//   f <id>                              allocation <id> was freed
//
// Blank lines and further '#' lines are comments. An id is live from its 'a' to its 'f'; it may
// be reused after its free. Allocations still live after the last record are freed by whoever
// replays the trace. Numbers are unsigned decimal and fit in 64 bits; fields are separated by
// spaces or tabs.
//
//   gpumem::Trace trace = gpumem::read_trace("bench/traces/gpt2_train.trace.gz");
//   gpumem::TraceSummary s = gpumem::summarize(trace);   // s.peak_live_bytes == 15775644680
//
//   gpumem::TraceRecorder recorder("out.trace.gz", "my_program");   // capture your own
//   recorder.on_allocate(id, bytes, stream);  ...  recorder.on_free(id);
//   recorder.finish();
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/core/units.hpp"

namespace gpumem {

struct TraceEvent {
  enum class Kind : std::uint8_t { Allocate, Free };

  Kind kind = Kind::Allocate;
  std::uint64_t id = 0;
  std::uint64_t bytes = 0;   // 0 for a free: the record does not repeat the size
  std::uint64_t stream = 0;  // 0 for a free

  static TraceEvent allocate(std::uint64_t id, std::uint64_t bytes, std::uint64_t stream = 0) {
    return {Kind::Allocate, id, bytes, stream};
  }
  static TraceEvent free(std::uint64_t id) { return {Kind::Free, id, 0, 0}; }

  friend bool operator==(const TraceEvent&, const TraceEvent&) = default;
};

struct Trace {
  std::string name;    // the header's <name>: one token, no whitespace
  std::string header;  // the rest of the header line, e.g. "(PyTorch 2.11.0+cu130, NVIDIA H200)"
  std::vector<TraceEvent> events;

  friend bool operator==(const Trace&, const Trace&) = default;
};

struct TraceSummary {
  std::uint64_t allocations = 0;  // 'a' records
  std::uint64_t frees = 0;        // 'f' records
  std::uint64_t live_at_end = 0;  // allocations with no 'f'; a replay frees them after the end
  // Events a replay performs: every record plus the implicit frees of live_at_end, which is
  // 2 × allocations. This is the "events" column of the traces' README and the divisor of ns/op;
  // trace.events.size() is allocations + frees.
  std::uint64_t events = 0;
  std::uint64_t peak_live_bytes = 0;  // largest sum of live allocation sizes after any record
  std::uint64_t peak_live_count = 0;  // largest number of live allocations after any record
  std::uint64_t allocated_bytes = 0;  // sum of all allocation sizes
  std::uint64_t streams = 0;          // distinct <stream> values among the allocations
};

// One pass over the events. Throws InvalidArgument naming the event index when the events are not
// a valid trace (an id allocated while live, or freed while not live).
TraceSummary summarize(const Trace& trace);

// Parses trace text. source_name appears in errors. Throws FormatError, with field "line N" and
// the byte offset of that line's start, on a missing or wrong "# trace v1 <name>" first line, an
// unknown record kind, a missing or extra field, a number that is not unsigned decimal or does not
// fit in 64 bits, an allocation of a live id, or a free of an id that is not live. Comment lines
// other than the header are not kept.
Trace parse_trace(std::string_view text, std::string source_name);
Trace parse_trace(std::istream& in, std::string source_name);

// Reads a trace file, gzip-compressed or plain text (told apart by content, not name). A file that
// cannot be opened throws Error with the path and the system's reason; corrupt or truncated gzip
// data throws FormatError (field "gzip stream").
Trace read_trace(const std::filesystem::path& path);

// The text of a trace; parse_trace(format_trace(t), ...) == t. Throws InvalidArgument when the
// trace could not be read back: an empty name or one with whitespace, a header with a line break,
// or events that summarize() rejects.
std::string format_trace(const Trace& trace);

// Writes format_trace(trace) to path, gzip-compressed when gzip is true or the path ends in ".gz".
// Throws Error (with the path and the system's reason) when the file cannot be written.
void write_trace(const Trace& trace, const std::filesystem::path& path, bool gzip = false);

// Captures a trace from a running allocator: call on_allocate after an allocation succeeds and
// on_free before its memory is released (so an id reused by another thread is never recorded live
// twice). Records are buffered and written to the sink as lines of the trace format when the
// buffer fills, on flush() and on finish(); the destructor finishes, swallowing errors, so call
// finish() to see them.
//
// Thread-safe: every member may be called from several threads; events are recorded in the order
// the calls take the recorder's lock. A write that fills the buffer happens on the calling thread
// under that lock.
class TraceRecorder {
 public:
  // Streams to a file, gzip-compressed when gzip is true or the path ends in ".gz". The header
  // line is written at once; throws Error when the file cannot be created.
  TraceRecorder(const std::filesystem::path& path, const std::string& name,
                const std::string& header = {}, bool gzip = false);
  // Streams to out, which must outlive the recorder (or its finish()).
  TraceRecorder(std::ostream& out, const std::string& name, const std::string& header = {});
  ~TraceRecorder();

  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  // Throw InvalidArgument, recording nothing, when the event would make the trace unreadable: an
  // allocation of an id that is live, a free of an id that is not. Throw Error after finish().
  void on_allocate(std::uint64_t id, std::uint64_t bytes, std::uint64_t stream = 0);
  void on_free(std::uint64_t id);

  // Writes buffered records to the sink and flushes it: a file, compressed or not, then reads as
  // a whole trace with what was recorded so far. Throws Error when the write fails.
  void flush();
  // Flushes and closes the sink; later events throw. Calling it again does nothing.
  void finish();

  std::uint64_t events_recorded() const;

 private:
  struct State;  // sink, buffered lines and live ids; defined in the .cpp to keep zlib out

  void record(const TraceEvent& event);
  void flush_locked();

  mutable std::mutex mutex_;
  std::unique_ptr<State> state_;
};

// The synthetic churn workload. Each of `operations` steps allocates with probability 3/4 while
// fewer than target_live allocations are live and 1/4 otherwise, and frees a uniformly chosen live
// allocation when it does not allocate (a step that would free with nothing live allocates).
// Sizes are log-uniform in [min_bytes, max_bytes]. The steps are followed by frees of everything
// still live (lowest id first), which are not counted in `operations`. The generation is specified
// step by step in bench/traces/README.md (std::mt19937_64, no std::*_distribution, no libm
// transcendentals), so every platform and other tools produce the same trace.
struct ChurnParams {
  std::uint64_t operations = 200'000;
  std::uint64_t target_live = 1'000;
  std::uint64_t min_bytes = 256;
  std::uint64_t max_bytes = 16 * kMiB;
  std::uint64_t seed = 7;
};

// Named "churn<N>k" when operations is a multiple of 1000 (else "churn<N>"), with the parameters
// in the header. Throws InvalidArgument when min_bytes is 0 or above max_bytes.
Trace make_churn_trace(const ChurnParams& params = {});

// Traces gpumem can generate by name: "churn200k" (make_churn_trace with the default parameters,
// the workload of bench/traces/README.md). Throws InvalidArgument listing the known names when
// name is not one of them.
Trace builtin_trace(std::string_view name);
std::span<const std::string_view> builtin_trace_names();

}  // namespace gpumem
