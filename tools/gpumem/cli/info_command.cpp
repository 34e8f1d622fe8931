#include "cli/info_command.hpp"

#include <fmt/format.h>

#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/device_summary.hpp"
#include "cli/text_table.hpp"
#include "cli/version.hpp"
#include "gpumem/backend/registry.hpp"

namespace gpumem::cli {
namespace {

using Json = nlohmann::ordered_json;

// Backends name their properties for people ("page size"); JSON keys stay snake_case.
std::string snake_case(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) {
      out += static_cast<char>(std::tolower(u));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

Json optional_bytes(const std::optional<std::uint64_t>& bytes) {
  return bytes ? Json(*bytes) : Json(nullptr);
}

Json heap_json(const HeapSummary& h) {
  const HeapFlags& f = h.heap.flags;
  return {{"index", h.heap.index},
          {"name", h.heap.name},
          {"kind", to_string(h.heap.kind)},
          {"size", h.heap.size},
          {"granularity", h.heap.granularity},
          {"flags",
           {{"device_local", f.device_local},
            {"host_visible", f.host_visible},
            {"host_coherent", f.host_coherent},
            {"host_cached", f.host_cached},
            {"dedicated", f.dedicated}}},
          {"driver_budget", optional_bytes(h.driver_budget)},
          {"driver_usage", optional_bytes(h.driver_usage)},
          {"default_budget", {{"soft", h.budget.soft}, {"hard", h.budget.hard}}}};
}

Json device_json(const DeviceSummary& summary) {
  Json properties = Json::object();
  for (const auto& [name, value] : summary.info.properties) properties[snake_case(name)] = value;
  Json heaps = Json::array();
  for (const HeapSummary& h : summary.heaps) heaps.push_back(heap_json(h));
  return {{"backend", summary.info.backend}, {"index", summary.info.index},
          {"name", summary.info.name},       {"type", to_string(summary.info.type)},
          {"properties", properties},        {"heaps", heaps}};
}

void write_json(const std::vector<BackendStatus>& backends,
                const std::vector<DeviceSummary>& devices, std::ostream& out) {
  Json backend_list = Json::array();
  for (const BackendStatus& b : backends) {
    backend_list.push_back({{"name", b.name}, {"available", b.available}, {"detail", b.detail}});
  }
  Json device_list = Json::array();
  for (const DeviceSummary& d : devices) device_list.push_back(device_json(d));
  const Json doc = {
      {"version", tool_version()}, {"backends", backend_list}, {"devices", device_list}};
  out << doc.dump(2) << '\n';
}

void write_text(const std::vector<BackendStatus>& backends,
                const std::vector<DeviceSummary>& devices, std::ostream& out) {
  out << fmt::format("gpumem {}\n\n", tool_version());
  out << "Backends compiled in (in order of preference)\n";
  TextTable table({"backend", "status", "detail"});
  for (const BackendStatus& b : backends) {
    table.add_row({b.name, b.available ? "available" : "unavailable", b.detail});
  }
  table.write(out);

  for (std::size_t i = 0; i < devices.size(); ++i) {
    out << fmt::format("\nDevice {} of {}: {}\n", i + 1, devices.size(),
                       describe_device(devices[i].info));
    write_heap_tables(devices[i], out);
  }
  out << "\ngpumem soft/hard: the budgets a Manager applies with Config::defaults():\n";
  write_budget_rules(Config::defaults(), out, "  ");
}

}  // namespace

void run_info(const InfoOptions& options, std::ostream& out) {
  std::vector<std::unique_ptr<Device>> devices;
  if (options.device) {
    devices.push_back(open_device_from_spec(*options.device));
  } else {
    devices = open_all_devices();
  }
  const Config defaults = Config::defaults();
  std::vector<DeviceSummary> summaries;
  summaries.reserve(devices.size());
  for (auto& device : devices) {
    summaries.push_back(summarize_device(std::shared_ptr<Device>(std::move(device)), defaults));
  }
  const std::vector<BackendStatus> backends = backend_statuses();
  if (options.json) {
    write_json(backends, summaries, out);
  } else {
    write_text(backends, summaries, out);
  }
}

}  // namespace gpumem::cli
