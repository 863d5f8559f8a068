#include "tutti/edge/cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/edge/codes.h"

using namespace tutti;
using namespace tutti::edge;

namespace {

constexpr int64_t kS = 1'000'000;
constexpr int64_t kMs = 1'000;

UpstreamResponse answer(std::string body, std::string cache_control, int status = 200) {
  UpstreamResponse r;
  r.status = status;
  r.content_type = "video/mp4";
  r.headers = {{"Cache-Control", std::move(cache_control)}, {"Access-Control-Allow-Origin", "*"}};
  r.body = std::make_shared<const std::string>(std::move(body));
  return r;
}

UpstreamResponse immutable(size_t body_bytes) { return answer(std::string(body_bytes, 'x'), "public, max-age=31536000, immutable"); }

// What an answer made by answer() is charged, computed apart from the cache:
// its fields count twice, as stored and in wire form ("\r\n" n ": " v).
int64_t chargeOf(const std::string& key, const UpstreamResponse& r) {
  int64_t c = Cache::kEntryOverheadBytes + static_cast<int64_t>(key.size() + r.content_type.size() + r.body->size());
  for (const auto& [n, v] : r.headers) c += 2 * static_cast<int64_t>(n.size() + v.size()) + 4;
  return c;
}

struct Fixture {
  ManualClock clock;
  metrics::Registry registry;
  std::unique_ptr<Cache> cache;

  explicit Fixture(CacheConfig config = {}) {
    auto c = Cache::create(config, clock, registry);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    if (c.ok()) cache = std::move(c).value();
  }
  double metric(const std::string& name, const metrics::Labels& labels = {}) const { return registry.valueOf(name, labels); }
};

CacheConfig small(int64_t capacity, int64_t max_object = 0, double protected_fraction = 0.8) {
  CacheConfig c;
  c.capacity_bytes = capacity;
  c.max_object_bytes = max_object ? max_object : capacity;
  c.protected_fraction = protected_fraction;
  return c;
}

}  // namespace

TEST(Cache, RefusesAConfigThatCannotHoldItsLargestObject) {
  ManualClock clock;
  metrics::Registry registry;
  auto bad = small(1000, 2000);
  auto c = Cache::create(bad, clock, registry);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, code::kBadConfig);
  EXPECT_FALSE(Cache::create(small(1000, 100, 1.0), clock, registry).ok());
  EXPECT_FALSE(Cache::create(small(0), clock, registry).ok());
  CacheConfig negative;
  negative.live_negative_ttl_us = -1;
  EXPECT_FALSE(Cache::create(negative, clock, registry).ok());
}

TEST(Cache, AnswersFreshThenMissOnceTheLifetimeHasPassed) {
  Fixture f;
  ASSERT_EQ(f.cache->store("/a", answer("AAA", "max-age=2")), StoreOutcome::kStored);
  auto l = f.cache->lookup("/a");
  ASSERT_EQ(l.state, Freshness::kFresh);
  EXPECT_EQ(*l.response->body, "AAA");
  EXPECT_EQ(l.response->status, 200);
  EXPECT_EQ(l.response->content_type, "video/mp4");
  EXPECT_EQ(l.age_us, 0);

  f.clock.advanceUs(2 * kS - 1);
  l = f.cache->lookup("/a");
  EXPECT_EQ(l.state, Freshness::kFresh);
  EXPECT_EQ(l.age_us, 2 * kS - 1);
  f.clock.advanceUs(1);
  EXPECT_EQ(f.cache->lookup("/a").state, Freshness::kMiss);
  EXPECT_EQ(f.cache->objects(), 0u);  // dropped: no window left
  EXPECT_EQ(f.cache->bytes(), 0);
  EXPECT_EQ(f.metric("tutti_edge_cache_hits_total"), 2);
  EXPECT_EQ(f.metric("tutti_edge_cache_misses_total"), 1);
  EXPECT_EQ(f.metric("tutti_edge_cache_expired_total"), 1);
}

TEST(Cache, SharesTheBodyWithResponsesInFlightInsteadOfCopyingIt) {
  Fixture f;
  auto r = immutable(1000);
  const std::string* bytes = r.body.get();
  ASSERT_EQ(f.cache->store("/part", std::move(r)), StoreOutcome::kStored);
  auto in_flight = f.cache->lookup("/part").response;
  ASSERT_TRUE(in_flight);
  EXPECT_EQ(in_flight->body.get(), bytes);
  EXPECT_EQ(f.cache->lookup("/part").response->body.get(), bytes);
  // Evicted or replaced, the entry's bytes live on in the response that holds them.
  ASSERT_TRUE(f.cache->erase("/part"));
  EXPECT_EQ(in_flight->body->size(), 1000u);
}

TEST(Cache, CountsEveryByteExactlyThroughInsertsReplacesEvictionsAndErases) {
  Fixture f(small(20'000, 8'000));
  auto expect = [&](int64_t want) {
    EXPECT_EQ(f.cache->bytes(), want);
    EXPECT_EQ(f.metric("tutti_edge_cache_bytes"), want);
  };
  const auto a = answer(std::string(3000, 'a'), "max-age=60");
  const auto b = answer(std::string(5000, 'b'), "max-age=60");
  const auto a2 = answer(std::string(1234, 'A'), "max-age=60, stale-if-error=5");
  ASSERT_EQ(f.cache->store("/a", a), StoreOutcome::kStored);
  expect(chargeOf("/a", a));
  ASSERT_EQ(f.cache->store("/bb", b), StoreOutcome::kStored);
  expect(chargeOf("/a", a) + chargeOf("/bb", b));
  ASSERT_EQ(f.cache->store("/a", a2), StoreOutcome::kStored);  // replace
  expect(chargeOf("/a", a2) + chargeOf("/bb", b));
  EXPECT_EQ(f.cache->objects(), 2u);

  // Fill past the bound: evictions keep the total exact and within capacity.
  int64_t sum = chargeOf("/a", a2) + chargeOf("/bb", b);
  for (int i = 0; i < 10; ++i) {
    const std::string key = "/k" + std::to_string(i);
    const auto r = answer(std::string(2500, 'k'), "max-age=60");
    ASSERT_EQ(f.cache->store(key, r), StoreOutcome::kStored);
    sum += chargeOf(key, r);
  }
  EXPECT_LE(f.cache->bytes(), 20'000);
  EXPECT_GT(f.metric("tutti_edge_cache_evictions_total"), 0);
  // Recount from what is left.
  int64_t left = 0;
  if (f.cache->lookup("/a").response) left += chargeOf("/a", a2);
  if (f.cache->lookup("/bb").response) left += chargeOf("/bb", b);
  for (int i = 0; i < 10; ++i) {
    const std::string key = "/k" + std::to_string(i);
    if (f.cache->lookup(key).response) left += chargeOf(key, answer(std::string(2500, 'k'), "max-age=60"));
  }
  expect(left);
  EXPECT_EQ(f.metric("tutti_edge_cache_objects"), static_cast<double>(f.cache->objects()));

  // Erase everything: back to zero.
  for (const char* k : {"/a", "/bb"}) f.cache->erase(k);
  for (int i = 0; i < 10; ++i) f.cache->erase("/k" + std::to_string(i));
  expect(0);
  EXPECT_EQ(f.cache->objects(), 0u);
  EXPECT_EQ(f.cache->protectedBytes(), 0);
}

TEST(Cache, DoesNotChargeOrReplayHopByHopFieldsAgeOrCookies) {
  Fixture f;
  auto r = answer("x", "max-age=60");
  r.headers.emplace_back("Connection", "close");
  r.headers.emplace_back("Transfer-Encoding", "chunked");
  r.headers.emplace_back("set-cookie", "session=secret");
  r.headers.emplace_back("AGE", "3");
  const int64_t want = chargeOf("/x", answer("x", "max-age=60"));
  ASSERT_EQ(f.cache->store("/x", r), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->bytes(), want);
  auto l = f.cache->lookup("/x");
  ASSERT_TRUE(l.response);
  ASSERT_EQ(l.response->headers.size(), 2u);
  EXPECT_EQ(l.response->headers[0].first, "Cache-Control");
  EXPECT_EQ(l.response->headers[1].first, "Access-Control-Allow-Origin");
  ASSERT_TRUE(l.response->wire_fields);
  EXPECT_EQ(*l.response->wire_fields, "\r\nCache-Control: max-age=60\r\nAccess-Control-Allow-Origin: *");
  EXPECT_EQ(l.age_us, 3 * kS);
}

TEST(Cache, ABodyInAFileIsKeptAndChargedAsTheFile) {
  Fixture f;
  auto r = answer("", "max-age=60");
  r.body = nullptr;
  r.file = SharedFile::create(std::string(20'000, 'p'));
  ASSERT_TRUE(r.file);
  const auto file = r.file;
  ASSERT_EQ(f.cache->store("/f", r), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->bytes(), chargeOf("/f", answer("", "max-age=60")) + 20'000);
  const auto l = f.cache->lookup("/f");
  ASSERT_TRUE(l.response);
  EXPECT_EQ(l.response->file, file);
  EXPECT_TRUE(l.response->body && l.response->body->empty());
}

TEST(Cache, WireFieldsLeaveOutWhatTheWriterSets) {
  const Headers h = {{"Content-Length", "5"}, {"content-type", "video/mp4"}, {"Server", "x"}, {"Date", "today"},
                     {"ETag", "\"a\""}, {"Connection", "close"}, {"Age", "1"}};
  EXPECT_EQ(*wireFields(h), "\r\nETag: \"a\"");
}

TEST(Cache, EvictsTheLeastRecentlyUsedWhenOverItsByteBound) {
  // protected_fraction 0: plain LRU, every entry in one list.
  const int64_t one = chargeOf("/0", immutable(900));
  Fixture f(small(3 * one, one, 0.0));
  for (const char* k : {"/0", "/1", "/2"}) ASSERT_EQ(f.cache->store(k, immutable(900)), StoreOutcome::kStored);
  ASSERT_EQ(f.cache->lookup("/0").state, Freshness::kFresh);  // /1 is now the least recently used
  ASSERT_EQ(f.cache->store("/3", immutable(900)), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->lookup("/1").state, Freshness::kMiss);
  EXPECT_EQ(f.cache->lookup("/0").state, Freshness::kFresh);
  EXPECT_EQ(f.cache->lookup("/2").state, Freshness::kFresh);
  EXPECT_EQ(f.cache->lookup("/3").state, Freshness::kFresh);
  EXPECT_EQ(f.metric("tutti_edge_cache_evictions_total"), 1);
  EXPECT_EQ(f.cache->bytes(), 3 * one);
}

TEST(Cache, KeepsTheHotSetThroughABurstOfObjectsAskedForOnce) {
  // Room for 10 objects; 3 hot ones (a playlist, the newest parts) are asked
  // for again and again; then 50 objects are asked for once each (a crawler
  // walking old segments). Segmented LRU keeps the hot ones; plain LRU loses them.
  const int64_t one = chargeOf("/hot0", immutable(1000));
  auto run = [&](double protected_fraction) {
    Fixture f(small(10 * one + 50, 2 * one, protected_fraction));
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(f.cache->store("/hot" + std::to_string(i), immutable(1000)), StoreOutcome::kStored);
      EXPECT_EQ(f.cache->lookup("/hot" + std::to_string(i)).state, Freshness::kFresh);
    }
    for (int i = 0; i < 50; ++i) EXPECT_EQ(f.cache->store("/cold" + std::to_string(1000 + i), immutable(1000)), StoreOutcome::kStored);
    int kept = 0;
    for (int i = 0; i < 3; ++i) kept += f.cache->lookup("/hot" + std::to_string(i)).state == Freshness::kFresh;
    return kept;
  };
  EXPECT_EQ(run(0.8), 3);
  EXPECT_EQ(run(0.0), 0);
}

TEST(Cache, DemotesTheColdestProtectedEntryWhenTheProtectedShareIsFull) {
  const int64_t one = chargeOf("/0", immutable(1000));
  Fixture f(small(4 * one, one, 0.5));  // protected holds 2
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(f.cache->store("/" + std::to_string(i), immutable(1000)), StoreOutcome::kStored);
    ASSERT_EQ(f.cache->lookup("/" + std::to_string(i)).state, Freshness::kFresh);
  }
  EXPECT_EQ(f.cache->protectedBytes(), 2 * one);  // /1 and /2; /0 went back to probation
  // Two newcomers: the probation tail (/0, demoted, not used since) goes first.
  ASSERT_EQ(f.cache->store("/3", immutable(1000)), StoreOutcome::kStored);
  ASSERT_EQ(f.cache->store("/4", immutable(1000)), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->lookup("/0").state, Freshness::kMiss);
  EXPECT_EQ(f.cache->lookup("/1").state, Freshness::kFresh);
  EXPECT_EQ(f.cache->lookup("/2").state, Freshness::kFresh);
  EXPECT_LE(f.cache->protectedBytes(), 2 * one);
}

TEST(Cache, StoresALargeObjectEvenWhenProbationHoldsNothingElse) {
  const int64_t small_one = chargeOf("/s0", immutable(100));
  const int64_t big = 10 * small_one;
  Fixture f(small(12 * small_one, big, 0.8));
  for (int i = 0; i < 9; ++i) {
    ASSERT_EQ(f.cache->store("/s" + std::to_string(i), immutable(100)), StoreOutcome::kStored);
    ASSERT_EQ(f.cache->lookup("/s" + std::to_string(i)).state, Freshness::kFresh);  // all protected
  }
  auto r = immutable(static_cast<size_t>(big - (small_one - 100)));
  ASSERT_EQ(chargeOf("/s0", r), big);
  ASSERT_EQ(f.cache->store("/s0", immutable(100)), StoreOutcome::kStored);  // replaced, stays protected
  ASSERT_EQ(f.cache->store("/b9", r), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->lookup("/b9").state, Freshness::kFresh);  // the newcomer survived its own eviction pass
  EXPECT_LE(f.cache->bytes(), 12 * small_one);
}

TEST(Cache, PassesOverObjectsAboveTheMaximumSizeAndCountsThem) {
  const int64_t limit = chargeOf("/big", immutable(5000));
  Fixture f(small(100'000, limit));
  EXPECT_EQ(f.cache->store("/big", immutable(5000)), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->store("/bigger", immutable(5000)), StoreOutcome::kTooLarge);  // the key counts too
  EXPECT_EQ(f.cache->lookup("/bigger").state, Freshness::kMiss);
  EXPECT_EQ(f.metric("tutti_edge_cache_not_stored_total", {{"reason", "too_large"}}), 1);
  EXPECT_EQ(f.cache->bytes(), limit);
}

TEST(Cache, HonoursNoStorePrivateNoCacheAndVary) {
  Fixture f;
  EXPECT_EQ(f.cache->store("/1", answer("x", "no-store")), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->store("/2", answer("x", "private, max-age=60")), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->store("/3", answer("x", "no-cache, max-age=60")), StoreOutcome::kNotCacheable);
  auto varied = answer("x", "max-age=60");
  varied.headers.emplace_back("Vary", "Accept-Language");
  EXPECT_EQ(f.cache->store("/4", varied), StoreOutcome::kNotCacheable);
  // A second Cache-Control line counts as much as the first.
  auto two_lines = answer("x", "max-age=60");
  two_lines.headers.emplace_back("cache-control", "no-store");
  EXPECT_EQ(f.cache->store("/5", two_lines), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->objects(), 0u);
  EXPECT_EQ(f.metric("tutti_edge_cache_not_stored_total", {{"reason", "uncacheable"}}), 5);
}

TEST(Cache, StoresNothingThatWouldNeverBeUsable) {
  Fixture f;
  EXPECT_EQ(f.cache->store("/1", answer("x", "public")), StoreOutcome::kNotCacheable);        // no lifetime
  EXPECT_EQ(f.cache->store("/2", answer("x", "max-age=0")), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->store("/3", answer("x", "max-age=bogus")), StoreOutcome::kNotCacheable);  // invalid: stale
  EXPECT_EQ(f.cache->store("/4", answer("x", "max-age=60", 500)), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->store("/5", answer("x", "max-age=60", 206)), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->store("/6", answer("x", "max-age=60", 503)), StoreOutcome::kNotCacheable);
  auto old = answer("x", "max-age=60");
  old.headers.emplace_back("Age", "60");  // a parent kept it its whole lifetime
  EXPECT_EQ(f.cache->store("/7", old), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->objects(), 0u);
  // max-age=0 with a stale-if-error window is worth keeping for an outage.
  EXPECT_EQ(f.cache->store("/8", answer("x", "max-age=0, stale-if-error=30")), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->lookup("/8").state, Freshness::kStale);
}

TEST(Cache, SubtractsTheUpstreamsAgeAndTreatsAnUnreadableAgeAsExpired) {
  Fixture f;
  auto aged = answer("x", "max-age=10");
  aged.headers.emplace_back("Age", "8");
  ASSERT_EQ(f.cache->store("/aged", aged), StoreOutcome::kStored);
  f.clock.advanceUs(2 * kS - 1);
  auto l = f.cache->lookup("/aged");
  EXPECT_EQ(l.state, Freshness::kFresh);
  EXPECT_EQ(l.age_us, 10 * kS - 1);
  f.clock.advanceUs(1);
  EXPECT_EQ(f.cache->lookup("/aged").state, Freshness::kMiss);

  auto bad = answer("x", "max-age=10, stale-if-error=100");
  bad.headers.emplace_back("Age", "ten");
  EXPECT_EQ(f.cache->store("/bad", bad), StoreOutcome::kNotCacheable);
}

TEST(Cache, ServesStaleOnlyWhenTheOriginFailsWithinTheStaleIfErrorWindow) {
  Fixture f;
  ASSERT_EQ(f.cache->store("/p", answer("playlist", "max-age=1, stale-if-error=10")), StoreOutcome::kStored);
  f.clock.advanceUs(1 * kS);
  auto l = f.cache->lookup("/p");
  ASSERT_EQ(l.state, Freshness::kStale);  // not a hit: ask upstream first
  EXPECT_EQ(*l.response->body, "playlist");
  // The upstream fails 9 s later: still within the window.
  f.clock.advanceUs(9 * kS);
  auto stale = f.cache->staleIfError("/p");
  ASSERT_TRUE(stale);
  EXPECT_EQ(*stale->body, "playlist");
  EXPECT_EQ(f.metric("tutti_edge_cache_stale_served_total", {{"reason", "error"}}), 1);
  // Past the window: nothing, and the entry is gone.
  f.clock.advanceUs(1 * kS);
  EXPECT_FALSE(f.cache->staleIfError("/p"));
  EXPECT_EQ(f.cache->objects(), 0u);
  EXPECT_EQ(f.metric("tutti_edge_cache_hits_total"), 0);
}

TEST(Cache, NeverServesStaleWhatTheOriginSaysMustBeRevalidated) {
  Fixture f;
  ASSERT_EQ(f.cache->store("/m", answer("x", "max-age=1, must-revalidate, stale-if-error=60, stale-while-revalidate=60")),
            StoreOutcome::kStored);
  f.clock.advanceUs(1 * kS);
  EXPECT_FALSE(f.cache->staleIfError("/m"));
  EXPECT_EQ(f.cache->lookup("/m").state, Freshness::kMiss);
}

TEST(Cache, ServesWhileRevalidatingWithinStaleWhileRevalidate) {
  Fixture f;
  ASSERT_EQ(f.cache->store("/p", answer("v1", "max-age=1, stale-while-revalidate=2")), StoreOutcome::kStored);
  f.clock.advanceUs(1500 * kMs);
  auto l = f.cache->lookup("/p");
  ASSERT_EQ(l.state, Freshness::kRevalidate);
  EXPECT_EQ(*l.response->body, "v1");
  EXPECT_EQ(f.metric("tutti_edge_cache_hits_total"), 1);
  EXPECT_EQ(f.metric("tutti_edge_cache_stale_served_total", {{"reason", "revalidate"}}), 1);
  // The refresh lands: fresh again, same key, new bytes.
  ASSERT_EQ(f.cache->store("/p", answer("v2", "max-age=1, stale-while-revalidate=2")), StoreOutcome::kStored);
  l = f.cache->lookup("/p");
  EXPECT_EQ(l.state, Freshness::kFresh);
  EXPECT_EQ(*l.response->body, "v2");
  f.clock.advanceUs(3 * kS);
  EXPECT_EQ(f.cache->lookup("/p").state, Freshness::kMiss);
}

TEST(Cache, KeepsA404OnlyBrieflyAndAMissingLivePartForLessThanAPart) {
  CacheConfig config;
  config.negative_ttl_us = 1 * kS;
  config.live_negative_ttl_us = 50 * kMs;
  Fixture f(config);
  // No lifetime from the origin: ours.
  ASSERT_EQ(f.cache->store("/robots.txt", answer("no", "", 404)), StoreOutcome::kStored);
  // The origin asks for an hour: still at most ours.
  ASSERT_EQ(f.cache->store("/gone", answer("no", "max-age=3600, stale-if-error=3600", 410)), StoreOutcome::kStored);
  // A part viewers ask for just before it is made.
  ASSERT_EQ(f.cache->store("/hls/d/r/part-9.1.m4s", answer("no", "max-age=60", 404), {.may_appear_soon = true}),
            StoreOutcome::kStored);
  auto l = f.cache->lookup("/hls/d/r/part-9.1.m4s");
  ASSERT_EQ(l.state, Freshness::kFresh);
  EXPECT_EQ(l.response->status, 404);
  EXPECT_TRUE(l.response->negative());

  f.clock.advanceUs(50 * kMs);
  EXPECT_EQ(f.cache->lookup("/hls/d/r/part-9.1.m4s").state, Freshness::kMiss);  // ask again: it may exist now
  EXPECT_EQ(f.cache->lookup("/robots.txt").state, Freshness::kFresh);
  f.clock.advanceUs(950 * kMs);
  EXPECT_EQ(f.cache->lookup("/robots.txt").state, Freshness::kMiss);
  EXPECT_EQ(f.cache->lookup("/gone").state, Freshness::kMiss);  // and no stale "not found"
  EXPECT_FALSE(f.cache->staleIfError("/gone"));
}

TEST(Cache, NeverKeepsA404TheOriginForbidsKeeping) {
  CacheConfig config;
  config.live_negative_ttl_us = 0;
  Fixture f(config);
  EXPECT_EQ(f.cache->store("/a", answer("no", "no-store", 404)), StoreOutcome::kNotCacheable);
  EXPECT_EQ(f.cache->store("/b", answer("no", "max-age=0", 404)), StoreOutcome::kNotCacheable);
  // live_negative_ttl_us = 0 turns negative caching of live objects off.
  EXPECT_EQ(f.cache->store("/c.m4s", answer("no", "", 404), {.may_appear_soon = true}), StoreOutcome::kNotCacheable);
}

TEST(Cache, AReplacedEntryKeepsItsPlaceInTheProtectedSegment) {
  const int64_t one = chargeOf("/p", immutable(1000));
  Fixture f(small(10 * one, one, 0.5));
  ASSERT_EQ(f.cache->store("/p", immutable(1000)), StoreOutcome::kStored);
  ASSERT_EQ(f.cache->lookup("/p").state, Freshness::kFresh);
  EXPECT_EQ(f.cache->protectedBytes(), one);
  ASSERT_EQ(f.cache->store("/p", immutable(1000)), StoreOutcome::kStored);
  EXPECT_EQ(f.cache->protectedBytes(), one);
  EXPECT_EQ(f.cache->bytes(), one);
}

TEST(Cache, StoresAMissingBodyAsAnEmptyOne) {
  Fixture f;
  UpstreamResponse r;
  r.status = 204;
  r.headers = {{"Cache-Control", "max-age=5"}};
  ASSERT_EQ(f.cache->store("/empty", r), StoreOutcome::kStored);
  auto l = f.cache->lookup("/empty");
  ASSERT_TRUE(l.response && l.response->body);
  EXPECT_TRUE(l.response->body->empty());
}

TEST(Cache, GivesItsBytesBackToTheSharedGaugeWhenDestroyed) {
  ManualClock clock;
  metrics::Registry registry;
  auto a = Cache::create({}, clock, registry);
  auto b = Cache::create({}, clock, registry);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->store("/x", immutable(10)), StoreOutcome::kStored);
  ASSERT_EQ((*b)->store("/y", immutable(20)), StoreOutcome::kStored);
  EXPECT_EQ(registry.valueOf("tutti_edge_cache_bytes"), static_cast<double>((*a)->bytes() + (*b)->bytes()));
  const int64_t b_bytes = (*b)->bytes();
  a->reset();
  EXPECT_EQ(registry.valueOf("tutti_edge_cache_bytes"), static_cast<double>(b_bytes));
  EXPECT_EQ(registry.valueOf("tutti_edge_cache_objects"), 1);
}
