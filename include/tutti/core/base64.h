#pragma once
// Base64 encoding (RFC 4648): the standard alphabet with padding (section 4:
// HTTP headers, playlist attributes) and base64url without padding
// (section 5: JWS). Pure functions; thread-safe.

#include <string>
#include <string_view>

namespace tutti {

std::string base64(std::string_view bytes);
std::string base64Url(std::string_view bytes);

}  // namespace tutti
