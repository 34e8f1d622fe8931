// The heap model: what memory a device exposes and what each heap is good for.
//
// A device exposes one or more heaps. Each heap has a kind (where the memory lives and who can
// see it), a size, and, where the API reports them, the driver's budget and usage for this
// process. Every backend describes its memory in these terms, so budgets, pressure and metrics
// work the same on CUDA, Vulkan, OpenCL, the host and the simulator.
//
//   for (const gpumem::HeapInfo& heap : device.info().heaps)
//     fmt::print("{} {} {}\n", heap.name, gpumem::to_string(heap.kind),
//     gpumem::format_bytes(heap.size));
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gpumem {

enum class HeapKind : std::uint8_t {
  DeviceLocal,  // memory only the device reads at full speed (VRAM)
  Upload,       // host-visible, write-combined: the CPU writes, the device reads
  Readback,     // host-visible, cached: the device writes, the CPU reads
  PinnedHost,   // page-locked system memory the device reaches over the bus (staging)
  Shared,       // one memory for both (integrated GPUs, UMA, ReBAR, the CPU itself)
};

inline constexpr std::size_t kHeapKindCount = 5;

constexpr std::string_view to_string(HeapKind kind) {
  switch (kind) {
    case HeapKind::DeviceLocal:
      return "device-local";
    case HeapKind::Upload:
      return "upload";
    case HeapKind::Readback:
      return "readback";
    case HeapKind::PinnedHost:
      return "pinned-host";
    case HeapKind::Shared:
      return "shared";
  }
  return "unknown";
}

// Host-visible heaps get the host-visible budget (512 MiB by default); device-local and shared
// heaps get the device budget (a fraction of the driver budget less a free margin).
constexpr bool uses_host_visible_budget(HeapKind kind) {
  return kind == HeapKind::Upload || kind == HeapKind::Readback || kind == HeapKind::PinnedHost;
}

struct HeapFlags {
  bool device_local = false;   // the device reads it at full speed
  bool host_visible = false;   // the CPU can map it
  bool host_coherent = false;  // CPU writes are visible without explicit flushes
  bool host_cached = false;    // CPU reads are cached (fast readback)
  bool dedicated = false;      // memory reserved for the device (VRAM), not shared system memory
};

struct HeapInfo {
  std::uint32_t index = 0;
  std::string name;
  HeapKind kind = HeapKind::DeviceLocal;
  HeapFlags flags;
  std::uint64_t size = 0;
  // Allocations from the backend are rounded up to this (e.g. 2 MiB pages); a power of two.
  std::uint64_t granularity = 256;
  // What the driver reported at the last query; empty where the API reports nothing.
  std::optional<std::uint64_t> driver_budget;
  std::optional<std::uint64_t> driver_usage;
};

// A raw range of device memory handed out by a backend. `id` is the backend's own handle;
// `address` is the device address (or host pointer value) of the first byte, 0 where none.
struct RawBlock {
  std::uint64_t id = 0;
  std::uint32_t heap = 0;
  std::uint64_t size = 0;
  std::uint64_t address = 0;

  explicit operator bool() const noexcept { return id != 0; }
};

}  // namespace gpumem
