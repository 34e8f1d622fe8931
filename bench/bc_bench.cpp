// BCn encoders side by side on the Kodak set: gpumem's quality levels (one thread and N threads)
// against libsquish and stb_dxt, as issue 7 asks. Prints mean PSNR over kodim01-12 (channels as
// shared/bench/bc_quality.md counts them, all decoded with gpumem's decoders) and encode speed in
// Mpix/s (the best of --reps runs per image, summed over the images).
//
//   build/bench/bc_bench [--images DIR] [--threads N] [--reps R] [--formats bc1,bc3,bc4,bc5,bc7]
//                        [--qualities fast,normal,best] [--others no]
//                        [--simd scalar|sse2|avx2]   (default: the best this CPU has)
//
// Not a Google Benchmark program: a quality table needs per-image PSNR beside the timings.
#include <squish.h>
#include <stb/stb_dxt.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gpumem/texture/bc_codec.hpp"
#include "gpumem/texture/image_io.hpp"
#include "gpumem/texture/psnr.hpp"
#include "texture/simd_level.hpp"

#ifndef GPUMEM_KODAK_DIR
#define GPUMEM_KODAK_DIR "../shared/images/kodak"
#endif

namespace {

using gpumem::TextureFormat;
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

using Encoder = std::function<std::vector<std::uint8_t>(const gpumem::Image&)>;

struct Entry {
  std::string format;
  std::string name;
  TextureFormat decode_as;
  Encoder encode;
};

// stb_dxt works on single blocks; gather them as gpumem does (edges repeated).
std::vector<std::uint8_t> stb_encode(const gpumem::Image& img, TextureFormat format, int mode) {
  const std::uint32_t bw = (img.width() + 3) / 4, bh = (img.height() + 3) / 4;
  const std::size_t block_bytes = gpumem::format_info(format).bytes_per_block;
  std::vector<std::uint8_t> out(std::size_t{bw} * bh * block_bytes);
  std::uint8_t rgba[64], rg[32], r[16];
  for (std::uint32_t by = 0; by < bh; ++by) {
    for (std::uint32_t bx = 0; bx < bw; ++bx) {
      for (std::uint32_t i = 0; i < 16; ++i) {
        const std::uint32_t x = std::min(bx * 4 + i % 4, img.width() - 1);
        const std::uint32_t y = std::min(by * 4 + i / 4, img.height() - 1);
        std::memcpy(rgba + std::size_t{i} * 4, img.pixel(x, y), 4);
        r[i] = rgba[std::size_t{i} * 4];
        rg[std::size_t{i} * 2] = rgba[std::size_t{i} * 4];
        rg[std::size_t{i} * 2 + 1] = rgba[std::size_t{i} * 4 + 1];
      }
      std::uint8_t* dst = out.data() + (std::size_t{by} * bw + bx) * block_bytes;
      if (format == TextureFormat::BC4_UNORM_BLOCK) {
        stb_compress_bc4_block(dst, r);
      } else if (format == TextureFormat::BC5_UNORM_BLOCK) {
        stb_compress_bc5_block(dst, rg);
      } else {
        stb_compress_dxt_block(dst, rgba, format == TextureFormat::BC3_UNORM_BLOCK ? 1 : 0, mode);
      }
    }
  }
  return out;
}

std::vector<std::uint8_t> squish_encode(const gpumem::Image& img, TextureFormat format, int flags) {
  std::vector<std::uint8_t> out(gpumem::bc_image_bytes(format, img.width(), img.height()));
  squish::CompressImage(img.bytes().data(), static_cast<int>(img.width()),
                        static_cast<int>(img.height()), out.data(), flags);
  return out;
}

Entry gpumem_entry(const std::string& format_name, TextureFormat format,
                   gpumem::EncodeQuality quality, unsigned threads) {
  return {format_name,
          fmt::format("gpumem {} ({} thread{})", gpumem::to_string(quality), threads,
                      threads == 1 ? "" : "s"),
          format, [=](const gpumem::Image& img) {
            return gpumem::encode_bc(img.view(), format, {.quality = quality, .threads = threads});
          }};
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = GPUMEM_KODAK_DIR;
  unsigned threads = std::max(1U, std::thread::hardware_concurrency());
  int reps = 3;
  std::string formats = "bc1,bc3,bc4,bc5,bc7";
  std::string qualities = "fast,normal,best";
  bool others = true;  // --others no: gpumem's encoders only
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const char* value = argv[i + 1];
    if (arg == "--images") {
      dir = value;
    } else if (arg == "--threads") {
      threads = static_cast<unsigned>(std::stoul(value));
    } else if (arg == "--reps") {
      reps = std::stoi(value);
    } else if (arg == "--formats") {
      formats = value;
    } else if (arg == "--qualities") {
      qualities = value;
    } else if (arg == "--simd") {
      using gpumem::detail::SimdLevel;
      const std::string level = value;
      const SimdLevel wanted = level == "scalar" ? SimdLevel::Scalar
                               : level == "sse2" ? SimdLevel::Sse2
                                                 : SimdLevel::Avx2;
      if (level != gpumem::detail::to_string(wanted) ||
          gpumem::detail::set_simd_level(wanted) != wanted) {
        fmt::print(stderr, "bc_bench: --simd {} is not one this CPU and build have\n", level);
        return 2;
      }
    } else if (arg == "--others") {
      others = std::string(value) != "no";
    } else {
      fmt::print(stderr, "bc_bench: unknown option {}\n", arg);
      return 2;
    }
  }
  std::vector<gpumem::Image> images;
  for (int k = 1; k <= 12; ++k)
    images.push_back(gpumem::load_png(fmt::format("{}/kodim{:02}.png", dir, k)));

  using Q = gpumem::EncodeQuality;
  std::vector<Entry> entries;
  auto add_gpumem = [&](const std::string& name, TextureFormat f) {
    for (Q q : {Q::Fast, Q::Normal, Q::Best}) {
      if (qualities.find(gpumem::to_string(q)) == std::string::npos) continue;
      entries.push_back(gpumem_entry(name, f, q, 1));
      if (threads > 1) entries.push_back(gpumem_entry(name, f, q, threads));
    }
  };
  auto has = [&](const char* f) { return formats.find(f) != std::string::npos; };
  if (has("bc1")) {
    const auto f = TextureFormat::BC1_RGB_UNORM_BLOCK;
    add_gpumem("BC1", f);
    entries.push_back({"BC1", "libsquish iterative cluster fit", f, [](const gpumem::Image& i) {
                         return squish_encode(i, f,
                                              squish::kDxt1 | squish::kColourIterativeClusterFit);
                       }});
    entries.push_back({"BC1", "libsquish cluster fit", f, [](const gpumem::Image& i) {
                         return squish_encode(i, f, squish::kDxt1 | squish::kColourClusterFit);
                       }});
    entries.push_back({"BC1", "libsquish range fit", f, [](const gpumem::Image& i) {
                         return squish_encode(i, f, squish::kDxt1 | squish::kColourRangeFit);
                       }});
    entries.push_back({"BC1", "stb_dxt high quality", f,
                       [](const gpumem::Image& i) { return stb_encode(i, f, STB_DXT_HIGHQUAL); }});
    entries.push_back({"BC1", "stb_dxt", f,
                       [](const gpumem::Image& i) { return stb_encode(i, f, STB_DXT_NORMAL); }});
  }
  if (has("bc3")) {
    const auto f = TextureFormat::BC3_UNORM_BLOCK;
    add_gpumem("BC3", f);
    entries.push_back({"BC3", "libsquish cluster fit", f, [](const gpumem::Image& i) {
                         return squish_encode(i, f, squish::kDxt5 | squish::kColourClusterFit);
                       }});
    entries.push_back({"BC3", "stb_dxt high quality", f,
                       [](const gpumem::Image& i) { return stb_encode(i, f, STB_DXT_HIGHQUAL); }});
  }
  for (const auto& [name, f, flag] :
       {std::tuple{"bc4", TextureFormat::BC4_UNORM_BLOCK, int{squish::kBc4}},
        std::tuple{"bc5", TextureFormat::BC5_UNORM_BLOCK, int{squish::kBc5}}}) {
    if (!has(name)) continue;
    const std::string upper = name[2] == '4' ? "BC4" : "BC5";
    add_gpumem(upper, f);
    const TextureFormat fmt_copy = f;
    const int flag_copy = flag;
    entries.push_back({upper, "libsquish", f, [fmt_copy, flag_copy](const gpumem::Image& i) {
                         return squish_encode(i, fmt_copy, flag_copy);
                       }});
    entries.push_back({upper, "stb_dxt", f, [fmt_copy](const gpumem::Image& i) {
                         return stb_encode(i, fmt_copy, STB_DXT_NORMAL);
                       }});
  }
  if (has("bc7")) add_gpumem("BC7", TextureFormat::BC7_UNORM_BLOCK);
  if (!others) {
    std::erase_if(entries, [](const Entry& e) { return e.name.rfind("gpumem", 0) != 0; });
  }

  fmt::print("Encoder kernels: {}\n\n", gpumem::detail::to_string(gpumem::detail::simd_level()));
  // Mpix/s is wall clock; "per CPU s" divides by the CPU time all threads used, which on a
  // shared machine is the steadier figure for one-thread runs.
  fmt::print(
      "| format | encoder | mean PSNR (dB) | RGB PSNR (dB) | Mpix/s | Mpix per CPU s |\n"
      "|---|---|---|---|---|---|\n");
  for (const Entry& e : entries) {
    double psnr_sum = 0, rgb_sum = 0, seconds = 0, cpu = 0, pixels = 0;
    for (const gpumem::Image& img : images) {
      std::vector<std::uint8_t> blocks;
      double best = 1e30, best_cpu = 1e30;
      for (int r = 0; r < reps; ++r) {
        const double cpu_start = cpu_seconds();
        const auto start = std::chrono::steady_clock::now();
        blocks = e.encode(img);
        best = std::min(
            best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        best_cpu = std::min(best_cpu, cpu_seconds() - cpu_start);
      }
      seconds += best;
      cpu += best_cpu;
      pixels += double(img.width()) * img.height();
      const gpumem::Image back = gpumem::decode_bc(blocks, img.width(), img.height(), e.decode_as);
      psnr_sum +=
          gpumem::psnr(img.view(), back.view(), gpumem::stored_channels(e.decode_as)).overall;
      rgb_sum += gpumem::psnr(img.view(), back.view(), gpumem::kChannelsRgb).overall;
    }
    const double n = static_cast<double>(images.size());
    fmt::print("| {} | {} | {:.2f} | {:.2f} | {:.1f} | {:.1f} |\n", e.format, e.name, psnr_sum / n,
               rgb_sum / n, pixels / seconds / 1e6, pixels / cpu / 1e6);
    std::fflush(stdout);
  }
  return 0;
}
