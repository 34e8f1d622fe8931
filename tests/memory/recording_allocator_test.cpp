// RecordingAllocator: what it records, what it forwards, and that a recorded trace replays to
// the same figures as the trace that produced it.
#include "gpumem/memory/recording_allocator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "gpumem/memory/trace_replay.hpp"

namespace gpumem {
namespace {

// A direct allocator on a small simulated heap (hard budget 512 MiB), wrapped for recording.
class RecordingAllocatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Device> device_ = open_device("sim:capacity=1GiB,page=64KiB");
  Config config_ = Config::defaults();
  MetricsRecorder metrics_{device_->info().heaps};
  PressureSubscribers subscribers_;
  HeapGovernor governor_{*device_, 0, config_, metrics_, subscribers_};
  std::ostringstream out_;
  TraceRecorder recorder_{out_, "recorded"};
  RecordingAllocator allocator_{std::make_unique<DirectAllocator>(governor_), recorder_};

  Trace recorded() {
    recorder_.finish();
    return parse_trace(out_.str(), "recorded");
  }
};

TEST_F(RecordingAllocatorTest, RecordsAllocationsAndFreesWithItsOwnIds) {
  const Placement a = allocator_.allocate(4096, 256, false);
  const Placement b = allocator_.allocate(100'000, 256, true);
  ASSERT_TRUE(a && b);
  allocator_.deallocate(a);
  const Placement c = allocator_.allocate(1, 256, false);
  ASSERT_TRUE(c);
  const Trace trace = recorded();
  EXPECT_EQ(trace.name, "recorded");
  EXPECT_EQ(trace.events, (std::vector<TraceEvent>{
                              TraceEvent::allocate(0, 4096), TraceEvent::allocate(1, 100'000),
                              TraceEvent::free(0), TraceEvent::allocate(2, 1)}));
  std::vector<std::string> logged;
  LogSink previous =
      set_log_sink([&logged](LogLevel, std::string_view text) { logged.emplace_back(text); });
  allocator_.deallocate(b);  // after finish(): logged, and freed all the same
  allocator_.deallocate(c);
  set_log_sink(std::move(previous));
  ASSERT_EQ(logged.size(), 2U);
  EXPECT_THAT(logged[0], ::testing::HasSubstr("could not record the free of #1"));
  EXPECT_EQ(allocator_.stats().live_count, 0U);
  EXPECT_EQ(device_->query_heap(0).usage, 0U);
}

TEST_F(RecordingAllocatorTest, ForwardsNameAndStats) {
  EXPECT_EQ(allocator_.name(), "direct");
  const Placement p = allocator_.allocate(1000, 256, false);
  EXPECT_EQ(allocator_.stats().live_count, 1U);
  EXPECT_EQ(allocator_.stats().reserved_bytes, 64 * kKiB);
  EXPECT_EQ(allocator_.inner().stats().live_count, 1U);
  allocator_.deallocate(p);
  allocator_.trim();
  EXPECT_EQ(allocator_.stats().live_count, 0U);
}

TEST_F(RecordingAllocatorTest, RefusedAllocationsAreNotRecorded) {
  const Placement p = allocator_.allocate(600 * kMiB, 256, false);
  EXPECT_FALSE(p);
  EXPECT_EQ(p.refusal, GrowthRefusal::Budget);
  EXPECT_EQ(recorder_.events_recorded(), 0U);
}

TEST_F(RecordingAllocatorTest, ARecorderFailureGivesThePlacementBack) {
  recorder_.finish();
  EXPECT_THROW(allocator_.allocate(4096, 256, false), Error);
  EXPECT_EQ(allocator_.stats().live_count, 0U);
  EXPECT_EQ(device_->query_heap(0).usage, 0U);
}

TEST_F(RecordingAllocatorTest, ThreadsRecordAValidTrace) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      std::vector<Placement> live;
      for (int i = 0; i < kRounds; ++i) {
        live.push_back(
            allocator_.allocate(static_cast<std::uint64_t>(1 + t * 1000 + i), 256, false));
        if (i % 3 == 2) {
          allocator_.deallocate(live.front());
          live.erase(live.begin());
        }
      }
      for (const Placement& p : live) allocator_.deallocate(p);
    });
  }
  for (std::thread& thread : threads) thread.join();
  const TraceSummary summary = summarize(recorded());  // throws if the order were inconsistent
  EXPECT_EQ(summary.allocations, static_cast<std::uint64_t>(kThreads * kRounds));
  EXPECT_EQ(summary.frees, summary.allocations);
}

TEST(RecordingAllocator, RejectsANullAllocator) {
  std::ostringstream out;
  TraceRecorder recorder(out, "t");
  EXPECT_THROW(RecordingAllocator(nullptr, recorder), InvalidArgument);
}

// Records a replay of `trace` and returns the recorded trace with the replay's result.
std::pair<Trace, ReplayResult> record_replay(const Trace& trace, Device& device) {
  std::ostringstream out;
  TraceRecorder recorder(out, trace.name + "_recorded");
  const ReplayResult result = replay(
      trace, device, 0, AllocatorKind::Direct,
      {.wrap = [&recorder](std::unique_ptr<HeapAllocator> inner) -> std::unique_ptr<HeapAllocator> {
        return std::make_unique<RecordingAllocator>(std::move(inner), recorder);
      }});
  recorder.finish();
  return {parse_trace(out.str(), "recorded"), result};
}

TEST(RecordingAllocator, ARecordedTraceReplaysToTheSameSummaryAndFigures) {
  const auto device = open_device("sim");
  // Churn frees everything at its end, so the recording (which sees the replay's final frees)
  // must match it record for record, up to ids.
  const Trace original = make_churn_trace({.operations = 3000, .seed = 11});
  const auto [recorded, first] = record_replay(original, *device);
  const TraceSummary want = summarize(original);
  const TraceSummary got = summarize(recorded);
  EXPECT_EQ(got.allocations, want.allocations);
  EXPECT_EQ(got.frees, want.frees);
  EXPECT_EQ(got.live_at_end, 0U);
  EXPECT_EQ(got.events, want.events);
  EXPECT_EQ(got.peak_live_bytes, want.peak_live_bytes);
  EXPECT_EQ(got.peak_live_count, want.peak_live_count);
  EXPECT_EQ(got.allocated_bytes, want.allocated_bytes);
  EXPECT_EQ(got.streams, 1U);

  const ReplayResult again = replay(recorded, *device, 0, AllocatorKind::Direct);
  EXPECT_EQ(again.ops, first.ops);
  EXPECT_EQ(again.allocs, first.allocs);
  EXPECT_EQ(again.peak_live, first.peak_live);
  EXPECT_EQ(again.peak_reserved, first.peak_reserved);
  EXPECT_EQ(again.failures, 0U);
}

}  // namespace
}  // namespace gpumem
