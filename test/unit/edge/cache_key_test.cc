#include "tutti/edge/cache_key.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tutti/edge/codes.h"

using namespace tutti::edge;

namespace {

std::string keyOf(std::string_view path, std::string_view query) {
  auto k = cacheKey(path, query);
  EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.error().message);
  return k.ok() ? k->key : std::string();
}

}  // namespace

TEST(CacheKey, ClassifiesTheOriginsUrls) {
  EXPECT_EQ(classifyPath("/hls/demo/master.m3u8"), ObjectKind::kPlaylist);
  EXPECT_EQ(classifyPath("/hls/demo/480p/index.m3u8"), ObjectKind::kPlaylist);
  EXPECT_EQ(classifyPath("/hls/demo/480p/part-12.3.m4s"), ObjectKind::kPart);
  EXPECT_EQ(classifyPath("/hls/demo/480p/seg-12.m4s"), ObjectKind::kSegment);
  EXPECT_EQ(classifyPath("/hls/demo/480p/init-0.mp4"), ObjectKind::kInit);
  EXPECT_EQ(classifyPath("/favicon.ico"), ObjectKind::kOther);
  EXPECT_EQ(classifyPath("/hls/demo/part-1.m4s/x"), ObjectKind::kOther);
}

TEST(CacheKey, PutsTheDeliveryDirectivesInOneOrder) {
  const std::string a = keyOf("/hls/demo/480p/index.m3u8", "_HLS_part=2&_HLS_msn=100");
  const std::string b = keyOf("/hls/demo/480p/index.m3u8", "?_HLS_msn=100&_HLS_part=2");
  EXPECT_EQ(a, "/hls/demo/480p/index.m3u8?_HLS_msn=100&_HLS_part=2");
  EXPECT_EQ(a, b);
  EXPECT_EQ(keyOf("/hls/demo/480p/index.m3u8", "_HLS_skip=YES&_HLS_part=0&_HLS_msn=7"),
            "/hls/demo/480p/index.m3u8?_HLS_msn=7&_HLS_part=0&_HLS_skip=YES");
}

TEST(CacheKey, CollapsesEveryViewerOfOneBlockingPlaylistIntoOneKey) {
  // What players send: cache busters, session ids, the directives in any
  // order, numbers with leading zeros, repeats.
  const char* queries[] = {
      "_HLS_msn=100&_HLS_part=2",
      "_HLS_part=2&_HLS_msn=100",
      "_HLS_msn=0100&_HLS_part=02",
      "_HLS_msn=100&_HLS_part=2&_HLS_msn=100",
      "t=1712345678&_HLS_msn=100&session=abc&_HLS_part=2",
      "_HLS_msn=100&_HLS_part=2&_HLS_skip=maybe",
      "_HLS_msn=100&&_HLS_part=2&",
  };
  std::set<std::string> keys;
  for (const char* q : queries) {
    auto k = cacheKey("/hls/demo/480p/index.m3u8", q);
    ASSERT_TRUE(k.ok()) << q;
    EXPECT_TRUE(k->blocking) << q;
    keys.insert(k->key);
  }
  EXPECT_EQ(keys.size(), 1u);
  // Another part, msn or rendition is another request upstream.
  EXPECT_NE(keyOf("/hls/demo/480p/index.m3u8", "_HLS_msn=100&_HLS_part=3"), *keys.begin());
  EXPECT_NE(keyOf("/hls/demo/480p/index.m3u8", "_HLS_msn=101&_HLS_part=2"), *keys.begin());
  EXPECT_NE(keyOf("/hls/demo/360p/index.m3u8", "_HLS_msn=100&_HLS_part=2"), *keys.begin());
}

TEST(CacheKey, KeepsSkipApartFromTheFullPlaylist) {
  EXPECT_EQ(keyOf("/p/index.m3u8", "_HLS_skip=v2"), "/p/index.m3u8?_HLS_skip=v2");
  EXPECT_EQ(keyOf("/p/index.m3u8", "_HLS_skip=YES"), "/p/index.m3u8?_HLS_skip=YES");
  EXPECT_EQ(keyOf("/p/index.m3u8", "_HLS_skip=no"), "/p/index.m3u8");
  // The last valid one counts, as at the origin.
  EXPECT_EQ(keyOf("/p/index.m3u8", "_HLS_skip=YES&_HLS_skip=v2&_HLS_skip=x"), "/p/index.m3u8?_HLS_skip=v2");
}

TEST(CacheKey, DropsEveryOtherParameterAndTheWholeQueryOfMedia) {
  EXPECT_EQ(keyOf("/hls/demo/480p/index.m3u8", "token=abc&x=1"), "/hls/demo/480p/index.m3u8");
  EXPECT_EQ(keyOf("/hls/demo/480p/part-100.2.m4s", "_HLS_msn=5&cb=9"), "/hls/demo/480p/part-100.2.m4s");
  auto plain = cacheKey("/hls/demo/480p/index.m3u8", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->blocking);
  // Names are case-sensitive and not percent-decoded, as at the origin.
  EXPECT_EQ(keyOf("/p/index.m3u8", "_hls_msn=5&%5FHLS_msn=6"), "/p/index.m3u8");
}

TEST(CacheKey, RefusesWhatTheOriginWouldRefuse) {
  for (const char* q : {"_HLS_msn=abc", "_HLS_msn=", "_HLS_msn", "_HLS_msn=-1", "_HLS_msn=1&_HLS_msn=2",
                        "_HLS_part=1", "_HLS_msn=1&_HLS_part=x", "_HLS_msn=18446744073709551616"}) {
    auto k = cacheKey("/hls/demo/480p/index.m3u8", q);
    ASSERT_FALSE(k.ok()) << q;
    EXPECT_EQ(k.error().code, code::kBadRequest) << q;
  }
  EXPECT_TRUE(cacheKey("/p/index.m3u8", "_HLS_msn=18446744073709551615").ok());
}

TEST(CacheKey, RefusesPathsThatCannotBeAnUpstreamTarget) {
  for (const char* p : {"", "hls/x.m3u8", "/a b.m3u8", "/a?b", "/a#b", "/a\r\nHost: x"}) {
    EXPECT_FALSE(cacheKey(p, "").ok()) << p;
  }
}

TEST(CacheKey, SaysWhichObjectsMayAppearSoon) {
  ASSERT_TRUE(cacheKey("/hls/d/r/part-1.0.m4s", "").ok());
  EXPECT_TRUE(cacheKey("/hls/d/r/part-1.0.m4s", "")->mayAppearSoon());
  EXPECT_TRUE(cacheKey("/hls/d/r/index.m3u8", "")->mayAppearSoon());
  EXPECT_FALSE(cacheKey("/robots.txt", "")->mayAppearSoon());
}
