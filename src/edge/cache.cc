#include "tutti/edge/cache.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "tutti/edge/cache_control.h"
#include "tutti/edge/codes.h"

namespace tutti::edge {

namespace {

constexpr int64_t kUsPerS = 1'000'000;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// Fields a cache must not replay: hop-by-hop ones (RFC 9110 section 7.6.1),
// Age (the replayer writes the current one) and cookies (a shared cache
// would hand one viewer's cookie to everyone).
bool dropped(std::string_view name) {
  static constexpr std::string_view kNames[] = {"age", "connection", "keep-alive", "proxy-connection",
                                                "transfer-encoding", "te", "trailer", "upgrade",
                                                "proxy-authenticate", "proxy-authorization",
                                                "set-cookie", "set-cookie2"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](std::string_view n) { return iequals(name, n); });
}

}  // namespace

std::shared_ptr<const std::string> wireFields(const Headers& headers) {
  auto out = std::make_shared<std::string>();
  for (const auto& [name, value] : headers) {
    if (dropped(name) || iequals(name, "content-length") || iequals(name, "content-type") || iequals(name, "server") ||
        iequals(name, "date"))
      continue;
    *out += "\r\n";
    *out += name;
    *out += ": ";
    *out += value;
  }
  return out;
}

namespace {

// Statuses we keep: the heuristically cacheable ones of RFC 9110 section
// 15.1, less those an edge never sees from an origin (405, 414, 501), and
// never 206 (we do not assemble ranges).
bool storableStatus(int status) {
  switch (status) {
    case 200: case 203: case 204: case 300: case 301: case 308: case 404: case 410:
      return true;
    default:
      return false;
  }
}

std::shared_ptr<const std::string> emptyBody() {
  static const auto empty = std::make_shared<const std::string>();
  return empty;
}

}  // namespace

Result<std::unique_ptr<Cache>> Cache::create(CacheConfig config, const Clock& clock, metrics::Registry& registry) {
  if (config.capacity_bytes <= 0 || config.max_object_bytes <= 0 || config.max_object_bytes > config.capacity_bytes) {
    return makeError(code::kBadConfig, "cache: need 0 < max_object_bytes <= capacity_bytes");
  }
  if (!std::isfinite(config.protected_fraction) || config.protected_fraction < 0 || config.protected_fraction >= 1) {
    return makeError(code::kBadConfig, "cache: protected_fraction must be in [0, 1)");
  }
  if (config.negative_ttl_us < 0 || config.live_negative_ttl_us < 0) {
    return makeError(code::kBadConfig, "cache: negative TTLs must be >= 0");
  }
  return std::unique_ptr<Cache>(new Cache(config, clock, registry));
}

Cache::Cache(CacheConfig config, const Clock& clock, metrics::Registry& registry)
    : config_(config),
      clock_(clock),
      protected_limit_bytes_(
          static_cast<int64_t>(static_cast<double>(config.capacity_bytes) * config.protected_fraction)) {
  auto counter = [&](const char* name, const char* help, metrics::Labels labels = {}) {
    return &registry.counter(name, help, labels);
  };
  hits_ = counter("tutti_edge_cache_hits_total", "Lookups answered from the cache (fresh, or while revalidating)");
  misses_ = counter("tutti_edge_cache_misses_total", "Lookups that need the upstream (nothing, or a stale-if-error copy)");
  stale_revalidate_ = counter("tutti_edge_cache_stale_served_total", "Stale answers served", {{"reason", "revalidate"}});
  stale_error_ = counter("tutti_edge_cache_stale_served_total", "Stale answers served", {{"reason", "error"}});
  evictions_ = counter("tutti_edge_cache_evictions_total", "Entries evicted to stay within capacity_bytes");
  expired_ = counter("tutti_edge_cache_expired_total", "Entries dropped past their last usable window");
  too_large_ = counter("tutti_edge_cache_not_stored_total", "Answers not stored", {{"reason", "too_large"}});
  uncacheable_ = counter("tutti_edge_cache_not_stored_total", "Answers not stored", {{"reason", "uncacheable"}});
  bytes_gauge_ = &registry.gauge("tutti_edge_cache_bytes", "Bytes charged by cache entries (payload and bookkeeping)");
  objects_gauge_ = &registry.gauge("tutti_edge_cache_objects", "Entries in the cache");
}

Cache::~Cache() {
  bytes_gauge_->add(-bytes_);
  objects_gauge_->add(-static_cast<int64_t>(index_.size()));
}

Lookup Cache::lookup(std::string_view key) {
  auto found = index_.find(key);
  if (found == index_.end()) {
    misses_->inc();
    return {};
  }
  auto it = found->second;
  const int64_t now = clock_.monoUs();
  std::shared_ptr<const CachedResponse> r = it->response;
  if (now < r->fresh_until_us || now < r->revalidate_until_us) {
    const bool fresh = now < r->fresh_until_us;
    const int64_t age = r->ageUs(now);
    promote(it);
    hits_->inc();
    if (!fresh) stale_revalidate_->inc();
    return {fresh ? Freshness::kFresh : Freshness::kRevalidate, std::move(r), age};
  }
  misses_->inc();
  if (now < r->stale_until_us) {
    // Likely to stand in for a failing upstream soon: keep it warm in its segment.
    List& list = listOf(it->segment);
    list.splice(list.begin(), list, it);
    const int64_t age = r->ageUs(now);
    return {Freshness::kStale, std::move(r), age};
  }
  remove(it);
  expired_->inc();
  return {};
}

std::shared_ptr<const CachedResponse> Cache::staleIfError(std::string_view key) {
  auto found = index_.find(key);
  if (found == index_.end()) return nullptr;
  const int64_t now = clock_.monoUs();
  const CachedResponse& r = *found->second->response;
  if (now < r.fresh_until_us) return found->second->response;
  if (now < r.stale_until_us || now < r.revalidate_until_us) {
    stale_error_->inc();
    return found->second->response;
  }
  remove(found->second);
  expired_->inc();
  return nullptr;
}

StoreOutcome Cache::store(std::string key, UpstreamResponse response, StoreHints hints) {
  if (!storableStatus(response.status)) {
    uncacheable_->inc();
    return StoreOutcome::kNotCacheable;
  }
  std::string cache_control;
  std::string_view age_field;
  bool has_age = false;
  bool varies = false;
  for (const auto& [name, value] : response.headers) {
    if (iequals(name, "cache-control")) {
      if (!cache_control.empty()) cache_control += ", ";
      cache_control += value;
    } else if (iequals(name, "age") && !has_age) {
      has_age = true;
      age_field = value;
    } else if (iequals(name, "vary") && value.find_first_not_of(" \t") != std::string::npos) {
      varies = true;
    }
  }
  const CacheControl cc = parseCacheControl(cache_control);
  // no-cache would need revalidation on every use, which we cannot do yet
  // (no conditional requests): storing it would buy nothing. Vary: the key
  // would have to hold the request's fields; the origin never sends it.
  if (cc.no_store || cc.is_private || cc.no_cache || varies) {
    uncacheable_->inc();
    return StoreOutcome::kNotCacheable;
  }

  int64_t lifetime_us = cc.sharedMaxAgeS().value_or(0) * kUsPerS;
  int64_t revalidate_us = 0;
  int64_t stale_us = 0;
  const bool negative = response.status == 404 || response.status == 410;
  if (negative) {
    // The upstream's lifetime when it gives one, never more than ours; and
    // no stale use: a stale "not found" helps no viewer when the origin fails.
    int64_t cap = config_.negative_ttl_us;
    if (hints.may_appear_soon) cap = std::min(cap, config_.live_negative_ttl_us);
    lifetime_us = cc.sharedMaxAgeS() ? std::min(lifetime_us, cap) : cap;
  } else if (!cc.must_revalidate) {
    revalidate_us = cc.stale_while_revalidate_s.value_or(0) * kUsPerS;
    stale_us = cc.stale_if_error_s.value_or(0) * kUsPerS;
  }
  // An unreadable Age is taken as "very old": stale at once, the safe side.
  int64_t age_us = 0;
  if (has_age) age_us = parseDeltaSeconds(age_field).value_or(kMaxDeltaSeconds) * kUsPerS;

  const int64_t now = clock_.monoUs();
  const int64_t expires_us = now + lifetime_us - age_us;  // |each term| <= 2^31 s: no overflow
  auto entry = std::make_shared<CachedResponse>();
  entry->stored_us = now;
  entry->initial_age_us = age_us;
  entry->fresh_until_us = expires_us;
  entry->revalidate_until_us = expires_us + revalidate_us;
  entry->stale_until_us = expires_us + stale_us;
  if (std::max({entry->fresh_until_us, entry->revalidate_until_us, entry->stale_until_us}) <= now) {
    uncacheable_->inc();  // never usable: no lifetime left and no stale window
    return StoreOutcome::kNotCacheable;
  }

  entry->status = response.status;
  entry->content_type = std::move(response.content_type);
  entry->body = response.body ? std::move(response.body) : emptyBody();
  entry->file = std::move(response.file);
  int64_t charge = kEntryOverheadBytes + static_cast<int64_t>(key.size() + entry->content_type.size() + entry->body->size() +
                                                               (entry->file ? entry->file->size() : 0));
  for (auto& [name, value] : response.headers) {
    if (dropped(name)) continue;
    charge += static_cast<int64_t>(name.size() + value.size());
    entry->headers.emplace_back(std::move(name), std::move(value));
  }
  entry->wire_fields = wireFields(entry->headers);
  charge += static_cast<int64_t>(entry->wire_fields->size());
  entry->charge_bytes = charge;
  if (charge > config_.max_object_bytes) {
    too_large_->inc();
    return StoreOutcome::kTooLarge;
  }

  // A replaced entry keeps its segment: a playlist refreshed every second is
  // as hot as it was.
  Segment segment = Segment::kProbation;
  if (auto old = index_.find(key); old != index_.end()) {
    segment = old->second->segment;
    remove(old->second);
  }
  List& list = listOf(segment);
  list.push_front(Node{std::move(key), std::move(entry), segment});
  auto it = list.begin();
  index_.emplace(it->key, it);
  bytes_ += charge;
  if (segment == Segment::kProtected) protected_bytes_ += charge;
  bytes_gauge_->add(charge);
  objects_gauge_->add(1);
  rebalance();
  evictToFit(it);
  return StoreOutcome::kStored;
}

bool Cache::erase(std::string_view key) {
  auto found = index_.find(key);
  if (found == index_.end()) return false;
  remove(found->second);
  return true;
}

void Cache::remove(List::iterator it) {
  const int64_t charge = it->response->charge_bytes;
  bytes_ -= charge;
  if (it->segment == Segment::kProtected) protected_bytes_ -= charge;
  bytes_gauge_->add(-charge);
  objects_gauge_->add(-1);
  index_.erase(std::string_view(it->key));
  listOf(it->segment).erase(it);
}

void Cache::promote(List::iterator it) {
  if (it->segment == Segment::kProtected) {
    protected_.splice(protected_.begin(), protected_, it);
    return;
  }
  protected_.splice(protected_.begin(), probation_, it);
  it->segment = Segment::kProtected;
  protected_bytes_ += it->response->charge_bytes;
  rebalance();
}

void Cache::rebalance() {
  // The protected segment's coldest entries get one more chance in probation.
  while (protected_bytes_ > protected_limit_bytes_ && !protected_.empty()) {
    auto last = std::prev(protected_.end());
    probation_.splice(probation_.begin(), protected_, last);
    last->segment = Segment::kProbation;
    protected_bytes_ -= last->response->charge_bytes;
  }
}

void Cache::evictToFit(List::iterator keep) {
  // Coldest first: probation's tail, then protected's. Never the entry just
  // stored (it may be probation's only one while protected is full): it fits
  // alone, since its charge is at most max_object_bytes <= capacity_bytes.
  // (Nodes are compared by address: iterators of two lists do not compare.)
  const Node* kept = &*keep;
  auto victim = [&]() -> std::optional<List::iterator> {
    for (List* list : {&probation_, &protected_}) {
      for (auto v = list->end(); v != list->begin();) {
        if (&*--v != kept) return v;
      }
    }
    return std::nullopt;  // only the kept entry is left
  };
  while (bytes_ > config_.capacity_bytes) {
    auto v = victim();
    if (!v) break;
    remove(*v);
    evictions_->inc();
  }
}

}  // namespace tutti::edge
