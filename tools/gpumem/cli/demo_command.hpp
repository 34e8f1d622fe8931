// `gpumem demo`: a guided tour of gpumem on the best device here. It shows the device's heaps
// and budgets, allocates and frees a renderer's worth of textures and buffers through a Manager,
// fills a heap with a small budget to show pressure transitions and the BudgetExceeded refusal,
// and prints the leak report of one allocation leaked on purpose.
//
//   run_demo({}, std::cout);                       // the best device (host:discrete without a GPU)
//   run_demo({.device = "sim:capacity=8GiB"}, out);  // any device spec
//
// Memory use stays around 150 MiB of untouched allocations (up to 256 MiB in the pressure
// section), so it runs in well under a second on a small CI machine.
#pragma once

#include <optional>
#include <ostream>
#include <string>

namespace gpumem::cli {

struct DemoOptions {
  // A device spec; when empty, open_best_device(), or host:discrete when that is only the host.
  std::optional<std::string> device;
};

// Throws gpumem::Error (InvalidArgument naming the bad part for a bad device spec).
void run_demo(const DemoOptions& options, std::ostream& out);

}  // namespace gpumem::cli
