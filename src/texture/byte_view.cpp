#include "texture/byte_view.hpp"

#include <fmt/format.h>

namespace gpumem::ktx2::detail {

void ByteView::require(std::string_view field, std::uint64_t offset, std::uint64_t length) const {
  if (!contains(offset, length)) {
    fail(field, offset,
         fmt::format("needs {} bytes but the file ends at byte {} (unexpected end of file)", length,
                     bytes_.size()));
  }
}

}  // namespace gpumem::ktx2::detail
