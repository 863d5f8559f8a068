// libFuzzer target: arbitrary bytes as an upstream's Cache-Control value (and
// Age), and as a request's playlist query. Untrusted input from an upstream
// or a viewer must never crash, throw or overflow, and must leave the cache's
// byte accounting exact and within its bound.
//
// Input layout: the bytes up to the first '\n' are the Cache-Control value,
// up to the second the Age value, the rest a query for cacheKey(). Byte 0's
// low bits also pick the status (200 or 404) and the may-appear-soon hint.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/edge/cache.h"
#include "tutti/edge/cache_control.h"
#include "tutti/edge/cache_key.h"

namespace {

using namespace tutti;
using namespace tutti::edge;

bool inRange(const std::optional<int64_t>& v) { return !v || (*v >= 0 && *v <= kMaxDeltaSeconds); }

std::string_view cut(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  const std::string_view head = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return head;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static metrics::Registry registry;
  static ManualClock clock;
  static std::unique_ptr<Cache> cache = [] {
    CacheConfig c;
    c.capacity_bytes = 64 * 1024;
    c.max_object_bytes = 16 * 1024;
    return std::move(Cache::create(c, clock, registry)).value();
  }();

  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = size > 0 ? data[0] : 0;
  const std::string_view cc_text = cut(rest);
  const std::string_view age_text = cut(rest);
  const std::string_view query = rest;

  const CacheControl cc = parseCacheControl(cc_text);
  if (!inRange(cc.max_age_s) || !inRange(cc.s_maxage_s) || !inRange(cc.stale_if_error_s) ||
      !inRange(cc.stale_while_revalidate_s)) {
    __builtin_trap();
  }
  // Deterministic: the same bytes, the same reading.
  const CacheControl again = parseCacheControl(cc_text);
  if (again.max_age_s != cc.max_age_s || again.no_store != cc.no_store || again.malformed != cc.malformed) __builtin_trap();

  UpstreamResponse r;
  r.status = (flags & 1) ? 404 : 200;
  r.content_type = "application/vnd.apple.mpegurl";
  r.headers = {{"Cache-Control", std::string(cc_text)}, {"Age", std::string(age_text)}};
  r.body = std::make_shared<const std::string>(query);
  const std::string key = "/k" + std::to_string(size % 64);
  const StoreOutcome out = cache->store(key, r, {.may_appear_soon = (flags & 2) != 0});
  if (out == StoreOutcome::kStored && (cc.no_store || cc.is_private || cc.no_cache)) __builtin_trap();
  const Lookup l = cache->lookup(key);
  if ((l.state == Freshness::kMiss) != !l.response) __builtin_trap();
  if (l.response && (l.response->body == nullptr || l.response->stale_until_us < l.response->fresh_until_us ||
                     l.response->revalidate_until_us < l.response->fresh_until_us)) {
    __builtin_trap();
  }
  (void)cache->staleIfError(key);
  if (cache->bytes() < 0 || cache->bytes() > cache->config().capacity_bytes) __builtin_trap();
  clock.advanceUs(static_cast<int64_t>(flags) * 10'000);

  if (auto k = cacheKey("/hls/s/r/index.m3u8", query)) {
    if (!k->key.starts_with("/hls/s/r/index.m3u8")) __builtin_trap();
    // Normalised: the key's own query maps to the same key.
    const size_t q = k->key.find('?');
    auto again_key = cacheKey("/hls/s/r/index.m3u8", q == std::string::npos ? std::string_view() : std::string_view(k->key).substr(q + 1));
    if (!again_key || again_key->key != k->key) __builtin_trap();
  }
  return 0;
}
