#include "tutti/edge/cache_control.h"

#include <string>

namespace tutti::edge {

namespace {

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsLower(std::string_view name, std::string_view lower_name) {
  if (name.size() != lower_name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (lower(name[i]) != lower_name[i]) return false;
  }
  return true;
}

struct Directive {
  std::string_view name;
  std::string value;  // unquoted
  bool has_value = false;
};

// Splits off the next directive at a comma outside a quoted string. An
// unterminated quote runs to the end of the field and marks it malformed.
Directive next(std::string_view& rest, bool& malformed) {
  Directive d;
  size_t i = 0;
  while (i < rest.size() && rest[i] != ',' && rest[i] != '=') ++i;
  d.name = trim(rest.substr(0, i));
  if (i < rest.size() && rest[i] == '=') {
    d.has_value = true;
    ++i;
    while (i < rest.size() && isOws(rest[i])) ++i;
    if (i < rest.size() && rest[i] == '"') {
      ++i;
      bool closed = false;
      while (i < rest.size()) {
        const char c = rest[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < rest.size()) {
          d.value += rest[i++];  // quoted-pair
        } else {
          d.value += c;
        }
      }
      if (!closed) malformed = true;
      // Anything between the closing quote and the comma is junk.
      const size_t start = i;
      while (i < rest.size() && rest[i] != ',') ++i;
      if (!trim(rest.substr(start, i - start)).empty()) malformed = true;
    } else {
      const size_t start = i;
      while (i < rest.size() && rest[i] != ',') ++i;
      d.value = std::string(trim(rest.substr(start, i - start)));
    }
  }
  rest = i < rest.size() ? rest.substr(i + 1) : std::string_view();
  return d;
}

// A delta-seconds directive. Contradicting repeats make the slot invalid.
enum class Slot : uint8_t { kUnset, kSet, kInvalid };
struct Delta {
  Slot slot = Slot::kUnset;
  int64_t value = 0;
  void take(const Directive& d, bool& malformed) {
    const auto v = d.has_value ? parseDeltaSeconds(d.value) : std::nullopt;
    if (!v) {
      malformed = true;
      slot = Slot::kInvalid;
    } else if (slot == Slot::kUnset) {
      slot = Slot::kSet;
      value = *v;
    } else if (slot == Slot::kSet && value != *v) {
      malformed = true;
      slot = Slot::kInvalid;
    }
  }
};

}  // namespace

std::optional<int64_t> parseDeltaSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v < kMaxDeltaSeconds) v = v * 10 + (c - '0');  // stops growing once past the clamp
  }
  return v > kMaxDeltaSeconds ? kMaxDeltaSeconds : v;
}

CacheControl parseCacheControl(std::string_view value) {
  CacheControl cc;
  Delta max_age, s_maxage, swr, sie;
  std::string_view rest = value;
  while (!rest.empty()) {
    const Directive d = next(rest, cc.malformed);
    if (d.name.empty()) {
      if (d.has_value) cc.malformed = true;  // "=5"
      continue;
    }
    if (equalsLower(d.name, "max-age")) {
      max_age.take(d, cc.malformed);
    } else if (equalsLower(d.name, "s-maxage")) {
      s_maxage.take(d, cc.malformed);
    } else if (equalsLower(d.name, "stale-while-revalidate")) {
      swr.take(d, cc.malformed);
    } else if (equalsLower(d.name, "stale-if-error")) {
      sie.take(d, cc.malformed);
    } else if (equalsLower(d.name, "no-store")) {
      cc.no_store = true;
    } else if (equalsLower(d.name, "no-cache")) {
      cc.no_cache = true;
    } else if (equalsLower(d.name, "private")) {
      cc.is_private = true;
    } else if (equalsLower(d.name, "public")) {
      cc.is_public = true;
    } else if (equalsLower(d.name, "immutable")) {
      cc.immutable = true;
    } else if (equalsLower(d.name, "must-revalidate") || equalsLower(d.name, "proxy-revalidate")) {
      cc.must_revalidate = true;
    }
    // Anything else: an extension we do not know, ignored.
  }
  // Invalid freshness means stale at once; an invalid stale window means none.
  if (max_age.slot != Slot::kUnset) cc.max_age_s = max_age.slot == Slot::kSet ? max_age.value : 0;
  if (s_maxage.slot != Slot::kUnset) cc.s_maxage_s = s_maxage.slot == Slot::kSet ? s_maxage.value : 0;
  if (swr.slot == Slot::kSet) cc.stale_while_revalidate_s = swr.value;
  if (sie.slot == Slot::kSet) cc.stale_if_error_s = sie.value;
  return cc;
}

}  // namespace tutti::edge
