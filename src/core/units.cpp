#include "gpumem/core/units.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "gpumem/core/error.hpp"

namespace gpumem {

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < kKiB) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::uint64_t parse_bytes(std::string_view text, std::string_view what) {
  auto fail = [&](std::string_view why) {
    return InvalidArgument(fmt::format(
        "{} '{}' is not a byte size: {} (write e.g. 512MiB or 16GiB)", what, text, why));
  };
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) != 0 || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) throw fail("it does not start with a number");
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || end != text.data() + digits) throw fail("the number does not parse");

  std::string unit;
  for (char c : text.substr(digits)) {
    if (c != ' ') unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    scale = static_cast<double>(kKiB);
  else if (unit == "m" || unit == "mb" || unit == "mib")
    scale = static_cast<double>(kMiB);
  else if (unit == "g" || unit == "gb" || unit == "gib")
    scale = static_cast<double>(kGiB);
  else if (unit == "t" || unit == "tb" || unit == "tib")
    scale = static_cast<double>(kGiB) * 1024.0;
  else
    throw fail(fmt::format("unknown unit '{}'", text.substr(digits)));

  const double bytes = std::round(value * scale);
  if (!(bytes < 18446744073709551615.0)) throw fail("it does not fit in 64 bits");
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace gpumem
