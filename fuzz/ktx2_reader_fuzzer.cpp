// libFuzzer target for the KTX2 reader: any input must either read or throw a gpumem::Error,
// never read out of bounds, crash, hang or allocate without bound. Files that read are also
// loaded level by level, as an application would, and what loads is written back with the
// writer and must read back to the same levels.
//
//   build-fuzz/fuzz/ktx2_reader_fuzzer -max_total_time=60 fuzz-corpus tests/data/ktx2/cts/valid
#include <cstddef>
#include <cstdint>
#include <span>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/ktx2_reader.hpp"
#include "gpumem/texture/ktx2_writer.hpp"
#include "gpumem/texture/load_texture.hpp"

namespace {

// Keeps each run's memory within libFuzzer's default 2 GiB limit.
constexpr std::uint64_t kMaxInflated = std::uint64_t{256} << 20U;

// The writer must accept what the reader loaded, or refuse it as InvalidArgument; if it writes,
// the reader must accept the result and give back the same levels.
void write_back(const gpumem::ktx2::Ktx2File& file, const gpumem::LoadedTexture& texture) {
  gpumem::ktx2::Ktx2Image image{.format = texture.desc.format,
                                .width = file.header.pixel_width,
                                .height = file.header.pixel_height,
                                .depth = file.header.pixel_depth,
                                .layers = file.header.layer_count,
                                .faces = file.header.face_count,
                                .levels = texture.levels,
                                .key_values = file.key_values};
  std::vector<std::byte> written;
  try {
    written = gpumem::ktx2::write_ktx2(image);
  } catch (const gpumem::InvalidArgument&) {
    return;
  }
  try {
    const gpumem::ktx2::Ktx2File again = gpumem::ktx2::read_ktx2(written, "written");
    for (std::uint32_t level = 0; level < again.stored_levels(); ++level) {
      if (gpumem::ktx2::level_data(again, level) != texture.levels[level]) __builtin_trap();
    }
  } catch (const gpumem::Error&) {
    __builtin_trap();  // the writer wrote a file its own reader refuses
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  gpumem::ktx2::ReadOptions options;
  // The last byte picks the rule set, so both are explored from the same corpus.
  options.gltf_basisu = size > 0 && (data[size - 1] & 1U) != 0;
  options.max_inflated_level_bytes = kMaxInflated;
  try {
    const gpumem::ktx2::Ktx2File file = gpumem::ktx2::read_ktx2(bytes, "fuzz", options);
    gpumem::LoadOptions load;
    load.read = options;
    const gpumem::LoadedTexture texture = gpumem::load_texture(file, load);
    write_back(file, texture);
  } catch (const gpumem::Error&) {
    // FormatError for most inputs, Unsupported for BasisLZ, UASTC and vendor schemes.
  }
  return 0;
}
