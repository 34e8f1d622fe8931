// The PyTorch plug-in's trace: with GPUMEM_TORCH_TRACE set, the library records every allocation
// and free PyTorch asks of it, and the file replays as a trace. Loaded as PyTorch loads it
// (dlopen) and called through its C entry points; skips without a GPU.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/units.hpp"

#if GPUMEM_HAS_CUDA
#include "gpumem/backend/cuda_device.hpp"
#endif

namespace gpumem {
namespace {

#if !GPUMEM_HAS_CUDA || !defined(GPUMEM_TORCH_PLUGIN)

TEST(TorchPluginTrace, IsNotBuilt) { GTEST_SKIP() << "built without CUDA or the plug-in"; }

#else

// The plug-in's path: GPUMEM_TORCH_PLUGIN in the environment (a GPU machine with the build
// elsewhere), else where this build made it.
std::string plugin_path() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests set no environment concurrently
  const char* from_env = std::getenv("GPUMEM_TORCH_PLUGIN");
  return from_env != nullptr ? from_env : GPUMEM_TORCH_PLUGIN;
}

TEST(TorchPluginTrace, RecordsTheProgramsAllocationsAsAReplayableTrace) {
  if (!cuda_availability().available) {
    GTEST_SKIP() << "no CUDA device: " << cuda_availability().detail;
  }
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "gpumem_torch_plugin_test.trace.gz";
  std::filesystem::remove(path);
  // Read by the library on its first allocation, which this test makes.
  ASSERT_EQ(setenv("GPUMEM_TORCH_TRACE", path.c_str(), 1), 0);  // NOLINT(concurrency-mt-unsafe)
  void* lib = dlopen(plugin_path().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  using Malloc = void* (*)(long, int, void*);
  using Free = void (*)(void*, long, int, void*);
  using Flush = int (*)();
  const auto malloc_fn = reinterpret_cast<Malloc>(dlsym(lib, "gpumem_malloc"));
  const auto free_fn = reinterpret_cast<Free>(dlsym(lib, "gpumem_free"));
  const auto flush_fn = reinterpret_cast<Flush>(dlsym(lib, "gpumem_trace_flush"));
  ASSERT_TRUE(malloc_fn != nullptr && free_fn != nullptr && flush_fn != nullptr);

  void* a = malloc_fn(static_cast<long>(1 * kMiB), 0, nullptr);
  void* b = malloc_fn(static_cast<long>(3 * kMiB), 0, nullptr);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  free_fn(a, static_cast<long>(1 * kMiB), 0, nullptr);
  ASSERT_EQ(flush_fn(), 0);

  const Trace trace = read_trace(path);
  EXPECT_EQ(trace.name, "pytorch");
  ASSERT_EQ(trace.events.size(), 3U);
  EXPECT_EQ(trace.events[0].kind, TraceEvent::Kind::Allocate);
  EXPECT_EQ(trace.events[0].bytes, 1 * kMiB);
  EXPECT_EQ(trace.events[1].bytes, 3 * kMiB);
  EXPECT_EQ(trace.events[2].kind, TraceEvent::Kind::Free);
  EXPECT_EQ(trace.events[2].id, trace.events[0].id);
  const TraceSummary summary = summarize(trace);
  EXPECT_EQ(summary.peak_live_bytes, 4 * kMiB);
  EXPECT_EQ(summary.live_at_end, 1U);
  free_fn(b, static_cast<long>(3 * kMiB), 0, nullptr);
  // The library stays loaded, as PyTorch keeps it: its allocators live until the process ends.
}

#endif

}  // namespace
}  // namespace gpumem
