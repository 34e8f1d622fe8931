#include <nlohmann/json.hpp>

#include "gpumem/core/metrics.hpp"

namespace gpumem {
namespace {

nlohmann::ordered_json usage_json(const UsageFigures& f) {
  return {{"live_count", f.live_count},           {"live_bytes", f.live_bytes},
          {"peak_bytes", f.peak_bytes},           {"allocated_count", f.allocated_count},
          {"allocated_bytes", f.allocated_bytes}, {"freed_count", f.freed_count},
          {"freed_bytes", f.freed_bytes}};
}

}  // namespace

std::string to_json(const MetricsSnapshot& s) {
  nlohmann::ordered_json heaps = nlohmann::ordered_json::array();
  for (const HeapFigures& h : s.heaps) {
    heaps.push_back({{"heap", h.heap},
                     {"name", h.name},
                     {"kind", to_string(h.kind)},
                     {"usage", usage_json(h.usage)},
                     {"reserved_bytes", h.reserved_bytes},
                     {"peak_reserved_bytes", h.peak_reserved_bytes},
                     {"budget_soft", h.budget_soft},
                     {"budget_hard", h.budget_hard},
                     {"external_bytes", h.external_bytes},
                     {"driver_budget", h.driver_budget},
                     {"driver_usage", h.driver_usage},
                     {"within_budget", h.within_budget},
                     {"pressure", to_string(h.pressure)}});
  }
  nlohmann::ordered_json kinds = nlohmann::ordered_json::object();
  for (std::size_t k = 0; k < kHeapKindCount; ++k) {
    kinds[std::string(to_string(static_cast<HeapKind>(k)))] = usage_json(s.by_kind[k]);
  }
  nlohmann::ordered_json categories = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < kCategoryCount; ++c) {
    categories[std::string(to_string(static_cast<Category>(c)))] = usage_json(s.by_category[c]);
  }
  const EventCounts& e = s.events;
  nlohmann::ordered_json out = {{"total", usage_json(s.total)},
                                {"host_visible_bytes", s.host_visible_bytes},
                                {"within_budget", s.within_budget},
                                {"heaps", heaps},
                                {"by_kind", kinds},
                                {"by_category", categories},
                                {"events",
                                 {{"pool_hits", e.pool_hits},
                                  {"pool_misses", e.pool_misses},
                                  {"pool_hit_rate", e.pool_hit_rate()},
                                  {"cpu_fallbacks", e.cpu_fallbacks},
                                  {"resizes", e.resizes},
                                  {"budget_refusals", e.budget_refusals},
                                  {"out_of_memory", e.out_of_memory},
                                  {"soft_limit_crossings", e.soft_limit_crossings},
                                  {"driver_refreshes", e.driver_refreshes}}}};
  return out.dump(2);
}

}  // namespace gpumem
