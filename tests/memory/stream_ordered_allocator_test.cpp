// The stream-ordered allocator's rules without a GPU: the simulator's pages (arena) or blocks
// (pool, vm=off) behind it, and a fake StreamOrdering that records which events were recorded on
// which stream and which stream was made to wait for which event.
#include "gpumem/memory/stream_ordered_allocator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"
#include "support/handoff_queue.hpp"

namespace gpumem {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::ThrowsMessage;

constexpr StreamHandle kPerThread = 2;  // as CUDA's cudaStreamPerThread

class FakeOrdering final : public StreamOrdering {
 public:
  bool is_per_thread(StreamHandle stream) const noexcept override { return stream == kPerThread; }
  EventHandle create_event() override {
    std::lock_guard lock(mutex_);
    return ++events_;
  }
  void destroy_event(EventHandle /*event*/) noexcept override {}
  void record(EventHandle event, StreamHandle stream) override {
    std::lock_guard lock(mutex_);
    log_.push_back("record e" + std::to_string(event) + " on s" + std::to_string(stream));
  }
  void wait(StreamHandle stream, EventHandle event) override {
    std::lock_guard lock(mutex_);
    log_.push_back("s" + std::to_string(stream) + " waits e" + std::to_string(event));
  }
  void synchronize(EventHandle event) override {
    if (during_event_wait) during_event_wait();
    std::lock_guard lock(mutex_);
    log_.push_back("cpu waits e" + std::to_string(event));
  }
  void synchronize_device() override {
    std::lock_guard lock(mutex_);
    ++syncs_;
  }

  std::vector<std::string> take_log() {
    std::lock_guard lock(mutex_);
    return std::exchange(log_, {});
  }
  int syncs() {
    std::lock_guard lock(mutex_);
    return syncs_;
  }

  // Runs inside synchronize(event), before it returns: a test holds a CPU wait open here.
  std::function<void()> during_event_wait;

 private:
  std::mutex mutex_;
  EventHandle events_ = 0;
  std::vector<std::string> log_;
  int syncs_ = 0;
};

struct Fixture {
  explicit Fixture(const std::string& sim_spec = "capacity=1GiB", std::uint64_t hard_limit = 0)
      : device(SimDeviceConfig::parse(sim_spec)), config(make_config(hard_limit)) {}

  static Config make_config(std::uint64_t hard) {
    Config c = Config::defaults();
    if (hard != 0) c.heap_budgets["device-local"] = {.soft = 0, .hard = hard};
    return c;
  }

  SimDevice device;
  Config config;
  MetricsRecorder metrics{device.info().heaps};
  PressureSubscribers subscribers;
  HeapGovernor governor{device, 0, config, metrics, subscribers};
  FakeOrdering ordering;
};

TEST(StreamOrderedAllocator, ReusesMemoryOnTheSameStreamWithoutOrdering) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  EXPECT_EQ(a.backing_name(), "arena");
  void* p = a.allocate(3 * kMiB, 7);
  ASSERT_NE(p, nullptr);
  a.deallocate(p, 3 * kMiB, 7);
  void* q = a.allocate(3 * kMiB, 7);
  EXPECT_EQ(q, p);  // the same range, at once
  a.deallocate(q, 3 * kMiB, 7);
  EXPECT_THAT(f.ordering.take_log(), IsEmpty());
  EXPECT_EQ(a.stats().stream_waits, 0U);
}

TEST(StreamOrderedAllocator, AnotherStreamWaitsForAnEventRecordedOnTheFreeingStream) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  void* p = a.allocate(1 * kMiB, 1);  // event e1 belongs to stream 1
  a.deallocate(p, 1 * kMiB, 1);
  void* q = a.allocate(1 * kMiB, 5);  // stream 5 (event e2) may get p's memory
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e1 on s1", "s5 waits e1"));
  void* r = a.allocate(1 * kMiB, 5);  // nothing freed on stream 1 since: no new wait
  EXPECT_THAT(f.ordering.take_log(), IsEmpty());
  a.deallocate(q, 1 * kMiB, 5);
  void* s = a.allocate(1 * kMiB, 5);  // its own free: no wait
  EXPECT_THAT(f.ordering.take_log(), IsEmpty());
  void* t = a.allocate(1 * kMiB, 1);  // stream 1 now follows stream 5's free
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e2 on s5", "s1 waits e2"));
  for (void* x : {r, s, t}) a.deallocate(x, 1 * kMiB, 1);
  static_cast<void>(a.allocate(1 * kMiB, 5));
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e1 on s1", "s5 waits e1"));
  EXPECT_EQ(a.stats().stream_waits, 3U);
  EXPECT_EQ(a.stats().streams, 2U);
}

TEST(StreamOrderedAllocator, PerThreadStreamsRecordAtTheFreeOnTheirOwnThread) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  std::thread([&] {
    void* p = a.allocate(1 * kMiB, kPerThread);
    a.deallocate(p, 1 * kMiB, kPerThread);
  }).join();
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e1 on s2"));
  // This thread's per-thread stream is another stream: it waits for the other thread's.
  void* q = a.allocate(1 * kMiB, kPerThread);
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("s2 waits e1"));
  a.deallocate(q, 1 * kMiB, kPerThread);
  EXPECT_EQ(a.stats().streams, 2U);
  static_cast<void>(f.ordering.take_log());
  // Before pages go back, the CPU waits on the events recorded at the frees: none is recorded
  // now (the other thread's stream cannot be named from here).
  a.trim();
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("cpu waits e1", "cpu waits e2"));
  EXPECT_EQ(a.stats().heap.reserved_bytes, 0U);
}

TEST(StreamOrderedAllocator, ForgottenStreamsAreOrderedOnceMore) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  void* p = a.allocate(1 * kMiB, 1);
  a.deallocate(p, 1 * kMiB, 1);
  a.forget_stream(1);
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e1 on s1"));
  EXPECT_EQ(a.stats().streams, 0U);
  void* q = a.allocate(1 * kMiB, 1);  // a new stream with the old handle: a new slot
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("s1 waits e1"));
  a.deallocate(q, 1 * kMiB, 1);
}

TEST(StreamOrderedAllocator, WaitsOnTheFreeingStreamsBeforePagesGoBackNeverOnTheDevice) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  void* p = a.allocate(8 * kMiB, 1);
  void* q = a.allocate(4 * kMiB, 3);
  void* r = a.allocate(2 * kMiB, 5);  // stream 5 frees nothing: nobody waits for it
  EXPECT_EQ(a.stats().heap.reserved_bytes, 14 * kMiB);
  a.deallocate(p, 8 * kMiB, 1);
  a.deallocate(q, 4 * kMiB, 3);
  EXPECT_THAT(f.ordering.take_log(), IsEmpty());  // cached, nothing unmapped
  a.trim();
  EXPECT_THAT(f.ordering.take_log(),
              ElementsAre("record e1 on s1", "record e2 on s3", "cpu waits e1", "cpu waits e2"));
  EXPECT_EQ(f.ordering.syncs(), 0);
  EXPECT_EQ(a.stats().heap.reserved_bytes, 2 * kMiB);
  a.trim();  // nothing freed since
  EXPECT_THAT(f.ordering.take_log(), IsEmpty());
  // A later free on stream 3 is waited for alone; stream 1's frees are known complete.
  void* s = a.allocate(4 * kMiB, 3);
  a.deallocate(s, 4 * kMiB, 3);
  static_cast<void>(f.ordering.take_log());
  a.trim();
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e2 on s3", "cpu waits e2"));
  a.deallocate(r, 2 * kMiB, 5);
  a.trim();
  EXPECT_EQ(a.stats().heap.reserved_bytes, 0U);
  EXPECT_EQ(f.governor.budget().own_usage(), 0U);
  EXPECT_EQ(a.stats().event_waits, 4U);
  EXPECT_EQ(a.stats().synchronizations, 0U);
  EXPECT_EQ(f.ordering.syncs(), 0);
}

TEST(StreamOrderedAllocator, NothingIsUnmappedWhileAnotherThreadStillWaitsForTheFrees) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  void* p = a.allocate(8 * kMiB, 1);
  a.deallocate(p, 8 * kMiB, 1);
  std::promise<void> waiting;
  std::promise<void> complete;
  std::shared_future<void> completed = complete.get_future().share();
  std::atomic<int> waits{0};
  f.ordering.during_event_wait = [&] {
    if (waits++ != 0) return;
    waiting.set_value();
    completed.wait();  // the GPU work before the free is still running
  };
  std::thread first([&] { a.trim(); });
  waiting.get_future().wait();
  std::thread second([&] { a.trim(); });  // finds no free left to wait for: it must still wait
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(a.stats().heap.reserved_bytes, 8 * kMiB);  // not unmapped under the running work
  complete.set_value();
  first.join();
  second.join();
  EXPECT_EQ(a.stats().heap.reserved_bytes, 0U);
  EXPECT_EQ(a.stats().event_waits, 1U);
}

// A churn whose requests often land beyond the ranges freed before them: an arena that moves
// cached pages under them unmaps (and waits) again and again. Returns the arena's counters.
ArenaPageCounters churn(StreamOrderedAllocator& a) {
  std::vector<std::pair<void*, std::uint64_t>> live;
  for (std::uint64_t i = 0; i < 400; ++i) {
    const std::uint64_t bytes = (1 + (i * 7919) % 13) * kMiB / 2;
    live.emplace_back(a.allocate(bytes, 1), bytes);
    if (live.size() > 6) {
      const std::size_t victim = (i * 31) % live.size();
      a.deallocate(live[victim].first, live[victim].second, 1);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
    }
  }
  for (const auto& [p, bytes] : live) a.deallocate(p, bytes, 1);
  const auto& arena = dynamic_cast<const PageArenaAllocator&>(a.backing());
  EXPECT_EQ(arena.validate(), "");
  return arena.page_counters();
}

TEST(StreamOrderedAllocator, UnderTheThresholdPagesAreNeitherMovedNorReleased) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  const ArenaPageCounters pages = churn(a);
  EXPECT_EQ(pages.stolen, 0U);
  EXPECT_EQ(pages.released, 0U);
  EXPECT_EQ(a.stats().event_waits, 0U);
  EXPECT_THAT(f.ordering.take_log(), IsEmpty());
  EXPECT_EQ(f.ordering.syncs(), 0);
}

TEST(StreamOrderedAllocator, WithoutIdleSlackPagesMoveAfterWaitsOnTheFreeingStream) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering, {.idle_slack_fraction = 0.0});
  const ArenaPageCounters pages = churn(a);
  EXPECT_GT(pages.stolen, 0U);
  EXPECT_EQ(pages.released, 0U);
  const std::uint64_t waits = a.stats().event_waits;
  EXPECT_GT(waits, 0U);
  EXPECT_LE(waits, pages.stolen);  // one per batch of pages taken at most
  EXPECT_EQ(f.ordering.syncs(), 0);
  EXPECT_THROW(StreamOrderedAllocator(f.governor, f.ordering, {.idle_slack_fraction = 1.5}),
               InvalidArgument);
}

TEST(StreamOrderedAllocator, ReleaseThresholdBoundsTheCache) {
  Fixture f;
  StreamOrderedAllocator keep_none(f.governor, f.ordering, {.release_threshold = 0});
  void* p = keep_none.allocate(8 * kMiB, 0);
  keep_none.deallocate(p, 8 * kMiB, 0);
  EXPECT_EQ(keep_none.stats().heap.reserved_bytes, 0U);
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e1 on s0", "cpu waits e1"));
  EXPECT_EQ(f.ordering.syncs(), 0);

  StreamOrderedAllocator keep_all(f.governor, f.ordering);
  p = keep_all.allocate(8 * kMiB, 0);
  keep_all.deallocate(p, 8 * kMiB, 0);
  EXPECT_EQ(keep_all.stats().heap.cached_bytes, 8 * kMiB);
}

TEST(StreamOrderedAllocator, CountsAllocationsInTheGovernorsMetrics) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering, {.category = Category::Other});
  void* p = a.allocate(3 * kMiB, 1);
  void* q = a.allocate(1 * kMiB, 1);
  a.deallocate(p, 3 * kMiB, 1);
  void* r = a.allocate(100, 1);
  const MetricsSnapshot m = f.metrics.snapshot();
  const UsageFigures& heap = m.heaps.at(f.governor.heap().index).usage;
  for (const UsageFigures* u :
       {&heap, &m.category(Category::Other), &m.total, &m.kind(f.governor.heap().kind)}) {
    EXPECT_EQ(u->live_count, 2U);
    EXPECT_EQ(u->live_bytes, 1 * kMiB + 100);
    EXPECT_EQ(u->peak_bytes, 4 * kMiB);
  }
  EXPECT_EQ(heap.allocated_count, 3U);
  EXPECT_EQ(heap.allocated_bytes, 4 * kMiB + 100);
  EXPECT_EQ(heap.freed_count, 1U);
  EXPECT_EQ(heap.freed_bytes, 3 * kMiB);
  EXPECT_EQ(m.category(Category::Buffer).allocated_count, 0U);
  a.deallocate(q, 1 * kMiB, 1);
  a.deallocate(r, 100, 1);
  EXPECT_EQ(f.metrics.snapshot().total.live_bytes, 0U);
}

TEST(StreamOrderedAllocator, OutOfMemoryNamesTheFactsAndEverythingComesBack) {
  Fixture f("capacity=1GiB", 64 * kMiB);
  StreamOrderedAllocator a(f.governor, f.ordering);
  std::vector<void*> held;
  try {
    for (;;) held.push_back(a.allocate(4 * kMiB, 0));
  } catch (const OutOfMemory& e) {
    EXPECT_EQ(e.facts().heap, "device-local");
    EXPECT_EQ(e.facts().requested, 4 * kMiB);
    EXPECT_EQ(e.facts().budget, 64 * kMiB);
    EXPECT_EQ(e.facts().reserved, 64 * kMiB);
    EXPECT_EQ(e.facts().live, 64 * kMiB);
    EXPECT_GT(e.facts().largest_free, 4 * kMiB);  // addresses remain; memory does not
    EXPECT_EQ(e.facts().pressure, PressureLevel::Critical);
    EXPECT_THAT(e.what(), HasSubstr("64.0 MiB reserved"));
  }
  EXPECT_EQ(held.size(), 16U);
  EXPECT_EQ(f.metrics.snapshot().events.out_of_memory, 1U);
  for (void* p : held) a.deallocate(p, 4 * kMiB, 0);
  a.trim();
  EXPECT_EQ(a.stats().heap.reserved_bytes, 0U);
  EXPECT_EQ(f.governor.budget().own_usage(), 0U);
  held.clear();
  for (int i = 0; i < 16; ++i) held.push_back(a.allocate(4 * kMiB, 0));
  for (void* p : held) a.deallocate(p, 4 * kMiB, 0);
}

TEST(StreamOrderedAllocator, ReleasesItsCacheBeforeGivingUp) {
  Fixture f("capacity=1GiB", 64 * kMiB);
  StreamOrderedAllocator a(f.governor, f.ordering,
                           {.backing = StreamAllocatorOptions::Backing::Pool});
  // The pool keeps empty blocks; a request they cannot hold needs them given back first.
  std::vector<void*> small;
  small.reserve(12);
  for (int i = 0; i < 12; ++i) small.push_back(a.allocate(4 * kMiB, 0));
  for (void* p : small) a.deallocate(p, 4 * kMiB, 0);
  EXPECT_GT(a.stats().heap.cached_bytes, 0U);
  void* big = a.allocate(60 * kMiB, 0);
  a.deallocate(big, 60 * kMiB, 0);
}

TEST(StreamOrderedAllocator, RetriesWhileACallbackSaysItFreedSomething) {
  Fixture f("capacity=1GiB", 16 * kMiB);
  StreamOrderedAllocator a(f.governor, f.ordering);
  std::vector<void*> held;
  held.reserve(4);
  for (int i = 0; i < 4; ++i) held.push_back(a.allocate(4 * kMiB, 0));
  int calls = 0;
  a.on_out_of_memory([&](const MemoryFacts& facts) {
    ++calls;
    EXPECT_EQ(facts.requested, 4 * kMiB);
    if (held.empty()) return false;
    a.deallocate(held.back(), 4 * kMiB, 0);
    held.pop_back();
    return true;
  });
  void* p = a.allocate(4 * kMiB, 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(a.stats().out_of_memory_retries, 1U);
  held.push_back(p);
  for (void* x : held) a.deallocate(x, 4 * kMiB, 0);
  held.clear();
  // Nothing the callback can free: it is asked once and the request fails.
  for (int i = 0; i < 4; ++i) static_cast<void>(a.allocate(4 * kMiB, 0));
  calls = 0;
  EXPECT_THROW(static_cast<void>(a.allocate(4 * kMiB, 0)), OutOfMemory);
  EXPECT_EQ(calls, 1);
}

TEST(StreamOrderedAllocator, FallsBackToThePoolWithoutVirtualMemory) {
  Fixture f("capacity=1GiB,vm=off");
  StreamOrderedAllocator a(f.governor, f.ordering);
  EXPECT_EQ(a.backing_name(), "pool");
  void* p = a.allocate(1 * kMiB, 1);
  a.deallocate(p, 1 * kMiB, 1);
  void* q = a.allocate(1 * kMiB, 3);
  EXPECT_THAT(f.ordering.take_log(), ElementsAre("record e1 on s1", "s3 waits e1"));
  a.deallocate(q, 1 * kMiB, 3);
  EXPECT_THAT(
      [&] {
        StreamOrderedAllocator arena(f.governor, f.ordering,
                                     {.backing = StreamAllocatorOptions::Backing::Arena});
      },
      ThrowsMessage<Unsupported>(HasSubstr("virtual memory management")));
}

// What the allocator gives its backing, published for building the same backing without it.
TEST(StreamOrderedAllocator, BackingOptionsFollowTheReleaseThresholdAndSlack) {
  Fixture f;  // a 1 GiB heap
  const ArenaOptions arena = StreamOrderedAllocator::arena_options(
      f.governor, {.release_threshold = 256 * kMiB, .idle_slack_fraction = 0.5});
  EXPECT_DOUBLE_EQ(arena.max_cached_fraction, 0.25);
  EXPECT_DOUBLE_EQ(arena.idle_slack_fraction, 0.5);
  EXPECT_DOUBLE_EQ(StreamOrderedAllocator::arena_options(f.governor, {}).max_cached_fraction, 1.0);
  const PoolOptions keep_none = StreamOrderedAllocator::pool_options({.release_threshold = 0});
  EXPECT_EQ(keep_none.max_empty_blocks, 0U);
  const PoolOptions keep_all = StreamOrderedAllocator::pool_options({});
  EXPECT_EQ(keep_all.max_empty_blocks, UINT32_MAX);
  EXPECT_EQ(keep_all.max_empty_bytes, std::numeric_limits<std::uint64_t>::max());
}

TEST(StreamOrderedAllocator, RefusesForeignPointersAndWrongSizes) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  EXPECT_EQ(a.allocate(0, 0), nullptr);
  a.deallocate(nullptr, 0, 0);
  void* p = a.allocate(1 * kMiB, 0);
  EXPECT_THAT([&] { a.deallocate(p, 2 * kMiB, 0); },
              ThrowsMessage<InvalidArgument>(HasSubstr("freed with 2097152")));
  a.deallocate(p, 1 * kMiB, 0);
  EXPECT_THAT([&] { a.deallocate(p, 1 * kMiB, 0); },
              ThrowsMessage<InvalidArgument>(HasSubstr("not a live allocation")));
  EXPECT_THROW(StreamOrderedAllocator(f.governor, f.ordering, {.alignment = 3}), InvalidArgument);
}

TEST(StreamOrderedAllocator, ProducerAndConsumerOnTwoThreadsAndStreams) {
  Fixture f;
  StreamOrderedAllocator a(f.governor, f.ordering);
  // Bounded, so the consumer keeps up and the budget is never the limit.
  test_support::HandoffQueue<std::pair<void*, std::uint64_t>> queue(64);
  constexpr int kItems = 2000;
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      const std::uint64_t bytes = 256 * (1 + static_cast<std::uint64_t>(i) * 7919 % 9000);
      queue.push({a.allocate(bytes, 11), bytes});
    }
  });
  std::thread consumer([&] {
    for (int i = 0; i < kItems; ++i) {
      const auto [p, bytes] = queue.pop();
      a.deallocate(p, bytes, 13);
    }
  });
  producer.join();
  consumer.join();
  const StreamAllocatorStats s = a.stats();
  EXPECT_EQ(s.heap.live_count, 0U);
  EXPECT_EQ(s.streams, 2U);
  // The producer's stream waited for the consumer's frees at least once, and never more often
  // than it allocated.
  EXPECT_GE(s.stream_waits, 1U);
  EXPECT_LE(s.stream_waits, static_cast<std::uint64_t>(kItems));
  EXPECT_EQ(dynamic_cast<const PageArenaAllocator&>(a.backing()).validate(), "");
}

}  // namespace
}  // namespace gpumem
