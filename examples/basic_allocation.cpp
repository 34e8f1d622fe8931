// The first steps with gpumem: open a device, create a Manager, allocate tagged buffers and
// textures, react to memory pressure and read the metrics.
//
//   ./build/examples/basic_allocation
#include <cstdint>
#include <exception>
#include <iostream>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/gpumem.hpp"

int main() {
  try {
    // A GPU when one is found (CUDA, Vulkan, ... as compiled in), otherwise the host's memory.
    std::shared_ptr<gpumem::Device> device = gpumem::open_best_device();
    std::cout << "device: " << device->info().name << " (" << device->info().backend << ")\n";

    // One Manager per device. The defaults leave room for other applications: device heaps get
    // min(90% of the driver budget, the budget less 512 MiB), host-visible heaps 512 MiB.
    gpumem::Manager manager(device, gpumem::Config::defaults());

    // Pressure callbacks run on the thread whose allocation or free crossed a level. A real
    // application would drop mip levels or evict caches at High and stop streaming at Critical.
    manager.on_pressure([](const gpumem::PressureEvent& event) {
      std::cout << "pressure on " << event.heap_name << ": " << gpumem::to_string(event.from)
                << " -> " << gpumem::to_string(event.to) << '\n';
    });

    // Tags are interned once; make them once and reuse them on every allocation.
    const gpumem::Tag meshes("meshes");
    const gpumem::Tag textures("textures");
    const gpumem::Tag staging("staging");

    std::vector<gpumem::Allocation> allocations;
    allocations.push_back(manager.allocate({.size = 32 * gpumem::kMiB, .tag = meshes}));
    allocations.push_back(manager.allocate({.size = 8 * gpumem::kMiB, .tag = meshes}));

    // Texture sizes from gpumem's accounting: what the texels of a 2048x2048 BC7 texture with
    // its full mip chain take (about a quarter of the RGBA8 size).
    gpumem::TextureDesc albedo{
        .format = gpumem::TextureFormat::BC7_SRGB_BLOCK, .width = 2048, .height = 2048};
    albedo.mip_levels = gpumem::full_mip_count(albedo.width, albedo.height);
    allocations.push_back(manager.allocate({.size = gpumem::texture_size_bytes(albedo),
                                            .category = gpumem::Category::Texture,
                                            .tag = textures}));

    // Staging memory the CPU writes goes to the upload heap (or the shared heap without one).
    allocations.push_back(manager.allocate({.size = 16 * gpumem::kMiB,
                                            .kind = gpumem::HeapKind::Upload,
                                            .category = gpumem::Category::Staging,
                                            .tag = staging}));

    // When failure is expected, try_allocate returns an empty Allocation instead of throwing
    // (allocate would throw gpumem::BudgetExceeded). The whole heap never fits its budget.
    const gpumem::HeapInfo& heap = manager.heaps()[manager.heap_for(gpumem::HeapKind::DeviceLocal)];
    if (gpumem::Allocation whole = manager.try_allocate({.size = heap.size}); !whole) {
      std::cout << "all " << gpumem::format_bytes(heap.size) << " of " << heap.name
                << " is over budget: refused, as expected\n";
    }

    // Metrics as one JSON document: per heap, per kind, per category, with peaks and events.
    std::cout << gpumem::to_json(manager.metrics()) << '\n';

    // Allocations free themselves when destroyed; a Manager destroyed with allocations still
    // live reports them as leaks.
    allocations.clear();
    return 0;
  } catch (const gpumem::Error& e) {
    std::cerr << "basic_allocation: " << e.what() << '\n';
    return 1;
  }
}
