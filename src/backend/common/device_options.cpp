#include "backend/common/device_options.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::detail {

std::vector<DeviceOption> split_device_options(std::string_view spec) {
  std::vector<DeviceOption> options;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      options.push_back({.key = item});
    } else {
      options.push_back(
          {.key = item.substr(0, eq), .value = item.substr(eq + 1), .has_value = true});
    }
  }
  return options;
}

std::uint32_t parse_device_number(std::string_view backend, std::string_view text) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw InvalidArgument(
        fmt::format("{} device option: '{}' is not a device number", backend, text));
  }
  return value;
}

std::uint64_t host_page_size() noexcept {
  const long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::uint64_t>(page) : 4 * kKiB;
}

bool parse_switch(std::string_view backend, std::string_view key, std::string_view value) {
  if (value == "on" || value == "1" || value == "true") return true;
  if (value == "off" || value == "0" || value == "false") return false;
  throw InvalidArgument(
      fmt::format("{} device option {}='{}': expected on or off", backend, key, value));
}

}  // namespace gpumem::detail
