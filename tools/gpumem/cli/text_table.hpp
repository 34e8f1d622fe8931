// A plain-text table with aligned columns, for the CLI's human-readable output.
//
//   TextTable table({"heap", "size"}, {TextTable::Align::Left, TextTable::Align::Right});
//   table.add_row({"device-local", "8.0 GiB"});
//   table.write(out);  // indented two spaces, columns two spaces apart
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gpumem::cli {

class TextTable {
 public:
  enum class Align { Left, Right };

  // Columns without an entry in `aligns` are left-aligned.
  explicit TextTable(std::vector<std::string> headers, std::vector<Align> aligns = {});

  // A row with fewer cells than headers is padded with empty cells.
  void add_row(std::vector<std::string> cells);
  bool empty() const noexcept { return rows_.empty(); }

  void write(std::ostream& out, std::string_view indent = "  ") const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<std::vector<std::string>> rows_;
};

// Columns on a terminal, not bytes: UTF-8 continuation bytes take no room.
std::size_t display_width(std::string_view text) noexcept;

}  // namespace gpumem::cli
