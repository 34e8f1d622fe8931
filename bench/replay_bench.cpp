// Trace replay benchmarks: churn200k and llama_generate_kv replayed from an empty allocator on
// the default simulator (80 GiB, 2 MiB pages), for every allocator this build can make, on the
// bare allocator and through a whole Manager. Traces are read and planned once, outside any
// timing; each iteration builds a fresh allocator and the benchmark's time is replay()'s own
// timed loop (manual time). Counters: ns_per_event (the traces' README's ns/op),
// reserved_over_live (peak device memory held over peak live bytes), and the simulator's page
// work per event: pieces of physical memory created (vm_pieces_created, a cuMemCreate and a
// cuMemMap + cuMemSetAccess each on CUDA, ~50 us on an H200 whatever their size), pieces mapped
// and unmapped elsewhere (vm_piece_maps, vm_piece_unmaps: ~60 us a move), the pages those
// pieces held (vm_creates, vm_maps, vm_unmaps) and the map calls (vm_map_calls; neighbouring
// pieces map in one). On CUDA the cost is per piece, so the piece counts predict the arena's GPU
// time, far better than its time here (bench/cuda_vmm_costs measures the costs).
//
// stream/<trace>/<backing> replay churn200k and llama_generate_kv through a StreamOrderedAllocator
// on one stream (an ordering that does nothing: one stream records no event) and, in the same
// iterations, through the same backing built with the options that allocator gives it, driven by
// the same loop without the stream layer: layer_ns_per_event is what the stream layer costs per
// event on the CPU.
//
//   ./build/bench/replay_bench --benchmark_filter='churn200k/.*/allocator'
//   ./build/bench/replay_bench --benchmark_filter='stream/' --benchmark_repetitions=5
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gpumem/backend/registry.hpp"
#include "gpumem/backend/sim_device.hpp"
#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/memory/allocator_factory.hpp"
#include "gpumem/memory/block_pool_allocator.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"
#include "gpumem/memory/stream_ordered_allocator.hpp"
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

// The simulator's page work per event since `before`, and the figures every replay reports.
void report(benchmark::State& state, const gpumem::SimDevice& sim,
            const gpumem::SimVmCounters& before, std::uint64_t elapsed_ns, std::uint64_t ops,
            double reserved_over_live, std::uint64_t failures) {
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  const auto per_event = [&](double n) { return ops == 0 ? 0.0 : n / static_cast<double>(ops); };
  state.counters["ns_per_event"] = per_event(static_cast<double>(elapsed_ns));
  state.counters["reserved_over_live"] = reserved_over_live;
  const gpumem::SimVmCounters vm = sim.vm_counters();
  const auto pages = [&](std::uint64_t now, std::uint64_t then) {
    return per_event(static_cast<double>(now - then));
  };
  state.counters["vm_pieces_created"] = pages(vm.creations, before.creations);
  state.counters["vm_piece_maps"] = pages(vm.piece_maps, before.piece_maps);
  state.counters["vm_piece_unmaps"] = pages(vm.piece_unmaps, before.piece_unmaps);
  state.counters["vm_creates"] = pages(vm.page_creations, before.page_creations);
  state.counters["vm_maps"] = pages(vm.maps, before.maps);
  state.counters["vm_unmaps"] = pages(vm.unmaps, before.unmaps);
  state.counters["vm_map_calls"] = pages(vm.map_calls, before.map_calls);
  state.counters["failures"] = static_cast<double>(failures);
}

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
  report(state, sim, vm_before, elapsed_ns, ops, last.reserved_over_live, last.failures);
  state.SetLabel(last.allocator);
}

// Records nothing and waits for nothing: with one stream the allocator asks for neither on its
// hot path (only is_per_thread, on every call), so this times the stream layer alone.
class NoOrdering final : public gpumem::StreamOrdering {
 public:
  bool is_per_thread(gpumem::StreamHandle /*stream*/) const noexcept override { return false; }
  gpumem::EventHandle create_event() override { return ++events_; }
  void destroy_event(gpumem::EventHandle /*event*/) noexcept override {}
  void record(gpumem::EventHandle /*event*/, gpumem::StreamHandle /*stream*/) override {}
  void wait(gpumem::StreamHandle /*stream*/, gpumem::EventHandle /*event*/) override {}
  void synchronize(gpumem::EventHandle /*event*/) override {}
  void synchronize_device() override {}

 private:
  gpumem::EventHandle events_ = 0;
};

// One live allocation of a stream replay: what deallocate needs back.
struct LiveSlot {
  void* ptr = nullptr;
  gpumem::Placement placement;  // the bare backing's
  std::uint64_t bytes = 0;
  bool live = false;
};

// Times the plan's steps. `allocate(bytes, slot)` fills the slot (false when refused);
// `release(slot)` frees it. Every trace frees all it allocated, so nothing is left afterwards.
template <typename Allocate, typename Release>
std::uint64_t timed_steps(const gpumem::ReplayPlan& plan, Allocate&& allocate, Release&& release,
                          std::uint64_t& failures) {
  std::vector<LiveSlot> slots(plan.slots);
  const auto start = std::chrono::steady_clock::now();
  for (const gpumem::ReplayStep& step : plan.steps) {
    LiveSlot& slot = slots[step.slot];
    if (step.kind == gpumem::ReplayStep::Kind::Allocate) {
      slot.bytes = step.bytes;
      slot.live = step.bytes != 0 && allocate(step.bytes, slot);  // 0 bytes: nothing to free
      if (step.bytes != 0 && !slot.live) ++failures;
    } else if (slot.live) {
      release(slot);
      slot.live = false;
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

// The backing StreamOrderedAllocator builds for these options, with the options it gives it,
// so the bare case runs the same allocator without the stream layer.
std::unique_ptr<gpumem::HeapAllocator> bare_backing(gpumem::HeapGovernor& governor,
                                                    const gpumem::StreamAllocatorOptions& o) {
  if (o.backing == gpumem::StreamAllocatorOptions::Backing::Arena) {
    return std::make_unique<gpumem::PageArenaAllocator>(
        governor, gpumem::StreamOrderedAllocator::arena_options(governor, o));
  }
  return std::make_unique<gpumem::BlockPoolAllocator>(
      governor, gpumem::StreamOrderedAllocator::pool_options(o));
}

struct StreamReplay {
  std::uint64_t ns = 0;
  double reserved_over_live = 0.0;
  std::uint64_t failures = 0;
};

// One replay of `plan` from empty on the device heap of `sim`: through a StreamOrderedAllocator
// on one stream, or (stream_layer false) through the backing it would build, by the same loop.
StreamReplay replay_stream(const gpumem::ReplayPlan& plan, gpumem::SimDevice& sim,
                           const gpumem::StreamAllocatorOptions& options, bool stream_layer) {
  const gpumem::Config config = gpumem::Config::defaults();
  gpumem::MetricsRecorder metrics(sim.info().heaps);
  gpumem::PressureSubscribers subscribers;
  gpumem::HeapGovernor governor(sim, 0, config, metrics, subscribers);
  governor.refresh();
  NoOrdering ordering;
  constexpr gpumem::StreamHandle kStream = 0;
  StreamReplay r;
  if (stream_layer) {
    gpumem::StreamOrderedAllocator allocator(governor, ordering, options);
    r.ns = timed_steps(
        plan,
        [&](std::uint64_t bytes, LiveSlot& slot) {
          try {
            slot.ptr = allocator.allocate(bytes, kStream);
          } catch (const gpumem::OutOfMemory&) {
            return false;
          }
          return true;
        },
        [&](const LiveSlot& slot) { allocator.deallocate(slot.ptr, slot.bytes, kStream); },
        r.failures);
    allocator.trim();
  } else {
    const std::unique_ptr<gpumem::HeapAllocator> allocator = bare_backing(governor, options);
    r.ns = timed_steps(
        plan,
        [&](std::uint64_t bytes, LiveSlot& slot) {
          slot.placement = allocator->allocate(bytes, options.alignment, /*movable=*/false);
          return static_cast<bool>(slot.placement);
        },
        [&](const LiveSlot& slot) { allocator->deallocate(slot.placement); }, r.failures);
    allocator->trim();
  }
  r.reserved_over_live = static_cast<double>(metrics.snapshot().heaps[0].peak_reserved_bytes) /
                         static_cast<double>(plan.peak_live_bytes);
  return r;
}

// Every iteration replays the plan through the stream layer and through the bare backing, in
// turns first, so that a busy machine slows both alike: the time and ns_per_event are the stream
// layer's, bare_ns_per_event the backing's alone, layer_ns_per_event their difference.
void stream_replay_benchmark(benchmark::State& state, PlanSource plan,
                             gpumem::StreamAllocatorOptions::Backing backing) {
  const gpumem::ReplayPlan& steps = plan();
  const auto stream_device = gpumem::open_device("sim");
  const auto bare_device = gpumem::open_device("sim");
  auto& stream_sim = dynamic_cast<gpumem::SimDevice&>(*stream_device);
  auto& bare_sim = dynamic_cast<gpumem::SimDevice&>(*bare_device);
  const gpumem::SimVmCounters vm_before = stream_sim.vm_counters();
  const gpumem::StreamAllocatorOptions options{.backing = backing};
  std::uint64_t stream_ns = 0;
  std::uint64_t bare_ns = 0;
  std::uint64_t ops = 0;
  StreamReplay stream;
  bool bare_first = false;
  for (auto _ : state) {
    StreamReplay bare;
    if (bare_first) bare = replay_stream(steps, bare_sim, options, false);
    stream = replay_stream(steps, stream_sim, options, true);
    if (!bare_first) bare = replay_stream(steps, bare_sim, options, false);
    bare_first = !bare_first;
    state.SetIterationTime(static_cast<double>(stream.ns) * 1e-9);
    stream_ns += stream.ns;
    bare_ns += bare.ns;
    ops += steps.steps.size();
  }
  report(state, stream_sim, vm_before, stream_ns, ops, stream.reserved_over_live, stream.failures);
  const auto per_event = [&](double ns) { return ops == 0 ? 0.0 : ns / static_cast<double>(ops); };
  state.counters["bare_ns_per_event"] = per_event(static_cast<double>(bare_ns));
  state.counters["layer_ns_per_event"] =
      per_event(static_cast<double>(stream_ns) - static_cast<double>(bare_ns));
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
  using Backing = gpumem::StreamAllocatorOptions::Backing;
  for (const auto& [trace, plan] : {traces[0], traces[1]}) {
    for (const auto& [backing, backing_name] :
         {std::pair{Backing::Arena, "arena"}, std::pair{Backing::Pool, "pool"}}) {
      const std::string name = fmt::format("stream/{}/{}", trace, backing_name);
      benchmark::RegisterBenchmark(name.c_str(), stream_replay_benchmark, plan, backing)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
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
