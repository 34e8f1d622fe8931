#include "gpumem/core/pressure.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

using L = PressureLevel;

TEST(Pressure, LevelsFollowTheDefaultThresholds) {
  const PressureThresholds t;
  EXPECT_EQ(PressureMonitor::classify(0.0, L::Low, t), L::Low);
  EXPECT_EQ(PressureMonitor::classify(0.5999, L::Low, t), L::Low);
  EXPECT_EQ(PressureMonitor::classify(0.60, L::Low, t), L::Medium);
  EXPECT_EQ(PressureMonitor::classify(0.80, L::Low, t), L::High);
  EXPECT_EQ(PressureMonitor::classify(0.95, L::Low, t), L::Critical);
  EXPECT_EQ(PressureMonitor::classify(1.5, L::Low, t), L::Critical);
}

TEST(Pressure, HysteresisKeepsALevelJustBelowItsThreshold) {
  const PressureThresholds t;  // hysteresis 0.02
  EXPECT_EQ(PressureMonitor::classify(0.59, L::Medium, t), L::Medium);
  EXPECT_EQ(PressureMonitor::classify(0.5801, L::Medium, t), L::Medium);
  EXPECT_EQ(PressureMonitor::classify(0.5799, L::Medium, t), L::Low);
  EXPECT_EQ(PressureMonitor::classify(0.94, L::Critical, t), L::Critical);
  EXPECT_EQ(PressureMonitor::classify(0.90, L::Critical, t), L::High);
  EXPECT_EQ(PressureMonitor::classify(0.10, L::Critical, t), L::Low);
}

TEST(Pressure, OscillatingAroundAThresholdDoesNotFlap) {
  PressureMonitor m(PressureThresholds{});
  int transitions = 0;
  for (int i = 0; i < 100; ++i) {
    if (m.update(i % 2 == 0 ? 0.801 : 0.795).transition) ++transitions;
  }
  EXPECT_EQ(transitions, 1);  // Low -> High once, then steady
  EXPECT_EQ(m.level(), L::High);
}

TEST(Pressure, TransitionsNameFromAndTo) {
  PressureMonitor m(PressureThresholds{});
  auto up = m.update(0.85).transition;
  ASSERT_TRUE(up);
  EXPECT_EQ(up->from, L::Low);
  EXPECT_EQ(up->to, L::High);
  EXPECT_FALSE(m.update(0.86).transition);
  auto down = m.update(0.3).transition;
  ASSERT_TRUE(down);
  EXPECT_EQ(down->from, L::High);
  EXPECT_EQ(down->to, L::Low);
}

TEST(Pressure, WarningsFireOncePerUpwardCrossing) {
  PressureMonitor m(PressureThresholds{}, {0.75, 0.90});
  EXPECT_TRUE(m.update(0.5).warnings.empty());
  EXPECT_EQ(m.update(0.76).warnings, std::vector<double>{0.75});
  EXPECT_TRUE(m.update(0.77).warnings.empty());
  EXPECT_EQ(m.update(0.95).warnings, std::vector<double>{0.90});
  EXPECT_TRUE(m.update(0.74).warnings.empty());  // within hysteresis of 0.75: not re-armed
  EXPECT_TRUE(m.update(0.76).warnings.empty());
  EXPECT_TRUE(m.update(0.5).warnings.empty());  // re-arms both
  EXPECT_EQ(m.update(0.99).warnings, (std::vector<double>{0.75, 0.90}));
}

TEST(Pressure, EachTransitionIsReportedToExactlyOneThread) {
  PressureMonitor m(PressureThresholds{});
  std::atomic<int> ups{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (auto tr = m.update(0.97).transition; tr && tr->to == L::Critical) ++ups;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ups.load(), 1);
}

TEST(PressureSubscribers, NotifyUnsubscribe) {
  PressureSubscribers s;
  std::vector<L> seen;
  const auto id = s.subscribe([&](const PressureEvent& e) { seen.push_back(e.to); });
  s.notify({.to = L::High});
  EXPECT_TRUE(s.unsubscribe(id));
  EXPECT_FALSE(s.unsubscribe(id));
  s.notify({.to = L::Low});
  EXPECT_EQ(seen, std::vector<L>{L::High});
  EXPECT_THROW(s.subscribe(nullptr), InvalidArgument);
}

TEST(PressureSubscribers, CallbackMayUnsubscribeItself) {
  PressureSubscribers s;
  PressureSubscribers::Id id = 0;
  int calls = 0;
  id = s.subscribe([&](const PressureEvent&) {
    ++calls;
    s.unsubscribe(id);
  });
  s.notify({});
  s.notify({});
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace gpumem
