// `gpumem ktx <subcommand>`: the KTX2 tools, one subcommand per file (ktx_<name>_command.*).
// KtxCommand adds "ktx" and its subcommands to the tool's CLI11 app and runs whichever was given.
// To add one (compress, decompress, compare, ...): write ktx_<name>_command.{hpp,cpp} with an
// options struct and run_ktx_<name>(options, out), then register it in KtxCommand's constructor
// with one add() call.
//
//   CLI::App app;
//   gpumem::cli::KtxCommand ktx(app);
//   app.parse(argc, argv);
//   if (ktx.parsed()) ktx.run(std::cout);
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/ktx_info_command.hpp"

namespace gpumem::cli {

class KtxCommand {
 public:
  explicit KtxCommand(CLI::App& app);
  KtxCommand(const KtxCommand&) = delete;  // the registered callbacks point into this object
  KtxCommand& operator=(const KtxCommand&) = delete;

  const std::string& name() const noexcept { return app_->get_name(); }
  bool parsed() const { return app_->parsed(); }

  // Runs the subcommand that was parsed; throws gpumem::Error for bad input, like every command.
  void run(std::ostream& out) const;

 private:
  using Action = std::function<void(std::ostream&)>;
  void add(CLI::App* subcommand, Action action);

  CLI::App* app_;
  std::vector<std::pair<CLI::App*, Action>> subcommands_;
  KtxInfoOptions info_;
};

}  // namespace gpumem::cli
