// UTF-8 well-formedness (RFC 3629): key/value text in KTX2 must be UTF-8.
#pragma once

#include <string_view>

namespace gpumem::ktx2::detail {

bool valid_utf8(std::string_view text) noexcept;

}  // namespace gpumem::ktx2::detail
