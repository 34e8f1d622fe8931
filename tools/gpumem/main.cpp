// The gpumem command line tool: argument parsing only; the commands live in gpumem_cli.
//
// Exit codes: 0 success; 2 bad input (an unknown subcommand or option, a bad --device spec, or
// any gpumem::Error), with one "gpumem: error: ..." line on stderr; 1 an unexpected failure.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "cli/demo_command.hpp"
#include "cli/info_command.hpp"
#include "cli/ktx_command.hpp"
#include "cli/replay_command.hpp"
#include "cli/version.hpp"
#include "gpumem/core/error.hpp"

namespace {

constexpr int kExitBadInput = 2;
constexpr int kExitFailure = 1;

int fail(int code, const std::string& message) {
  std::cerr << "gpumem: error: " << message << '\n';
  return code;
}

// CLI11 stores an option's value only when it is given; an empty string means "not given".
std::optional<std::string> given(const CLI::Option* option, const std::string& value) {
  return option->count() > 0 ? std::optional(value) : std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gpumem: inspect GPU memory heaps and budgets, see the manager at work, and "
      "inspect, compress and compare KTX2 textures.",
      "gpumem"};
  app.set_version_flag("--version", std::string(gpumem::cli::tool_version()));
  app.require_subcommand(1);
  app.footer(
      "Device specs: host, host:discrete, sim, sim:capacity=16GiB,page=2MiB,upload=1GiB\n"
      "Exit codes: 0 success, 2 bad input or a gpumem error, 1 unexpected failure.");

  gpumem::cli::InfoOptions info;
  std::string info_device;
  CLI::App* info_cmd =
      app.add_subcommand("info", "List backends, devices and heaps with their budgets.");
  info_cmd->add_flag("--json", info.json,
                     "One JSON document (snake_case fields, bytes as integers).");
  const CLI::Option* info_device_opt = info_cmd->add_option(
      "--device", info_device, "Only this device, e.g. sim:capacity=16GiB (default: all).");

  gpumem::cli::DemoOptions demo;
  std::string demo_device;
  CLI::App* demo_cmd = app.add_subcommand(
      "demo", "Allocate, fill, free and leak on the best device, explaining what happens.");
  const CLI::Option* demo_device_opt =
      demo_cmd->add_option("--device", demo_device,
                           "Use this device (default: the best one, host:discrete without a GPU).");

  gpumem::cli::ReplayCommandOptions replay;
  std::uint32_t replay_heap = 0;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay", "Replay allocation traces against an allocator: ns per event, reserved/live.");
  replay_cmd->add_option("--device", replay.device,
                         "Replay on this device (default: sim, 80 GiB with 2 MiB pages).");
  replay_cmd->add_option("--allocator", replay.allocator,
                         fmt::format("One of: {} (default: auto).",
                                     fmt::join(gpumem::cli::replay_allocator_names(), ", ")));
  const CLI::Option* replay_heap_opt =
      replay_cmd->add_option("--heap", replay_heap, "Heap index (default: the device-local heap).");
  replay_cmd->add_option("--alignment", replay.alignment,
                         "Alignment of every allocation, a power of two (default: 256).");
  replay_cmd->add_flag("--manager", replay.through_manager,
                       "Replay through a whole Manager (tracking off), not the bare allocator.");
  replay_cmd->add_flag("--json", replay.json, "One JSON object per trace, one per line.");
  replay_cmd
      ->add_option("traces", replay.traces,
                   "Trace files, built-in traces (churn200k) or churn:operations=N,seed=S specs.")
      ->required();

  gpumem::cli::KtxCommand ktx(app);

  // CLI11 would call a stray word a missing subcommand; name it as the unknown one it is.
  if (argc > 1 && argv[1][0] != '-' && argv[1] != info_cmd->get_name() &&
      argv[1] != demo_cmd->get_name() && argv[1] != replay_cmd->get_name() &&
      argv[1] != ktx.name()) {
    return fail(
        kExitBadInput,
        fmt::format("unknown subcommand '{}' (known: info, demo, replay, ktx; see gpumem --help)",
                    argv[1]));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with a success code; CLI11 prints those itself.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return fail(kExitBadInput, std::string(e.what()) + " (see gpumem --help)");
  }

  try {
    if (info_cmd->parsed()) {
      info.device = given(info_device_opt, info_device);
      gpumem::cli::run_info(info, std::cout);
    } else if (demo_cmd->parsed()) {
      demo.device = given(demo_device_opt, demo_device);
      gpumem::cli::run_demo(demo, std::cout);
    } else if (replay_cmd->parsed()) {
      if (replay_heap_opt->count() > 0) replay.heap = replay_heap;
      gpumem::cli::run_replay(replay, std::cout);
    } else if (ktx.parsed()) {
      ktx.run(std::cout);
    }
  } catch (const gpumem::Error& e) {
    return fail(kExitBadInput, e.what());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
  std::cout.flush();
  return std::cout ? 0 : fail(kExitFailure, "could not write the output");
}
