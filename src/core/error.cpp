#include "gpumem/core/error.hpp"

#include <fmt/format.h>

#include <utility>

#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

std::string describe(const MemoryFacts& f) {
  std::string subject = f.tag.empty() ? fmt::format("heap '{}'", f.heap)
                                      : fmt::format("tag '{}' on heap '{}'", f.tag, f.heap);
  return fmt::format("{}: requested {} with {} of {} in use (pressure {})", subject,
                     format_bytes(f.requested), format_bytes(f.usage), format_bytes(f.budget),
                     to_string(f.pressure));
}

}  // namespace

BudgetExceeded::BudgetExceeded(MemoryFacts facts)
    : Error("budget exceeded on " + describe(facts)), facts_(std::move(facts)) {}

OutOfMemory::OutOfMemory(MemoryFacts facts, const std::string& detail)
    : Error("out of memory on " + describe(facts) + (detail.empty() ? "" : "; " + detail)),
      facts_(std::move(facts)) {}

FormatError::FormatError(std::string source, std::string field, std::uint64_t offset,
                         const std::string& problem)
    : Error(fmt::format("{}: {} at byte offset {}: {}", source, field, offset, problem)),
      source_(std::move(source)),
      field_(std::move(field)),
      offset_(offset) {}

}  // namespace gpumem
