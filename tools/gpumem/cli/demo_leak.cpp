// Section 4 of the demo: a leak report, with the stack of the allocation that leaked.
#include <fmt/format.h>

#include <optional>
#include <string>

#include "cli/demo_sections.hpp"
#include "gpumem/core/tag.hpp"
#include "gpumem/core/units.hpp"

void gpumem_demo::leak_one_buffer(gpumem::Manager& manager) {
  gpumem::Allocation buffer = manager.allocate({.size = 4 * gpumem::kMiB,
                                                .category = gpumem::Category::Buffer,
                                                .tag = gpumem::Tag("forgotten/readback")});
  // release() hands ownership to the caller, who never frees it: the leak the report shows.
  static_cast<void>(buffer.release());
}

namespace gpumem::cli {

void demo_leak(const std::shared_ptr<Device>& device, std::ostream& out) {
  write_heading(out, 4, "Leak report");
  std::optional<std::string> report;
  {
    Config config = Config::defaults();
    config.tracking.stack_sample_every = 1;  // every allocation's stack, for the report
    config.tracking.stack_depth = 3;         // the demo's frames up to main: enough to read
    const std::vector<HeapInfo> heaps = device->info().heaps;
    config.on_leak = [&report, heaps](const LeakReport& leaks) { report = leaks.to_string(heaps); };
    Manager manager(device, config);
    out << "A third Manager with tracking.stack_sample_every = 1 and Config::on_leak set.\n"
           "Two buffers are allocated; one is freed, the other's handle is released and\n"
           "forgotten. Destroying the manager hands on_leak this report:\n\n";
    Allocation kept = manager.allocate({.size = 1 * kMiB, .tag = Tag("kept")});
    gpumem_demo::leak_one_buffer(manager);
    kept.reset();
  }
  if (!report) {
    out << "  (no leak was reported)\n";
    return;
  }
  // Indent the report to sit under the section like the other output.
  std::string indented = "  ";
  for (const char c : *report) {
    indented += c;
    if (c == '\n') indented += "  ";
  }
  out << indented << '\n';
  out << "\nThe manager gave the leaked block back to the device when it was destroyed.\n";
}

}  // namespace gpumem::cli
