#include "texture/supercompression.hpp"

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

#include <limits>
#include <memory>

#include "gpumem/core/error.hpp"

namespace gpumem::ktx2::detail {
namespace {

// Neither format can expand its input by more than these ratios (zlib's deflate tops out near
// 1032:1; a Zstandard RLE block turns 4 bytes into 128 KiB), so a level that claims more is
// refused before anything is allocated for it.
constexpr std::uint64_t kZlibMaxRatio = 1032;
constexpr std::uint64_t kZstdMaxRatio = 32768;
constexpr std::uint64_t kSlack = 1024;

bool plausible(std::uint64_t size, std::size_t in_size, std::uint64_t ratio) {
  return size <= std::numeric_limits<std::size_t>::max() / 2 &&
         in_size <= std::numeric_limits<std::uint64_t>::max() / ratio - kSlack &&
         size <= in_size * ratio + kSlack;
}

}  // namespace

Inflated inflate_zstd(std::span<const std::byte> in, std::uint64_t expected_size) {
  Inflated out;
  if (!plausible(expected_size, in.size(), kZstdMaxRatio)) {
    out.error = fmt::format("{} bytes cannot inflate to {}", in.size(), expected_size);
    return out;
  }
  const unsigned long long content = ZSTD_getFrameContentSize(in.data(), in.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    out.error = "not a Zstandard frame";
    return out;
  }
  if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != expected_size) {
    out.error = fmt::format("the Zstandard frame holds {} bytes, not {}", content, expected_size);
    return out;
  }
  out.bytes.resize(static_cast<std::size_t>(expected_size));
  const std::size_t got = ZSTD_decompress(out.bytes.data(), out.bytes.size(), in.data(), in.size());
  if (ZSTD_isError(got) != 0) {
    out.error = fmt::format("Zstandard: {}", ZSTD_getErrorName(got));
  } else if (got != expected_size) {
    out.error = fmt::format("inflates to {} bytes, not {}", got, expected_size);
  }
  return out;
}

Inflated inflate_zlib(std::span<const std::byte> in, std::uint64_t expected_size) {
  Inflated out;
  if (!plausible(expected_size, in.size(), kZlibMaxRatio) ||
      in.size() > std::numeric_limits<uLong>::max()) {
    out.error = fmt::format("{} bytes cannot inflate to {}", in.size(), expected_size);
    return out;
  }
  out.bytes.resize(static_cast<std::size_t>(expected_size));
  auto dest_length = static_cast<uLongf>(expected_size);
  auto source_length = static_cast<uLong>(in.size());
  const int rc = uncompress2(reinterpret_cast<Bytef*>(out.bytes.data()), &dest_length,
                             reinterpret_cast<const Bytef*>(in.data()), &source_length);
  if (rc == Z_BUF_ERROR && dest_length == expected_size) {
    out.error = fmt::format("inflates to more than {} bytes", expected_size);
  } else if (rc != Z_OK) {
    out.error = fmt::format("zlib error {}{}", rc, rc == Z_DATA_ERROR ? " (corrupt data)" : "");
  } else if (dest_length != expected_size) {
    out.error = fmt::format("inflates to {} bytes, not {}", dest_length, expected_size);
  }
  return out;
}

std::vector<std::byte> deflate_zstd(std::span<const std::byte> in, int level) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!ctx) throw Error("Zstandard: cannot create a compression context");
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_checksumFlag, 1);
  std::vector<std::byte> out(ZSTD_compressBound(in.size()));
  const std::size_t size = ZSTD_compress2(ctx.get(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(size) != 0) {
    throw Error(fmt::format("Zstandard: {}", ZSTD_getErrorName(size)));
  }
  out.resize(size);
  return out;
}

}  // namespace gpumem::ktx2::detail
