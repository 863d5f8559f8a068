#pragma once
// Base64 encoding (RFC 4648): the standard alphabet with padding (section 4:
// HTTP headers, playlist attributes) and base64url without padding
// (section 5: JWS). Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace tutti {

std::string base64(std::string_view bytes);
std::string base64Url(std::string_view bytes);

// Strict decoding: only the alphabet (base64 with its '=' padding to a
// multiple of 4; base64url with none), no whitespace, and the unused low bits
// of the last character zero, so each byte string has exactly one accepted
// encoding. Nothing for anything else.
std::optional<std::string> base64Decode(std::string_view text);
std::optional<std::string> base64UrlDecode(std::string_view text);

}  // namespace tutti
