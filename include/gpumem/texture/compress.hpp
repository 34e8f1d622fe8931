// The texture pipeline's front half: an RGBA8 image becomes the levels of a texture in a BCn
// format (BC1, BC3, BC4, BC5, BC7) or plain RGBA8, with an optional mip chain, the PSNR of every
// level and what the texture saves against RGBA8 in gpumem's texture accounting. A quality level
// is given, or a target PSNR: then the cheapest level (Fast, Normal, Best) whose every mip level
// reaches the target is kept, and when none does the Best result comes back with target_met
// false for the caller to report.
//
//   gpumem::CompressOptions opt{.target_psnr = 40.0, .mips = gpumem::MipFilter::Kaiser};
//   gpumem::CompressedTexture t =
//       gpumem::compress(img.view(), gpumem::TextureFormat::BC7_SRGB_BLOCK, opt);
//   if (!t.target_met) warn(t.min_psnr());
//   gpumem::ktx2::write_ktx2_file("out.ktx2", gpumem::to_ktx2_image(t), {.zstd_level = 9});
//
// sRGB formats (BC1/BC3/BC7/R8G8B8A8 _SRGB) have their mips filtered in linear light; alpha and
// the UNORM formats are filtered as stored. PSNR compares each level's decoded texels with the
// level before compression, over the channels the format stores (stored_channels(); RGBA for
// RGBA8, whose PSNR is therefore infinite).
//
// Errors: InvalidArgument for an invalid image, a format compress() cannot write (named), or a
// target PSNR that is not a positive number. Safe from several threads.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/bc_codec.hpp"
#include "gpumem/texture/image.hpp"
#include "gpumem/texture/ktx2_writer.hpp"
#include "gpumem/texture/mipmap.hpp"
#include "gpumem/texture/psnr.hpp"

namespace gpumem {

struct CompressOptions {
  EncodeQuality quality = EncodeQuality::Normal;  // ignored when target_psnr is set
  std::optional<double> target_psnr;              // dB every level must reach
  std::optional<MipFilter> mips;  // a full mip chain with this filter; none: one level
  unsigned threads = 0;           // 0: one per hardware thread
};

struct CompressedLevel {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<std::uint8_t> data;  // blocks (or texels) as KTX2 and Vulkan lay them out
  PsnrResult psnr;                 // decoded level against the level before compression
};

struct CompressedTexture {
  TextureFormat format = TextureFormat::R8G8B8A8_UNORM;
  EncodeQuality quality = EncodeQuality::Normal;  // the level used
  std::optional<double> target_psnr;
  bool target_met = true;  // false only when a target was given and no level reached it
  std::vector<CompressedLevel> levels;  // level 0 (the input's extent) first
  std::uint64_t memory_bytes = 0;       // texture_size_bytes(desc())
  std::uint64_t rgba8_bytes = 0;        // rgba8_equivalent_bytes(desc())
  std::uint64_t saved_bytes = 0;        // rgba8_bytes - memory_bytes
  double compression_ratio = 1.0;       // rgba8_bytes / memory_bytes

  TextureDesc desc() const;
  // The lowest PSNR over the levels: what a target is held against.
  double min_psnr() const;
};

// True for the formats compress() writes: those of can_encode_bc() and R8G8B8A8 UNORM and SRGB.
bool can_compress(TextureFormat format) noexcept;

CompressedTexture compress(const ImageView& image, TextureFormat format,
                           const CompressOptions& options = {});

// The texture as the KTX2 writer takes it (2D, one layer, one face).
ktx2::Ktx2Image to_ktx2_image(const CompressedTexture& texture);

}  // namespace gpumem
