// Trace replay: plans, the figures a replay reports, failures, the Manager path, and a real trace.
#include "gpumem/memory/trace_replay.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/allocator_factory.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;
using Kind = ReplayStep::Kind;

// CMake sets GPUMEM_TRACE_DIR (__FILE__ is relative where ccache rewrites paths); a standalone
// build finds the traces beside the sources.
#ifdef GPUMEM_TRACE_DIR
const std::filesystem::path kTraceDir = GPUMEM_TRACE_DIR;
#else
const std::filesystem::path kTraceDir =
    std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "bench" / "traces";
#endif

// 64 KiB pages make the direct allocator's footprint easy to work out by hand.
std::unique_ptr<Device> small_sim() { return open_device("sim:capacity=1GiB,page=64KiB"); }

Trace make_trace(std::vector<TraceEvent> events) {
  return {.name = "t", .header = "", .events = std::move(events)};
}

// Two allocations live at once, a 0-byte one, an id reused after its free, three left live.
Trace small_trace() {
  return make_trace({TraceEvent::allocate(1, 1000), TraceEvent::allocate(2, 100'000),
                     TraceEvent::free(1), TraceEvent::allocate(3, 0),
                     TraceEvent::allocate(1, 70'000)});
}

TEST(PlanReplay, RemapsIdsToReusedSlotsAndFreesWhatIsLeftLowestIdFirst) {
  const ReplayPlan plan = plan_replay(small_trace());
  EXPECT_EQ(plan.trace_name, "t");
  EXPECT_EQ(plan.allocations, 4U);
  EXPECT_EQ(plan.slots, 3U);  // the most live at once
  EXPECT_EQ(plan.peak_live_bytes, 170'000U);
  ASSERT_EQ(plan.steps.size(), summarize(small_trace()).events);
  // id 1 takes slot 0, id 2 slot 1; freeing id 1 frees slot 0, which id 3 takes; id 1 again
  // takes the new slot 2. The final frees go by id: 1 (slot 2), 2 (slot 1), 3 (slot 0).
  const std::vector<std::pair<Kind, std::uint32_t>> expected{
      {Kind::Allocate, 0}, {Kind::Allocate, 1}, {Kind::Free, 0}, {Kind::Allocate, 0},
      {Kind::Allocate, 2}, {Kind::Free, 2},     {Kind::Free, 1}, {Kind::Free, 0}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(plan.steps[i].kind, expected[i].first) << i;
    EXPECT_EQ(plan.steps[i].slot, expected[i].second) << i;
  }
  EXPECT_EQ(plan.steps[4].bytes, 70'000U);
}

TEST(PlanReplay, RejectsInvalidTracesNamingTheEvent) {
  EXPECT_THAT(
      [] {
        plan_replay(make_trace({TraceEvent::allocate(1, 8), TraceEvent::free(2)}));
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("event 1 frees id 2")));
  EXPECT_THAT(
      [] {
        plan_replay(make_trace({TraceEvent::allocate(1, 8), TraceEvent::allocate(1, 8)}));
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("event 1 allocates id 1")));
}

TEST(Replay, ReportsOpsPeaksAndTimeOnTheDirectAllocator) {
  const auto device = small_sim();
  const ReplayResult r = replay(small_trace(), *device, 0, AllocatorKind::Direct);
  EXPECT_EQ(r.trace, "t");
  EXPECT_EQ(r.device, device->info().name);
  EXPECT_EQ(r.heap, device->heap(0).name);
  EXPECT_EQ(r.allocator, "direct");
  EXPECT_FALSE(r.through_manager);
  EXPECT_EQ(r.alignment, 256U);
  EXPECT_EQ(r.ops, 8U);  // five records and three final frees
  EXPECT_EQ(r.allocs, 4U);
  EXPECT_EQ(r.peak_live, 170'000U);
  // One 64 KiB page for 1000 B and two pages each for 100,000 B and 70,000 B, which are live
  // together at the end; the 0-byte allocation holds nothing.
  EXPECT_EQ(r.peak_reserved, 4 * 64 * kKiB);
  EXPECT_DOUBLE_EQ(r.reserved_over_live, 4.0 * 64 * 1024 / 170'000);
  EXPECT_EQ(r.failures, 0U);
  EXPECT_GT(r.elapsed_ns, 0U);
  EXPECT_DOUBLE_EQ(r.ns_per_op, static_cast<double>(r.elapsed_ns) / 8);
  EXPECT_EQ(device->query_heap(0).usage, 0U) << "the replay must give everything back";
}

TEST(Replay, ThroughTheManagerGivesTheSameFigures) {
  const auto device = small_sim();
  const ReplayResult r =
      replay(small_trace(), *device, 0, AllocatorKind::Auto,
             {.through_manager = true, .device_label = "sim:capacity=1GiB,page=64KiB"});
  EXPECT_TRUE(r.through_manager);
  EXPECT_EQ(r.device, "sim:capacity=1GiB,page=64KiB");
  EXPECT_FALSE(r.allocator.empty());
  EXPECT_EQ(r.ops, 8U);
  EXPECT_EQ(r.allocs, 4U);
  EXPECT_EQ(r.failures, 0U);  // the 0-byte allocation is a real one through the manager
  EXPECT_GE(r.peak_reserved, r.peak_live);
  EXPECT_EQ(device->query_heap(0).usage, 0U);
}

// The heap's hard budget is 512 MiB here (1 GiB less the 512 MiB margin). Warnings are switched
// off, which also checks that the config is the caller's.
class ReplayFailures : public ::testing::TestWithParam<bool> {};

TEST_P(ReplayFailures, AreCountedAndTheirFreesSkipped) {
  const auto device = small_sim();
  const Trace trace = make_trace({
      TraceEvent::allocate(1, 300 * kMiB),
      TraceEvent::allocate(2, 300 * kMiB),  // over the budget
      TraceEvent::free(2),                  // skipped
      TraceEvent::allocate(3, 2 * kGiB),    // larger than the heap
      TraceEvent::allocate(4, 100 * kMiB),
      TraceEvent::free(1),
  });
  ReplayOptions options{.through_manager = GetParam()};
  options.config.warning_fractions.clear();
  const ReplayResult r = replay(trace, *device, 0, AllocatorKind::Direct, options);
  EXPECT_EQ(r.failures, 2U);
  EXPECT_EQ(r.ops, 8U);
  EXPECT_EQ(r.allocs, 4U);
  EXPECT_EQ(r.peak_reserved, 400 * kMiB);
  EXPECT_EQ(r.peak_live, 300 * kMiB + 2 * kGiB + 100 * kMiB) << "the trace's, failures included";
  EXPECT_EQ(device->query_heap(0).usage, 0U);
}

INSTANTIATE_TEST_SUITE_P(AllocatorAndManager, ReplayFailures, ::testing::Bool(),
                         [](const auto& param_info) {
                           return param_info.param ? "Manager" : "Allocator";
                         });

TEST(Replay, RejectsBadHeapAlignmentAndConfig) {
  const auto device = small_sim();
  const Trace trace = small_trace();
  EXPECT_THROW(replay(trace, *device, 7, AllocatorKind::Direct), InvalidArgument);
  EXPECT_THAT([&] { replay(trace, *device, 0, AllocatorKind::Direct, {.alignment = 3}); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("alignment 3")));
  ReplayOptions bad_config;
  bad_config.config.gpu_memory_fraction = 2.0;
  EXPECT_THROW(replay(trace, *device, 0, AllocatorKind::Direct, bad_config), InvalidArgument);
}

TEST(Replay, WrapSeesTheAllocatorOnceAndMustReturnOne) {
  const auto device = small_sim();
  int calls = 0;
  ReplayOptions options{.wrap = [&calls](std::unique_ptr<HeapAllocator> inner) {
    ++calls;
    return inner;
  }};
  EXPECT_EQ(replay(small_trace(), *device, 0, AllocatorKind::Direct, options).ops, 8U);
  EXPECT_EQ(calls, 1);
  options.wrap = [](std::unique_ptr<HeapAllocator>) { return std::unique_ptr<HeapAllocator>(); };
  EXPECT_THROW(replay(small_trace(), *device, 0, AllocatorKind::Direct, options), InvalidArgument);
}

TEST(Replay, ChurnMatchesItsSummaryOnEveryAllocator) {
  const Trace trace = make_churn_trace({.operations = 4000, .seed = 3});
  const TraceSummary summary = summarize(trace);
  const auto device = open_device("sim");
  for (const AllocatorKind kind : available_allocator_kinds()) {
    ReplayResult r;
    try {
      r = replay(trace, *device, 0, kind);
    } catch (const Unsupported&) {
      continue;  // a kind this device cannot have (the factory says why)
    }
    EXPECT_EQ(r.allocator, to_string(kind));
    EXPECT_EQ(r.ops, summary.events);
    EXPECT_EQ(r.allocs, summary.allocations);
    EXPECT_EQ(r.peak_live, summary.peak_live_bytes);
    EXPECT_GE(r.peak_reserved, r.peak_live) << r.allocator;
    EXPECT_EQ(r.failures, 0U);
    EXPECT_EQ(device->query_heap(0).usage, 0U) << r.allocator;
  }
}

// The smallest recorded trace (6,456 events), with the README's figures.
TEST(Replay, RealTraceReplaysWithoutFailures) {
  const Trace trace = read_trace(kTraceDir / "resnet50_train.trace.gz");
  const auto device = open_device("sim");
  const ReplayResult r = replay(trace, *device, 0, AllocatorKind::Auto);
  EXPECT_EQ(r.trace, "resnet50_train");
  EXPECT_EQ(r.ops, 6456U);
  EXPECT_EQ(r.allocs, 3228U);
  EXPECT_EQ(r.peak_live, 5'879'357'852U);
  EXPECT_GE(r.peak_reserved, r.peak_live);
  EXPECT_EQ(r.failures, 0U);
}

}  // namespace
}  // namespace gpumem
