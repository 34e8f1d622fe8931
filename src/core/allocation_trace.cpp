#include "gpumem/core/allocation_trace.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <istream>
#include <limits>
#include <ostream>
#include <random>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

constexpr std::string_view kMagic = "trace";
constexpr std::string_view kVersion = "v1";
// Large enough that a recorder writes rarely, small enough to bound what a crash loses.
constexpr std::size_t kRecorderFlushBytes = 1 << 20;

std::string system_reason(int error) {
  return std::error_code(error, std::generic_category()).message();
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A short, printable rendering of bad input for an error message, so a binary file cannot fill
// the terminal with garbage.
std::string shown(std::string_view text) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : text.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

// Splits a line at runs of spaces and tabs. Stores the first fields.size() fields and returns how
// many there are in all, so "too many fields" can be told without storing them.
template <std::size_t N>
std::size_t split_fields(std::string_view line, std::array<std::string_view, N>& fields) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) return count;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (count < N) fields[count] = line.substr(start, i - start);
    ++count;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Which ids are live. The reader, summarize(), the writer and the recorder all judge validity
// through this one class, so whatever one of them accepts the others accept too.
class LiveIds {
 public:
  // remember_freed keeps freed ids (and where they were freed) for a precise message on a second
  // free; the recorder, which may run for days, forgets them to stay bounded by the live set.
  LiveIds(std::size_t expected_ids, bool remember_freed) : remember_freed_(remember_freed) {
    ids_.reserve(expected_ids);
  }

  // Applies the event; returns an empty string when it is consistent, else what is wrong.
  // `where` (a line number or event index) is kept to point at the earlier record in messages.
  std::string apply(const TraceEvent& event, std::uint64_t where, std::string_view where_name) {
    if (event.kind == TraceEvent::Kind::Allocate) {
      auto [it, inserted] = ids_.try_emplace(event.id, State{event.bytes, where, true});
      if (!inserted) {
        if (it->second.live) {
          return fmt::format("allocation of id {}, which is still live (allocated on {} {})",
                             event.id, where_name, it->second.where);
        }
        it->second = State{event.bytes, where, true};
      }
      if (event.bytes > std::numeric_limits<std::uint64_t>::max() - live_bytes_) {
        it->second.live = false;
        return fmt::format("allocation of id {} takes the live bytes past 2^64 - 1", event.id);
      }
      live_bytes_ += event.bytes;
      ++live_count_;
      return {};
    }
    const auto it = ids_.find(event.id);
    if (it == ids_.end()) {
      return remember_freed_
                 ? fmt::format("free of id {}, which was never allocated", event.id)
                 : fmt::format(
                       "free of id {}, which is not live (never allocated or already freed)",
                       event.id);
    }
    if (!it->second.live) {
      return fmt::format("free of id {}, which was already freed on {} {}", event.id, where_name,
                         it->second.where);
    }
    live_bytes_ -= it->second.bytes;
    --live_count_;
    if (remember_freed_) {
      it->second.live = false;
      it->second.where = where;
    } else {
      ids_.erase(it);
    }
    return {};
  }

  std::uint64_t live_bytes() const { return live_bytes_; }
  std::uint64_t live_count() const { return live_count_; }

 private:
  struct State {
    std::uint64_t bytes;
    std::uint64_t where;
    bool live;
  };

  std::unordered_map<std::uint64_t, State> ids_;
  std::uint64_t live_bytes_ = 0;
  std::uint64_t live_count_ = 0;
  bool remember_freed_;
};

[[noreturn]] void throw_invalid_event(std::size_t index, const std::string& problem) {
  throw InvalidArgument(fmt::format("trace event {}: {}", index, problem));
}

void check_header(std::string_view name, std::string_view header) {
  const auto breaks_line = [](char c) { return c == '\n' || c == '\r'; };
  if (name.empty() || std::any_of(name.begin(), name.end(),
                                  [&](char c) { return is_blank(c) || breaks_line(c); })) {
    throw InvalidArgument(fmt::format(
        "trace name '{}' cannot be written: it must be one token without whitespace", shown(name)));
  }
  if (std::any_of(header.begin(), header.end(), breaks_line) || trim(header) != header) {
    throw InvalidArgument(fmt::format(
        "trace header '{}' cannot be written: it must be one line without leading or trailing "
        "whitespace",
        shown(header)));
  }
}

void append_header(std::string& out, std::string_view name, std::string_view header) {
  out += "# ";
  out += kMagic;
  out += ' ';
  out += kVersion;
  out += ' ';
  out += name;
  if (!header.empty()) {
    out += ' ';
    out += header;
  }
  out += '\n';
}

void append_number(std::string& out, std::uint64_t value) {
  std::array<char, 24> digits;
  const auto result = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), result.ptr);
}

void append_record(std::string& out, const TraceEvent& event) {
  if (event.kind == TraceEvent::Kind::Allocate) {
    out += "a ";
    append_number(out, event.id);
    out += ' ';
    append_number(out, event.bytes);
    out += ' ';
    append_number(out, event.stream);
  } else {
    out += "f ";
    append_number(out, event.id);
  }
  out += '\n';
}

// Parses trace text line by line with from_chars: the llama trace (550k records) must load in
// well under a second, which per-token iostream extraction does not manage.
class Parser {
 public:
  Parser(std::string_view text, std::string source)
      : text_(text), source_(std::move(source)), ids_(0, true) {}

  Trace run() {
    if (text_.size() >= 2 && static_cast<unsigned char>(text_[0]) == 0x1f &&
        static_cast<unsigned char>(text_[1]) == 0x8b) {
      fail(1, 0, "gzip-compressed data; read the file with read_trace(), which decompresses it");
    }
    if (text_.empty()) {
      fail(1, 0, "empty input; a trace starts with the line '# trace v1 <name>'");
    }
    const std::size_t lines =
        static_cast<std::size_t>(std::count(text_.begin(), text_.end(), '\n'));
    trace_.events.reserve(lines);
    ids_ = LiveIds(lines / 2 + 1, true);

    std::uint64_t line_number = 0;
    std::size_t pos = 0;
    while (pos < text_.size()) {
      const std::size_t newline = text_.find('\n', pos);
      const std::size_t end = newline == std::string_view::npos ? text_.size() : newline;
      std::string_view line = text_.substr(pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      ++line_number;
      if (line_number == 1) {
        parse_header(line);
      } else {
        parse_record(line, line_number, pos);
      }
      pos = end + 1;
    }
    return std::move(trace_);
  }

 private:
  [[noreturn]] void fail(std::uint64_t line_number, std::size_t offset,
                         const std::string& problem) const {
    throw FormatError(source_, fmt::format("line {}", line_number), offset, problem);
  }

  void parse_header(std::string_view line) {
    const auto expected = [&] {
      fail(1, 0,
           fmt::format("expected the header '# {} {} <name>' as the first line, found '{}'", kMagic,
                       kVersion, shown(line)));
    };
    if (line.empty() || line.front() != '#') expected();
    std::array<std::string_view, 3> fields;
    const std::size_t count = split_fields(line.substr(1), fields);
    if (count < 1 || fields[0] != kMagic) expected();
    if (count < 2) expected();
    if (fields[1] != kVersion) {
      fail(1, 0,
           fmt::format("unsupported trace version '{}'; this reader knows '{}'", shown(fields[1]),
                       kVersion));
    }
    if (count < 3) fail(1, 0, "the header names no trace; expected '# trace v1 <name>'");
    trace_.name = std::string(fields[2]);
    // The description is the rest of the line after the name, spaces inside it kept.
    const auto name_end =
        static_cast<std::size_t>(fields[2].data() + fields[2].size() - line.data());
    trace_.header = std::string(trim(line.substr(name_end)));
  }

  void parse_record(std::string_view line, std::uint64_t line_number, std::size_t offset) {
    std::array<std::string_view, 5> fields;
    const std::size_t count = split_fields(line, fields);
    if (count == 0 || fields[0].front() == '#') return;  // blank line or comment

    TraceEvent event;
    if (fields[0] == "a") {
      if (count != 4) {
        fail(line_number, offset,
             fmt::format("an allocation record 'a <id> <bytes> <stream>' has 3 fields, found {}",
                         count - 1));
      }
      event = TraceEvent::allocate(number(fields[1], "<id>", line_number, offset),
                                   number(fields[2], "<bytes>", line_number, offset),
                                   number(fields[3], "<stream>", line_number, offset));
    } else if (fields[0] == "f") {
      if (count != 2) {
        fail(line_number, offset,
             fmt::format("a free record 'f <id>' has 1 field, found {}", count - 1));
      }
      event = TraceEvent::free(number(fields[1], "<id>", line_number, offset));
    } else {
      fail(line_number, offset,
           fmt::format("unknown record kind '{}' (expected 'a', 'f' or a '#' comment)",
                       shown(fields[0])));
    }
    if (std::string problem = ids_.apply(event, line_number, "line"); !problem.empty()) {
      fail(line_number, offset, problem);
    }
    trace_.events.push_back(event);
  }

  std::uint64_t number(std::string_view field, std::string_view what, std::uint64_t line_number,
                       std::size_t offset) const {
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec == std::errc::result_out_of_range) {
      fail(line_number, offset, fmt::format("{} '{}' does not fit in 64 bits", what, shown(field)));
    }
    if (ec != std::errc{} || ptr != field.data() + field.size()) {
      fail(line_number, offset,
           fmt::format("{} '{}' is not an unsigned decimal number", what, shown(field)));
    }
    return value;
  }

  std::string_view text_;
  std::string source_;
  LiveIds ids_;
  Trace trace_;
};

struct GzClose {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzClose>;

GzFile open_gz(const std::filesystem::path& path, const char* mode, std::string_view action) {
  errno = 0;
  GzFile file(gzopen(path.c_str(), mode));
  if (!file) {
    const int error = errno;
    throw Error(fmt::format("cannot {} trace file '{}': {}", action, path.string(),
                            error != 0 ? system_reason(error) : "zlib could not allocate memory"));
  }
  return file;
}

[[noreturn]] void throw_gz_write_error(gzFile file, const std::filesystem::path& path) {
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  throw Error(fmt::format("cannot write trace file '{}': {}", path.string(),
                          code == Z_ERRNO ? system_reason(errno) : std::string(message)));
}

// Where written trace text goes: a (possibly gzip-compressed) file or a caller's stream.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(std::string_view text) = 0;
  virtual void flush() = 0;
  virtual void close() = 0;
};

class FileSink final : public Sink {
 public:
  FileSink(const std::filesystem::path& path, bool gzip)
      : path_(path), file_(open_gz(path, gzip ? "wb6" : "wbT", "create")) {}

  void write(std::string_view text) override {
    // gzwrite takes an unsigned length and returns an int: write in pieces below INT_MAX.
    constexpr std::size_t kPiece = 1 << 30;
    while (!text.empty()) {
      const std::size_t piece = std::min(text.size(), kPiece);
      if (gzwrite(file_.get(), text.data(), static_cast<unsigned>(piece)) == 0) {
        throw_gz_write_error(file_.get(), path_);
      }
      text.remove_prefix(piece);
    }
  }

  // Ends the gzip member, so that the file as it stands reads as a whole trace; the next write
  // starts another member (zlib reads concatenated members as one stream).
  void flush() override {
    if (gzflush(file_.get(), Z_FINISH) != Z_OK) throw_gz_write_error(file_.get(), path_);
  }

  void close() override {
    if (!file_) return;
    errno = 0;
    const int code = gzclose(file_.release());
    if (code != Z_OK) {
      throw Error(fmt::format("cannot write trace file '{}': {}", path_.string(),
                              code == Z_ERRNO ? system_reason(errno) : "zlib error on close"));
    }
  }

 private:
  std::filesystem::path path_;
  GzFile file_;
};

class StreamSink final : public Sink {
 public:
  explicit StreamSink(std::ostream& out) : out_(out) {}

  void write(std::string_view text) override {
    out_.write(text.data(), static_cast<std::streamsize>(text.size()));
    check();
  }
  void flush() override {
    out_.flush();
    check();
  }
  void close() override { flush(); }

 private:
  void check() const {
    if (!out_) throw Error("cannot write trace: the output stream failed");
  }

  std::ostream& out_;
};

}  // namespace

struct TraceRecorder::State {
  State(std::unique_ptr<Sink> s, std::string_view name, std::string_view header)
      : sink(std::move(s)) {
    append_header(buffer, name, header);
  }

  std::unique_ptr<Sink> sink;
  std::string buffer;
  LiveIds live{0, false};
  std::uint64_t events = 0;
  bool finished = false;
};

TraceSummary summarize(const Trace& trace) {
  TraceSummary summary;
  LiveIds ids(trace.events.size() / 2 + 1, true);
  std::unordered_set<std::uint64_t> streams;
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const TraceEvent& event = trace.events[i];
    if (std::string problem = ids.apply(event, i, "event"); !problem.empty()) {
      throw_invalid_event(i, problem);
    }
    if (event.kind == TraceEvent::Kind::Allocate) {
      ++summary.allocations;
      streams.insert(event.stream);
      summary.peak_live_bytes = std::max(summary.peak_live_bytes, ids.live_bytes());
      summary.peak_live_count = std::max(summary.peak_live_count, ids.live_count());
    } else {
      ++summary.frees;
    }
  }
  summary.live_at_end = ids.live_count();
  summary.events = summary.allocations + summary.frees + summary.live_at_end;
  summary.streams = streams.size();
  return summary;
}

Trace parse_trace(std::string_view text, std::string source_name) {
  return Parser(text, std::move(source_name)).run();
}

Trace parse_trace(std::istream& in, std::string source_name) {
  std::string text;
  std::array<char, 1 << 16> chunk;
  while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
    text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(fmt::format("cannot read trace '{}': the stream failed", source_name));
  return parse_trace(text, std::move(source_name));
}

Trace read_trace(const std::filesystem::path& path) {
  GzFile file = open_gz(path, "rb", "open");
  gzbuffer(file.get(), 1 << 18);

  // zlib passes plain text through unchanged, so one loop reads both kinds of file.
  std::string text;
  std::size_t size = 0;
  while (true) {
    if (text.size() - size < (1 << 20))
      text.resize(std::max<std::size_t>(text.size() * 2, 1 << 22));
    const std::size_t want = std::min<std::size_t>(text.size() - size, INT_MAX);
    errno = 0;
    const int got = gzread(file.get(), text.data() + size, static_cast<unsigned>(want));
    if (got > 0) {
      size += static_cast<std::size_t>(got);
      continue;
    }
    // End of data: a clean end, a read error, or damaged/truncated gzip data.
    int code = Z_OK;
    const char* message = gzerror(file.get(), &code);
    if (code == Z_ERRNO) {
      throw Error(
          fmt::format("cannot read trace file '{}': {}", path.string(), system_reason(errno)));
    }
    if (got < 0 || (code != Z_OK && code != Z_STREAM_END)) {
      throw FormatError(path.string(), "gzip stream",
                        static_cast<std::uint64_t>(std::max<z_off_t>(gzoffset(file.get()), 0)),
                        fmt::format("corrupt or truncated gzip data ({})", message));
    }
    break;
  }
  text.resize(size);
  return parse_trace(text, path.string());
}

std::string format_trace(const Trace& trace) {
  check_header(trace.name, trace.header);
  summarize(trace);  // refuse events the reader would reject
  std::string out;
  out.reserve(64 + trace.header.size() + trace.events.size() * 24);
  append_header(out, trace.name, trace.header);
  for (const TraceEvent& event : trace.events) append_record(out, event);
  return out;
}

void write_trace(const Trace& trace, const std::filesystem::path& path, bool gzip) {
  const std::string text = format_trace(trace);
  FileSink sink(path, gzip || path.extension() == ".gz");
  sink.write(text);
  sink.close();
}

TraceRecorder::TraceRecorder(const std::filesystem::path& path, const std::string& name,
                             const std::string& header, bool gzip) {
  check_header(name, header);
  state_ = std::make_unique<State>(
      std::make_unique<FileSink>(path, gzip || path.extension() == ".gz"), name, header);
  flush_locked();
}

TraceRecorder::TraceRecorder(std::ostream& out, const std::string& name,
                             const std::string& header) {
  check_header(name, header);
  state_ = std::make_unique<State>(std::make_unique<StreamSink>(out), name, header);
  flush_locked();
}

TraceRecorder::~TraceRecorder() {
  try {
    finish();
  } catch (...) {
    // A destructor must not throw; callers who care about write errors call finish().
  }
}

void TraceRecorder::record(const TraceEvent& event) {
  std::lock_guard lock(mutex_);
  State& s = *state_;
  if (s.finished) throw Error("trace recorder: event recorded after finish()");
  if (std::string problem = s.live.apply(event, s.events, "event"); !problem.empty()) {
    throw InvalidArgument("trace recorder: " + problem);
  }
  append_record(s.buffer, event);
  ++s.events;
  if (s.buffer.size() >= kRecorderFlushBytes) flush_locked();
}

void TraceRecorder::on_allocate(std::uint64_t id, std::uint64_t bytes, std::uint64_t stream) {
  record(TraceEvent::allocate(id, bytes, stream));
}

void TraceRecorder::on_free(std::uint64_t id) { record(TraceEvent::free(id)); }

void TraceRecorder::flush() {
  std::lock_guard lock(mutex_);
  if (state_->finished) return;
  flush_locked();
  state_->sink->flush();
}

void TraceRecorder::finish() {
  std::lock_guard lock(mutex_);
  if (state_->finished) return;
  flush_locked();
  state_->finished = true;
  state_->sink->close();
}

std::uint64_t TraceRecorder::events_recorded() const {
  std::lock_guard lock(mutex_);
  return state_->events;
}

void TraceRecorder::flush_locked() {
  if (state_->buffer.empty()) return;
  state_->sink->write(state_->buffer);
  state_->buffer.clear();
}

// The churn generator, specified exactly (bench/traces/README.md repeats it for other tools):
// std::mt19937_64 seeded with `seed` (its output is fixed by the C++ standard), and only integer
// and correctly rounded IEEE-754 double operations (* and sqrt), never std::uniform_*_distribution
// or std::exp/std::log, whose results differ between standard libraries.
namespace {

// An unbiased index in [0, n): reject draws below 2^64 mod n, then reduce modulo n.
std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t threshold = (0 - n) % n;
  while (true) {
    const std::uint64_t draw = rng();
    if (draw >= threshold) return draw % n;
  }
}

// Log-uniform sizes: bytes = floor(min * ratio^(x / 2^32)) for x the top 32 bits of one draw and
// ratio = max / min. ratio^(x / 2^32) is the product, over the set bits of x from the most
// significant down, of ratio^(1/2), ratio^(1/4), ... ratio^(1/2^32), each obtained by taking
// sqrt of the previous one, so no transcendental function is involved.
class LogUniformSizes {
 public:
  LogUniformSizes(std::uint64_t min_bytes, std::uint64_t max_bytes)
      : min_(min_bytes), max_(max_bytes) {
    double root = static_cast<double>(max_bytes) / static_cast<double>(min_bytes);
    for (double& r : roots_) {
      root = std::sqrt(root);
      r = root;
    }
  }

  std::uint64_t next(std::mt19937_64& rng) const {
    const std::uint64_t x = rng() >> 32;
    double scale = 1.0;
    for (std::size_t i = 0; i < roots_.size(); ++i) {
      if ((x >> (31 - i)) & 1) scale *= roots_[i];
    }
    const double bytes = static_cast<double>(min_) * scale;
    if (bytes >= static_cast<double>(max_)) return max_;
    if (bytes <= static_cast<double>(min_)) return min_;
    return static_cast<std::uint64_t>(bytes);  // truncation is floor: bytes is positive
  }

 private:
  std::uint64_t min_;
  std::uint64_t max_;
  std::array<double, 32> roots_{};
};

std::string churn_name(std::uint64_t operations) {
  if (operations != 0 && operations % 1000 == 0) return fmt::format("churn{}k", operations / 1000);
  return fmt::format("churn{}", operations);
}

constexpr std::array<std::string_view, 1> kBuiltinTraces = {"churn200k"};

}  // namespace

Trace make_churn_trace(const ChurnParams& params) {
  if (params.min_bytes == 0 || params.min_bytes > params.max_bytes) {
    throw InvalidArgument(fmt::format(
        "churn trace sizes must satisfy 0 < min_bytes <= max_bytes, got min_bytes {} and "
        "max_bytes {}",
        params.min_bytes, params.max_bytes));
  }
  Trace trace;
  trace.name = churn_name(params.operations);
  trace.header = fmt::format(
      "(gpumem synthetic churn: operations={} target_live={} min_bytes={} max_bytes={} seed={})",
      params.operations, params.target_live, params.min_bytes, params.max_bytes, params.seed);

  std::mt19937_64 rng(params.seed);
  const LogUniformSizes sizes(params.min_bytes, params.max_bytes);
  // Ids are 0, 1, 2, ... in allocation order. `live` keeps the live ids in an order the
  // specification depends on: appended on allocation; a free takes live[k] and moves the last
  // entry into its place.
  std::vector<std::uint64_t> live;
  live.reserve(static_cast<std::size_t>(std::min(params.target_live, params.operations)) + 1);
  trace.events.reserve(static_cast<std::size_t>(params.operations + live.capacity()));
  std::uint64_t next_id = 0;

  for (std::uint64_t step = 0; step < params.operations; ++step) {
    // The top two bits of one draw give the 3/4 : 1/4 choice.
    const bool coin = (rng() >> 62) != 0;  // true with probability 3/4
    const bool below_target = live.size() < params.target_live;
    const bool allocate = (below_target ? coin : !coin) || live.empty();
    if (allocate) {
      trace.events.push_back(TraceEvent::allocate(next_id, sizes.next(rng)));
      live.push_back(next_id++);
    } else {
      const auto k = static_cast<std::size_t>(uniform_index(rng, live.size()));
      trace.events.push_back(TraceEvent::free(live[k]));
      live[k] = live.back();
      live.pop_back();
    }
  }
  // Everything still live is freed after the counted operations, lowest id first.
  std::sort(live.begin(), live.end());
  for (std::uint64_t id : live) trace.events.push_back(TraceEvent::free(id));
  return trace;
}

Trace builtin_trace(std::string_view name) {
  if (name == kBuiltinTraces[0]) return make_churn_trace(ChurnParams{});
  std::string known;
  for (std::string_view n : kBuiltinTraces)
    known += fmt::format("{}'{}'", known.empty() ? "" : ", ", n);
  throw InvalidArgument(fmt::format("no built-in trace named '{}'; known: {}", shown(name), known));
}

std::span<const std::string_view> builtin_trace_names() { return kBuiltinTraces; }

}  // namespace gpumem
