// Paths and bytes of the KTX2 test files copied into tests/data/ktx2.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace gpumem::ktx2::testing {

inline const std::filesystem::path kKtx2Data = GPUMEM_KTX2_DATA_DIR;

inline std::filesystem::path cts_valid(const std::string& name) {
  return kKtx2Data / "cts" / "valid" / name;
}

inline std::filesystem::path cts_invalid(const std::string& name) {
  return kKtx2Data / "cts" / "invalid" / name;
}

inline std::vector<std::byte> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

}  // namespace gpumem::ktx2::testing
