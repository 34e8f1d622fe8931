// Transfers (issue 6): the staging ring's bookkeeping per staged upload on the host backend (next
// to the device calls it wraps), and, where a CUDA or a Vulkan GPU is present, the ring and the
// pageable-memory copier moving 64-256 MiB, side by side with plain cudaMemcpy from pinned and
// from pageable memory in the same run. Throughput is in GB/s (10^9 bytes per second).
//
//   build/bench/transfer_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/registry.hpp"
#include "gpumem/memory/manager.hpp"
#include "gpumem/transfer/pageable_copier.hpp"
#include "gpumem/transfer/staging_ring.hpp"
#if GPUMEM_HAS_CUDA
#include <cuda_runtime_api.h>

#include "gpumem/backend/cuda_device.hpp"
#endif

namespace gpumem {
namespace {

void report_gbps(benchmark::State& state, std::uint64_t bytes_per_iteration) {
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(bytes_per_iteration) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

// --- Bookkeeping on the host backend ---------------------------------------------------------

struct HostRig {
  std::shared_ptr<HostDevice> device =
      std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(1 * kGiB, 256 * kMiB));
  Manager manager{device};
  Allocation dst = manager.allocate({.size = kMiB});
  std::vector<std::byte> bytes = std::vector<std::byte>(64, std::byte{1});
};

// stage_upload of 64 bytes: ticket, ring range, retiring the previous (complete) copy, the
// memcpy into the ring and the device's copy call.
void BM_RingStageSmallUpload(benchmark::State& state) {
  HostRig rig;
  StagingRing ring(rig.manager, {.ring_size = 4 * kMiB, .chunk_size = kMiB});
  std::uint64_t offset = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.stage_upload(rig.bytes, rig.dst, offset));
    offset = (offset + 64) & (kMiB - 1);
  }
}
BENCHMARK(BM_RingStageSmallUpload);

// The same work without the ring: memcpy into mapped staging memory, the device's copy call and
// a completion query. The difference to BM_RingStageSmallUpload is the ring's bookkeeping.
void BM_DeviceCallsWithoutRing(benchmark::State& state) {
  HostRig rig;
  Allocation staging = rig.manager.allocate({.size = 4 * kMiB, .kind = HeapKind::Upload});
  std::byte* host = staging.map();
  std::uint64_t offset = 0;
  for (auto _ : state) {
    std::memcpy(host + offset, rig.bytes.data(), rig.bytes.size());
    const FenceValue fence = rig.device->copy(staging.block(), staging.offset() + offset,
                                              rig.dst.block(), rig.dst.offset() + offset, 64);
    benchmark::DoNotOptimize(rig.device->is_complete(fence));
    offset = (offset + 64) & (kMiB - 1);
  }
}
BENCHMARK(BM_DeviceCallsWithoutRing);

// --- GPU transfers ------------------------------------------------------------------------------

constexpr std::uint64_t kLarge = 256 * kMiB;

std::string fmt_name(const std::string& backend, const char* what, std::uint64_t chunk,
                     std::uint32_t threads) {
  return fmt::format("{}/{}/chunk:{}MiB/threads:{}", backend, what, chunk / kMiB, threads);
}

Config gpu_config() {
  Config c;
  c.host_visible_budget = 2 * kGiB;  // every case's ring and chunks, and cached blocks, fit
  return c;
}

// One device, its manager, device memory and warm pageable memory, shared by a backend's cases.
struct GpuRig {
  explicit GpuRig(std::shared_ptr<Device> d) : device(std::move(d)), manager(device, gpu_config()) {
    std::memset(pageable.data(), 7, pageable.size());  // touched: no page faults while measured
  }
  std::shared_ptr<Device> device;
  Manager manager;
  Allocation vram = manager.allocate({.size = kLarge, .movable = false});
  std::vector<std::byte> pageable = std::vector<std::byte>(kLarge);
};

std::vector<std::unique_ptr<GpuRig>>& rigs() {
  static std::vector<std::unique_ptr<GpuRig>> all;
  return all;
}

void register_gpu_cases(const std::string& backend, GpuRig& rig) {
  // 64 MiB of pageable memory through a 64 MiB ring, waiting for it to arrive.
  for (const std::uint64_t chunk : {2 * kMiB, 4 * kMiB, 8 * kMiB}) {
    for (const std::uint32_t threads : {8U, 16U}) {
      benchmark::RegisterBenchmark(
          fmt_name(backend, "RingUpload64MiB", chunk, threads).c_str(),
          [&rig, chunk, threads](benchmark::State& state) {
            StagingRing ring(
                rig.manager,
                {.ring_size = 64 * kMiB, .chunk_size = chunk, .copy_threads = threads});
            const std::span<const std::byte> bytes(rig.pageable.data(), 64 * kMiB);
            for (auto _ : state) ring.wait(ring.stage_upload(bytes, rig.vram));
            report_gbps(state, bytes.size());
          })
          ->UseRealTime()
          ->MinTime(0.3);
    }
  }
  // 256 MiB between pageable memory and the device through the copier's chunks.
  for (const std::uint32_t threads : {8U, 16U}) {
    const PageableCopierOptions options{
        .chunk_size = 8 * kMiB, .chunks = 4, .copy_threads = threads};
    benchmark::RegisterBenchmark(
        fmt_name(backend, "PageableUpload256MiB", 8 * kMiB, threads).c_str(),
        [&rig, options](benchmark::State& state) {
          PageableCopier copier(rig.manager, options);
          for (auto _ : state) copier.upload(rig.pageable, rig.vram);
          report_gbps(state, kLarge);
        })
        ->UseRealTime()
        ->MinTime(0.3);
    benchmark::RegisterBenchmark(
        fmt_name(backend, "PageableDownload256MiB", 8 * kMiB, threads).c_str(),
        [&rig, options](benchmark::State& state) {
          PageableCopier copier(rig.manager, options);
          for (auto _ : state) copier.download(rig.vram, 0, rig.pageable);
          report_gbps(state, kLarge);
        })
        ->UseRealTime()
        ->MinTime(0.3);
  }
}

#if GPUMEM_HAS_CUDA
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(fmt::format("{} failed: {}", what, cudaGetErrorString(e)));
}

// Pinned host memory for the cudaMemcpy baselines, made once outside the measurements.
struct PinnedBuffer {
  PinnedBuffer() { check(cudaMallocHost(&data, kLarge), "cudaMallocHost"); }
  ~PinnedBuffer() { static_cast<void>(cudaFreeHost(data)); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data = nullptr;
};

// Plain cudaMemcpy (then a device synchronisation, since a copy from pageable memory may return
// before its DMA ends) from and to pinned and pageable memory: the baselines of the same sizes.
void register_cuda_baselines(GpuRig& rig) {
  static PinnedBuffer pinned;
  struct Case {
    const char* name;
    std::uint64_t bytes;
    bool to_device;
    bool from_pinned;
  };
  for (const Case c : {Case{"cudaMemcpyH2D/pinned/64MiB", 64 * kMiB, true, true},
                       Case{"cudaMemcpyH2D/pageable/64MiB", 64 * kMiB, true, false},
                       Case{"cudaMemcpyH2D/pinned/256MiB", kLarge, true, true},
                       Case{"cudaMemcpyH2D/pageable/256MiB", kLarge, true, false},
                       Case{"cudaMemcpyD2H/pinned/256MiB", kLarge, false, true},
                       Case{"cudaMemcpyD2H/pageable/256MiB", kLarge, false, false}}) {
    benchmark::RegisterBenchmark(
        (std::string("cuda/") + c.name).c_str(),
        [&rig, c](benchmark::State& state) {
          void* host = c.from_pinned ? pinned.data : static_cast<void*>(rig.pageable.data());
          void* device = reinterpret_cast<void*>(rig.vram.address());
          for (auto _ : state) {
            check(c.to_device ? cudaMemcpy(device, host, c.bytes, cudaMemcpyHostToDevice)
                              : cudaMemcpy(host, device, c.bytes, cudaMemcpyDeviceToHost),
                  "cudaMemcpy");
            check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
          }
          report_gbps(state, c.bytes);
        })
        ->UseRealTime()
        ->MinTime(0.3);
  }
}
#endif

// The GPU backends present: CUDA devices always, Vulkan devices that are GPUs (not lavapipe).
void register_gpus() {
  for (const BackendStatus& status : backend_statuses()) {
    if (!status.available || (status.name != "cuda" && status.name != "vulkan")) continue;
    std::shared_ptr<Device> device = open_device(status.name + ":0");
    const DeviceType type = device->info().type;
    if (type != DeviceType::DiscreteGpu && type != DeviceType::IntegratedGpu) continue;
    rigs().push_back(std::make_unique<GpuRig>(std::move(device)));
    register_gpu_cases(status.name, *rigs().back());
#if GPUMEM_HAS_CUDA
    if (status.name == "cuda") register_cuda_baselines(*rigs().back());
#endif
  }
}

}  // namespace
}  // namespace gpumem

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  gpumem::register_gpus();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  gpumem::rigs().clear();  // before the CUDA runtime's own teardown
  return 0;
}
