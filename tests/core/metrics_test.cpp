#include "gpumem/core/metrics.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>
#include <vector>

namespace gpumem {
namespace {

std::vector<HeapInfo> two_heaps() {
  HeapInfo device;
  device.index = 0;
  device.name = "device-local";
  device.kind = HeapKind::DeviceLocal;
  HeapInfo upload;
  upload.index = 1;
  upload.name = "upload";
  upload.kind = HeapKind::Upload;
  upload.flags.host_visible = true;
  return {device, upload};
}

TEST(Metrics, CountsLiveTotalsAndPeaksPerHeapKindAndCategory) {
  MetricsRecorder m(two_heaps());
  m.on_allocate(0, Category::Texture, 1000);
  m.on_reserve(0, 1024);
  m.on_allocate(0, Category::Buffer, 500);
  m.on_reserve(0, 512);
  m.on_allocate(1, Category::Staging, 300);
  m.on_reserve(1, 320);
  m.on_free(0, Category::Texture, 1000);
  m.on_unreserve(0, 1024);

  const MetricsSnapshot s = m.snapshot();
  ASSERT_EQ(s.heaps.size(), 2u);
  EXPECT_EQ(s.heaps[0].usage.live_count, 1u);
  EXPECT_EQ(s.heaps[0].usage.live_bytes, 500u);
  EXPECT_EQ(s.heaps[0].usage.peak_bytes, 1500u);
  EXPECT_EQ(s.heaps[0].usage.allocated_count, 2u);
  EXPECT_EQ(s.heaps[0].usage.freed_count, 1u);
  EXPECT_EQ(s.heaps[0].usage.freed_bytes, 1000u);
  EXPECT_EQ(s.heaps[0].reserved_bytes, 512u);
  EXPECT_EQ(s.heaps[0].peak_reserved_bytes, 1536u);

  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).live_bytes, 500u);
  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).peak_bytes, 1500u);
  EXPECT_EQ(s.kind(HeapKind::Upload).live_bytes, 300u);
  EXPECT_EQ(s.category(Category::Texture).live_bytes, 0u);
  EXPECT_EQ(s.category(Category::Texture).peak_bytes, 1000u);
  EXPECT_EQ(s.category(Category::Staging).allocated_bytes, 300u);

  EXPECT_EQ(s.total.live_bytes, 800u);
  EXPECT_EQ(s.total.peak_bytes, 1800u);
  EXPECT_EQ(s.total.allocated_count, 3u);
  EXPECT_EQ(s.host_visible_bytes, 300u);
}

// Two heaps of one kind: the kind's high-water mark is of their sum, which neither heap's shows.
TEST(Metrics, AKindWithSeveralHeapsPeaksAtTheirSum) {
  std::vector<HeapInfo> heaps = two_heaps();
  HeapInfo second = heaps[0];
  second.index = 2;
  second.name = "device-local-2";
  heaps.push_back(second);
  MetricsRecorder m(heaps);
  m.on_allocate(0, Category::Buffer, 1000);
  m.on_allocate(2, Category::Buffer, 500);
  m.on_free(0, Category::Buffer, 1000);
  m.on_allocate(2, Category::Buffer, 200);
  m.on_allocate(1, Category::Staging, 50);
  const MetricsSnapshot s = m.snapshot();
  EXPECT_EQ(s.heaps[0].usage.peak_bytes, 1000u);
  EXPECT_EQ(s.heaps[2].usage.peak_bytes, 700u);
  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).live_bytes, 700u);
  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).peak_bytes, 1500u);
  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).live_count, 2u);
  EXPECT_EQ(s.kind(HeapKind::Upload).peak_bytes, 50u);
  EXPECT_EQ(s.total.peak_bytes, 1500u);
  EXPECT_EQ(s.total.live_bytes, 750u);
}

// One heap: the total and its kind are that heap's figures, peaks and reset included.
TEST(Metrics, ASingleHeapIsTheTotal) {
  MetricsRecorder m({two_heaps()[0]});
  m.on_allocate(0, Category::Buffer, 100);
  m.on_allocate(0, Category::Texture, 50);
  m.on_free(0, Category::Buffer, 100);
  MetricsSnapshot s = m.snapshot();
  EXPECT_EQ(s.total.live_bytes, 50u);
  EXPECT_EQ(s.total.peak_bytes, 150u);
  EXPECT_EQ(s.total.live_count, 1u);
  EXPECT_EQ(s.total.freed_bytes, 100u);
  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).peak_bytes, 150u);
  EXPECT_EQ(s.kind(HeapKind::Upload).peak_bytes, 0u);
  m.reset_peak();
  s = m.snapshot();
  EXPECT_EQ(s.total.peak_bytes, 50u);
  EXPECT_EQ(s.kind(HeapKind::DeviceLocal).peak_bytes, 50u);
}

TEST(Metrics, ResetPeakLowersHighWaterMarksToLive) {
  MetricsRecorder m(two_heaps());
  m.on_allocate(0, Category::Buffer, 4000);
  m.on_reserve(0, 4096);
  m.on_free(0, Category::Buffer, 4000);
  m.on_unreserve(0, 4096);
  m.on_allocate(0, Category::Buffer, 100);
  m.on_reserve(0, 128);
  EXPECT_EQ(m.snapshot().total.peak_bytes, 4000u);
  m.reset_peak();
  const MetricsSnapshot s = m.snapshot();
  EXPECT_EQ(s.total.peak_bytes, 100u);
  EXPECT_EQ(s.heaps[0].usage.peak_bytes, 100u);
  EXPECT_EQ(s.heaps[0].peak_reserved_bytes, 128u);
  EXPECT_EQ(s.category(Category::Buffer).peak_bytes, 100u);
  EXPECT_EQ(s.total.allocated_bytes, 4100u);  // totals are not reset
}

TEST(Metrics, EventsAndHitRate) {
  MetricsRecorder m(two_heaps());
  m.count(MetricsRecorder::Event::PoolHit, 3);
  m.count(MetricsRecorder::Event::PoolMiss);
  m.count(MetricsRecorder::Event::CpuFallback);
  const MetricsSnapshot s = m.snapshot();
  EXPECT_EQ(s.events.pool_hits, 3u);
  EXPECT_DOUBLE_EQ(s.events.pool_hit_rate(), 0.75);
  EXPECT_EQ(s.events.cpu_fallbacks, 1u);
  EXPECT_EQ(EventCounts{}.pool_hit_rate(), 0.0);
}

TEST(Metrics, SnapshotsStayConsistentUnderConcurrentUse) {
  MetricsRecorder m(two_heaps());
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      const auto heap = static_cast<std::uint32_t>(t % 2);
      while (!stop) {
        m.on_allocate(heap, Category::Buffer, 64);
        m.on_reserve(heap, 64);
        m.on_free(heap, Category::Buffer, 64);
        m.on_unreserve(heap, 64);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) {
    const MetricsSnapshot s = m.snapshot();
    EXPECT_EQ(s.total.allocated_count - s.total.freed_count, s.total.live_count);
    EXPECT_GE(s.total.peak_bytes, s.total.live_bytes);
    EXPECT_LE(s.total.live_count, 4u);
  }
  stop = true;
  for (auto& w : writers) w.join();
  const MetricsSnapshot end = m.snapshot();
  EXPECT_EQ(end.total.live_count, 0u);
  EXPECT_EQ(end.total.allocated_bytes, end.total.freed_bytes);
}

TEST(Metrics, JsonHasStableFields) {
  MetricsRecorder m(two_heaps());
  m.on_allocate(1, Category::Staging, 300);
  m.on_reserve(1, 320);
  const auto j = nlohmann::json::parse(to_json(m.snapshot()));
  EXPECT_EQ(j["total"]["live_bytes"], 300);
  EXPECT_EQ(j["heaps"][1]["name"], "upload");
  EXPECT_EQ(j["heaps"][1]["kind"], "upload");
  EXPECT_EQ(j["heaps"][1]["reserved_bytes"], 320);
  EXPECT_EQ(j["by_category"]["staging"]["live_count"], 1);
  EXPECT_EQ(j["by_kind"]["upload"]["peak_bytes"], 300);
  EXPECT_EQ(j["host_visible_bytes"], 300);
  EXPECT_TRUE(j["events"].contains("pool_hit_rate"));
}

}  // namespace
}  // namespace gpumem
