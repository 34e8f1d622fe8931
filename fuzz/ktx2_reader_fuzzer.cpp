// libFuzzer target for the KTX2 reader: any input must either read or throw a gpumem::Error,
// never read out of bounds, crash, hang or allocate without bound. Files that read are also
// inflated level by level, as load_texture() would.
//
//   build-fuzz/fuzz/ktx2_reader_fuzzer -max_total_time=60 fuzz-corpus tests/data/ktx2/cts/valid
#include <cstddef>
#include <cstdint>
#include <span>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/ktx2_reader.hpp"

namespace {

// Keeps each run's memory within libFuzzer's default 2 GiB limit.
constexpr std::uint64_t kMaxInflated = std::uint64_t{256} << 20U;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  gpumem::ktx2::ReadOptions options;
  // The last byte picks the rule set, so both are explored from the same corpus.
  options.gltf_basisu = size > 0 && (data[size - 1] & 1U) != 0;
  options.max_inflated_level_bytes = kMaxInflated;
  try {
    const gpumem::ktx2::Ktx2File file = gpumem::ktx2::read_ktx2(bytes, "fuzz", options);
    for (std::uint32_t level = 0; level < file.stored_levels(); ++level) {
      try {
        (void)gpumem::ktx2::level_data(file, level, kMaxInflated);
      } catch (const gpumem::Error&) {
        // BasisLZ and vendor schemes are Unsupported; that is an answer, not a failure.
      }
    }
  } catch (const gpumem::Error&) {
    // FormatError is the expected answer to most inputs.
  }
  return 0;
}
