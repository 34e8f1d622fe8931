// Section 4 of the reader's checks: the Data Format Descriptor. The first block must be
// Khronos's basic block; its colour model, transfer function, block size, plane bytes and samples
// must agree with vkFormat (for VK_FORMAT_UNDEFINED the model says what the payload is).
#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <optional>

#include "texture/read_context.hpp"

namespace gpumem::ktx2::detail {
namespace {

constexpr std::uint32_t kBasicBlockHeader = 24;
constexpr std::uint32_t kSampleBytes = 16;
constexpr std::uint16_t kVersion13 = 2;

std::uint64_t sample_at(std::uint64_t block, std::size_t i) {
  return block + kBasicBlockHeader + kSampleBytes * i;
}

BasicDfd parse_basic_block(const ReadContext& ctx, std::uint64_t at, std::uint32_t size) {
  const ByteView& v = ctx.view;
  BasicDfd dfd;
  dfd.version = v.u16(at + 4, "DFD versionNumber");
  const std::uint32_t word2 = v.u32(at + 8, "DFD colorModel");
  dfd.color_model = static_cast<std::uint8_t>(word2);
  dfd.primaries = static_cast<std::uint8_t>(word2 >> 8U);
  dfd.transfer = static_cast<std::uint8_t>(word2 >> 16U);
  dfd.flags = static_cast<std::uint8_t>(word2 >> 24U);
  for (std::size_t i = 0; i < 4; ++i)
    dfd.texel_block[i] = v.u8(at + 12 + i, "DFD texelBlockDimension");
  for (std::size_t i = 0; i < 8; ++i) dfd.bytes_planes[i] = v.u8(at + 16 + i, "DFD bytesPlane");
  const std::size_t count = (size - kBasicBlockHeader) / kSampleBytes;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t s = sample_at(at, i);
    const std::uint32_t w0 = v.u32(s, "DFD sample");
    dfd.samples.push_back({.bit_offset = static_cast<std::uint16_t>(w0),
                           .bit_length = static_cast<std::uint16_t>(((w0 >> 16U) & 0xFFU) + 1U),
                           .channel = static_cast<std::uint8_t>((w0 >> 24U) & 0xFU),
                           .qualifiers = static_cast<std::uint8_t>(w0 >> 28U),
                           .position = v.u32(s + 4, "DFD samplePosition"),
                           .lower = v.u32(s + 8, "DFD sampleLower"),
                           .upper = v.u32(s + 12, "DFD sampleUpper")});
  }
  return dfd;
}

// Walks the descriptor blocks; returns the basic block's offset and size.
std::pair<std::uint64_t, std::uint32_t> find_basic_block(ReadContext& ctx) {
  const ByteView& v = ctx.view;
  const Header& h = ctx.file.header;
  const std::uint64_t base = h.dfd_offset;
  const std::uint32_t total = v.u32(base, "dfdTotalSize");
  if (total != h.dfd_length) {
    ctx.fail("dfdTotalSize", base,
             fmt::format("is {} but dfdByteLength is {}", total, h.dfd_length));
  }
  std::uint64_t pos = 4;
  std::pair<std::uint64_t, std::uint32_t> basic{0, 0};
  int blocks = 0;
  while (pos < total) {
    const std::uint64_t at = base + pos;
    if (total - pos < 8) {
      ctx.fail("DFD descriptor block", at,
               fmt::format("{} bytes left, too few for an 8-byte block header", total - pos));
    }
    const std::uint32_t word0 = v.u32(at, "DFD descriptorType");
    const std::uint32_t vendor = word0 & 0x1FFFFU;
    const std::uint32_t type = word0 >> 17U;
    const std::uint32_t size = v.u16(at + 6, "DFD descriptorBlockSize");
    if (size < 8) {
      ctx.fail("DFD descriptorBlockSize", at + 6,
               fmt::format("{} is smaller than a block header (8)", size));
    }
    if (size > total - pos) {
      ctx.fail("DFD descriptorBlockSize", at + 6,
               fmt::format("block of {} bytes at DFD byte {} runs past dfdTotalSize {}", size, pos,
                           total));
    }
    const bool is_basic = vendor == 0 && type == 0;
    if (blocks == 0 && !is_basic) {
      ctx.fail("DFD descriptorType", at,
               "the first descriptor block must be Khronos's basic block");
    }
    if (is_basic && blocks == 0) {
      basic = {at, size};
    } else if (is_basic) {
      ctx.warn("DFD descriptorType", at, "a second basic descriptor block is ignored");
    } else {
      ctx.warn(
          "DFD descriptorType", at,
          fmt::format("unknown descriptor block (vendor 0x{:X}, type {}) ignored", vendor, type));
    }
    ++blocks;
    pos += size;
  }
  if (blocks == 0) ctx.fail("DFD", base, "has no basic descriptor block");
  return basic;
}

void check_block_size(const ReadContext& ctx, std::uint64_t at, std::uint32_t size) {
  if (size < kBasicBlockHeader) {
    ctx.fail("DFD descriptorBlockSize", at + 6,
             fmt::format("basic block of {} bytes, fewer than its 24-byte header", size));
  }
  if ((size - kBasicBlockHeader) % kSampleBytes != 0) {
    ctx.fail("DFD descriptorBlockSize", at + 6,
             fmt::format("basic block of {} bytes is not 24 + 16 bytes per sample", size));
  }
}

void check_block_fields(const ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  if (dfd.version != kVersion13) {
    ctx.fail("DFD versionNumber", at + 4,
             fmt::format("{} but KTX2 needs 2 (Data Format Specification 1.3)", dfd.version));
  }
  if (dfd.transfer > kTransferMax) {
    ctx.fail("DFD transferFunction", at + 10, fmt::format("{} is not defined", dfd.transfer));
  }
  if (dfd.primaries > kPrimariesMax) {
    ctx.fail("DFD colorPrimaries", at + 9, fmt::format("{} is not defined", dfd.primaries));
  }
}

// VK_FORMAT_UNDEFINED with a DFD that describes one of gpumem's formats exactly (model,
// transfer, block size, bytes and samples other than their bounds): that format.
std::optional<TextureFormat> format_from_dfd(const BasicDfd& dfd) {
  const auto strip = [](DfdSample s) {
    s.lower = 0;
    s.upper = 0;
    return s;
  };
  for (const FormatInfo& info : texture_formats()) {
    const BasicDfd want = basic_dfd_for(info.format);
    if (want.color_model != dfd.color_model || want.transfer != dfd.transfer ||
        !std::equal(std::begin(want.texel_block), std::end(want.texel_block),
                    std::begin(dfd.texel_block)) ||
        want.bytes_planes[0] != dfd.bytes_planes[0] || want.samples.size() != dfd.samples.size()) {
      continue;
    }
    if (std::equal(want.samples.begin(), want.samples.end(), dfd.samples.begin(),
                   [&](const DfdSample& a, const DfdSample& b) { return strip(a) == strip(b); })) {
      return info.format;
    }
  }
  return std::nullopt;
}

// What the payload is when vkFormat does not say: the model does.
void detect_payload(ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  Ktx2File& f = ctx.file;
  if (ctx.basis_lz()) {
    if (dfd.color_model != kModelEtc1s) {
      ctx.fail("DFD colorModel", at + 8,
               fmt::format("BasisLZ needs model ETC1S, not {}", model_name(dfd.color_model)));
    }
    f.payload = Payload::BasisLZ;
    return;
  }
  if (f.header.vk_format == 0) {
    if (dfd.color_model == kModelUastc) {
      f.payload = Payload::Uastc;
      return;
    }
    f.format = format_from_dfd(dfd);
    f.payload = f.format ? Payload::Texels : Payload::Other;
    return;
  }
  f.format = ctx.traits.format;
  f.payload = f.format ? Payload::Texels : Payload::Other;
}

void check_model(ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  const VkFormatTraits& t = ctx.traits;
  if (t.kind != VkFormatClass::Known || dfd.color_model == t.color_model) return;
  const char* kind = t.color_model == kModelYuvsda ? "4:2:2 format"
                     : t.compressed                ? "block-compressed format"
                                                   : "texel format";
  ctx.fail("DFD colorModel", at + 8,
           fmt::format("{} for the {} {}, which needs {}", model_name(dfd.color_model), kind,
                       t.name, model_name(t.color_model)));
}

void check_transfer(ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  const VkFormatTraits& t = ctx.traits;
  if (t.kind != VkFormatClass::Known) return;
  if (t.srgb && dfd.transfer != kTransferSrgb) {
    ctx.fail("DFD transferFunction", at + 10,
             fmt::format("{} but {} is sRGB", transfer_name(dfd.transfer), t.name));
  }
  if (!t.srgb && dfd.transfer == kTransferSrgb) {
    ctx.fail("DFD transferFunction", at + 10,
             fmt::format("sRGB but {} is not an sRGB format", t.name));
  }
}

void check_planes(ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  if (ctx.basis_lz()) {
    if (dfd.texel_block[0] != 3 || dfd.texel_block[1] != 3 || dfd.texel_block[2] != 0 ||
        dfd.texel_block[3] != 0) {
      ctx.fail("DFD texelBlockDimension", at + 12, "BasisLZ blocks are 4x4x1x1");
    }
  }
  if (ctx.file.header.supercompression != 0) {
    // BasisLZ has no fixed block size, so its planes should say 0 (unsized); Zstandard and
    // zlib keep the format's block size. KTX-Software only warns about either.
    const bool sized = std::any_of(std::begin(dfd.bytes_planes), std::end(dfd.bytes_planes),
                                   [](std::uint8_t b) { return b != 0; });
    if (ctx.basis_lz() && sized) {
      ctx.warn("DFD bytesPlane0", at + 16, "should be 0 (unsized) for BasisLZ");
    } else if (!ctx.basis_lz() && dfd.bytes_planes[0] == 0) {
      ctx.warn("DFD bytesPlane0", at + 16, "0 (unsized) although the blocks have a fixed size");
    }
    return;
  }
  for (std::size_t i = 1; i < 8; ++i) {
    if (dfd.bytes_planes[i] != 0) {
      ctx.fail(fmt::format("DFD bytesPlane{}", i), at + 16 + i,
               "multi-plane formats are not allowed in KTX2");
    }
  }
  if (dfd.bytes_planes[0] == 0) {
    ctx.fail("DFD bytesPlane0", at + 16, "must not be 0 without supercompression");
  }
  const VkFormatTraits& t = ctx.traits;
  if (t.kind == VkFormatClass::Known && dfd.bytes_planes[0] != t.bytes_per_block) {
    ctx.fail("DFD bytesPlane0", at + 16,
             fmt::format("{} but a {} block is {} bytes", dfd.bytes_planes[0], t.name,
                         t.bytes_per_block));
  }
}

// Channels each block model defines (KHR_DF_CHANNEL_*).
bool channel_allowed(std::uint8_t model, std::uint8_t channel) {
  switch (model) {
    case kModelBc1a:
      return channel <= 1;
    case kModelBc2:
    case kModelBc3:
      return channel == 0 || channel == kChannelAlpha;
    case kModelBc4:
    case kModelBc6h:
    case kModelBc7:
    case kModelAstc:
      return channel == 0;
    case kModelBc5:
      return channel <= 1;
    case kModelEtc2:
      return channel <= 2 || channel == kChannelAlpha;
    case kModelEtc1s:
      return channel == 0 || channel == 3 || channel == 4 || channel == 15;
    case kModelUastc:
      return channel == 0 || (channel >= 3 && channel <= 6);
    default:
      return true;
  }
}

void check_basis_samples(ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  if (ctx.basis_lz()) {
    if (dfd.samples.empty() || dfd.samples.size() > 2) {
      ctx.fail("DFD samples", at + kBasicBlockHeader,
               fmt::format("BasisLZ has 1 or 2 samples (RGB, alpha), not {}", dfd.samples.size()));
    }
    for (std::size_t i = 0; i < dfd.samples.size(); ++i) {
      const DfdSample& s = dfd.samples[i];
      const std::uint64_t where = sample_at(at, i);
      const std::string field = fmt::format("DFD sample {}", i);
      if (s.bit_offset != 64 * i)
        ctx.fail(field + " bitOffset", where, fmt::format("must be {}", 64 * i));
      if (s.bit_length != 64) ctx.fail(field + " bitLength", where + 2, "must be 64 bits");
      if (s.lower != 0) ctx.fail(field + " sampleLower", where + 8, "must be 0");
      if (s.upper != 0xFFFFFFFFU)
        ctx.fail(field + " sampleUpper", where + 12, "must be 0xFFFFFFFF");
    }
  }
  if (ctx.file.payload == Payload::Uastc) {
    if (dfd.samples.size() != 1) {
      ctx.fail("DFD samples", at + kBasicBlockHeader, "UASTC has exactly one sample");
    }
    const DfdSample& s = dfd.samples[0];
    if (s.bit_offset != 0) ctx.fail("DFD sample 0 bitOffset", sample_at(at, 0), "must be 0");
    if (s.bit_length != 128) {
      ctx.fail("DFD sample 0 bitLength", sample_at(at, 0) + 2, "must be 128 bits for UASTC");
    }
  }
}

void check_samples(ReadContext& ctx, std::uint64_t at) {
  const BasicDfd& dfd = ctx.file.dfd;
  if (dfd.samples.empty()) {
    ctx.fail("DFD samples", at + kBasicBlockHeader, "the basic block has no samples");
  }
  for (std::size_t i = 0; i < dfd.samples.size(); ++i) {
    const DfdSample& s = dfd.samples[i];
    if (!channel_allowed(dfd.color_model, s.channel)) {
      ctx.fail(fmt::format("DFD sample {} channelType", i), sample_at(at, i) + 3,
               fmt::format("channel {} is not defined for model {}", s.channel,
                           model_name(dfd.color_model)));
    }
  }
  check_basis_samples(ctx, at);
  for (std::size_t i = 0; i < dfd.samples.size(); ++i) {
    const DfdSample& s = dfd.samples[i];
    if ((s.qualifiers & kQualifierLinear) == 0) continue;
    if (dfd.transfer == kTransferLinear) {
      ctx.fail(fmt::format("DFD sample {} qualifiers", i), sample_at(at, i) + 3,
               "the linear qualifier is set but the transfer function is already linear");
    }
    if (s.channel != kChannelAlpha) {
      ctx.fail(fmt::format("DFD sample {} qualifiers", i), sample_at(at, i) + 3,
               "only alpha may be linear under a non-linear transfer function");
    }
  }
  if (!ctx.file.format) return;
  // Against the DFD KTX-Software writes for the format, ignoring bounds and the linear bit.
  const BasicDfd expected = basic_dfd_for(*ctx.file.format);
  const bool compressed = ctx.traits.compressed;
  if (dfd.samples.size() < expected.samples.size() ||
      (compressed && dfd.samples.size() != expected.samples.size())) {
    ctx.fail("DFD samples", at + kBasicBlockHeader,
             fmt::format("{} samples but {} has {}", dfd.samples.size(), ctx.traits.name,
                         expected.samples.size()));
  }
  if (dfd.samples.size() > expected.samples.size()) {
    ctx.warn("DFD samples", at + kBasicBlockHeader,
             fmt::format("{} samples; {} needs only {}", dfd.samples.size(), ctx.traits.name,
                         expected.samples.size()));
  }
  for (std::size_t i = 0; i < expected.samples.size(); ++i) {
    const DfdSample& got = dfd.samples[i];
    const DfdSample& want = expected.samples[i];
    const auto strip = [](std::uint8_t q) { return q & ~kQualifierLinear; };
    if (got.channel != want.channel || got.bit_offset != want.bit_offset ||
        got.bit_length != want.bit_length || strip(got.qualifiers) != strip(want.qualifiers) ||
        got.position != want.position) {
      ctx.fail(fmt::format("DFD sample {}", i), sample_at(at, i),
               fmt::format("channel {} bits {}..{} qualifiers 0x{:X} position 0x{:X} does not "
                           "match {} (channel {} bits {}..{} qualifiers 0x{:X})",
                           got.channel, got.bit_offset, got.bit_offset + got.bit_length,
                           got.qualifiers, got.position, ctx.traits.name, want.channel,
                           want.bit_offset, want.bit_offset + want.bit_length, want.qualifiers));
    }
  }
  for (std::size_t i = 0; i < 3; ++i) {
    if (dfd.texel_block[i] != expected.texel_block[i]) {
      ctx.fail("DFD texelBlockDimension", at + 12 + i,
               fmt::format("does not match the {} block", ctx.traits.name));
    }
  }
}

}  // namespace

void check_dfd(ReadContext& ctx) {
  const auto [at, size] = find_basic_block(ctx);
  check_block_size(ctx, at, size);  // before the samples are read
  ctx.file.dfd = parse_basic_block(ctx, at, size);
  check_block_fields(ctx, at);
  detect_payload(ctx, at);
  check_model(ctx, at);
  check_transfer(ctx, at);
  check_planes(ctx, at);
  check_samples(ctx, at);
}

}  // namespace gpumem::ktx2::detail
