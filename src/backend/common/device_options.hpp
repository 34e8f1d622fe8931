// The options part of a device spec ("sim:capacity=16GiB,page=64KiB", "cuda:1,pinned=1GiB"):
// comma-separated items, each `key=value` or a bare word, split in one place for every backend.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace gpumem::detail {

struct DeviceOption {
  std::string_view key;  // the whole item when it has no '='
  std::string_view value;
  bool has_value = false;
};

// Empty items (",,") are skipped.
std::vector<DeviceOption> split_device_options(std::string_view spec);

// A device number ("1"); InvalidArgument naming `backend` and the text otherwise.
std::uint32_t parse_device_number(std::string_view backend, std::string_view text);

// The host's page size: the granularity of pinned and mapped host memory.
std::uint64_t host_page_size() noexcept;

// "on"/"1"/"true" or "off"/"0"/"false"; InvalidArgument naming `backend` and `key` otherwise.
bool parse_switch(std::string_view backend, std::string_view key, std::string_view value);

}  // namespace gpumem::detail
