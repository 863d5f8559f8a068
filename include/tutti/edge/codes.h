#pragma once
// Error codes of the edge's building blocks. Proposed for
// tutti/protocol/codes.h (an edge block, as media has 15xx); they never reach
// the wire as such: the edge's HTTP layer turns each into a status.

namespace tutti::edge::code {

inline constexpr int kBadConfig = 1701;     // a config value out of range (message says which)
inline constexpr int kBadRequest = 1702;    // a path or query that cannot be a cache key: answer 400
inline constexpr int kBusy = 1703;          // too many requests waiting already: answer 503 at once
inline constexpr int kFetchTimeout = 1704;  // the upstream fetch passed its deadline: 504 (or stale)
inline constexpr int kDuplicateNode = 1705; // a hash ring node added twice

}  // namespace tutti::edge::code
