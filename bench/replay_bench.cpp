// Trace replay benchmarks: churn200k and llama_generate_kv replayed from an empty allocator on
// the default simulator (80 GiB, 2 MiB pages), for every allocator this build can make, on the
// bare allocator and through a whole Manager. Traces are read and planned once, outside any
// timing; each iteration builds a fresh allocator and the benchmark's time is replay()'s own
// timed loop (manual time). Counters: ns_per_event (the traces' README's ns/op),
// reserved_over_live (peak device memory held over peak live bytes), and the simulator's page
// work per event: pages created (vm_creates, a cuMemCreate each on CUDA, ~12 us on an H200),
// mapped (vm_maps, ~29 us each with cuMemSetAccess) and unmapped (vm_unmaps, ~20 us), and the
// map calls those took (vm_map_calls; a run of neighbouring pages is one). On CUDA the cost is
// per page whatever the calls, so the page counts predict the arena's GPU time, far better than
// its time here.
//
//   ./build/bench/replay_bench --benchmark_filter='churn200k/.*/allocator'
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "gpumem/backend/registry.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/memory/allocator_factory.hpp"
#include "gpumem/memory/trace_replay.hpp"

namespace {

// __FILE__ is the absolute path CMake compiles; the traces sit beside this file.
const std::filesystem::path kTraceDir = std::filesystem::path(__FILE__).parent_path() / "traces";

// Loaded on first use, so a --benchmark_filter that skips a trace never reads it.
const gpumem::ReplayPlan& churn200k() {
  static const gpumem::ReplayPlan plan = gpumem::plan_replay(gpumem::builtin_trace("churn200k"));
  return plan;
}

const gpumem::ReplayPlan& llama_generate_kv() {
  static const gpumem::ReplayPlan plan =
      gpumem::plan_replay(gpumem::read_trace(kTraceDir / "llama_generate_kv.trace.gz"));
  return plan;
}

const gpumem::ReplayPlan& resnet50_train() {
  static const gpumem::ReplayPlan plan =
      gpumem::plan_replay(gpumem::read_trace(kTraceDir / "resnet50_train.trace.gz"));
  return plan;
}

using PlanSource = const gpumem::ReplayPlan& (*)();

void replay_benchmark(benchmark::State& state, PlanSource plan, gpumem::AllocatorKind kind,
                      bool through_manager) {
  const gpumem::ReplayPlan& steps = plan();
  const auto device = gpumem::open_device("sim");
  const auto& sim = dynamic_cast<const gpumem::SimDevice&>(*device);
  const gpumem::SimVmCounters vm_before = sim.vm_counters();
  const gpumem::ReplayOptions options{.through_manager = through_manager};
  std::uint64_t elapsed_ns = 0;
  std::uint64_t ops = 0;
  gpumem::ReplayResult last;
  for (auto _ : state) {
    try {
      last = gpumem::replay(steps, *device, 0, kind, options);  // heap 0: the sim's device heap
    } catch (const gpumem::Unsupported& e) {
      state.SkipWithError(e.what());
      return;
    }
    state.SetIterationTime(static_cast<double>(last.elapsed_ns) * 1e-9);
    elapsed_ns += last.elapsed_ns;
    ops += last.ops;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  state.counters["ns_per_event"] =
      ops == 0 ? 0.0 : static_cast<double>(elapsed_ns) / static_cast<double>(ops);
  state.counters["reserved_over_live"] = last.reserved_over_live;
  const gpumem::SimVmCounters vm = sim.vm_counters();
  const auto per_event = [&](std::uint64_t n) {
    return ops == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(ops);
  };
  state.counters["vm_creates"] = per_event(vm.page_creations - vm_before.page_creations);
  state.counters["vm_maps"] = per_event(vm.maps - vm_before.maps);
  state.counters["vm_unmaps"] = per_event(vm.unmaps - vm_before.unmaps);
  state.counters["vm_map_calls"] = per_event(vm.map_calls - vm_before.map_calls);
  state.counters["failures"] = static_cast<double>(last.failures);
  state.SetLabel(last.allocator);
}

void register_replays() {
  const std::pair<const char*, PlanSource> traces[] = {{"churn200k", churn200k},
                                                       {"llama_generate_kv", llama_generate_kv},
                                                       {"resnet50_train", resnet50_train}};
  for (const gpumem::AllocatorKind kind : gpumem::available_allocator_kinds()) {
    for (const auto& [trace, plan] : traces) {
      for (const bool manager : {false, true}) {
        const std::string name = fmt::format("replay/{}/{}/{}", trace, gpumem::to_string(kind),
                                             manager ? "manager" : "allocator");
        benchmark::RegisterBenchmark(name.c_str(), replay_benchmark, plan, kind, manager)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_replays();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
