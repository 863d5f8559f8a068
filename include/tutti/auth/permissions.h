#pragma once
// Room permissions granted by a token's "subscribe" / "publish" claims (or by
// config for anonymous users). docs/protocol.md "Tokens (JWT)".
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

namespace tutti::auth {

// A pattern is either an exact room name, or a prefix followed by one final
// '*': "table:*" matches "table:1" and "table:" (any suffix, including
// empty); "*" matches every room. A '*' anywhere else is an ordinary
// character. The empty pattern matches nothing.
bool matchesPattern(std::string_view pattern, std::string_view room);

// Whether any pattern matches `room`. An empty list allows nothing.
bool allowed(const std::vector<std::string>& patterns, std::string_view room);

}  // namespace tutti::auth
