// GPU allocators side by side on one device: churn200k and the recorded traces replayed with
// gpumem's stream-ordered allocator (arena on CUDA virtual memory with its defaults and with the
// PyTorch plug-in's footprint-first settings, and its cudaMalloc pool fallback),
// cudaMalloc/cudaFree, and cudaMallocAsync/cudaFreeAsync on the device's default pool with its
// release threshold at maximum. Each replay starts from an empty pool; all on the legacy default
// stream, as the traces were recorded. Prints one JSON line per replay, then a table of ns/op (wall
// time of the replay's events over their count; the median of
// --repeat runs) and peak reserved / peak live.
//
// PyTorch's caching allocator (c10 raw_alloc/raw_delete) joins them with --torch-caching LIB:
// its calls are inline in PyTorch's headers, so they live in bench/torch_caching_replay.cpp,
// built against an installed PyTorch by scripts/build-torch-bench.sh and loaded here at run
// time; gpumem's build does not depend on PyTorch.
//
//   ./build/bench/gpu_allocators --traces bench/traces --repeat 3 --malloc-ops 20000
//   ./build/bench/gpu_allocators --torch-caching .device/torch/libgpumem_torch_caching.so
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/memory/cuda_stream_allocator.hpp"
#include "gpumem/memory/page_arena_allocator.hpp"
#include "gpumem/memory/trace_replay.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  std::string trace;
  std::string allocator;
  std::uint64_t ops = 0;
  double ns_per_op = 0.0;
  std::uint64_t peak_reserved = 0;  // 0: the allocator keeps no pool to measure
  std::uint64_t peak_live = 0;
  std::uint64_t failures = 0;
  std::string extra;  // allocator-specific figures, as JSON members
};

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    throw gpumem::Error(fmt::format("{} failed: {}", what, cudaGetErrorString(e)));
  }
}

// One allocator behind two calls; `reserved` reports its peak after the replay.
struct Allocator {
  std::string name;
  std::function<void()> reset;  // empties the pool before a replay
  std::function<void*(std::uint64_t)> allocate;
  std::function<void(void*, std::uint64_t)> deallocate;
  std::function<std::uint64_t()> peak_reserved;
  std::function<void()> finish;        // after the replay, untimed
  std::function<std::string()> extra;  // figures after the replay, before finish()
};

// Replays the first `limit` steps (all when 0) timed, then frees what is left untimed.
Result replay(const gpumem::ReplayPlan& plan, Allocator& a, std::uint64_t limit) {
  std::vector<void*> ptr(plan.slots, nullptr);
  std::vector<std::uint64_t> bytes(plan.slots, 0);
  const std::size_t n =
      limit == 0 ? plan.steps.size() : std::min<std::size_t>(limit, plan.steps.size());
  Result r{
      .trace = plan.trace_name, .allocator = a.name, .ops = n, .peak_live = plan.peak_live_bytes};
  a.reset();
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    const gpumem::ReplayStep& s = plan.steps[i];
    if (s.kind == gpumem::ReplayStep::Kind::Allocate) {
      void* p = nullptr;
      try {
        p = a.allocate(s.bytes);
      } catch (const gpumem::Error&) {
        ++r.failures;
      }
      ptr[s.slot] = p;
      bytes[s.slot] = s.bytes;
    } else if (ptr[s.slot] != nullptr) {
      a.deallocate(ptr[s.slot], bytes[s.slot]);
      ptr[s.slot] = nullptr;
    }
  }
  const auto elapsed = Clock::now() - start;
  for (std::size_t slot = 0; slot < ptr.size(); ++slot) {
    if (ptr[slot] != nullptr) a.deallocate(ptr[slot], bytes[slot]);
  }
  r.ns_per_op = static_cast<double>(std::chrono::nanoseconds(elapsed).count()) /
                static_cast<double>(std::max<std::size_t>(n, 1));
  r.peak_reserved = a.peak_reserved();
  if (a.extra) r.extra = a.extra();
  a.finish();
  return r;
}

Allocator gpumem_allocator(std::string name, const gpumem::CudaAllocatorOptions& options,
                           std::unique_ptr<gpumem::CudaStreamAllocator>& g) {
  Allocator a;
  a.name = std::move(name);
  a.reset = [&g, options] {
    g.reset();
    g = std::make_unique<gpumem::CudaStreamAllocator>(options);
  };
  a.allocate = [&g](std::uint64_t b) { return g->allocate(b, nullptr); };
  a.deallocate = [&g](void* p, std::uint64_t b) { g->deallocate(p, b, nullptr); };
  a.peak_reserved = [&g] { return g->stats().heap.peak_reserved_bytes; };
  a.extra = [&g] {
    const gpumem::StreamAllocatorStats s = g->stats();
    std::string out = fmt::format(",\"synchronizations\":{}", s.synchronizations);
    if (const auto* arena = dynamic_cast<const gpumem::PageArenaAllocator*>(&g->backing())) {
      const gpumem::ArenaPageCounters c = arena->page_counters();
      out += fmt::format(
          ",\"pages_created\":{},\"pieces_created\":{},\"pages_stolen\":{},"
          "\"pieces_moved\":{},\"pages_released\":{},\"pages_reused\":{}",
          c.created, c.pieces_created, c.stolen, c.pieces_moved, c.released, c.reused_in_place);
    }
    return out;
  };
  a.finish = [&g] { g.reset(); };
  return a;
}

Allocator cuda_malloc_allocator() {
  Allocator a;
  a.name = "cudaMalloc";
  a.reset = [] {};
  a.allocate = [](std::uint64_t b) {
    void* p = nullptr;
    check(cudaMalloc(&p, b), "cudaMalloc");
    return p;
  };
  a.deallocate = [](void* p, std::uint64_t) { check(cudaFree(p), "cudaFree"); };
  a.peak_reserved = [] { return std::uint64_t{0}; };
  a.finish = [] {};
  return a;
}

Allocator cuda_malloc_async_allocator(cudaMemPool_t pool) {
  Allocator a;
  a.name = "cudaMallocAsync";
  a.reset = [pool] {
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    check(cudaMemPoolTrimTo(pool, 0), "cudaMemPoolTrimTo");
    std::uint64_t zero = 0;
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReservedMemHigh, &zero),
          "cudaMemPoolSetAttribute(ReservedMemHigh)");
    check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero),
          "cudaMemPoolSetAttribute(UsedMemHigh)");
  };
  a.allocate = [](std::uint64_t b) {
    void* p = nullptr;
    check(cudaMallocAsync(&p, b, nullptr), "cudaMallocAsync");
    return p;
  };
  a.deallocate = [](void* p, std::uint64_t) { check(cudaFreeAsync(p, nullptr), "cudaFreeAsync"); };
  a.peak_reserved = [pool] {
    std::uint64_t high = 0;
    check(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemHigh, &high),
          "cudaMemPoolGetAttribute(ReservedMemHigh)");
    return static_cast<std::uint64_t>(high);
  };
  a.finish = [pool] {
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    check(cudaMemPoolTrimTo(pool, 0), "cudaMemPoolTrimTo");
  };
  return a;
}

// PyTorch's caching allocator through the C functions of bench/torch_caching_replay.cpp, loaded
// from `library` (kept loaded until exit: PyTorch's static state must outlive its last use).
Allocator torch_caching_allocator(const std::string& library) {
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): called once, before the bench starts any thread
    const char* error = ::dlerror();
    throw gpumem::Error(
        fmt::format("--torch-caching {}: {}", library, error != nullptr ? error : "dlopen failed"));
  }
  const auto symbol = [&](const char* name) {
    void* f = ::dlsym(handle, name);
    if (f == nullptr) {
      throw gpumem::Error(fmt::format("--torch-caching {}: no function {}", library, name));
    }
    return f;
  };
  using Init = int (*)();
  using Version = const char* (*)();
  using Alloc = void* (*)(std::uint64_t);
  using Free = int (*)(void*);
  using Peak = std::uint64_t (*)();
  const auto init = reinterpret_cast<Init>(symbol("gpumem_torch_caching_init"));
  const auto version = reinterpret_cast<Version>(symbol("gpumem_torch_caching_version"));
  const auto alloc = reinterpret_cast<Alloc>(symbol("gpumem_torch_caching_alloc"));
  const auto release = reinterpret_cast<Free>(symbol("gpumem_torch_caching_free"));
  const auto empty = reinterpret_cast<Init>(symbol("gpumem_torch_caching_empty"));
  const auto peak = reinterpret_cast<Peak>(symbol("gpumem_torch_caching_peak_reserved"));
  if (init() != 0) throw gpumem::Error("PyTorch's caching allocator did not start (see above)");
  fmt::print("# PyTorch {} caching allocator from {}\n", version(), library);
  Allocator a;
  a.name = "pytorch";
  a.reset = [empty] {
    if (empty() != 0) throw gpumem::Error("PyTorch's emptyCache failed (see above)");
  };
  a.allocate = [alloc](std::uint64_t b) {
    void* p = alloc(b);
    if (p == nullptr && b != 0) {
      throw gpumem::Error(fmt::format("PyTorch's raw_alloc({}) failed", b));
    }
    return p;
  };
  a.deallocate = [release](void* p, std::uint64_t) {
    if (release(p) != 0) throw gpumem::Error("PyTorch's raw_delete failed (see above)");
  };
  a.peak_reserved = peak;
  a.finish = [empty] { static_cast<void>(empty()); };
  return a;
}

double ratio(const Result& r) {
  return r.peak_live == 0 || r.peak_reserved == 0
             ? 0.0
             : static_cast<double>(r.peak_reserved) / static_cast<double>(r.peak_live);
}

int run(int argc, char** argv) {
  std::filesystem::path traces = "bench/traces";
  int repeat = 3;
  std::uint64_t malloc_ops = 20000;  // cudaMalloc on churn200k, as the traces' README measured
  std::string torch_caching;         // the library of bench/torch_caching_replay.cpp, if given
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--traces") {
      traces = argv[i + 1];
    } else if (key == "--repeat") {
      repeat = std::max(1, std::atoi(argv[i + 1]));
    } else if (key == "--malloc-ops") {
      malloc_ops = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (key == "--torch-caching") {
      torch_caching = argv[i + 1];
    } else {
      fmt::print(stderr,
                 "unknown option {} (known: --traces DIR, --repeat N, --malloc-ops N, "
                 "--torch-caching LIB)\n",
                 key);
      return 2;
    }
  }
  if (!gpumem::cuda_availability().available) {
    fmt::print(stderr, "no CUDA device: {}\n", gpumem::cuda_availability().detail);
    return 1;
  }
  check(cudaSetDevice(0), "cudaSetDevice");
  check(cudaFree(nullptr), "cudaFree(nullptr)");  // the context, outside every timing
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  fmt::print("# device: {}\n", prop.name);

  cudaMemPool_t pool = nullptr;
  check(cudaDeviceGetDefaultMemPool(&pool, 0), "cudaDeviceGetDefaultMemPool");
  std::uint64_t threshold = std::numeric_limits<std::uint64_t>::max();
  check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold),
        "cudaMemPoolSetAttribute(ReleaseThreshold)");

  std::vector<gpumem::ReplayPlan> plans;
  plans.push_back(gpumem::plan_replay(gpumem::builtin_trace("churn200k")));
  for (const char* name :
       {"resnet50_train", "gpt2_train", "llama_generate_kv", "mlp_train_small"}) {
    plans.push_back(
        gpumem::plan_replay(gpumem::read_trace(traces / (std::string(name) + ".trace.gz"))));
  }

  std::unique_ptr<gpumem::CudaStreamAllocator> g;
  // The arena with its defaults (pieces of up to 1 GiB, idle memory stays put as
  // cudaMallocAsync's does), with the PyTorch plug-in's footprint-first settings (pages of 2 MiB
  // that move, no idle slack), and the pool over cudaMalloc.
  const gpumem::CudaAllocatorOptions footprint{
      .stream = gpumem::StreamAllocatorOptions::footprint_first()};
  std::vector<Allocator> allocators = {
      gpumem_allocator("gpumem", {}, g), gpumem_allocator("gpumem-footprint", footprint, g),
      gpumem_allocator("gpumem-pool", {.virtual_memory = false}, g),
      cuda_malloc_async_allocator(pool), cuda_malloc_allocator()};
  if (!torch_caching.empty()) allocators.push_back(torch_caching_allocator(torch_caching));
  std::vector<Result> results;
  for (const gpumem::ReplayPlan& plan : plans) {
    for (Allocator& a : allocators) {
      const std::uint64_t limit =
          a.name == "cudaMalloc" && plan.trace_name == "churn200k" ? malloc_ops : 0;
      const int runs = a.name == "cudaMalloc" ? 1 : repeat;
      std::vector<Result> rs;
      rs.reserve(static_cast<std::size_t>(runs));
      for (int i = 0; i < runs; ++i) rs.push_back(replay(plan, a, limit));
      std::sort(rs.begin(), rs.end(),
                [](const Result& x, const Result& y) { return x.ns_per_op < y.ns_per_op; });
      const Result r = rs[rs.size() / 2];
      fmt::print(
          "{{\"trace\":\"{}\",\"allocator\":\"{}\",\"ops\":{},\"ns_per_op\":{:.1f},"
          "\"ns_per_op_min\":{:.1f},\"peak_reserved\":{},\"peak_live\":{},"
          "\"reserved_over_live\":{:.4f},\"failures\":{},\"runs\":{}{}}}\n",
          r.trace, r.allocator, r.ops, r.ns_per_op, rs.front().ns_per_op, r.peak_reserved,
          r.peak_live, ratio(r), r.failures, runs, r.extra);
      std::fflush(stdout);
      results.push_back(r);
    }
  }

  fmt::print("\n| trace | allocator | ns/op | peak reserved | peak live | reserved/live |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    fmt::print("| {} | {} | {:.0f}{} | {} | {} | {} |\n", r.trace, r.allocator, r.ns_per_op,
               r.ops < 100000 && r.trace == "churn200k" ? fmt::format(" ({} ops)", r.ops) : "",
               r.peak_reserved, r.peak_live,
               r.peak_reserved == 0 ? std::string("-") : fmt::format("{:.3f}", ratio(r)));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "gpu_allocators: {}\n", e.what());
    return 1;
  }
}
