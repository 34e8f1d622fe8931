#include "cli/text_table.hpp"

#include <algorithm>
#include <utility>

namespace gpumem::cli {

TextTable::TextTable(std::vector<std::string> headers, std::vector<Align> aligns)
    : headers_(std::move(headers)), aligns_(std::move(aligns)) {
  aligns_.resize(headers_.size(), Align::Left);
}

void TextTable::add_row(std::vector<std::string> cells) {
  cells.resize(std::max(cells.size(), headers_.size()));
  rows_.push_back(std::move(cells));
}

std::size_t display_width(std::string_view text) noexcept {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

void TextTable::write(std::ostream& out, std::string_view indent) const {
  std::vector<std::size_t> widths(headers_.size(), 0);
  const auto measure = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(cells[i]));
    }
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);

  const auto write_row = [&](const std::vector<std::string>& cells) {
    std::string line(indent);
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string padding(widths[i] - display_width(cells[i]), ' ');
      const bool last = i + 1 == widths.size();
      if (aligns_[i] == Align::Right) {
        line += padding + cells[i];
      } else {
        line += cells[i] + padding;
      }
      if (!last) line += "  ";
    }
    // Empty or left-aligned cells at the end would leave blanks that diffs and tests trip on.
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  write_row(headers_);
  for (const auto& row : rows_) write_row(row);
}

}  // namespace gpumem::cli
