// One 4x4 block of a BCn format at a time: the decoders the image-level codec (bc_codec.hpp) is
// built on, public so tools and tests can look at single blocks. Texels are in row order (texel
// i is x = i % 4, y = i / 4), four bytes RGBA each; block layouts follow the Khronos Data Format
// Specification (S3TC, RGTC and BPTC sections) and Microsoft's BC6H/BC7 pages.
//
//   std::uint8_t rgba[64];
//   gpumem::decode_bc7_block(block_bytes, rgba);
//
// Where the specification defines a texel as an exact fraction (BC1 thirds, BC4 sevenths), the
// 8-bit result is that fraction rounded to nearest, the value an exact float decoder converts
// to. BC6H and BC7 are integer-defined and decode bit-exactly. All functions are pure.
#pragma once

#include <cstdint>

namespace gpumem {

inline constexpr int kBlockTexels = 16;

// BC1. `transparent_black` chooses what index 3 of a three-colour block (colour0 <= colour1)
// means: RGBA (0,0,0,0) for BC1_RGBA formats, opaque black (0,0,0,255) for BC1_RGB.
void decode_bc1_block(const std::uint8_t* block, std::uint8_t* rgba, bool transparent_black);
// BC2: explicit 4-bit alpha, then a BC1 colour block always in four-colour mode.
void decode_bc2_block(const std::uint8_t* block, std::uint8_t* rgba);
// BC3: a BC4-style alpha block, then a four-colour BC1 colour block.
void decode_bc3_block(const std::uint8_t* block, std::uint8_t* rgba);

// One 8-byte BC4 channel block. Unsigned: 0..255 into out[i * stride]. Signed: the stored
// two's-complement values -127..127 (a stored -128 reads as -127) into out as int8 bit patterns.
void decode_bc4_channel(const std::uint8_t* block, std::uint8_t* out, int stride, bool is_signed);
// BC4 to RGBA: (R, 0, 0, 255). BC5 to RGBA: (R, G, 0, 255). Signed formats store the int8 bit
// patterns in the bytes, as an R8_SNORM / R8G8_SNORM texel would.
void decode_bc4_block(const std::uint8_t* block, std::uint8_t* rgba, bool is_signed);
void decode_bc5_block(const std::uint8_t* block, std::uint8_t* rgba, bool is_signed);

// BC6H to half-float bit patterns (three per texel, RGB): the exact output of the format's
// integer decoding. Reserved modes decode to zero, as the format requires.
void decode_bc6h_block_half(const std::uint8_t* block, std::uint16_t* rgb_half, bool is_signed);
// The same as floats, RGBA with alpha 1.
void decode_bc6h_block(const std::uint8_t* block, float* rgba, bool is_signed);

// BC7, every mode; the reserved mode (first byte 0) decodes to (0,0,0,0).
void decode_bc7_block(const std::uint8_t* block, std::uint8_t* rgba);

// IEEE half bit pattern to float (subnormals, infinities and NaN kept).
float half_to_float(std::uint16_t half) noexcept;

}  // namespace gpumem
