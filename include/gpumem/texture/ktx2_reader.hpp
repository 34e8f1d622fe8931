// Reads and validates KTX2 files. Checks run in a fixed order, the one KTX-Software's
// `ktx validate` uses, and the first failure throws gpumem::FormatError naming the source, the
// field (e.g. "levelIndex[2].byteOffset", "DFD sample 1", "key/value 'KTXorientation'") and its
// byte offset. The order:
//   1. identifier; header fields (vkFormat, typeSize, extent, faces, levels, supercompression);
//   2. the index (DFD, key/value data and global data offsets and lengths);
//   3. the level index (order, alignment, lengths against the format and extent);
//   4. the DFD (block structure, basic block, model, transfer, samples against vkFormat);
//   5. key/value data (layout, order, the KTX* keys' values);
//   6. supercompression global data (BasisLZ images) and the levels' supercompressed data.
// Every size is checked against the file's length before anything is allocated or read, so
// truncated and hostile files fail cleanly. Conditions the validator reports as warnings (an
// unknown vendor supercompression or VkFormat, custom keys, ...) land in Ktx2File::warnings.
//
//   try { auto file = gpumem::ktx2::read_ktx2_file("in.ktx2"); }
//   catch (const gpumem::FormatError& e) { log(e.what()); }  // "in.ktx2: ... at byte offset 48:
//   ..."
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "gpumem/texture/ktx2.hpp"

namespace gpumem::ktx2 {

struct ReadOptions {
  // Also apply KHR_texture_basisu's rules for glTF (`ktx validate --gltf-basisu`): BasisLZ or
  // UASTC only, 2D, multiple-of-4 extent, a full mip chain or one level, and so on.
  bool gltf_basisu = false;
  // Inflate every supercompressed level while validating, so a corrupt stream is found at read
  // time rather than at level_data(). Costs the inflation once.
  bool verify_supercompressed_levels = true;
  // The most one level may inflate to; a file that declares more is refused (a FormatError)
  // rather than allocated for. Plain levels are bounded by the file's own size.
  std::uint64_t max_inflated_level_bytes = kDefaultMaxInflatedLevelBytes;
};

// Throws FormatError for a file that breaks the specification.
Ktx2File read_ktx2(std::span<const std::byte> bytes, std::string source,
                   const ReadOptions& options = {});

// Throws FormatError as above, and InvalidArgument when the file cannot be opened or read.
Ktx2File read_ktx2_file(const std::filesystem::path& path, const ReadOptions& options = {});

}  // namespace gpumem::ktx2
