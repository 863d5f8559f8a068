#pragma once
// Cache keys for the origin's LL-HLS URLs (docs/media.md, "URLs and
// caching"). Requests that the origin answers the same way must share a key,
// so that they share one cache entry and one upstream request: N viewers
// blocked on the same future playlist (_HLS_msn, _HLS_part) become one
// upstream request per (rendition, msn, part).
//
// The key is the path, plus, for a playlist, the delivery directives in one
// canonical form: "?_HLS_msn=M&_HLS_part=P&_HLS_skip=S" (those present, in
// that order, numbers without leading zeros). Every other query parameter is
// dropped: they do not change the origin's answer (a player's cache buster,
// a tracking id), and keeping them would let any viewer split the cache. A
// media object (part, segment, init) keeps no query at all. The key is also
// the upstream request target, so the upstream sees the normalised request.
//
// Pure functions; any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "tutti/core/result.h"

namespace tutti::edge {

enum class ObjectKind : uint8_t {
  kPlaylist,  // *.m3u8 (media or multivariant)
  kPart,      // part-*.m4s
  kSegment,   // seg-*.m4s
  kInit,      // init*.mp4
  kOther,
};

// By the file name, as the origin's URI templates write it.
ObjectKind classifyPath(std::string_view path);

struct CacheKey {
  std::string key;
  ObjectKind kind = ObjectKind::kOther;
  // A playlist request with _HLS_msn: the origin holds it until the playlist
  // gets there (or answers 503 after 3 target durations).
  bool blocking = false;
  // Whether a 404 for it may turn into a 200 soon (StoreHints::may_appear_soon):
  // every LL-HLS object does; live media is made while viewers ask.
  bool mayAppearSoon() const { return kind != ObjectKind::kOther; }
};

// path: as received, without the query, starting with '/'. query: without
// '?' (a leading one is skipped). code::kBadRequest (answer 400 without
// asking upstream) for a path that does not start with '/' or holds a
// control character, space, '?' or '#'; and for a playlist whose _HLS_msn or
// _HLS_part is not a decimal that fits 64 bits, is given twice with two
// values, or whose _HLS_part comes without _HLS_msn: the origin refuses those
// too (media::hls::parsePlaylistQuery, MediaPlaylist::decide). One
// difference: the same value given twice is merged here where the origin
// says 400, since the normalised query the upstream gets has it once.
// _HLS_skip other than YES or v2 is dropped, as the origin ignores it; given
// twice, the last valid one counts, as at the origin. Values are not
// percent-decoded (nor are they at the origin).
Result<CacheKey> cacheKey(std::string_view path, std::string_view query);

}  // namespace tutti::edge
