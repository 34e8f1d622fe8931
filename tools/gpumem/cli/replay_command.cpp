#include "cli/replay_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/device_summary.hpp"
#include "cli/text_table.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/allocator_factory.hpp"

namespace gpumem::cli {
namespace {

constexpr std::string_view kChurnPrefix = "churn:";

struct ChurnKey {
  std::string_view name;
  std::uint64_t ChurnParams::*field;
  bool bytes;  // a size, which may carry a unit ("16MiB")
};

constexpr std::array kChurnKeys{
    ChurnKey{"operations", &ChurnParams::operations, false},
    ChurnKey{"target_live", &ChurnParams::target_live, false},
    ChurnKey{"min_bytes", &ChurnParams::min_bytes, true},
    ChurnKey{"max_bytes", &ChurnParams::max_bytes, true},
    ChurnKey{"seed", &ChurnParams::seed, false},
};

std::string churn_key_names() {
  std::string names;
  for (const ChurnKey& key : kChurnKeys) {
    names += names.empty() ? "" : ", ";
    names += key.name;
  }
  return names;
}

std::uint64_t parse_count(std::string_view source, std::string_view key, std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || stop != end) {
    throw InvalidArgument(
        fmt::format("trace '{}': {} '{}' is not an unsigned integer", source, key, text));
  }
  return value;
}

// "churn:operations=20000,seed=3": the defaults of ChurnParams with the keys given replaced.
ChurnParams parse_churn_spec(std::string_view source) {
  ChurnParams params;
  std::string_view rest = source.substr(kChurnPrefix.size());
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos) {
      throw InvalidArgument(fmt::format("trace '{}': '{}' is not key=value (keys: {})", source,
                                        item, churn_key_names()));
    }
    const std::string_view name = item.substr(0, equals);
    const std::string_view value = item.substr(equals + 1);
    const auto* key = std::find_if(kChurnKeys.begin(), kChurnKeys.end(),
                                   [name](const ChurnKey& k) { return k.name == name; });
    if (key == kChurnKeys.end()) {
      throw InvalidArgument(fmt::format("trace '{}': unknown churn parameter '{}' (known: {})",
                                        source, name, churn_key_names()));
    }
    params.*(key->field) = key->bytes
                               ? parse_bytes(value, fmt::format("trace '{}': {}", source, name))
                               : parse_count(source, name, value);
  }
  return params;
}

AllocatorKind parse_replay_allocator(const std::string& name) {
  const std::vector<std::string> known = replay_allocator_names();
  const std::optional<AllocatorKind> kind = parse_allocator_kind(name);
  if (!kind) {
    throw InvalidArgument(
        fmt::format("unknown allocator '{}' (known: {})", name, fmt::join(known, ", ")));
  }
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    throw InvalidArgument(fmt::format("allocator '{}' is not available in this build (known: {})",
                                      name, fmt::join(known, ", ")));
  }
  return *kind;
}

// The heap a Manager would use for device-local requests.
std::uint32_t default_heap(const Device& device) {
  const std::vector<HeapInfo>& heaps = device.info().heaps;
  for (const HeapKind kind : {HeapKind::DeviceLocal, HeapKind::Shared}) {
    const auto it = std::find_if(heaps.begin(), heaps.end(),
                                 [kind](const HeapInfo& h) { return h.kind == kind; });
    if (it != heaps.end()) return it->index;
  }
  return 0;
}

void write_table(const std::vector<ReplayResult>& results, const Device& device, std::uint32_t heap,
                 const ReplayCommandOptions& options, std::ostream& out) {
  out << fmt::format(
      "Replay on {} (heap {}, {}), alignment {}, {}\n", options.device, heap,
      device.info().heaps[heap].name, format_bytes(options.alignment),
      options.through_manager ? "through the Manager (tracking off)" : "allocator only");
  using Align = TextTable::Align;
  TextTable table({"trace", "allocator", "ops", "allocs", "peak live", "peak reserved",
                   "reserved/live", "ns/op", "failures"},
                  {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right,
                   Align::Right, Align::Right, Align::Right});
  for (const ReplayResult& r : results) {
    table.add_row({r.trace, r.allocator, std::to_string(r.ops), std::to_string(r.allocs),
                   format_bytes(r.peak_live), format_bytes(r.peak_reserved),
                   fmt::format("{:.3f}", r.reserved_over_live), fmt::format("{:.0f}", r.ns_per_op),
                   std::to_string(r.failures)});
  }
  table.write(out);
}

}  // namespace

std::vector<std::string> replay_allocator_names() {
  std::vector<std::string> names{std::string(to_string(AllocatorKind::Auto))};
  for (const AllocatorKind kind : available_allocator_kinds()) {
    names.emplace_back(to_string(kind));
  }
  return names;
}

Trace load_replay_trace(std::string_view source) {
  if (source.starts_with(kChurnPrefix)) return make_churn_trace(parse_churn_spec(source));
  const auto builtin = builtin_trace_names();
  if (std::find(builtin.begin(), builtin.end(), source) != builtin.end()) {
    return builtin_trace(source);
  }
  return read_trace(std::filesystem::path(source));
}

std::string to_json(const ReplayResult& r) {
  const nlohmann::ordered_json doc = {{"trace", r.trace},
                                      {"device", r.device},
                                      {"heap", r.heap},
                                      {"allocator", r.allocator},
                                      {"through_manager", r.through_manager},
                                      {"alignment", r.alignment},
                                      {"ops", r.ops},
                                      {"allocs", r.allocs},
                                      {"peak_live", r.peak_live},
                                      {"peak_reserved", r.peak_reserved},
                                      {"reserved_over_live", r.reserved_over_live},
                                      {"elapsed_ns", r.elapsed_ns},
                                      {"ns_per_op", r.ns_per_op},
                                      {"failures", r.failures}};
  return doc.dump();
}

void run_replay(const ReplayCommandOptions& options, std::ostream& out) {
  const AllocatorKind kind = parse_replay_allocator(options.allocator);
  if (options.traces.empty()) {
    throw InvalidArgument("replay: no trace given (a trace file, churn200k or churn:operations=N)");
  }
  const std::unique_ptr<Device> device = open_device_from_spec(options.device);
  const std::uint32_t heap =
      options.heap ? device->heap(*options.heap).index : default_heap(*device);
  // A plan is half the size of its trace, and only one trace is held at a time.
  std::vector<ReplayPlan> plans;
  plans.reserve(options.traces.size());
  for (const std::string& source : options.traces) {
    plans.push_back(plan_replay(load_replay_trace(source)));
  }

  const ReplayOptions replay_options{.alignment = options.alignment,
                                     .through_manager = options.through_manager,
                                     .device_label = options.device};
  std::vector<ReplayResult> results;
  for (const ReplayPlan& plan : plans) {
    ReplayResult result = replay(plan, *device, heap, kind, replay_options);
    if (options.json) {
      out << to_json(result) << '\n' << std::flush;  // a line as soon as it is known
    } else {
      results.push_back(std::move(result));
    }
  }
  if (!options.json) write_table(results, *device, heap, options, out);
}

}  // namespace gpumem::cli
