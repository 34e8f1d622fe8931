#include "cli/demo_command.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>
#include <utility>

#include "cli/demo_sections.hpp"
#include "cli/device_summary.hpp"
#include "gpumem/backend/registry.hpp"
#include "gpumem/core/log.hpp"

namespace gpumem::cli {
namespace {

// gpumem's own warnings (soft limit crossed, usage over 75%) are part of what the demo shows,
// so they go into the demo's output, in order, instead of to stderr.
class ScopedLogCapture {
 public:
  explicit ScopedLogCapture(std::ostream& out)
      : previous_(set_log_sink([&out](LogLevel level, std::string_view text) {
          out << fmt::format("    gpumem {}: {}\n", to_string(level), text);
        })) {}
  ~ScopedLogCapture() { set_log_sink(std::move(previous_)); }
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;

 private:
  LogSink previous_;
};

struct ChosenDevice {
  std::shared_ptr<Device> device;
  std::string why;  // one or more lines telling the user which device and why
};

// Opened before anything is printed, so a bad --device gives an error and no half a tour.
ChosenDevice choose_device(const DemoOptions& options) {
  if (options.device) {
    return {open_device_from_spec(*options.device),
            fmt::format("Using the device given with --device '{}'.\n", *options.device)};
  }
  std::unique_ptr<Device> best = open_best_device();
  if (best->info().backend != "host") {
    return {std::move(best), "Using the best device found, open_best_device():\n"};
  }
  return {open_device("host:discrete"),
          "No GPU was found: the best device here is the host's system memory (\"host\").\n"
          "Using \"host:discrete\" instead: system memory laid out as a discrete GPU's heaps\n"
          "(device-local, upload, readback), so budgets and pressure work as on a GPU.\n"};
}

void demo_device(const std::shared_ptr<Device>& device, std::ostream& out) {
  const Config defaults = Config::defaults();
  out << fmt::format("\n  {}\n\n", describe_device(device->info()));
  write_heap_tables(summarize_device(device, defaults), out);
  out << "\n  Budgets in force (Config::defaults()):\n";
  write_budget_rules(defaults, out, "    ");
  out << "  A request that would cross a hard limit is refused; crossing a soft limit logs a\n"
         "  warning.\n";
}

}  // namespace

void write_heading(std::ostream& out, int number, std::string_view title) {
  const std::string text = fmt::format("{}. {}", number, title);
  out << fmt::format("\n{}\n{}\n", text, std::string(text.size(), '='));
}

void run_demo(const DemoOptions& options, std::ostream& out) {
  const ChosenDevice chosen = choose_device(options);
  const std::shared_ptr<Device>& device = chosen.device;
  const ScopedLogCapture capture(out);
  out << "gpumem demo: a tour of the memory manager on this machine\n";
  write_heading(out, 1, "Device, heaps and budgets");
  out << chosen.why;
  demo_device(device, out);
  demo_workload(device, out);
  demo_pressure(device, out);
  demo_leak(device, out);
  out << "\nDone: every section's memory was given back to the device.\n";
}

}  // namespace gpumem::cli
