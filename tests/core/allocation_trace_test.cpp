#include "gpumem/core/allocation_trace.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

namespace fs = std::filesystem;

// CMake sets GPUMEM_TRACE_DIR; a standalone build finds the traces beside the sources.
#ifdef GPUMEM_TRACE_DIR
const fs::path kTraceDir = GPUMEM_TRACE_DIR;
#else
const fs::path kTraceDir = fs::path(__FILE__).parent_path() / ".." / ".." / "bench" / "traces";
#endif

using Kind = TraceEvent::Kind;

// A scratch directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("gpumem_trace_") + info->test_suite_name() + "_" + info->name() +
                       "_" + std::to_string(::getpid());
    std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests are named "A/B"
    path_ = fs::temp_directory_path() / name;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// FNV-1a 64: a checksum any tool can compute over the trace text.
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3;
  }
  return hash;
}

// --- The shared real traces ------------------------------------------------------------------

struct RealTrace {
  const char* file;
  const char* name;
  std::uint64_t allocations;
  std::uint64_t events;
  std::uint64_t peak_live_bytes;
};

class RealTraceTest : public ::testing::TestWithParam<RealTrace> {};

// The figures of bench/traces/README.md.
TEST_P(RealTraceTest, SummaryMatchesReadme) {
  const RealTrace& expected = GetParam();
  const Trace trace = read_trace(kTraceDir / expected.file);
  EXPECT_EQ(trace.name, expected.name);
  EXPECT_EQ(trace.header, "(PyTorch 2.11.0+cu130, NVIDIA H200)");

  const TraceSummary s = summarize(trace);
  EXPECT_EQ(s.allocations, expected.allocations);
  EXPECT_EQ(s.events, expected.events);
  EXPECT_EQ(s.peak_live_bytes, expected.peak_live_bytes);
  EXPECT_EQ(s.allocations + s.frees, trace.events.size());
  EXPECT_EQ(s.allocations - s.frees, s.live_at_end);
  EXPECT_EQ(s.streams, 1u);
  EXPECT_GT(s.peak_live_count, s.live_at_end);
}

TEST_P(RealTraceTest, RoundTripsThroughGzipFile) {
  TempDir dir;
  const Trace trace = read_trace(kTraceDir / GetParam().file);
  write_trace(trace, dir / "copy.trace.gz");
  EXPECT_EQ(read_trace(dir / "copy.trace.gz"), trace);
}

INSTANTIATE_TEST_SUITE_P(
    Shared, RealTraceTest,
    ::testing::Values(
        RealTrace{"resnet50_train.trace.gz", "resnet50_train", 3'228, 6'456, 5'879'357'852},
        RealTrace{"gpt2_train.trace.gz", "gpt2_train", 4'719, 9'438, 15'775'644'680},
        RealTrace{"llama_generate_kv.trace.gz", "llama_generate_kv", 275'229, 550'458,
                  1'483'345'960},
        RealTrace{"mlp_train_small.trace.gz", "mlp_train_small", 8'123, 16'246, 490'672'332}),
    [](const auto& test) { return std::string(test.param.name); });

// --- Parsing ---------------------------------------------------------------------------------

TEST(ParseTrace, ReadsHeaderRecordsCommentsAndBlankLines) {
  const Trace trace = parse_trace(
      "# trace v1 tiny (test recorder, no device)\n"
      "a 1 4096 0\n"
      "\n"
      "# a comment\n"
      "a\t2  100\t7\r\n"
      "   \n"
      "f 1\n"
      "a 1 8 0",  // an id may be reused after its free; the last line may lack '\n'
      "tiny.trace");
  EXPECT_EQ(trace.name, "tiny");
  EXPECT_EQ(trace.header, "(test recorder, no device)");
  const std::vector<TraceEvent> expected = {TraceEvent::allocate(1, 4096),
                                            TraceEvent::allocate(2, 100, 7), TraceEvent::free(1),
                                            TraceEvent::allocate(1, 8)};
  EXPECT_EQ(trace.events, expected);
}

TEST(ParseTrace, HeaderWithoutDescription) {
  const Trace trace = parse_trace("# trace v1 bare\n", "bare");
  EXPECT_EQ(trace.name, "bare");
  EXPECT_EQ(trace.header, "");
  EXPECT_TRUE(trace.events.empty());
}

TEST(ParseTrace, ReadsFromStream) {
  std::istringstream in("# trace v1 s\na 0 1 0\nf 0\n");
  const Trace trace = parse_trace(in, "stream");
  EXPECT_EQ(trace.events.size(), 2u);
}

struct Malformed {
  const char* text;
  std::uint64_t line;
  std::uint64_t offset;
  const char* problem;  // a piece of the message
};

void PrintTo(const Malformed& m, std::ostream* out) { *out << ::testing::PrintToString(m.text); }

class MalformedTraceTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedTraceTest, NamesSourceLineOffsetAndProblem) {
  const Malformed& m = GetParam();
  try {
    parse_trace(m.text, "bad.trace");
    FAIL() << "accepted: " << m.text;
  } catch (const FormatError& e) {
    EXPECT_EQ(e.source(), "bad.trace");
    EXPECT_EQ(e.field(), "line " + std::to_string(m.line));
    EXPECT_EQ(e.offset(), m.offset);
    EXPECT_NE(std::string(e.what()).find(m.problem), std::string::npos) << e.what();
  }
}

// "# trace v1 t\n" is 13 bytes, so a second line starts at offset 13.
INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedTraceTest,
    ::testing::Values(
        Malformed{"", 1, 0, "empty input"},
        Malformed{"a 1 2 0\n", 1, 0, "expected the header '# trace v1 <name>'"},
        Malformed{"\n# trace v1 t\n", 1, 0, "expected the header"},
        Malformed{"# comment\n", 1, 0, "expected the header"},
        Malformed{"# trace v2 t\n", 1, 0, "unsupported trace version 'v2'"},
        Malformed{"# trace\n", 1, 0, "expected the header"},
        Malformed{"# trace v1\n", 1, 0, "names no trace"},
        Malformed{"\x1f\x8b\x08\x00", 1, 0, "gzip-compressed"},
        Malformed{"# trace v1 t\nx 1 2 3\n", 2, 13, "unknown record kind 'x'"},
        Malformed{"# trace v1 t\nalloc 1 2 3\n", 2, 13, "unknown record kind 'alloc'"},
        Malformed{"# trace v1 t\na 1 2\n", 2, 13, "has 3 fields, found 2"},
        Malformed{"# trace v1 t\na 1 2 0 9\n", 2, 13, "has 3 fields, found 4"},
        Malformed{"# trace v1 t\na\n", 2, 13, "has 3 fields, found 0"},
        Malformed{"# trace v1 t\na 0 1 0\nf\n", 3, 21, "has 1 field, found 0"},
        Malformed{"# trace v1 t\na 0 1 0\nf 0 1\n", 3, 21, "has 1 field, found 2"},
        Malformed{"# trace v1 t\na 1 abc 0\n", 2, 13, "<bytes> 'abc' is not an unsigned decimal"},
        Malformed{"# trace v1 t\na 1 12x 0\n", 2, 13, "<bytes> '12x' is not"},
        Malformed{"# trace v1 t\na -1 5 0\n", 2, 13, "<id> '-1' is not"},
        Malformed{"# trace v1 t\na +1 5 0\n", 2, 13, "<id> '+1' is not"},
        Malformed{"# trace v1 t\na 1 5 s\n", 2, 13, "<stream> 's' is not"},
        Malformed{"# trace v1 t\na 1 18446744073709551616 0\n", 2, 13,
                  "<bytes> '18446744073709551616' does not fit in 64 bits"},
        Malformed{"# trace v1 t\na 1 5 0\n\na 1 6 0\n", 4, 22,
                  "allocation of id 1, which is still live (allocated on line 2)"},
        Malformed{"# trace v1 t\na 1 5 0\nf 2\n", 3, 21, "free of id 2, which was never allocated"},
        Malformed{"# trace v1 t\na 1 5 0\nf 1\nf 1\n", 4, 25,
                  "free of id 1, which was already freed on line 3"},
        Malformed{"# trace v1 t\na 1 18446744073709551615 0\na 2 1 0\n", 3, 40, "past 2^64 - 1"}));

TEST(ParseTrace, LargestNumbersFit) {
  const Trace trace = parse_trace(
      "# trace v1 t\na 18446744073709551615 18446744073709551615 18446744073709551615\n", "t");
  EXPECT_EQ(trace.events.at(0), TraceEvent::allocate(UINT64_MAX, UINT64_MAX, UINT64_MAX));
}

// --- Files -----------------------------------------------------------------------------------

TEST(ReadTrace, ReadsPlainTextAndGzipAlike) {
  TempDir dir;
  const std::string text = "# trace v1 both (x)\na 0 10 0\na 1 20 3\nf 0\n";
  write_bytes(dir / "plain.trace", text);
  const Trace plain = read_trace(dir / "plain.trace");
  EXPECT_EQ(plain, parse_trace(text, "text"));

  write_trace(plain, dir / "packed.bin", /*gzip=*/true);
  EXPECT_EQ(read_bytes(dir / "packed.bin").substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(read_trace(dir / "packed.bin"), plain);
}

TEST(ReadTrace, MissingFileNamesPathAndReason) {
  TempDir dir;
  const fs::path path = dir / "absent.trace.gz";
  try {
    read_trace(path);
    FAIL();
  } catch (const FormatError&) {
    FAIL() << "a missing file is not a format error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos)
        << e.what();
  }
}

TEST(ReadTrace, DirectoryIsAReadErrorNotAFormatError) {
  TempDir dir;
  try {
    read_trace(dir.path());
    FAIL();
  } catch (const FormatError& e) {
    FAIL() << "reported as a format error: " << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path().string()), std::string::npos) << e.what();
  }
}

TEST(ReadTrace, TruncatedGzipIsFormatError) {
  TempDir dir;
  const std::string gz = read_bytes(kTraceDir / "gpt2_train.trace.gz");
  write_bytes(dir / "cut.trace.gz", gz.substr(0, gz.size() / 2));
  try {
    read_trace(dir / "cut.trace.gz");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "gzip stream");
    EXPECT_NE(std::string(e.what()).find("cut.trace.gz"), std::string::npos);
  }
}

TEST(ReadTrace, CorruptGzipIsFormatError) {
  TempDir dir;
  std::string gz = read_bytes(kTraceDir / "gpt2_train.trace.gz");
  for (std::size_t i = gz.size() / 3; i < gz.size() / 3 + 64; ++i)
    gz[i] = static_cast<char>(~gz[i]);
  write_bytes(dir / "bad.trace.gz", gz);
  try {
    read_trace(dir / "bad.trace.gz");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "gzip stream");
  }
}

TEST(ReadTrace, GzipTrailerMismatchIsFormatError) {
  TempDir dir;
  std::string gz = read_bytes(kTraceDir / "resnet50_train.trace.gz");
  gz[gz.size() - 6] = static_cast<char>(~gz[gz.size() - 6]);  // CRC-32 of the data
  write_bytes(dir / "crc.trace.gz", gz);
  EXPECT_THROW(read_trace(dir / "crc.trace.gz"), FormatError);
}

// --- Writing ---------------------------------------------------------------------------------

Trace small_trace() {
  return Trace{"small",
               "(hand made)",
               {TraceEvent::allocate(0, 256), TraceEvent::allocate(7, 1 << 20, 2),
                TraceEvent::free(0), TraceEvent::allocate(0, 64, 1)}};
}

TEST(FormatTrace, WritesTheDocumentedText) {
  EXPECT_EQ(format_trace(small_trace()),
            "# trace v1 small (hand made)\n"
            "a 0 256 0\n"
            "a 7 1048576 2\n"
            "f 0\n"
            "a 0 64 1\n");
  EXPECT_EQ(format_trace(Trace{"empty", "", {}}), "# trace v1 empty\n");
}

TEST(FormatTrace, RoundTrips) {
  const Trace trace = small_trace();
  EXPECT_EQ(parse_trace(format_trace(trace), "round"), trace);
}

TEST(FormatTrace, RefusesWhatCannotBeReadBack) {
  EXPECT_THROW(format_trace(Trace{"", "", {}}), InvalidArgument);
  EXPECT_THROW(format_trace(Trace{"two words", "", {}}), InvalidArgument);
  EXPECT_THROW(format_trace(Trace{"n", "line\nbreak", {}}), InvalidArgument);
  EXPECT_THROW(format_trace(Trace{"n", " padded", {}}), InvalidArgument);
  try {
    format_trace(Trace{"n", "", {TraceEvent::allocate(1, 1), TraceEvent::free(2)}});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("trace event 1: free of id 2"), std::string::npos)
        << e.what();
  }
}

TEST(WriteTrace, PlainAndGzipFilesReadBack) {
  TempDir dir;
  const Trace trace = small_trace();
  write_trace(trace, dir / "small.trace");
  EXPECT_EQ(read_bytes(dir / "small.trace"), format_trace(trace));
  write_trace(trace, dir / "small.trace.gz");
  EXPECT_EQ(read_bytes(dir / "small.trace.gz").substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(read_trace(dir / "small.trace"), trace);
  EXPECT_EQ(read_trace(dir / "small.trace.gz"), trace);
}

TEST(WriteTrace, UnwritablePathIsError) {
  TempDir dir;
  EXPECT_THROW(write_trace(small_trace(), dir / "no" / "such" / "dir.trace"), Error);
}

// --- Summary ---------------------------------------------------------------------------------

TEST(Summarize, CountsPeaksAndLeftovers) {
  const TraceSummary s = summarize(small_trace());
  EXPECT_EQ(s.allocations, 3u);
  EXPECT_EQ(s.frees, 1u);
  EXPECT_EQ(s.live_at_end, 2u);
  EXPECT_EQ(s.events, 6u);
  EXPECT_EQ(s.peak_live_bytes, 256u + (1u << 20));
  EXPECT_EQ(s.peak_live_count, 2u);
  EXPECT_EQ(s.streams, 3u);
}

TEST(Summarize, RejectsInconsistentEvents) {
  EXPECT_THROW(summarize(Trace{"n", "", {TraceEvent::free(3)}}), InvalidArgument);
  EXPECT_THROW(summarize(Trace{"n", "", {TraceEvent::allocate(3, 1), TraceEvent::allocate(3, 1)}}),
               InvalidArgument);
}

// --- Recorder --------------------------------------------------------------------------------

TEST(TraceRecorder, WritesTheFormatToAStream) {
  std::ostringstream out;
  {
    TraceRecorder recorder(out, "captured", "(unit test)");
    recorder.on_allocate(5, 4096);
    recorder.on_allocate(6, 100, 3);
    recorder.on_free(5);
    EXPECT_EQ(recorder.events_recorded(), 3u);
    recorder.finish();
    recorder.finish();  // a second finish does nothing
  }
  EXPECT_EQ(out.str(), "# trace v1 captured (unit test)\na 5 4096 0\na 6 100 3\nf 5\n");
}

TEST(TraceRecorder, RefusesInconsistentEventsWithoutRecordingThem) {
  std::ostringstream out;
  TraceRecorder recorder(out, "r");
  recorder.on_allocate(1, 10);
  EXPECT_THROW(recorder.on_allocate(1, 10), InvalidArgument);
  EXPECT_THROW(recorder.on_free(2), InvalidArgument);
  recorder.on_free(1);
  EXPECT_THROW(recorder.on_free(1), InvalidArgument);
  recorder.on_allocate(1, 20);  // reuse after the free is fine
  recorder.finish();
  EXPECT_THROW(recorder.on_allocate(9, 1), Error);
  EXPECT_EQ(parse_trace(out.str(), "r").events.size(), 3u);
}

TEST(TraceRecorder, RefusesUnwritableHeader) {
  std::ostringstream out;
  EXPECT_THROW(TraceRecorder(out, "has space"), InvalidArgument);
}

TEST(TraceRecorder, FlushMakesRecordsVisible) {
  TempDir dir;
  TraceRecorder recorder(dir / "live.trace", "live");
  recorder.on_allocate(1, 64);
  recorder.flush();
  EXPECT_EQ(read_trace(dir / "live.trace").events.size(), 1u);
  recorder.on_free(1);
  recorder.finish();
  EXPECT_EQ(read_trace(dir / "live.trace").events.size(), 2u);
}

TEST(TraceRecorder, FlushMakesACompressedFileReadableWhileRecordingGoesOn) {
  TempDir dir;
  TraceRecorder recorder(dir / "live.trace.gz", "live");
  recorder.on_allocate(1, 64);
  recorder.on_allocate(2, 128);
  recorder.flush();
  EXPECT_EQ(read_trace(dir / "live.trace.gz").events.size(), 2u);
  recorder.on_free(1);
  recorder.flush();
  recorder.on_free(2);
  recorder.finish();
  const Trace trace = read_trace(dir / "live.trace.gz");
  EXPECT_EQ(trace.events, (std::vector<TraceEvent>{TraceEvent::allocate(1, 64, 0),
                                                   TraceEvent::allocate(2, 128, 0),
                                                   TraceEvent::free(1), TraceEvent::free(2)}));
}

TEST(TraceRecorder, GzipFileFinishedByDestructor) {
  TempDir dir;
  {
    TraceRecorder recorder(dir / "run.trace.gz", "run", "(destructor)");
    recorder.on_allocate(1, 64, 2);
  }
  const Trace trace = read_trace(dir / "run.trace.gz");
  EXPECT_EQ(trace.header, "(destructor)");
  EXPECT_EQ(trace.events, std::vector<TraceEvent>{TraceEvent::allocate(1, 64, 2)});
}

TEST(TraceRecorder, ManyThreadsProduceAValidTrace) {
  constexpr int kThreads = 8;
  constexpr std::uint64_t kPerThread = 20'000;  // enough to overflow the recorder's buffer
  TempDir dir;
  {
    TraceRecorder recorder(dir / "threads.trace.gz", "threads");
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&recorder, t] {
        const std::uint64_t base = static_cast<std::uint64_t>(t) * kPerThread;
        for (std::uint64_t i = 0; i < kPerThread; ++i) {
          recorder.on_allocate(base + i, i + 1, static_cast<std::uint64_t>(t));
          if (i % 2 == 1) recorder.on_free(base + i - 1);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    recorder.finish();
  }
  const TraceSummary s = summarize(read_trace(dir / "threads.trace.gz"));
  EXPECT_EQ(s.allocations, kThreads * kPerThread);
  EXPECT_EQ(s.frees, kThreads * kPerThread / 2);
  EXPECT_EQ(s.streams, static_cast<std::uint64_t>(kThreads));
}

// --- Synthetic churn -------------------------------------------------------------------------

TEST(ChurnTrace, IsDeterministic) {
  const ChurnParams params{.operations = 20'000};
  EXPECT_EQ(make_churn_trace(params), make_churn_trace(params));
  ChurnParams other = params;
  other.seed = 8;
  EXPECT_NE(make_churn_trace(params).events, make_churn_trace(other).events);
}

// Pinned output of the generator specified in bench/traces/README.md (an independent Python
// implementation of that text gives the same checksums). A change here changes every benchmark
// figure measured on churn200k.
TEST(ChurnTrace, MatchesGoldenChecksums) {
  const Trace trace = builtin_trace("churn200k");
  EXPECT_EQ(trace, make_churn_trace({}));
  EXPECT_EQ(trace.name, "churn200k");

  const std::vector<TraceEvent> first = {
      TraceEvent::allocate(0, 9'561'590), TraceEvent::free(0), TraceEvent::allocate(1, 471),
      TraceEvent::allocate(2, 5'578'197), TraceEvent::allocate(3, 734'544)};
  EXPECT_TRUE(std::equal(first.begin(), first.end(), trace.events.begin()));

  Trace head = trace;
  head.events.resize(1000);
  EXPECT_EQ(fnv1a(format_trace(head)), 0x24bfdac07f934bbcu);
  EXPECT_EQ(fnv1a(format_trace(trace)), 0x89e05fda92c07b2bu);

  const TraceSummary s = summarize(trace);
  EXPECT_EQ(s.allocations, 100'499u);
  EXPECT_EQ(s.events, 200'998u);
  EXPECT_EQ(s.peak_live_bytes, 1'841'683'989u);
  EXPECT_EQ(s.live_at_end, 0u);
}

TEST(ChurnTrace, OperationsExcludeTheFinalFrees) {
  const ChurnParams params{.operations = 50'000, .target_live = 300};
  const Trace trace = make_churn_trace(params);
  std::uint64_t allocations = 0;
  for (std::uint64_t i = 0; i < params.operations; ++i) {
    allocations += trace.events[i].kind == Kind::Allocate ? 1u : 0u;
  }
  const std::uint64_t live = allocations - (params.operations - allocations);
  ASSERT_EQ(trace.events.size(), params.operations + live);
  // The leftovers are freed lowest id first.
  const auto tail = std::span(trace.events).subspan(params.operations);
  EXPECT_TRUE(
      std::all_of(tail.begin(), tail.end(), [](const auto& e) { return e.kind == Kind::Free; }));
  EXPECT_TRUE(std::is_sorted(tail.begin(), tail.end(),
                             [](const auto& a, const auto& b) { return a.id < b.id; }));
  EXPECT_EQ(summarize(trace).live_at_end, 0u);
}

TEST(ChurnTrace, LiveCountStaysNearTarget) {
  for (const std::uint64_t target : {10u, 1000u}) {
    const ChurnParams params{.operations = 100'000, .target_live = target};
    const Trace trace = make_churn_trace(params);
    std::int64_t live = 0;
    std::int64_t worst = 0;
    for (std::uint64_t i = 0; i < params.operations; ++i) {
      live += trace.events[i].kind == Kind::Allocate ? 1 : -1;
      // The count climbs by 1/2 per step on average, so it reaches the target by ~2 * target.
      if (i >= 3 * target)
        worst = std::max(worst, std::abs(live - static_cast<std::int64_t>(target)));
    }
    EXPECT_LE(worst, 25) << "target " << target;
  }
}

TEST(ChurnTrace, SizesAreLogUniformWithinBounds) {
  const ChurnParams params{.operations = 100'000};
  const Trace trace = make_churn_trace(params);
  std::uint64_t allocations = 0;
  std::uint64_t below_geometric_mean = 0;  // sqrt(256 * 16 MiB) = 64 KiB
  for (const TraceEvent& e : trace.events) {
    if (e.kind != Kind::Allocate) continue;
    ++allocations;
    ASSERT_GE(e.bytes, params.min_bytes);
    ASSERT_LE(e.bytes, params.max_bytes);
    below_geometric_mean += e.bytes < 64 * kKiB ? 1 : 0;
  }
  const double fraction =
      static_cast<double>(below_geometric_mean) / static_cast<double>(allocations);
  EXPECT_NEAR(fraction, 0.5, 0.02);
}

TEST(ChurnTrace, EqualBoundsGiveOneSize) {
  const Trace trace = make_churn_trace({.operations = 1000, .min_bytes = 4096, .max_bytes = 4096});
  for (const TraceEvent& e : trace.events) {
    if (e.kind == Kind::Allocate) {
      ASSERT_EQ(e.bytes, 4096u);
    }
  }
}

TEST(ChurnTrace, RejectsBadSizes) {
  EXPECT_THROW(make_churn_trace({.min_bytes = 0}), InvalidArgument);
  EXPECT_THROW(make_churn_trace({.min_bytes = 10, .max_bytes = 5}), InvalidArgument);
}

TEST(BuiltinTrace, UnknownNameListsKnownOnes) {
  ASSERT_EQ(builtin_trace_names().size(), 1u);
  EXPECT_EQ(builtin_trace_names()[0], "churn200k");
  try {
    builtin_trace("churn1m");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'churn200k'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpumem
