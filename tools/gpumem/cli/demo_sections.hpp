// The sections of `gpumem demo`, each on its own Manager over the shared device so that one
// section's memory never counts against the next one's budget.
#pragma once

#include <memory>
#include <ostream>
#include <string_view>

#include "gpumem/backend/device.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem::cli {

void write_heading(std::ostream& out, int number, std::string_view title);

// Allocates a scene's textures and buffers with tags and categories, prints metrics, frees.
void demo_workload(const std::shared_ptr<Device>& device, std::ostream& out);

// Fills the device-local heap under a small fixed budget until gpumem refuses, then frees.
void demo_pressure(const std::shared_ptr<Device>& device, std::ostream& out);

// Leaks one allocation on purpose and prints the report Config::on_leak receives.
void demo_leak(const std::shared_ptr<Device>& device, std::ostream& out);

}  // namespace gpumem::cli

// The demo's stand-in for application code. Leak reports leave out the leading frames of
// gpumem's own namespace, so this lives outside it; it is not inlined and has external linkage
// so that the report's stack names it (programs linking gpumem_cli export their symbols).
namespace gpumem_demo {

// Allocates a buffer and drops its handle without freeing it.
[[gnu::noinline]] void leak_one_buffer(gpumem::Manager& manager);

}  // namespace gpumem_demo
