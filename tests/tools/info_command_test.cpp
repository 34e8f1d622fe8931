// `gpumem info` run in-process: text and JSON output, and errors for bad device specs.
#include "cli/info_command.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/version.hpp"
#include "gpumem/core/budget.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::cli {
namespace {

using Json = nlohmann::json;

std::string info_text(const InfoOptions& options) {
  std::ostringstream out;
  run_info(options, out);
  return out.str();
}

Json info_json(InfoOptions options) {
  options.json = true;
  return Json::parse(info_text(options));  // throws, failing the test, on invalid JSON
}

const Json& backend_named(const Json& doc, const std::string& name) {
  for (const Json& backend : doc.at("backends")) {
    if (backend.at("name") == name) return backend;
  }
  throw std::runtime_error("no backend " + name);
}

const Json& device_by_backend(const Json& doc, const std::string& backend) {
  for (const Json& device : doc.at("devices")) {
    if (device.at("backend") == backend) return device;
  }
  throw std::runtime_error("no device of backend " + backend);
}

// What Config::defaults() gives a device heap with this driver budget, written out by hand so
// a change of the defaults or of the tool's arithmetic shows up here.
std::uint64_t default_device_hard(std::uint64_t budget) {
  const auto fraction = static_cast<std::uint64_t>(0.9 * static_cast<double>(budget));
  return std::min(fraction, budget - 512 * kMiB);
}

TEST(InfoCommand, TextListsBackendsHostAndSimDevicesWithTheirHeaps) {
  const std::string text = info_text({});
  EXPECT_NE(text.find("gpumem " + std::string(tool_version())), std::string::npos) << text;
  EXPECT_NE(text.find("Backends compiled in"), std::string::npos) << text;
  EXPECT_NE(text.find("host     available"), std::string::npos) << text;
  EXPECT_NE(text.find("sim      available"), std::string::npos) << text;
  // GPU backends compiled in come first where a GPU is present; host and sim are always there.
  const std::size_t devices = info_json({}).at("devices").size();
  EXPECT_NE(text.find(fmt::format("Device {} of {}: host: backend host", devices - 1, devices)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(fmt::format("Device {} of {}: sim: backend sim", devices, devices)),
            std::string::npos)
      << text;
  // The sim's heaps, with the default 80 GiB capacity and 2 MiB pages, and their budgets.
  EXPECT_NE(text.find("device-local  device-local  80.0 GiB      2.0 MiB  device-local dedicated"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("upload        upload        16.0 GiB"), std::string::npos) << text;
  EXPECT_NE(text.find("72.0 GiB"), std::string::npos) << text;   // device-local hard
  EXPECT_NE(text.find("512.0 MiB"), std::string::npos) << text;  // upload hard
  EXPECT_NE(text.find("0  system"), std::string::npos) << text;  // the host's one heap
}

TEST(InfoCommand, JsonHasBackendsAndEveryDeviceWithStableFields) {
  const Json doc = info_json({});
  EXPECT_EQ(doc.at("version"), std::string(tool_version()));
  // host and sim always; CUDA (and later others) when compiled in, available or not.
  ASSERT_GE(doc.at("backends").size(), 2U);
  EXPECT_EQ(backend_named(doc, "host").at("available"), true);
  EXPECT_EQ(backend_named(doc, "sim").at("available"), true);
  ASSERT_GE(doc.at("devices").size(), 2U);

  const Json& host = device_by_backend(doc, "host");
  EXPECT_EQ(host.at("type"), "cpu");
  ASSERT_EQ(host.at("heaps").size(), 1U);
  const Json& system = host.at("heaps")[0];
  EXPECT_EQ(system.at("kind"), "shared");
  EXPECT_GT(system.at("size").get<std::uint64_t>(), 0U);
  EXPECT_EQ(system.at("driver_budget"), system.at("size"));

  const Json& sim = device_by_backend(doc, "sim");
  EXPECT_EQ(sim.at("type"), "simulated");
  EXPECT_EQ(sim.at("properties").at("page_size"), "2.0 MiB");
  ASSERT_EQ(sim.at("heaps").size(), 2U);
  const Json& local = sim.at("heaps")[0];
  EXPECT_EQ(local.at("index"), 0);
  EXPECT_EQ(local.at("name"), "device-local");
  EXPECT_EQ(local.at("kind"), "device-local");
  EXPECT_EQ(local.at("size").get<std::uint64_t>(), 80 * kGiB);
  EXPECT_EQ(local.at("granularity").get<std::uint64_t>(), 2 * kMiB);
  EXPECT_EQ(local.at("flags"), (Json{{"device_local", true},
                                     {"host_visible", false},
                                     {"host_coherent", false},
                                     {"host_cached", false},
                                     {"dedicated", true}}));
  EXPECT_EQ(local.at("driver_budget").get<std::uint64_t>(), 80 * kGiB);
  EXPECT_EQ(local.at("driver_usage").get<std::uint64_t>(), 0U);
  const std::uint64_t hard = default_device_hard(80 * kGiB);
  EXPECT_EQ(hard, 72 * kGiB);
  EXPECT_EQ(local.at("default_budget").at("hard").get<std::uint64_t>(), hard);
  EXPECT_EQ(local.at("default_budget").at("soft").get<std::uint64_t>(),
            static_cast<std::uint64_t>(0.85 * static_cast<double>(hard)));

  const Json& upload = sim.at("heaps")[1];
  EXPECT_EQ(upload.at("kind"), "upload");
  EXPECT_EQ(upload.at("flags").at("host_visible"), true);
  EXPECT_EQ(upload.at("default_budget").at("hard").get<std::uint64_t>(), 512 * kMiB);
}

TEST(InfoCommand, DeviceOptionShowsOnlyThatDevice) {
  const Json doc = info_json({.device = "sim:capacity=16GiB"});
  ASSERT_EQ(doc.at("devices").size(), 1U);
  const Json& local = doc.at("devices")[0].at("heaps")[0];
  EXPECT_EQ(local.at("size").get<std::uint64_t>(), 17179869184U);
  EXPECT_EQ(local.at("default_budget").at("hard").get<std::uint64_t>(),
            default_device_hard(16 * kGiB));
  // Backends are listed whatever device is chosen.
  EXPECT_EQ(doc.at("backends").size(), info_json({}).at("backends").size());
}

TEST(InfoCommand, BudgetsMatchWhatTheLibraryComputes) {
  const Json doc = info_json({.device = "host:discrete"});
  const Json& heaps = doc.at("devices")[0].at("heaps");
  ASSERT_EQ(heaps.size(), 3U);
  EXPECT_EQ(heaps[0].at("name"), "device-local");
  EXPECT_EQ(heaps[1].at("name"), "upload");
  EXPECT_EQ(heaps[2].at("name"), "readback");
  for (const Json& h : heaps) {
    HeapInfo heap;
    heap.name = h.at("name").get<std::string>();
    heap.kind = h.at("kind") == "device-local" ? HeapKind::DeviceLocal
                : h.at("kind") == "upload"     ? HeapKind::Upload
                                               : HeapKind::Readback;
    const BudgetLimits expected =
        compute_heap_limits(heap, h.at("driver_budget").get<std::uint64_t>(), Config::defaults());
    EXPECT_EQ(h.at("default_budget").at("hard").get<std::uint64_t>(), expected.hard) << h;
    EXPECT_EQ(h.at("default_budget").at("soft").get<std::uint64_t>(), expected.soft) << h;
  }
}

TEST(InfoCommand, TextWithDeviceOptionShowsOneDevice) {
  const std::string text = info_text({.device = "sim:capacity=16GiB,name=small"});
  EXPECT_NE(text.find("Device 1 of 1: small: backend sim"), std::string::npos) << text;
  EXPECT_NE(text.find("16.0 GiB"), std::string::npos) << text;
  EXPECT_EQ(text.find("Device 2 of"), std::string::npos) << text;
}

// The message must name what was wrong, so the user can fix the argument.
void expect_bad_spec(const std::string& spec, const std::string& named) {
  try {
    info_text({.device = spec});
    ADD_FAILURE() << "no error for --device " << spec;
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'" + spec + "'"), std::string::npos) << what;
    EXPECT_NE(what.find(named), std::string::npos) << what;
  }
}

TEST(InfoCommand, BadDeviceSpecIsAnErrorNamingTheBadPart) {
  expect_bad_spec("sim:capacity=lots", "'lots'");
  expect_bad_spec("sim:colour=red", "'colour'");
  expect_bad_spec("cuda9", "'cuda9'");
  expect_bad_spec("host:weird", "'weird'");
}

TEST(InfoCommand, BadSpecWritesNothing) {
  std::ostringstream out;
  EXPECT_THROW(run_info({.json = true, .device = "sim:page=3MiB"}, out), InvalidArgument);
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace gpumem::cli
