#pragma once
// The edge's HTTP object cache: responses from the origin (or a parent edge)
// kept in memory, bounded by bytes, looked up by the key cache_key.h builds.
//
// What is kept, and for how long, comes from the upstream's Cache-Control
// (cache_control.h), read as a shared cache reads it. The times follow the
// answer's Age and run on Clock::monoUs(). An entry answers, in
// order of age:
//   fresh       serve it;
//   revalidate  within stale-while-revalidate: serve it and refresh it once
//               in the background (the coalescer makes it once);
//   stale       within stale-if-error only: ask upstream, and serve it via
//               staleIfError() if the upstream fails;
//   miss        nothing usable (an entry past all its windows is dropped).
//
// Eviction: segmented LRU (SLRU, Karedla et al. 1994). A new object enters
// the probation segment; a hit there moves it to the protected segment
// (at most protected_fraction of the bytes, whose least recently used entries
// fall back to probation). Victims come from probation's cold end first. So a
// burst of objects asked for once (a crawler walking old segments, a
// rendition nobody watches) churns probation and leaves alone what viewers
// ask for again: the playlists, the newest parts and init segments. Plain LRU
// would let that burst flush them. Lookups and stores are O(1).
//
// Bytes: each entry is charged key + content type + stored header names and
// values + their wire form (CachedResponse::wire_fields) + body (or file) +
// kEntryOverheadBytes, and bytes() is the exact sum of the
// charges of the entries held. The bound holds after every store().
//
// Thread: not thread-safe; one owner (one per worker, or behind the owner's
// lock). Bodies and whole responses are shared_ptr<const>: a response in
// flight keeps its bytes alive after the entry is evicted or replaced, and
// nothing is ever copied.

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/core/shared_file.h"
#include "tutti/core/result.h"

namespace tutti::edge {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct CacheConfig {
  // Memory for entries. 256 MiB holds the whole LL-HLS window (24 s of
  // parts and of segments, all renditions) of about eight 5 Mb/s ladders.
  int64_t capacity_bytes = int64_t{256} << 20;
  // A larger answer is passed through, not stored: one 2 s segment of an
  // 8 Mb/s rung is 2 MB, so 16 MiB leaves room and keeps one object from
  // evicting thousands.
  int64_t max_object_bytes = int64_t{16} << 20;
  // Share of capacity_bytes the protected segment may hold. 0.8 is the usual
  // SLRU split: probation still gets a fifth to prove newcomers in.
  double protected_fraction = 0.8;
  // How long a 404 or 410 is kept (at most; the upstream may say less). 1 s
  // turns a flood for one missing object into one origin request a second.
  int64_t negative_ttl_us = 1'000'000;
  // The same for an object that may exist soon (StoreHints::may_appear_soon:
  // an LL-HLS part, segment, playlist or init segment). A part is made every
  // 200 ms and viewers ask for the next one before it exists, so a 404 held
  // longer would hide a part that is already out: 50 ms is a quarter part.
  int64_t live_negative_ttl_us = 50'000;
};

// An answer as stored and replayed. Immutable once stored.
struct CachedResponse {
  int status = 200;
  std::string content_type;
  // Replayed as received, minus Age (the replayer writes the current one),
  // hop-by-hop fields and Set-Cookie (one viewer's cookie is nobody else's).
  Headers headers;
  // The same fields as sent to a viewer, formatted once: each as
  // "\r\nName: value", less those the writer sets itself (wireFields()).
  std::shared_ptr<const std::string> wire_fields;
  std::shared_ptr<const std::string> body;  // never null
  // When set, the body's bytes are here instead (and `body` is empty): a
  // large object many viewers ask for, sent with sendfile.
  std::shared_ptr<const SharedFile> file;
  // Times on Clock::monoUs().
  int64_t stored_us = 0;
  int64_t initial_age_us = 0;       // Age from upstream: how old it already was
  int64_t fresh_until_us = 0;       // fresh before this
  int64_t revalidate_until_us = 0;  // servable while refreshing before this (stale-while-revalidate)
  int64_t stale_until_us = 0;       // servable on an upstream error before this (stale-if-error)
  int64_t charge_bytes = 0;         // what it counts against capacity_bytes

  int64_t ageUs(int64_t now_us) const { return initial_age_us + (now_us - stored_us); }
  bool negative() const { return status == 404 || status == 410; }
};

// `headers` in wire form ("\r\nName: value" each), less Content-Length,
// Content-Type, Server and Date, which the HTTP writer sets for every answer.
std::shared_ptr<const std::string> wireFields(const Headers& headers);

// What the upstream answered, as the network code hands it over.
struct UpstreamResponse {
  int status = 200;
  std::string content_type;
  Headers headers;  // every field; names in any case; Cache-Control and Age are read from here
  std::shared_ptr<const std::string> body;  // null reads as empty
  std::shared_ptr<const SharedFile> file;    // or the body is here (CachedResponse::file)
};

struct StoreHints {
  // The object may come into existence soon (CacheKey::mayAppearSoon()): a
  // 404 for it is kept at most live_negative_ttl_us.
  bool may_appear_soon = false;
};

enum class StoreOutcome : uint8_t {
  kStored,
  // Not stored: a status we do not keep (only 200, 203, 204, 300, 301, 308,
  // 404, 410), no-store, private, no-cache (we cannot revalidate yet), Vary,
  // or nothing that would ever be usable (no lifetime and no stale window).
  kNotCacheable,
  kTooLarge,  // its charge is above max_object_bytes
};

enum class Freshness : uint8_t { kFresh, kRevalidate, kStale, kMiss };

struct Lookup {
  Freshness state = Freshness::kMiss;
  std::shared_ptr<const CachedResponse> response;  // null only for kMiss
  int64_t age_us = 0;                              // for the Age header
};

class Cache {
 public:
  // Per-entry bookkeeping charged on top of the payload: the list and map
  // nodes, the CachedResponse and the two shared_ptr control blocks.
  static constexpr int64_t kEntryOverheadBytes = 192;

  // kBadConfig unless 0 < max_object_bytes <= capacity_bytes,
  // 0 <= protected_fraction < 1 and the negative TTLs are >= 0.
  static Result<std::unique_ptr<Cache>> create(CacheConfig config, const Clock& clock,
                                               metrics::Registry& registry);
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // Classifies the entry at now; a fresh or revalidate hit counts as a use
  // (promotion to the protected segment). Drops an entry past all its windows.
  Lookup lookup(std::string_view key);
  // The entry if it may stand in for a failed upstream fetch now (fresh,
  // within stale-while-revalidate or within stale-if-error), else null.
  // Counts a stale answer. Call it when the upstream fails (5xx, timeout,
  // refused), not before: the window is checked at the time of the failure.
  std::shared_ptr<const CachedResponse> staleIfError(std::string_view key);
  // Stores (or replaces) the answer for key, evicting as needed. The lifetime:
  // s-maxage, else max-age, less the upstream's Age; for 404/410 at most the
  // negative TTL (which also applies when the upstream gives none).
  StoreOutcome store(std::string key, UpstreamResponse response, StoreHints hints = {});
  // Drops an entry (a purge). False when absent.
  bool erase(std::string_view key);

  int64_t bytes() const { return bytes_; }
  int64_t protectedBytes() const { return protected_bytes_; }
  size_t objects() const { return index_.size(); }
  const CacheConfig& config() const { return config_; }

 private:
  enum class Segment : uint8_t { kProbation, kProtected };
  struct Node {
    std::string key;
    std::shared_ptr<const CachedResponse> response;
    Segment segment = Segment::kProbation;
  };
  using List = std::list<Node>;

  Cache(CacheConfig config, const Clock& clock, metrics::Registry& registry);
  List& listOf(Segment s) { return s == Segment::kProtected ? protected_ : probation_; }
  void remove(List::iterator it);
  void promote(List::iterator it);
  void rebalance();  // protected segment back under its share
  void evictToFit(List::iterator keep);  // keep: the entry just stored

  CacheConfig config_;
  const Clock& clock_;
  int64_t protected_limit_bytes_ = 0;
  int64_t bytes_ = 0;
  int64_t protected_bytes_ = 0;
  List probation_;  // most recently used at the front
  List protected_;
  std::unordered_map<std::string_view, List::iterator> index_;  // views into Node::key

  metrics::Counter* hits_ = nullptr;
  metrics::Counter* misses_ = nullptr;
  metrics::Counter* stale_revalidate_ = nullptr;
  metrics::Counter* stale_error_ = nullptr;
  metrics::Counter* evictions_ = nullptr;
  metrics::Counter* expired_ = nullptr;
  metrics::Counter* too_large_ = nullptr;
  metrics::Counter* uncacheable_ = nullptr;
  metrics::Gauge* bytes_gauge_ = nullptr;  // add()-ed, so caches sharing a registry sum up
  metrics::Gauge* objects_gauge_ = nullptr;
};

}  // namespace tutti::edge
