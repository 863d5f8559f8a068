#pragma once
// Cache-Control as a shared cache reads it: RFC 9111 section 5.2.2 (response
// directives), RFC 8246 (immutable), RFC 5861 (stale-while-revalidate,
// stale-if-error).
//
// The value comes from an upstream we do not control, so parsing never fails:
// whatever cannot be read is taken the safe way, which for a cache means
// "keep it for less": an unreadable or contradictory max-age / s-maxage means
// stale at once (RFC 9111 section 4.2.1), an unreadable stale window means no
// stale window, and a restrictive directive (no-store, private, no-cache)
// counts whatever its argument. Unknown directives are ignored (section
// 5.2.3). Pure function; any thread.

#include <cstdint>
#include <optional>
#include <string_view>

namespace tutti::edge {

// Delta-seconds above this are read as this (RFC 9111 section 1.2.2): 2^31 s,
// about 68 years. Keeps every product with 1e6 (microseconds) far from overflow.
inline constexpr int64_t kMaxDeltaSeconds = 2'147'483'648;

struct CacheControl {
  std::optional<int64_t> max_age_s;                 // max-age
  std::optional<int64_t> s_maxage_s;                // s-maxage: wins over max-age in a shared cache
  std::optional<int64_t> stale_while_revalidate_s;  // serve stale while one refresh runs
  std::optional<int64_t> stale_if_error_s;          // serve stale when the upstream fails
  bool no_store = false;
  bool no_cache = false;         // also the qualified form no-cache="field"
  bool is_private = false;       // also private="field"; a shared cache must not store it
  bool is_public = false;
  bool immutable = false;        // a hint for clients; lifetimes still come from max-age
  bool must_revalidate = false;  // must-revalidate or proxy-revalidate: never serve stale
  // Something was unreadable: a bad or missing number, a repeated directive
  // with another value, an unterminated quote. For a metric or a log line.
  bool malformed = false;

  // The freshness lifetime a shared cache uses: s-maxage, else max-age;
  // none when neither is given.
  std::optional<int64_t> sharedMaxAgeS() const { return s_maxage_s ? s_maxage_s : max_age_s; }
};

// Parses one field value (several Cache-Control lines joined with ", " first).
// Directive names are case-insensitive; values may be tokens or quoted
// strings (recipients accept both, section 5.2); whitespace around names and
// values is skipped.
CacheControl parseCacheControl(std::string_view value);

// Delta-seconds ("0", "60", "007"): digits only, clamped to kMaxDeltaSeconds.
// None for anything else (empty, sign, space, fraction). Also reads Age.
std::optional<int64_t> parseDeltaSeconds(std::string_view text);

}  // namespace tutti::edge
