#include "cli/ktx_command.hpp"

#include <optional>
#include <utility>

namespace gpumem::cli {

KtxCommand::KtxCommand(CLI::App& app)
    : app_(app.add_subcommand("ktx", "Inspect, write and compare KTX2 texture files.")) {
  app_->require_subcommand(1);

  CLI::App* info = app_->add_subcommand(
      "info", "Validate a KTX2 file and show its header, levels, DFD and key/value data.");
  info->add_option("file", info_.path, "The .ktx2 file.")->required();
  info->add_flag("--json", info_.json, "One JSON document (snake_case fields, bytes as integers).");
  info->add_flag("--gltf-basisu", info_.gltf_basisu,
                 "Also apply KHR_texture_basisu's rules, as `ktx validate --gltf-basisu` does.");
  add(info, [this](std::ostream& out) { run_ktx_info(info_, out); });
  add_compress();
  add_decompress();
  add_compare();
}

namespace {

// The value of an option that was given, else nothing.
template <typename T>
std::optional<T> if_given(const CLI::Option* option, const T& value) {
  return option->count() > 0 ? std::optional<T>(value) : std::nullopt;
}

}  // namespace

void KtxCommand::add_compress() {
  CLI::App* cmd = app_->add_subcommand(
      "compress", "Compress a PNG (or raw RGBA8) image to a BCn or RGBA8 KTX2 file.");
  cmd->add_option("input", compress_.input, "The image: PNG, or raw RGBA8 with --raw.")->required();
  cmd->add_option("output", compress_.output, "The .ktx2 file to write.")->required();
  cmd->add_option("--format", compress_.format, "bc1, bc1a, bc3, bc4, bc5, bc7 or rgba8 (bc7).");
  cmd->add_option("--quality", compress_.quality, "fast, normal or best (normal).");
  const CLI::Option* target = cmd->add_option(
      "--target-psnr", target_psnr_,
      "dB every level must reach: the cheapest quality that does is used; fails if none does.");
  const CLI::Option* mips =
      cmd->add_option("--mips", mips_, "Write a full mip chain, filtered with box or kaiser (box).")
          ->expected(0, 1);
  CLI::Option* srgb =
      cmd->add_flag("--srgb", srgb_, "The texels are sRGB (default, except bc4/bc5).");
  CLI::Option* linear =
      cmd->add_flag("--linear", linear_, "The texels are linear (UNORM formats).");
  srgb->excludes(linear);
  const CLI::Option* zstd =
      cmd->add_option("--zstd", zstd_level_, "Zstandard supercompression at this level (1-22).");
  const CLI::Option* raw =
      cmd->add_option("--raw", raw_, "The input is raw RGBA8 of this extent, e.g. 640x480.");
  cmd->add_option("--threads", compress_.threads, "Encoder threads (0: all, the default).");
  add(cmd, [this, target, mips, zstd, raw](std::ostream& out) {
    compress_.target_psnr = if_given(target, target_psnr_);
    compress_.mips = if_given(mips, mips_);
    if (srgb_ || linear_) compress_.srgb = srgb_;
    compress_.zstd_level = if_given(zstd, zstd_level_);
    if (raw->count() > 0) compress_.raw = parse_raw_extent(raw_);
    run_ktx_compress(compress_, out);
  });
}

void KtxCommand::add_decompress() {
  CLI::App* cmd = app_->add_subcommand(
      "decompress", "Decode one level of a KTX2 file to a PNG (raw RGBA8 for .rgba/.raw).");
  cmd->add_option("input", decompress_.input, "The .ktx2 file.")->required();
  cmd->add_option("output", decompress_.output, "The image to write.")->required();
  cmd->add_option("--level", decompress_.level, "Mip level (0, the largest, by default).");
  add(cmd, [this](std::ostream& out) { run_ktx_decompress(decompress_, out); });
}

void KtxCommand::add_compare() {
  CLI::App* cmd = app_->add_subcommand(
      "compare", "PSNR per channel between two images (PNG, KTX2 or raw RGBA8).");
  cmd->add_option("a", compare_.a, "The reference image.")->required();
  cmd->add_option("b", compare_.b, "The image to measure.")->required();
  cmd->add_option("--level", compare_.level, "Mip level of KTX2 inputs (0 by default).");
  const CLI::Option* raw =
      cmd->add_option("--raw", raw_, "Extent of inputs that are raw RGBA8, e.g. 640x480.");
  add(cmd, [this, raw](std::ostream& out) {
    if (raw->count() > 0) compare_.raw = parse_raw_extent(raw_);
    run_ktx_compare(compare_, out);
  });
}

void KtxCommand::add(CLI::App* subcommand, Action action) {
  subcommands_.emplace_back(subcommand, std::move(action));
}

void KtxCommand::run(std::ostream& out) const {
  for (const auto& [subcommand, action] : subcommands_) {
    if (subcommand->parsed()) action(out);
  }
}

}  // namespace gpumem::cli
