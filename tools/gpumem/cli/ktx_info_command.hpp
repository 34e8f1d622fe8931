// `gpumem ktx info FILE`: validates a KTX2 file and reports its header, level index, DFD,
// key/value data, warnings and what the texture costs in memory. An invalid file is reported
// (the JSON form still prints a document, with "valid": false and the error) and then throws
// the FormatError, so the tool exits non-zero naming the field and byte offset.
//
//   run_ktx_info({.path = "albedo.ktx2", .json = true}, std::cout);
//
// JSON fields (snake_case, bytes as integers):
//   {"file", "file_bytes", "valid", "error": {"field", "offset", "message"} (invalid only),
//    "warnings": [{"field", "offset", "message"}],
//    "header": {"vk_format", "format", "type_size", "pixel_width", "pixel_height",
//               "pixel_depth", "layer_count", "face_count", "level_count", "supercompression"},
//    "payload", "levels": [{"level", "width", "height", "depth", "byte_offset", "byte_length",
//                           "uncompressed_byte_length"}],
//    "dfd": {"color_model", "color_primaries", "transfer_function", "flags",
//            "texel_block_dimensions", "bytes_plane0",
//            "samples": [{"channel", "bit_offset", "bit_length", "qualifiers", "lower", "upper"}]},
//    "key_values": [{"key", "text" or "hex", "bytes"}],
//    "texture": {"format", "memory_bytes", "rgba8_bytes", "compression_ratio"} or null,
//    "unsupported": why "texture" is null, or null}
#pragma once

#include <ostream>
#include <string>

namespace gpumem::cli {

struct KtxInfoOptions {
  std::string path;
  bool json = false;
  bool gltf_basisu = false;
};

// Throws gpumem::FormatError for an invalid file and InvalidArgument for one that cannot be read.
void run_ktx_info(const KtxInfoOptions& options, std::ostream& out);

}  // namespace gpumem::cli
