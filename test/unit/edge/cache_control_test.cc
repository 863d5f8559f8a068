#include "tutti/edge/cache_control.h"

#include <gtest/gtest.h>

using namespace tutti::edge;

TEST(CacheControl, ReadsTheOriginsImmutableMediaAnswer) {
  const CacheControl cc = parseCacheControl("public, max-age=31536000, immutable");
  EXPECT_EQ(cc.max_age_s, 31536000);
  EXPECT_TRUE(cc.is_public);
  EXPECT_TRUE(cc.immutable);
  EXPECT_FALSE(cc.no_store);
  EXPECT_FALSE(cc.malformed);
  EXPECT_EQ(cc.sharedMaxAgeS(), 31536000);
}

TEST(CacheControl, PrefersSMaxAgeOverMaxAgeForASharedCache) {
  const CacheControl cc = parseCacheControl("max-age=60, s-maxage=5");
  EXPECT_EQ(cc.sharedMaxAgeS(), 5);
  EXPECT_EQ(parseCacheControl("max-age=60").sharedMaxAgeS(), 60);
  EXPECT_FALSE(parseCacheControl("public").sharedMaxAgeS().has_value());
}

TEST(CacheControl, ReadsEveryRestrictiveDirectiveWithOrWithoutAnArgument) {
  EXPECT_TRUE(parseCacheControl("no-store").no_store);
  EXPECT_TRUE(parseCacheControl("no-cache").no_cache);
  EXPECT_TRUE(parseCacheControl("no-cache=\"Set-Cookie, X-Foo\"").no_cache);
  EXPECT_TRUE(parseCacheControl("private").is_private);
  EXPECT_TRUE(parseCacheControl("private=\"X-Token\", max-age=5").is_private);
  EXPECT_TRUE(parseCacheControl("must-revalidate").must_revalidate);
  EXPECT_TRUE(parseCacheControl("proxy-revalidate").must_revalidate);
}

TEST(CacheControl, ReadsTheStaleWindows) {
  const CacheControl cc = parseCacheControl("max-age=1, stale-while-revalidate=2, stale-if-error=600");
  EXPECT_EQ(cc.stale_while_revalidate_s, 2);
  EXPECT_EQ(cc.stale_if_error_s, 600);
}

TEST(CacheControl, IgnoresCaseAndWhitespaceAndEmptyEntries) {
  const CacheControl cc = parseCacheControl("  MAX-AGE = 7 ,, \tNo-Store\t,  ");
  EXPECT_EQ(cc.max_age_s, 7);
  EXPECT_TRUE(cc.no_store);
  EXPECT_FALSE(cc.malformed);
}

TEST(CacheControl, AcceptsQuotedNumbersAndCommasInsideQuotes) {
  const CacheControl cc = parseCacheControl("max-age=\"30\", community=\"a,b,max-age=1\", s-maxage=4");
  EXPECT_EQ(cc.max_age_s, 30);
  EXPECT_EQ(cc.s_maxage_s, 4);
  EXPECT_FALSE(cc.malformed);
}

TEST(CacheControl, IgnoresUnknownDirectives) {
  const CacheControl cc = parseCacheControl("x-tutti=1, max-age=3, foo, bar=\"baz\"");
  EXPECT_EQ(cc.max_age_s, 3);
  EXPECT_FALSE(cc.malformed);
  EXPECT_FALSE(cc.no_store);
}

TEST(CacheControl, TakesAnUnreadableMaxAgeAsStaleAtOnce) {
  for (const char* v : {"max-age=abc", "max-age=", "max-age", "max-age=-5", "max-age=1.5", "max-age=+3", "max-age=5 6"}) {
    const CacheControl cc = parseCacheControl(v);
    EXPECT_EQ(cc.max_age_s, 0) << v;
    EXPECT_TRUE(cc.malformed) << v;
  }
}

TEST(CacheControl, TakesContradictoryRepeatsAsInvalidButAgreeingRepeatsAsOne) {
  EXPECT_EQ(parseCacheControl("max-age=60, max-age=5").max_age_s, 0);
  EXPECT_EQ(parseCacheControl("max-age=60, max-age=60").max_age_s, 60);
  EXPECT_FALSE(parseCacheControl("max-age=60, max-age=60").malformed);
  // An invalid value stays invalid even if a valid one follows.
  EXPECT_EQ(parseCacheControl("max-age=x, max-age=60").max_age_s, 0);
}

TEST(CacheControl, DropsAnUnreadableStaleWindowRatherThanGuessingOne) {
  const CacheControl cc = parseCacheControl("max-age=5, stale-if-error=soon, stale-while-revalidate=-1");
  EXPECT_EQ(cc.max_age_s, 5);
  EXPECT_FALSE(cc.stale_if_error_s.has_value());
  EXPECT_FALSE(cc.stale_while_revalidate_s.has_value());
  EXPECT_TRUE(cc.malformed);
}

TEST(CacheControl, ClampsHugeNumbersTo2Pow31Seconds) {
  EXPECT_EQ(parseCacheControl("max-age=99999999999999999999999999999").max_age_s, kMaxDeltaSeconds);
  EXPECT_EQ(parseCacheControl("max-age=2147483649").max_age_s, kMaxDeltaSeconds);
  EXPECT_EQ(parseCacheControl("max-age=2147483647").max_age_s, 2147483647);
}

TEST(CacheControl, MarksAnUnterminatedQuoteAndKeepsWhatCameBefore) {
  const CacheControl cc = parseCacheControl("no-store, private=\"abc, max-age=5");
  EXPECT_TRUE(cc.no_store);
  EXPECT_TRUE(cc.is_private);
  EXPECT_FALSE(cc.max_age_s.has_value());  // swallowed by the open quote
  EXPECT_TRUE(cc.malformed);
}

TEST(CacheControl, ReadsAnEmptyFieldAsNoDirectives) {
  const CacheControl cc = parseCacheControl("");
  EXPECT_FALSE(cc.sharedMaxAgeS().has_value());
  EXPECT_FALSE(cc.no_store || cc.no_cache || cc.is_private || cc.malformed);
}

TEST(DeltaSeconds, AcceptsDigitsOnly) {
  EXPECT_EQ(parseDeltaSeconds("0"), 0);
  EXPECT_EQ(parseDeltaSeconds("007"), 7);
  EXPECT_FALSE(parseDeltaSeconds("").has_value());
  EXPECT_FALSE(parseDeltaSeconds(" 1").has_value());
  EXPECT_FALSE(parseDeltaSeconds("-1").has_value());
  EXPECT_FALSE(parseDeltaSeconds("1e3").has_value());
}
