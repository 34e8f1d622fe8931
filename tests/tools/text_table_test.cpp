#include "cli/text_table.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace gpumem::cli {
namespace {

TEST(TextTable, AlignsColumnsLeftOrRightWithoutTrailingBlanks) {
  TextTable table({"heap", "size", "note"},
                  {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Left});
  table.add_row({"device-local", "8.0 GiB", "vram"});
  table.add_row({"upload", "256.0 MiB"});
  std::ostringstream out;
  table.write(out, "> ");
  EXPECT_EQ(out.str(),
            "> heap               size  note\n"
            "> device-local    8.0 GiB  vram\n"
            "> upload        256.0 MiB\n");
}

TEST(TextTable, CountsUtf8CharactersNotBytes) {
  EXPECT_EQ(display_width("4096\xC2\xB2"), 5U);  // "4096²"
  TextTable table({"a", "b"});
  table.add_row({"x\xC2\xB2", "1"});
  table.add_row({"xyz", "2"});
  std::ostringstream out;
  table.write(out, "");
  EXPECT_EQ(out.str(), "a    b\nx\xC2\xB2   1\nxyz  2\n");
}

}  // namespace
}  // namespace gpumem::cli
