// The Khronos Data Format Descriptor's basic block, as KTX2 stores it: the colour model,
// primaries, transfer function, texel block size, bytes per plane and one sample per channel
// (bit range, channel, qualifiers, lower and upper values). The reader parses it to detect a
// file's format and check it against vkFormat; the writer generates it for gpumem's formats.
//
//   gpumem::ktx2::BasicDfd dfd =
//   gpumem::ktx2::basic_dfd_for(gpumem::TextureFormat::BC7_SRGB_BLOCK);
//   // dfd.color_model == kModelBc7, dfd.transfer == kTransferSrgb, one 128-bit sample
//   std::vector<std::byte> bytes = gpumem::ktx2::encode_dfd(dfd);  // dfdTotalSize first
//
// Plain values and pure functions: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/core/texture_format.hpp"

namespace gpumem::ktx2 {

// Colour models (khr_df_model_e) that KTX2 files use.
inline constexpr std::uint8_t kModelUnspecified = 0;
inline constexpr std::uint8_t kModelRgbsda = 1;
inline constexpr std::uint8_t kModelYuvsda = 2;
inline constexpr std::uint8_t kModelBc1a = 128;
inline constexpr std::uint8_t kModelBc2 = 129;
inline constexpr std::uint8_t kModelBc3 = 130;
inline constexpr std::uint8_t kModelBc4 = 131;
inline constexpr std::uint8_t kModelBc5 = 132;
inline constexpr std::uint8_t kModelBc6h = 133;
inline constexpr std::uint8_t kModelBc7 = 134;
inline constexpr std::uint8_t kModelEtc1 = 160;
inline constexpr std::uint8_t kModelEtc2 = 161;
inline constexpr std::uint8_t kModelAstc = 162;
inline constexpr std::uint8_t kModelEtc1s = 163;
inline constexpr std::uint8_t kModelPvrtc = 164;
inline constexpr std::uint8_t kModelPvrtc2 = 165;
inline constexpr std::uint8_t kModelUastc = 166;

// Transfer functions (khr_df_transfer_e) and primaries (khr_df_primaries_e): the ones gpumem
// names; every value up to the maximum is valid.
inline constexpr std::uint8_t kTransferLinear = 1;
inline constexpr std::uint8_t kTransferSrgb = 2;
inline constexpr std::uint8_t kTransferMax = 18;  // KHR_DF_TRANSFER_ADOBERGB
inline constexpr std::uint8_t kPrimariesBt709 = 1;
inline constexpr std::uint8_t kPrimariesMax = 11;  // KHR_DF_PRIMARIES_ADOBERGB

// Channel ids of the RGBSDA model; block models number their own channels from 0.
inline constexpr std::uint8_t kChannelRed = 0;
inline constexpr std::uint8_t kChannelGreen = 1;
inline constexpr std::uint8_t kChannelBlue = 2;
inline constexpr std::uint8_t kChannelStencil = 13;
inline constexpr std::uint8_t kChannelDepth = 14;
inline constexpr std::uint8_t kChannelAlpha = 15;

// Sample qualifiers, the top four bits of a sample's channel byte.
inline constexpr std::uint8_t kQualifierLinear = 0x1;
inline constexpr std::uint8_t kQualifierExponent = 0x2;
inline constexpr std::uint8_t kQualifierSigned = 0x4;
inline constexpr std::uint8_t kQualifierFloat = 0x8;

struct DfdSample {
  std::uint16_t bit_offset = 0;
  std::uint16_t bit_length = 0;  // the number of bits (the file stores this minus one)
  std::uint8_t channel = 0;
  std::uint8_t qualifiers = 0;
  std::uint32_t position = 0;  // four sample position bytes, packed
  std::uint32_t lower = 0;
  std::uint32_t upper = 0;
  bool operator==(const DfdSample&) const = default;
};

struct BasicDfd {
  std::uint16_t version = 2;  // KHR_DF_VERSIONNUMBER_1_3
  std::uint8_t color_model = kModelRgbsda;
  std::uint8_t primaries = kPrimariesBt709;
  std::uint8_t transfer = kTransferLinear;
  std::uint8_t flags = 0;                      // bit 0: alpha premultiplied
  std::uint8_t texel_block[4] = {0, 0, 0, 0};  // dimension minus one, as stored
  std::uint8_t bytes_planes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<DfdSample> samples;
  bool operator==(const BasicDfd&) const = default;
};

// The DFD KTX-Software writes for the format: RGBSDA samples in memory order for texel formats
// (bit lengths, signed/float qualifiers, lower/upper bounds), one sample per plane of a block for
// compressed ones, sRGB transfer for *_SRGB formats (alpha then carries the linear qualifier).
BasicDfd basic_dfd_for(TextureFormat format);

// dfdTotalSize followed by one basic descriptor block, ready for a KTX2 file.
std::vector<std::byte> encode_dfd(const BasicDfd& dfd);

// Names for reports: "RGBSDA", "BC7", "sRGB", "BT709"; "model 200" for a value without a name.
std::string model_name(std::uint8_t model);
std::string transfer_name(std::uint8_t transfer);
std::string primaries_name(std::uint8_t primaries);
std::string channel_name(std::uint8_t model, std::uint8_t channel);

}  // namespace gpumem::ktx2
