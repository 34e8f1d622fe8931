// alloc/ benchmarks: TLSF allocate+free on a churn workload, the staging ring, the size-class
// pool's hit path. Operation lists are generated before timing; figures are ns per operation.
//
//   g++ -std=c++20 -O2 -DNDEBUG -Iinclude src/alloc/*.cpp src/core/error.cpp
//       src/core/units.cpp bench/alloc_bench.cpp -lbenchmark -lfmt -lpthread -o alloc_bench
//   ./alloc_bench

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "gpumem/alloc/linear_allocator.hpp"
#include "gpumem/alloc/size_class_pool.hpp"
#include "gpumem/alloc/tlsf_metadata.hpp"
#include "gpumem/alloc/virtual_block.hpp"
#include "gpumem/core/units.hpp"

namespace {

using gpumem::kGiB;
using gpumem::kMiB;

// Uniform in [0, 1) from the top 53 bits, so the workload does not depend on the standard
// library's distributions.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::uint64_t log_uniform(std::mt19937_64& rng, double low, double high) {
  return static_cast<std::uint64_t>(std::exp(std::log(low) + unit(rng) * std::log(high / low)));
}

struct ChurnOp {
  bool allocate;
  std::uint64_t value;  // bytes to allocate, or the index of the live allocation to free
};

// churn200k: 200,000 operations with a target of 1,000 live allocations, sizes log-uniform
// between 256 B and 16 MiB, seed 7. Below the target an operation allocates with probability
// 3/4, at or above it with 1/4; otherwise it frees a uniformly chosen live allocation. The frees
// of what is left at the end are appended (and timed).
const std::vector<ChurnOp>& churn200k() {
  static const std::vector<ChurnOp> ops = [] {
    std::mt19937_64 rng(7);
    std::vector<ChurnOp> out;
    std::uint64_t live = 0;
    for (int i = 0; i < 200'000; ++i) {
      const bool allocate = live == 0 || unit(rng) < (live < 1000 ? 0.75 : 0.25);
      if (allocate) {
        out.push_back({true, log_uniform(rng, 256.0, 16.0 * kMiB)});
        ++live;
      } else {
        out.push_back({false, rng() % live});
        --live;
      }
    }
    for (; live > 0; --live) out.push_back({false, rng() % live});
    return out;
  }();
  return ops;
}

void report_per_operation(benchmark::State& state, std::size_t operations_per_iteration) {
  const auto operations =
      static_cast<double>(operations_per_iteration) * static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(operations));
  state.counters["ns_per_op"] = benchmark::Counter(
      operations * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Runs churn200k on anything with try_allocate/free (TlsfMetadata, VirtualBlock).
template <typename Block>
void run_churn(benchmark::State& state) {
  const std::vector<ChurnOp>& ops = churn200k();
  const auto alignment = static_cast<std::uint64_t>(state.range(0));
  Block block(64 * kGiB);  // never runs out: 1,000 x 16 MiB at most is 16 GiB
  std::vector<gpumem::TlsfAllocation> live;
  live.reserve(2000);
  for (auto _ : state) {
    for (const ChurnOp& op : ops) {
      if (op.allocate) {
        const auto a = block.try_allocate(op.value, alignment);
        if (!a) {
          state.SkipWithError("churn200k ran out of space");
          return;
        }
        live.push_back(*a);
      } else {
        block.free(live[op.value]);
        live[op.value] = live.back();
        live.pop_back();
      }
    }
  }
  report_per_operation(state, ops.size());
}

void BM_TlsfChurn200k(benchmark::State& state) { run_churn<gpumem::TlsfMetadata>(state); }
BENCHMARK(BM_TlsfChurn200k)->ArgName("alignment")->Arg(1)->Arg(256)->Unit(benchmark::kMillisecond);

void BM_VirtualBlockChurn200k(benchmark::State& state) { run_churn<gpumem::VirtualBlock>(state); }
BENCHMARK(BM_VirtualBlockChurn200k)->ArgName("alignment")->Arg(256)->Unit(benchmark::kMillisecond);

// A staging ring of 256 MiB: uploads of 256 B to 1 MiB (log-uniform, 256-aligned), at most 64 in
// flight, retired oldest first. Each allocate and each free counts as one operation.
void BM_RingStaging(benchmark::State& state) {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> sizes(1 << 16);
  for (std::uint64_t& s : sizes) s = log_uniform(rng, 256.0, 1.0 * kMiB);
  gpumem::LinearAllocator ring(256 * kMiB, gpumem::LinearMode::Ring);
  std::size_t in_flight = 0;
  std::size_t operations = 0;
  for (auto _ : state) {
    for (const std::uint64_t size : sizes) {
      auto a = ring.try_allocate(size, 256);
      while (!a || in_flight == 64) {
        ring.free_oldest();
        --in_flight;
        ++operations;
        if (!a) a = ring.try_allocate(size, 256);
      }
      benchmark::DoNotOptimize(a->offset());
      ++in_flight;
      ++operations;
    }
  }
  report_per_operation(state, operations / static_cast<std::size_t>(state.iterations()));
}
BENCHMARK(BM_RingStaging)->Unit(benchmark::kMicrosecond);

struct HostBuffer {
  void* pointer;
  std::uint64_t capacity;
};

// The pool's hit path: take a cached buffer of a class and give it back (one op = both).
void BM_SizeClassPoolHit(benchmark::State& state) {
  gpumem::SizeClassPool<HostBuffer> pool;
  for (int i = 0; i < 8; ++i) (void)pool.return_buffer(4096, HostBuffer{nullptr, 4096});
  for (auto _ : state) {
    std::optional<HostBuffer> b = pool.try_get(3000);
    benchmark::DoNotOptimize(b);
    (void)pool.return_buffer(4096, *b);
  }
  report_per_operation(state, 1);
}
BENCHMARK(BM_SizeClassPoolHit);

// The same through reference counting: acquire a PooledBuffer (a hit) and drop it.
void BM_SizeClassPoolSharedHit(benchmark::State& state) {
  gpumem::SizeClassPool<HostBuffer> pool;
  for (int i = 0; i < 8; ++i) (void)pool.return_buffer(4096, HostBuffer{nullptr, 4096});
  const auto make = [](std::uint64_t capacity) { return HostBuffer{nullptr, capacity}; };
  for (auto _ : state) {
    gpumem::PooledBuffer<HostBuffer> b = pool.acquire(3000, make);
    benchmark::DoNotOptimize(b->pointer);
  }
  report_per_operation(state, 1);
}
BENCHMARK(BM_SizeClassPoolSharedHit);

}  // namespace

BENCHMARK_MAIN();
