#include "cli/ktx_command.hpp"

#include <utility>

namespace gpumem::cli {

KtxCommand::KtxCommand(CLI::App& app)
    : app_(app.add_subcommand("ktx", "Inspect KTX2 texture files.")) {
  app_->require_subcommand(1);

  CLI::App* info = app_->add_subcommand(
      "info", "Validate a KTX2 file and show its header, levels, DFD and key/value data.");
  info->add_option("file", info_.path, "The .ktx2 file.")->required();
  info->add_flag("--json", info_.json, "One JSON document (snake_case fields, bytes as integers).");
  info->add_flag("--gltf-basisu", info_.gltf_basisu,
                 "Also apply KHR_texture_basisu's rules, as `ktx validate --gltf-basisu` does.");
  add(info, [this](std::ostream& out) { run_ktx_info(info_, out); });
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
