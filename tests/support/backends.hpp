// Every backend gpumem has, for test suites that run one set of cases on each of them (the
// memory conformance suite, the transfer suite). A backend is added with one line in backends();
// where this build or machine lacks it, skip_reason() says why so the cases can GTEST_SKIP.
//
//   class MySuite : public test_support::BackendTest {};  // device_ open, or the case skipped
//   INSTANTIATE_TEST_SUITE_P(Backends, MySuite, ::testing::ValuesIn(test_support::backends()),
//                            test_support::backend_name);
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "gpumem/backend/host_device.hpp"
#include "gpumem/backend/registry.hpp"
#include "gpumem/core/units.hpp"
#include "support/log_capture.hpp"

namespace gpumem::test_support {

struct Backend {
  std::string name;  // as backend_statuses() lists it
  std::function<std::shared_ptr<Device>()> open;
};

// For gtest's messages: the backend's name, not the struct's bytes.
inline void PrintTo(const Backend& backend, std::ostream* out) { *out << backend.name; }

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

inline std::function<std::shared_ptr<Device>()> spec(std::string text) {
  return [text = std::move(text)] { return std::shared_ptr<Device>(open_device(text)); };
}

// Devices are kept small where the backend lets us choose.
inline const std::vector<Backend>& backends() {
  static const std::vector<Backend> all{
      {"host",
       [] {
         return std::make_shared<HostDevice>(HostDeviceConfig::discrete_like(1 * kGiB, 64 * kMiB));
       }},
      {"sim", spec("sim:capacity=1GiB,upload=256MiB")},
      {"vulkan", spec("vulkan:0,validation=on")},  // suites fail cases on validation errors
      {"cuda", spec("cuda:0,pinned=1GiB")},
      {"opencl", spec("opencl:0")},
  };
  return all;
}

// Empty when the backend can run here, else why not.
inline std::string skip_reason(const std::string& backend) {
  for (const BackendStatus& s : backend_statuses()) {
    if (s.name == backend) return s.available ? std::string() : "unavailable: " + s.detail;
  }
  return "not in this build";
}

// The base of the per-backend suites: skips where the backend cannot run, opens its device, and
// fails a case that made Vulkan's validation layer report (through gpumem's log).
class BackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (const std::string why = skip_reason(GetParam().name); !why.empty()) {
      GTEST_SKIP() << GetParam().name << ": " << why;
    }
    device_ = GetParam().open();
  }
  void TearDown() override {
    for (const std::string& line : log_.lines) {
      EXPECT_THAT(line, ::testing::Not(::testing::HasSubstr("validation:")));
    }
  }

  LogCapture log_;
  std::shared_ptr<Device> device_;
};

}  // namespace gpumem::test_support
