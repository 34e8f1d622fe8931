#include "gpumem/texture/dfd.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <string_view>

#include "gpumem/core/error.hpp"

namespace gpumem::ktx2 {
namespace {

constexpr std::uint32_t kFloatOne = 0x3F800000;       // 1.0f
constexpr std::uint32_t kFloatMinusOne = 0xBF800000;  // -1.0f

enum class Numeric { Unorm, Snorm, Uint, Sint, Ufloat, Sfloat, Srgb };

Numeric numeric_of(std::string_view name) {
  if (name.find("_SNORM") != name.npos) return Numeric::Snorm;
  if (name.find("_SRGB") != name.npos) return Numeric::Srgb;
  if (name.find("_UINT") != name.npos && name.find("_UNORM") == name.npos) return Numeric::Uint;
  if (name.find("_SINT") != name.npos) return Numeric::Sint;
  if (name.find("_UFLOAT") != name.npos) return Numeric::Ufloat;
  if (name.find("_SFLOAT") != name.npos) return Numeric::Sfloat;
  return Numeric::Unorm;
}

std::uint8_t channel_of(char letter) {
  switch (letter) {
    case 'R':
      return kChannelRed;
    case 'G':
      return kChannelGreen;
    case 'B':
      return kChannelBlue;
    case 'A':
      return kChannelAlpha;
    case 'D':
      return kChannelDepth;
    case 'S':
      return kChannelStencil;
    default:
      return 0xFF;  // X: padding, no sample
  }
}

// The bounds KTX-Software writes for a sample of this numeric type and width.
void set_bounds(DfdSample& s, Numeric numeric) {
  const std::uint32_t bits = s.bit_length;
  const std::uint32_t max = bits >= 32 ? 0xFFFFFFFFU : (1U << bits) - 1U;
  switch (numeric) {
    case Numeric::Unorm:
    case Numeric::Srgb:
      s.upper = max;
      break;
    case Numeric::Snorm:
      s.qualifiers |= kQualifierSigned;
      s.upper = max >> 1U;
      s.lower = ~s.upper + 2U;  // -(2^(bits-1) - 1) in two's complement
      break;
    case Numeric::Uint:
      s.upper = 1;
      break;
    case Numeric::Sint:
      s.qualifiers |= kQualifierSigned;
      s.lower = 0xFFFFFFFFU;
      s.upper = 1;
      break;
    case Numeric::Ufloat:
      s.qualifiers |= kQualifierFloat;
      s.upper = kFloatOne;
      break;
    case Numeric::Sfloat:
      s.qualifiers |= kQualifierFloat | kQualifierSigned;
      s.lower = kFloatMinusOne;
      s.upper = kFloatOne;
      break;
  }
}

struct Component {
  std::uint8_t channel;
  std::uint16_t bits;
};

// "A2R10G10B10" -> {A,2} {R,10} {G,10} {B,10}; "X8" pads.
std::vector<Component> components_of(std::string_view layout) {
  std::vector<Component> out;
  std::size_t i = 0;
  while (i < layout.size()) {
    const char letter = layout[i++];
    std::uint16_t bits = 0;
    while (i < layout.size() && std::isdigit(static_cast<unsigned char>(layout[i])) != 0) {
      bits = static_cast<std::uint16_t>(bits * 10 + (layout[i++] - '0'));
    }
    out.push_back({channel_of(letter), bits});
  }
  return out;
}

// The shared exponent format has a sample per mantissa and one per use of the exponent.
void shared_exponent_samples(BasicDfd& dfd) {
  for (std::uint8_t c = 0; c < 3; ++c) {
    dfd.samples.push_back({.bit_offset = static_cast<std::uint16_t>(9 * c),
                           .bit_length = 9,
                           .channel = c,
                           .upper = 8448});
    dfd.samples.push_back({.bit_offset = 27,
                           .bit_length = 5,
                           .channel = c,
                           .qualifiers = kQualifierExponent,
                           .lower = 15,
                           .upper = 31});
  }
}

// Depth in the low bits, stencil above it: D16S8, D24S8, D32S8 (X8_D24 pads the top byte).
void depth_stencil_samples(BasicDfd& dfd, std::string_view name) {
  std::uint16_t depth_bits = 0;
  if (name.starts_with("D16")) depth_bits = 16;
  if (name.starts_with("D24") || name.starts_with("X8_D24")) depth_bits = 24;
  if (name.starts_with("D32")) depth_bits = 32;
  if (depth_bits != 0) {
    DfdSample d{.bit_length = depth_bits, .channel = kChannelDepth};
    set_bounds(d, depth_bits == 32 ? Numeric::Sfloat : Numeric::Unorm);
    dfd.samples.push_back(d);
  }
  if (name.find("S8") != name.npos) {
    DfdSample s{.bit_offset = depth_bits, .bit_length = 8, .channel = kChannelStencil};
    set_bounds(s, Numeric::Uint);
    dfd.samples.push_back(s);
  }
}

// Texel formats: one sample per component. Packed formats (*_PACKnn, and the depth/stencil
// formats) name components from the most significant bit down; the others in memory order.
void texel_samples(BasicDfd& dfd, const FormatInfo& info) {
  const std::string_view name = info.name;
  if (name == "E5B9G9R9_UFLOAT_PACK32") {
    shared_exponent_samples(dfd);
    return;
  }
  const Numeric numeric = numeric_of(name);
  const bool packed = name.find("PACK") != name.npos;
  if (info.depth || info.stencil) {
    depth_stencil_samples(dfd, name);
    return;
  }
  const std::vector<Component> components = components_of(name.substr(0, name.find('_')));
  if (packed) {
    std::uint16_t total = 0;
    for (const Component& c : components) total = static_cast<std::uint16_t>(total + c.bits);
    std::uint16_t top = total;
    std::vector<DfdSample> msb_first;
    for (const Component& c : components) {
      top = static_cast<std::uint16_t>(top - c.bits);
      msb_first.push_back({.bit_offset = top, .bit_length = c.bits, .channel = c.channel});
    }
    dfd.samples.assign(msb_first.rbegin(), msb_first.rend());
  } else {
    std::uint16_t offset = 0;
    for (const Component& c : components) {
      dfd.samples.push_back({.bit_offset = offset, .bit_length = c.bits, .channel = c.channel});
      offset = static_cast<std::uint16_t>(offset + c.bits);
    }
  }
  for (DfdSample& s : dfd.samples) set_bounds(s, numeric);
}

DfdSample block_sample(std::uint16_t offset, std::uint16_t bits, std::uint8_t channel) {
  return {.bit_offset = offset, .bit_length = bits, .channel = channel, .upper = 0xFFFFFFFFU};
}

void block_samples(BasicDfd& dfd, const FormatInfo& info) {
  const std::string_view name = info.name;
  const bool snorm = name.find("SNORM") != name.npos;
  if (name.starts_with("BC1")) {
    dfd.color_model = kModelBc1a;
    dfd.samples.push_back(block_sample(0, 64, name.find("RGBA") != name.npos ? 1 : 0));
  } else if (name.starts_with("BC2") || name.starts_with("BC3")) {
    dfd.color_model = name.starts_with("BC2") ? kModelBc2 : kModelBc3;
    dfd.samples.push_back(block_sample(0, 64, kChannelAlpha));
    dfd.samples.push_back(block_sample(64, 64, 0));
  } else if (name.starts_with("BC4")) {
    dfd.color_model = kModelBc4;
    dfd.samples.push_back(block_sample(0, 64, 0));
  } else if (name.starts_with("BC5")) {
    dfd.color_model = kModelBc5;
    dfd.samples.push_back(block_sample(0, 64, 0));
    dfd.samples.push_back(block_sample(64, 64, 1));
  } else if (name.starts_with("BC6H")) {
    dfd.color_model = kModelBc6h;
    DfdSample s = block_sample(0, 128, 0);
    set_bounds(s, name.find("SFLOAT") != name.npos ? Numeric::Sfloat : Numeric::Ufloat);
    dfd.samples.push_back(s);
  } else if (name.starts_with("BC7")) {
    dfd.color_model = kModelBc7;
    dfd.samples.push_back(block_sample(0, 128, 0));
  } else if (name.starts_with("ETC2")) {
    dfd.color_model = kModelEtc2;
    if (name.find("A8") != name.npos) {
      dfd.samples.push_back(block_sample(0, 64, kChannelAlpha));
      dfd.samples.push_back(block_sample(64, 64, kChannelBlue));  // ETC2 colour is channel 2
    } else {
      dfd.samples.push_back(block_sample(0, 64, kChannelBlue));
      if (name.find("A1") != name.npos) dfd.samples.push_back(block_sample(0, 64, kChannelAlpha));
    }
  } else if (name.starts_with("EAC")) {
    dfd.color_model = kModelEtc2;
    dfd.samples.push_back(block_sample(0, 64, kChannelRed));
    if (name.find("R11G11") != name.npos) dfd.samples.push_back(block_sample(64, 64, 1));
  } else {
    dfd.color_model = kModelAstc;
    dfd.samples.push_back(block_sample(0, 128, 0));
  }
  if (snorm) {
    for (DfdSample& s : dfd.samples) {
      s.qualifiers |= kQualifierSigned;
      s.lower = 0x80000000U;
      s.upper = 0x7FFFFFFFU;
    }
  }
}

void put_u32(std::vector<std::byte>& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(value >> (8 * i)));
}

std::string numbered(std::string_view what, unsigned value) {
  return fmt::format("{} {}", what, value);
}

}  // namespace

BasicDfd basic_dfd_for(TextureFormat format) {
  const FormatInfo& info = format_info(format);
  BasicDfd dfd;
  dfd.transfer = info.srgb ? kTransferSrgb : kTransferLinear;
  dfd.texel_block[0] = static_cast<std::uint8_t>(info.block_width - 1);
  dfd.texel_block[1] = static_cast<std::uint8_t>(info.block_height - 1);
  dfd.texel_block[2] = static_cast<std::uint8_t>(info.block_depth - 1);
  dfd.bytes_planes[0] = info.format == TextureFormat::D16_UNORM_S8_UINT    ? 4
                        : info.format == TextureFormat::D32_SFLOAT_S8_UINT ? 8
                                                                           : info.bytes_per_block;
  if (info.compressed) {
    block_samples(dfd, info);
  } else {
    texel_samples(dfd, info);
  }
  // Under a non-linear transfer, alpha stays linear and says so.
  if (info.srgb) {
    for (DfdSample& s : dfd.samples) {
      if (s.channel == kChannelAlpha) s.qualifiers |= kQualifierLinear;
    }
  }
  return dfd;
}

std::vector<std::byte> encode_dfd(const BasicDfd& dfd) {
  if (dfd.samples.size() > 0xFFFF / 16) throw InvalidArgument("too many DFD samples");
  const auto block_size = static_cast<std::uint32_t>(24 + 16 * dfd.samples.size());
  std::vector<std::byte> out;
  out.reserve(4 + block_size);
  put_u32(out, 4 + block_size);
  put_u32(out, 0);  // vendor 0 (Khronos), descriptor type 0 (basic)
  put_u32(out, dfd.version | block_size << 16U);
  put_u32(out, dfd.color_model | std::uint32_t{dfd.primaries} << 8U |
                   std::uint32_t{dfd.transfer} << 16U | std::uint32_t{dfd.flags} << 24U);
  for (const std::uint8_t b : dfd.texel_block) out.push_back(static_cast<std::byte>(b));
  for (const std::uint8_t b : dfd.bytes_planes) out.push_back(static_cast<std::byte>(b));
  for (const DfdSample& s : dfd.samples) {
    if (s.bit_length == 0 || s.bit_length > 256) throw InvalidArgument("DFD sample bit length");
    put_u32(out, s.bit_offset | std::uint32_t(s.bit_length - 1U) << 16U |
                     std::uint32_t(s.channel & 0xFU) << 24U |
                     std::uint32_t(s.qualifiers & 0xFU) << 28U);
    put_u32(out, s.position);
    put_u32(out, s.lower);
    put_u32(out, s.upper);
  }
  return out;
}

std::string model_name(std::uint8_t model) {
  switch (model) {
    case kModelUnspecified:
      return "unspecified";
    case kModelRgbsda:
      return "RGBSDA";
    case kModelYuvsda:
      return "YUVSDA";
    case kModelBc1a:
      return "BC1A";
    case kModelBc2:
      return "BC2";
    case kModelBc3:
      return "BC3";
    case kModelBc4:
      return "BC4";
    case kModelBc5:
      return "BC5";
    case kModelBc6h:
      return "BC6H";
    case kModelBc7:
      return "BC7";
    case kModelEtc1:
      return "ETC1";
    case kModelEtc2:
      return "ETC2";
    case kModelAstc:
      return "ASTC";
    case kModelEtc1s:
      return "ETC1S";
    case kModelPvrtc:
      return "PVRTC";
    case kModelPvrtc2:
      return "PVRTC2";
    case kModelUastc:
      return "UASTC";
    default:
      return numbered("model", model);
  }
}

std::string transfer_name(std::uint8_t transfer) {
  constexpr std::array<std::string_view, kTransferMax + 1> kNames = {
      "unspecified", "linear",   "sRGB",     "ITU",     "NTSC",    "S-Log",  "S-Log2",
      "BT1886",      "HLG OETF", "HLG EOTF", "PQ EOTF", "PQ OETF", "DCI-P3", "PAL OETF",
      "PAL625 EOTF", "ST240",    "ACEScc",   "ACEScct", "AdobeRGB"};
  return transfer < kNames.size() ? std::string(kNames[transfer]) : numbered("transfer", transfer);
}

std::string primaries_name(std::uint8_t primaries) {
  constexpr std::array<std::string_view, kPrimariesMax + 1> kNames = {
      "unspecified", "BT709",  "BT601 EBU", "BT601 SMPTE", "BT2020",     "CIE XYZ",
      "ACES",        "ACEScc", "NTSC1953",  "PAL525",      "Display P3", "AdobeRGB"};
  return primaries < kNames.size() ? std::string(kNames[primaries])
                                   : numbered("primaries", primaries);
}

std::string channel_name(std::uint8_t model, std::uint8_t channel) {
  if (model == kModelRgbsda) {
    switch (channel) {
      case kChannelRed:
        return "R";
      case kChannelGreen:
        return "G";
      case kChannelBlue:
        return "B";
      case kChannelStencil:
        return "S";
      case kChannelDepth:
        return "D";
      case kChannelAlpha:
        return "A";
      default:
        break;
    }
  }
  if (channel == kChannelAlpha) return "A";
  return numbered("channel", channel);
}

}  // namespace gpumem::ktx2
