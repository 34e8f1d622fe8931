#include "gpumem/backend/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

TEST(BackendRegistry, OpensDevicesBySpec) {
  EXPECT_EQ(open_device("host")->info().backend, "host");
  auto discrete = open_device("host:discrete");
  ASSERT_EQ(discrete->info().heaps.size(), 3u);
  EXPECT_EQ(discrete->info().heaps[0].kind, HeapKind::DeviceLocal);
  EXPECT_EQ(discrete->info().heaps[1].kind, HeapKind::Upload);
  EXPECT_EQ(discrete->info().heaps[2].kind, HeapKind::Readback);
  EXPECT_EQ(open_device("sim:capacity=4GiB")->info().heaps[0].size, 4 * kGiB);
}

TEST(BackendRegistry, UnknownBackendsAndOptionsAreNamed) {
  EXPECT_THAT([] { open_device("quantum:0"); },
              ::testing::ThrowsMessage<InvalidArgument>(::testing::HasSubstr("'quantum'")));
  EXPECT_THAT([] { open_device("host:weird"); },
              ::testing::ThrowsMessage<InvalidArgument>(::testing::HasSubstr("'weird'")));
}

TEST(BackendRegistry, ListsHostAndSimEverywhere) {
  const auto devices = open_all_devices();
  ASSERT_GE(devices.size(), 2u);
  bool host = false;
  bool sim = false;
  for (const auto& d : devices) {
    host = host || d->info().backend == "host";
    sim = sim || d->info().backend == "sim";
  }
  EXPECT_TRUE(host);
  EXPECT_TRUE(sim);
  EXPECT_TRUE(open_best_device());
  for (const BackendStatus& s : backend_statuses()) EXPECT_FALSE(s.detail.empty()) << s.name;
}

}  // namespace
}  // namespace gpumem
