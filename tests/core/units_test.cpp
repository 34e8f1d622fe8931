#include "gpumem/core/units.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

TEST(Units, FormatBytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(512 * kMiB), "512.0 MiB");
  EXPECT_EQ(format_bytes(140 * kGiB), "140.0 GiB");
  EXPECT_EQ(format_bytes(UINT64_MAX), "16.0 EiB");
}

TEST(Units, ParseBytes) {
  EXPECT_EQ(parse_bytes("512"), 512u);
  EXPECT_EQ(parse_bytes("64KiB"), 64 * kKiB);
  EXPECT_EQ(parse_bytes("2MiB"), 2 * kMiB);
  EXPECT_EQ(parse_bytes("16GiB"), 16 * kGiB);
  EXPECT_EQ(parse_bytes("1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(parse_bytes("4k"), 4 * kKiB);
  EXPECT_EQ(parse_bytes("8 MB"), 8 * kMiB);
}

TEST(Units, ParseBytesRejectsGarbageNamingIt) {
  EXPECT_THAT(
      [] { parse_bytes("lots", "sim capacity"); },
      ::testing::ThrowsMessage<InvalidArgument>(::testing::HasSubstr("sim capacity 'lots'")));
  EXPECT_THROW(parse_bytes("12XB"), InvalidArgument);
  EXPECT_THROW(parse_bytes(""), InvalidArgument);
  EXPECT_THROW(parse_bytes("1.2.3"), InvalidArgument);
  EXPECT_THROW(parse_bytes("99999999999TiB"), InvalidArgument);
}

TEST(Units, AlignUp) {
  std::uint64_t out = 0;
  EXPECT_TRUE(align_up(5, 4, out));
  EXPECT_EQ(out, 8u);
  EXPECT_TRUE(align_up(8, 4, out));
  EXPECT_EQ(out, 8u);
  EXPECT_FALSE(align_up(UINT64_MAX - 2, 4, out));
  EXPECT_TRUE(is_power_of_two(1));
  EXPECT_FALSE(is_power_of_two(0));
  EXPECT_FALSE(is_power_of_two(12));
}

}  // namespace
}  // namespace gpumem
