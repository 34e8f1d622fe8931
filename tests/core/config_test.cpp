#include "gpumem/core/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

using ::testing::HasSubstr;

std::string validation_error(const Config& config) {
  try {
    config.validate();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(Config, PresetsAreValidAndDiffer) {
  EXPECT_NO_THROW(Config::defaults().validate());
  EXPECT_NO_THROW(Config::for_inference().validate());
  EXPECT_NO_THROW(Config::for_constrained().validate());

  const Config d = Config::defaults();
  EXPECT_DOUBLE_EQ(d.gpu_memory_fraction, 0.9);
  EXPECT_EQ(d.min_free_bytes, 512 * kMiB);
  EXPECT_EQ(d.host_visible_budget, 512 * kMiB);
  EXPECT_DOUBLE_EQ(d.pressure.medium, 0.60);
  EXPECT_DOUBLE_EQ(d.pressure.high, 0.80);
  EXPECT_DOUBLE_EQ(d.pressure.critical, 0.95);
  EXPECT_GT(Config::for_inference().gpu_memory_fraction, d.gpu_memory_fraction);
  EXPECT_LT(Config::for_constrained().gpu_memory_fraction, d.gpu_memory_fraction);
}

TEST(Config, FractionOutsideZeroOneIsRejectedNamingTheField) {
  for (double bad : {0.0, -0.1, 1.01, std::numeric_limits<double>::quiet_NaN()}) {
    Config c;
    c.gpu_memory_fraction = bad;
    EXPECT_THAT(validation_error(c), HasSubstr("gpu_memory_fraction")) << bad;
  }
  Config one;
  one.gpu_memory_fraction = 1.0;
  EXPECT_NO_THROW(one.validate());
}

TEST(Config, ThresholdsMustIncrease) {
  Config c;
  c.pressure.high = 0.5;  // below medium
  EXPECT_THAT(validation_error(c), HasSubstr("pressure thresholds"));
  c = Config{};
  c.pressure.critical = c.pressure.high;
  EXPECT_THAT(validation_error(c), HasSubstr("must increase"));
  c = Config{};
  c.pressure.critical = 1.2;
  EXPECT_THAT(validation_error(c), HasSubstr("pressure.critical"));
}

TEST(Config, HysteresisAndWarningsAreChecked) {
  Config c;
  c.pressure.hysteresis = 0.7;
  EXPECT_THAT(validation_error(c), HasSubstr("pressure.hysteresis"));
  c = Config{};
  c.warning_fractions = {0.9, 0.75};
  EXPECT_THAT(validation_error(c), HasSubstr("warning_fractions[1]"));
}

TEST(Config, FixedBudgetsAreChecked) {
  Config c;
  c.tag_budgets["textures"] = {.soft = 2 * kGiB, .hard = 1 * kGiB};
  EXPECT_THAT(validation_error(c), HasSubstr("tag_budgets[\"textures\"].soft"));
  c = Config{};
  c.heap_budgets["device-local"] = {.soft = 0, .hard = 0};
  EXPECT_THAT(validation_error(c), HasSubstr("heap_budgets[\"device-local\"].hard"));
}

TEST(Config, OtherFieldsAreChecked) {
  Config c;
  c.host_visible_budget = 0;
  EXPECT_THAT(validation_error(c), HasSubstr("host_visible_budget"));
  c = Config{};
  c.refresh.max_bytes = 0;
  EXPECT_THAT(validation_error(c), HasSubstr("refresh.max_bytes"));
  c = Config{};
  c.tracking.stack_depth = 0;
  EXPECT_THAT(validation_error(c), HasSubstr("tracking.stack_depth"));
  c = Config{};
  c.soft_limit_fraction = 1.5;
  EXPECT_THAT(validation_error(c), HasSubstr("soft_limit_fraction"));
}

}  // namespace
}  // namespace gpumem
