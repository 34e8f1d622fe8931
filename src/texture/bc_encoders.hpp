// Block encoders behind encode_bc(): each takes the 16 texels of one block as RGBA8 in row order
// and writes one block. Deterministic: the output depends only on the texels and the quality.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "gpumem/texture/bc_codec.hpp"

namespace gpumem::detail {

// Nearest integer to a value already clamped to be non-negative: truncating x + 0.5 rounds half
// up, and unlike std::lround costs no library call in the encoders' inner loops.
inline int round_non_negative(float x) {
  return static_cast<int>(x + 0.5F);  // NOLINT(bugprone-incorrect-roundings)
}

// BC1 colour. `three_colour_alpha`: texels with alpha < 128 become index 3 of a three-colour
// block (BC1_RGBA). `four_colour_only`: the block is read in four-colour mode whatever the
// endpoint order (the colour half of BC2/BC3), so endpoints need no ordering.
void encode_bc1_block(const std::uint8_t* rgba, std::uint8_t* out, EncodeQuality quality,
                      bool three_colour_alpha, bool four_colour_only);

// One BC4 channel block from channel `channel` (0..3) of the texels.
void encode_bc4_channel(const std::uint8_t* rgba, int channel, std::uint8_t* out,
                        EncodeQuality quality);

void encode_bc7_block(const std::uint8_t* rgba, std::uint8_t* out, EncodeQuality quality);

// Runs body(begin, end) over [0, count) split into chunks on `threads` threads (the caller's
// thread is one of them, the others from a process-wide pool kept between calls). Chunks are
// handed out dynamically, so results must not depend on which thread ran which chunk. Safe to
// call from several threads at once (a call that finds the pool busy starts its own threads).
void parallel_for(std::size_t count, unsigned threads,
                  const std::function<void(std::size_t, std::size_t)>& body);

}  // namespace gpumem::detail
