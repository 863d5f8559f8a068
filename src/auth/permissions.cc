#include "tutti/auth/permissions.h"

#include <algorithm>

namespace tutti::auth {

bool matchesPattern(std::string_view pattern, std::string_view room) {
  if (pattern.empty()) return false;
  if (pattern.back() == '*') return room.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == room;
}

bool allowed(const std::vector<std::string>& patterns, std::string_view room) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [room](const std::string& p) { return matchesPattern(p, room); });
}

}  // namespace tutti::auth
