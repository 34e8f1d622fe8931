// Costs of the core accounting on the hot path: pressure queries, allocate+free through the
// Manager on the host backend with tracking off and on, metrics recording and snapshots.
//
//   build/bench/core_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <memory>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem {
namespace {

std::shared_ptr<HostDevice> bench_device() {
  return std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(8 * kGiB, 1 * kGiB));
}

Config bench_config(bool tracking) {
  Config c;
  c.tracking.enabled = tracking;
  c.tracking.stack_sample_every = 0;
  return c;
}

void BM_PressureQuery(benchmark::State& state) {
  Manager manager(bench_device(), bench_config(true));
  Allocation held = manager.allocate({.size = 3 * kGiB});  // pressure High: not a trivial level
  for (auto _ : state) benchmark::DoNotOptimize(manager.pressure(0));
}
BENCHMARK(BM_PressureQuery);

void BM_PressureQueryAllHeaps(benchmark::State& state) {
  Manager manager(bench_device(), bench_config(true));
  for (auto _ : state) benchmark::DoNotOptimize(manager.pressure());
}
BENCHMARK(BM_PressureQueryAllHeaps);

// One allocate and one free of a 4 KiB buffer: the manager's bookkeeping plus the system
// allocator behind the host backend. Arg 0: tracking off; 1: tracking on (stacks off).
void BM_AllocateFree(benchmark::State& state) {
  const bool tracking = state.range(0) != 0;
  Manager manager(bench_device(), bench_config(tracking));
  const Tag tag("bench");
  for (auto _ : state) {
    Allocation a = manager.allocate({.size = 4096, .tag = tag});
    benchmark::DoNotOptimize(a.address());
  }
  state.SetLabel(tracking ? "tracking on" : "tracking off");
}
BENCHMARK(BM_AllocateFree)->Arg(0)->Arg(1);
BENCHMARK(BM_AllocateFree)->Arg(0)->Arg(1)->Threads(2)->UseRealTime();

// The same with 1,000 allocations live, so registry and metrics work on a realistic population.
void BM_AllocateFreeWithLive(benchmark::State& state) {
  const bool tracking = state.range(0) != 0;
  Manager manager(bench_device(), bench_config(tracking));
  std::vector<Allocation> live;
  for (int i = 0; i < 1000; ++i) live.push_back(manager.allocate({.size = 4096}));
  std::size_t next = 0;
  for (auto _ : state) {
    live[next] = manager.allocate({.size = 4096});  // frees the one it replaces
    next = (next + 1) % live.size();
  }
  state.SetLabel(tracking ? "tracking on" : "tracking off");
}
BENCHMARK(BM_AllocateFreeWithLive)->Arg(0)->Arg(1);

// What every allocator pays per allocation and free for the metrics (relaxed atomics): one
// on_allocate and one on_free on the device heap of the bench device.
void BM_MetricsAllocateFree(benchmark::State& state) {
  MetricsRecorder metrics(bench_device()->info().heaps);
  std::uint64_t bytes = 4096;
  for (auto _ : state) {
    metrics.on_allocate(0, Category::Buffer, bytes);
    metrics.on_free(0, Category::Buffer, bytes);
    bytes ^= 256;  // not a constant the compiler could fold
  }
}
BENCHMARK(BM_MetricsAllocateFree);

void BM_MetricsSnapshot(benchmark::State& state) {
  Manager manager(bench_device(), bench_config(true));
  std::vector<Allocation> live;
  for (int i = 0; i < 100; ++i) live.push_back(manager.allocate({.size = 4096}));
  for (auto _ : state) benchmark::DoNotOptimize(manager.metrics());
}
BENCHMARK(BM_MetricsSnapshot);

}  // namespace
}  // namespace gpumem

BENCHMARK_MAIN();
