// `gpumem info`: every backend compiled in, and every device available now with its heaps,
// driver figures and the budgets gpumem would apply with Config::defaults().
//
//   run_info({.json = true, .device = "sim:capacity=16GiB"}, std::cout);
//
// JSON fields (stable, snake_case, bytes as integers, null where the driver reports nothing):
//   {"version", "backends": [{"name", "available", "detail"}],
//    "devices": [{"backend", "index", "name", "type", "properties": {snake_case key: text},
//                 "heaps": [{"index", "name", "kind", "size", "granularity",
//                            "flags": {"device_local", "host_visible", "host_coherent",
//                                      "host_cached", "dedicated"},
//                            "driver_budget", "driver_usage",
//                            "default_budget": {"soft", "hard"}}]}]}
#pragma once

#include <optional>
#include <ostream>
#include <string>

namespace gpumem::cli {

struct InfoOptions {
  bool json = false;
  // A device spec ("sim:capacity=16GiB"); when empty, every device of every available backend.
  std::optional<std::string> device;
};

// Throws gpumem::Error (InvalidArgument naming the bad part for a bad device spec).
void run_info(const InfoOptions& options, std::ostream& out);

}  // namespace gpumem::cli
