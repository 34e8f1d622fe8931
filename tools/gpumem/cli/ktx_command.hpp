// `gpumem ktx <subcommand>`: the KTX2 tools, one subcommand per file (ktx_<name>_command.*).
// KtxCommand adds "ktx" and its subcommands to the tool's CLI11 app and runs whichever was given.
// To add one: write ktx_<name>_command.{hpp,cpp} with an
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

#include "cli/ktx_compare_command.hpp"
#include "cli/ktx_compress_command.hpp"
#include "cli/ktx_decompress_command.hpp"
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
  void add_compress();
  void add_decompress();
  void add_compare();

  CLI::App* app_;
  std::vector<std::pair<CLI::App*, Action>> subcommands_;
  KtxInfoOptions info_;
  KtxCompressOptions compress_;
  KtxDecompressOptions decompress_;
  KtxCompareOptions compare_;
  // CLI11 fills plain values; these become the options' optionals when given.
  double target_psnr_ = 0;
  std::string mips_;
  int zstd_level_ = 0;
  std::string raw_;
  bool srgb_ = false;
  bool linear_ = false;
};

}  // namespace gpumem::cli
