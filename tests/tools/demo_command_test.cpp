// `gpumem demo` run in-process: its sections, the pressure story and the leak report.
#include "cli/demo_command.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/log.hpp"
#include "gpumem/core/texture_format.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::cli {
namespace {

std::string demo_text(const DemoOptions& options = {}) {
  std::ostringstream out;
  run_demo(options, out);
  return out.str();
}

// Lines that start with `prefix` and contain every one of `parts` (no std::regex: GCC 12 warns
// inside it under sanitizers, and warnings are errors).
std::vector<std::string> matching_lines(const std::string& text, std::string_view prefix,
                                        std::initializer_list<std::string_view> parts = {}) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(prefix)) continue;
    const bool all = std::all_of(parts.begin(), parts.end(), [&](std::string_view part) {
      return line.find(part, prefix.size()) != std::string::npos;
    });
    if (all) lines.push_back(line);
  }
  return lines;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

void expect_pressure_story(const std::string& text) {
  const std::vector<std::string> transitions = matching_lines(text, "  pressure ", {" -> ", ": "});
  const std::vector<std::string> expected{"low -> medium",    "medium -> high", "high -> critical",
                                          "critical -> high", "high -> medium", "medium -> low"};
  ASSERT_EQ(transitions.size(), expected.size()) << text;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NE(transitions[i].find("pressure " + expected[i] + ":"), std::string::npos)
        << "transition " << i << ": " << transitions[i];
  }
  // The refusal comes at the top, between the way up and the way down.
  const std::size_t critical = text.find("pressure high -> critical");
  const std::size_t refused = text.find("refused with gpumem::BudgetExceeded");
  const std::size_t down = text.find("pressure critical -> high");
  ASSERT_NE(refused, std::string::npos) << text;
  EXPECT_LT(critical, refused);
  EXPECT_LT(refused, down);
  EXPECT_NE(text.find("budget exceeded on heap 'device-local': requested 16.0 MiB with 256.0 MiB "
                      "of 256.0 MiB in use (pressure critical)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Levels seen: low -> medium -> high -> critical -> high -> medium -> low"),
            std::string::npos);
}

void expect_one_leak(const std::string& text) {
  const std::size_t section = text.find("4. Leak report");
  ASSERT_NE(section, std::string::npos) << text;
  const std::string leaks = text.substr(section);
  EXPECT_EQ(count_of(leaks, "1 allocation still live, 4.0 MiB in all"), 1U) << leaks;
  const std::vector<std::string> records = matching_lines(leaks, "    #", {" on ", "(", ")"});
  ASSERT_EQ(records.size(), 1U) << leaks;
  EXPECT_NE(records[0].find("'forgotten/readback' 4.0 MiB on device-local (buffer)"),
            std::string::npos)
      << records[0];
  // stack_sample_every = 1: the record carries its stack, which starts at the code that
  // allocated (gpumem's own frames are left out) and names it (gpumem_cli exports symbols).
  const std::vector<std::string> frames = matching_lines(leaks, "        at ");
  ASSERT_FALSE(frames.empty()) << leaks;
  EXPECT_NE(frames[0].find("gpumem_demo::leak_one_buffer(gpumem::Manager&)"), std::string::npos)
      << leaks;
}

TEST(DemoCommand, HasEverySectionInOrder) {
  const std::string text = demo_text();
  std::size_t last = 0;
  for (const char* heading : {"1. Device, heaps and budgets", "2. A scene's textures and buffers",
                              "3. Pressure and the hard limit", "4. Leak report", "Done:"}) {
    const std::size_t at = text.find(heading);
    ASSERT_NE(at, std::string::npos) << heading << "\n" << text;
    EXPECT_GT(at, last) << heading;
    last = at;
  }
}

TEST(DemoCommand, ExplainsTheHostFallbackWhenThereIsNoGpu) {
  if (open_best_device()->info().backend != "host") GTEST_SKIP() << "a GPU backend is available";
  const std::string text = demo_text();
  EXPECT_NE(text.find("No GPU was found"), std::string::npos) << text;
  EXPECT_NE(text.find("Using \"host:discrete\" instead"), std::string::npos) << text;
  EXPECT_NE(text.find("host (discrete-GPU layout)"), std::string::npos) << text;
}

TEST(DemoCommand, ShowsPressureTransitionsInOrderAndTheBudgetRefusal) {
  expect_pressure_story(demo_text());
}

TEST(DemoCommand, ReportsExactlyOneLeak) { expect_one_leak(demo_text()); }

TEST(DemoCommand, AllocatesTexturesSizedByTheTextureAccounting) {
  const std::string text = demo_text();
  TextureDesc albedo{.format = TextureFormat::BC7_SRGB_BLOCK, .width = 4096, .height = 4096};
  albedo.mip_levels = full_mip_count(4096, 4096);
  const std::vector<std::string> rows = matching_lines(text, "  terrain/albedo ");
  ASSERT_EQ(rows.size(), 1U) << text;
  EXPECT_NE(rows[0].find(format_bytes(texture_size_bytes(albedo))), std::string::npos) << rows[0];
  EXPECT_NE(rows[0].find("texture   device-local"), std::string::npos) << rows[0];
  // Upload requests go to an upload heap, or to pinned host memory where there is none (CUDA).
  const auto on_upload_heap = [&](std::string_view prefix, std::string_view category) {
    return matching_lines(text, prefix, {category, " upload "}).size() +
           matching_lines(text, prefix, {category, " pinned-host "}).size();
  };
  EXPECT_EQ(on_upload_heap("  frame/uniforms ", " buffer "), 3U);
  EXPECT_EQ(on_upload_heap("  upload/staging ", " staging "), 1U);
  EXPECT_NE(text.find("Freed the other 12 allocations: 0 live, 0 B"), std::string::npos) << text;
}

TEST(DemoCommand, RunsOnAGivenSimDevice) {
  const std::string text = demo_text({.device = "sim:capacity=2GiB"});
  EXPECT_NE(text.find("Using the device given with --device 'sim:capacity=2GiB'"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("No GPU was found"), std::string::npos);
  // The simulator has no readback heap (and no shared one): that resource is skipped, not fatal.
  EXPECT_NE(text.find("skipped: gpu-timers/readback"), std::string::npos) << text;
  expect_pressure_story(text);
  expect_one_leak(text);
}

TEST(DemoCommand, BadDeviceSpecThrowsBeforeTheTour) {
  std::ostringstream out;
  try {
    run_demo({.device = "sim:capacity=12XB"}, out);
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'12XB'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(DemoCommand, GivesGpumemWarningsBackToTheApplicationsLogSink) {
  std::vector<std::string> seen;
  const LogSink previous =
      set_log_sink([&seen](LogLevel, std::string_view text) { seen.emplace_back(text); });
  const std::string text = demo_text();
  // During the demo, gpumem's warnings were part of its output...
  EXPECT_NE(text.find("gpumem warning: heap 'device-local' crossed its soft limit"),
            std::string::npos)
      << text;
  EXPECT_TRUE(seen.empty());
  // ...and afterwards the sink the application had is in place again.
  log_message(LogLevel::Warning, "after the demo");
  set_log_sink(previous);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], "after the demo");
}

}  // namespace
}  // namespace gpumem::cli
