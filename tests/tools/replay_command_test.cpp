// `gpumem replay` run in-process: JSON and table output, trace sources, and errors.
#include "cli/replay_command.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "gpumem/core/error.hpp"
#include "gpumem/memory/allocator_factory.hpp"

namespace gpumem::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// A trace file in the temporary directory, removed with the object.
class TraceFile {
 public:
  explicit TraceFile(const std::string& text) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            (std::string("gpumem_replay_") + test->name() + "_" + std::to_string(::getpid()));
    std::ofstream(path_) << text;
  }
  ~TraceFile() {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

constexpr std::string_view kSmallTrace =
    "# trace v1 small (hand-written)\n"
    "a 1 1000 0\n"
    "a 2 3000000 0\n"
    "f 1\n"
    "a 1 5000000 0\n";

std::string replay_text(const ReplayCommandOptions& options) {
  std::ostringstream out;
  run_replay(options, out);
  return out.str();
}

std::vector<Json> replay_json(ReplayCommandOptions options) {
  options.json = true;
  std::istringstream lines(replay_text(options));
  std::vector<Json> docs;
  for (std::string line; std::getline(lines, line);) docs.push_back(Json::parse(line));
  return docs;
}

TEST(ReplayCommand, JsonHasOneObjectPerTraceWithTheDocumentedFields) {
  const TraceFile file{std::string(kSmallTrace)};
  const std::vector<Json> docs =
      replay_json({.traces = {file.path(), "churn:operations=20000,seed=3"}});
  ASSERT_EQ(docs.size(), 2U);

  const Json& small = docs[0];
  EXPECT_EQ(small.at("trace"), "small");
  EXPECT_EQ(small.at("device"), "sim");
  EXPECT_EQ(small.at("heap"), "device-local");
  EXPECT_EQ(small.at("allocator"), "arena");  // what auto is on a device that maps pages
  EXPECT_EQ(small.at("through_manager"), false);
  EXPECT_EQ(small.at("alignment"), 256);
  EXPECT_EQ(small.at("ops"), 6);  // four records and the frees of ids 1 and 2
  EXPECT_EQ(small.at("allocs"), 3);
  EXPECT_EQ(small.at("peak_live"), 8'000'000);
  EXPECT_EQ(small.at("failures"), 0);
  EXPECT_GE(small.at("peak_reserved").get<std::uint64_t>(), 8'000'000U);
  EXPECT_GE(small.at("reserved_over_live").get<double>(), 1.0);
  EXPECT_GE(small.at("ns_per_op").get<double>(), 0.0);
  EXPECT_TRUE(small.contains("elapsed_ns"));

  const TraceSummary churn = summarize(make_churn_trace({.operations = 20'000, .seed = 3}));
  const Json& spec = docs[1];
  EXPECT_EQ(spec.at("trace"), "churn20k");
  EXPECT_EQ(spec.at("ops"), churn.events);
  EXPECT_EQ(spec.at("allocs"), churn.allocations);
  EXPECT_EQ(spec.at("peak_live"), churn.peak_live_bytes);
  EXPECT_EQ(spec.at("failures"), 0);
}

TEST(ReplayCommand, ManagerHeapAndAlignmentReachTheReplay) {
  const TraceFile file{std::string(kSmallTrace)};
  const std::vector<Json> docs = replay_json({.traces = {file.path()},
                                              .device = "sim:capacity=1GiB,page=64KiB",
                                              .allocator = "direct",
                                              .heap = 0,
                                              .alignment = 4096,
                                              .through_manager = true});
  ASSERT_EQ(docs.size(), 1U);
  EXPECT_EQ(docs[0].at("device"), "sim:capacity=1GiB,page=64KiB");
  EXPECT_EQ(docs[0].at("through_manager"), true);
  EXPECT_EQ(docs[0].at("alignment"), 4096);
  // 64 KiB pages: 1000 B takes one, 3,000,000 B 46 and 5,000,000 B 77; the last two are live
  // together at the peak.
  EXPECT_EQ(docs[0].at("peak_reserved"), (46 + 77) * 64 * 1024);
}

TEST(ReplayCommand, TableHasAHeadingAndARowPerTrace) {
  const TraceFile file{std::string(kSmallTrace)};
  const std::string text = replay_text({.traces = {file.path(), "churn:operations=2000"}});
  EXPECT_THAT(text, HasSubstr("Replay on sim (heap 0, device-local), alignment 256 B, "
                              "allocator only"));
  EXPECT_THAT(text, HasSubstr("reserved/live"));
  EXPECT_THAT(text, HasSubstr("ns/op"));
  EXPECT_THAT(text, HasSubstr("  small "));
  EXPECT_THAT(text, HasSubstr("  churn2k "));
  EXPECT_THAT(text, HasSubstr(" arena "));
}

void expect_error(const ReplayCommandOptions& options, const std::string& part) {
  try {
    replay_text(options);
    FAIL() << "no error; expected one with: " << part;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(part));
  }
}

TEST(ReplayCommand, UnknownAllocatorListsTheKnownOnes) {
  expect_error({.traces = {"churn:operations=10"}, .allocator = "buddy"},
               "unknown allocator 'buddy' (known: auto, direct");
}

TEST(ReplayCommand, AllocatorMissingFromThisBuildIsNamed) {
  const std::vector<AllocatorKind> built = available_allocator_kinds();
  for (const AllocatorKind kind : {AllocatorKind::Pool, AllocatorKind::Arena}) {
    if (std::find(built.begin(), built.end(), kind) != built.end()) continue;
    expect_error({.traces = {"churn:operations=10"}, .allocator = std::string(to_string(kind))},
                 "is not available in this build");
  }
}

TEST(ReplayCommand, MalformedTraceNamesFileAndLine) {
  const TraceFile file{"# trace v1 bad\na 1 12x 0\n"};
  expect_error({.traces = {file.path()}}, file.path() + ": line 2");
  expect_error({.traces = {file.path()}}, "<bytes> '12x'");
}

TEST(ReplayCommand, MissingTraceFileNamesThePath) {
  expect_error({.traces = {"/nonexistent/gpumem.trace.gz"}}, "/nonexistent/gpumem.trace.gz");
}

TEST(ReplayCommand, BadChurnSpecNamesTheKey) {
  expect_error({.traces = {"churn:operations=10,bogus=1"}},
               "unknown churn parameter 'bogus' (known: operations, target_live, min_bytes");
  expect_error({.traces = {"churn:operations=ten"}}, "operations 'ten' is not an unsigned integer");
  expect_error({.traces = {"churn:seed"}}, "'seed' is not key=value");
  expect_error({.traces = {"churn:min_bytes=big"}}, "min_bytes 'big' is not a byte size");
}

TEST(ReplayCommand, BadDeviceHeapAlignmentOrNoTraceAreErrors) {
  expect_error({.traces = {}}, "no trace given");
  expect_error({.traces = {"churn:operations=10"}, .device = "quantum"}, "quantum");
  expect_error({.traces = {"churn:operations=10"}, .heap = 9}, "no heap 9");
  expect_error({.traces = {"churn:operations=10"}, .alignment = 100}, "alignment 100");
}

TEST(ReplayCommand, TraceSourcesAreBuiltinNamesChurnSpecsOrFiles) {
  const Trace builtin = load_replay_trace("churn200k");
  EXPECT_EQ(builtin.name, "churn200k");
  EXPECT_EQ(builtin.events.size(), 200'998U);
  EXPECT_EQ(load_replay_trace("churn:operations=1000,target_live=10,max_bytes=1MiB"),
            make_churn_trace({.operations = 1000, .target_live = 10, .max_bytes = 1024 * 1024}));
  const TraceFile file{std::string(kSmallTrace)};
  EXPECT_EQ(load_replay_trace(file.path()).name, "small");
}

}  // namespace
}  // namespace gpumem::cli
