// The origin's store and HTTP answers, fed by hand (no encoder): playlists,
// blocking reloads, hinted parts held until they exist, expiry, republish
// with a discontinuity, gaps, and the cap on held requests.

#include "tutti/media/origin.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace tutti::media {
namespace {

constexpr int64_t kSeg = 2'000'000;
constexpr int64_t kPart = 200'000;
// Capture time of msn 1000, part 0.
constexpr int64_t kT0 = 1000 * kSeg;

// Replies land here (the "worker" runs posted functions at once).
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<net::HttpResponse> got;
  net::HttpReply reply() {
    return [this](net::HttpResponse r) {
      // Media comes as shared pieces (sent without a copy): read as one body.
      for (const auto& piece : r.pieces) r.body += *piece;
      std::lock_guard l(mu);
      got.push_back(std::move(r));
      cv.notify_all();
    };
  }
  std::optional<net::HttpResponse> wait(size_t n, int ms = 3000) {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return got.size() >= n; })) return std::nullopt;
    return got[n - 1];
  }
  size_t count() {
    std::lock_guard l(mu);
    return got.size();
  }
};

class OriginTest : public ::testing::Test {
 protected:
  OriginTest() : origin_(config(), clock_, [](size_t, std::function<void()> fn) { fn(); }, registry_) {}

  static OriginConfig config() {
    OriginConfig c;
    c.max_waiters = 3;
    return c;
  }

  void tracks() {
    auto& s = origin_.sinkFor("live");
    TrackInfo v{0, TrackKind::kVideo, "360p", "avc1.64001e", 770'000, 640, 360, 30};
    TrackInfo a{1, TrackKind::kAudio, "audio", "mp4a.40.2", 105'600, 0, 0, 0};
    s.onTrack(v, "INIT-V");
    s.onTrack(a, "INIT-A");
  }

  // Part n of msn (every track), 200 ms each.
  void part(uint64_t msn, uint32_t n, bool discontinuity = false) {
    auto& s = origin_.sinkFor("live");
    for (size_t t = 0; t < 2; ++t) {
      Part p;
      p.msn = msn;
      p.index = n;
      p.first_capture_us = static_cast<int64_t>(msn) * kSeg + n * kPart;
      p.duration_us = kPart;
      p.independent = n == 0 || t == 1;
      p.discontinuity = discontinuity;
      p.bytes = "P" + std::to_string(t) + "-" + std::to_string(msn) + "." + std::to_string(n);
      s.onPart(t, std::move(p));
    }
  }

  net::HttpRequest get(std::string path, std::string query = {}) {
    net::HttpRequest r;
    r.method = "GET";
    r.path = std::move(path);
    r.query = std::move(query);
    r.target = r.path + (r.query.empty() ? "" : "?" + r.query);
    return r;
  }

  net::HttpResponse now(const std::string& path, const std::string& query = {}) {
    Answers a;
    origin_.handle(get(path, query), 0, a.reply());
    auto r = a.wait(1, 100);
    EXPECT_TRUE(r) << path << "?" << query << " was held";
    return r ? *r : net::HttpResponse{0, "", "", {}};
  }

  ManualClock clock_;
  metrics::Registry registry_;
  Origin origin_;
};

TEST_F(OriginTest, UnknownStreamsAndMethodsAreRefused) {
  EXPECT_EQ(now("/hls/nothing/master.m3u8").status, 404);
  tracks();
  EXPECT_EQ(now("/hls/live/1080p/index.m3u8").status, 404);
  auto post = get("/hls/live/master.m3u8");
  post.method = "POST";
  Answers a;
  origin_.handle(post, 0, a.reply());
  EXPECT_EQ(a.wait(1)->status, 405);
}

TEST_F(OriginTest, TheMultivariantPlaylistListsTheRungsWithTheirAudio) {
  tracks();
  part(1000, 0);
  EXPECT_EQ(now("/hls/live/master.m3u8").status, 404) << "listed before a segment is complete";
  part(1001, 0);
  const auto r = now("/hls/live/master.m3u8");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/vnd.apple.mpegurl");
  EXPECT_NE(r.body.find("BANDWIDTH=875600"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("CODECS=\"avc1.64001e,mp4a.40.2\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("RESOLUTION=640x360"), std::string::npos);
  EXPECT_NE(r.body.find("TYPE=AUDIO,GROUP-ID=\"aac\""), std::string::npos);
  EXPECT_NE(r.body.find("360p/index.m3u8"), std::string::npos);
}

TEST_F(OriginTest, PartsSegmentsAndInitAreServedImmutableWithCors) {
  tracks();
  for (uint32_t n = 0; n < 10; ++n) part(1000, n);
  part(1001, 0);
  auto p = now("/hls/live/360p/part-1000.3.m4s");
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "P0-1000.3");
  EXPECT_EQ(p.content_type, "video/mp4");
  bool immutable = false, cors = false;
  for (auto& [k, v] : p.headers) {
    if (k == "Cache-Control" && v.find("immutable") != std::string::npos) immutable = true;
    if (k == "Access-Control-Allow-Origin" && v == "*") cors = true;
  }
  EXPECT_TRUE(immutable);
  EXPECT_TRUE(cors);
  auto seg = now("/hls/live/360p/seg-1000.m4s");
  ASSERT_EQ(seg.status, 200);
  EXPECT_EQ(seg.body, "P0-1000.0P0-1000.1P0-1000.2P0-1000.3P0-1000.4P0-1000.5P0-1000.6P0-1000.7P0-1000.8P0-1000.9");
  // The stored parts themselves, not copies: every response shares them.
  EXPECT_EQ(seg.pieces.size(), 10u);
  ASSERT_EQ(p.pieces.size(), 1u);
  EXPECT_EQ(p.pieces[0].get(), seg.pieces[3].get());
  EXPECT_EQ(now("/hls/live/audio/init-0.mp4").body, "INIT-A");
  EXPECT_EQ(now("/hls/live/audio/part-1000.0.m4s").content_type, "audio/mp4");
  EXPECT_EQ(now("/hls/live/360p/part-999.0.m4s").status, 404);
}

TEST_F(OriginTest, ABlockingReloadIsHeldUntilThePartExists) {
  tracks();
  part(1000, 0);
  part(1000, 1);
  Answers a;
  origin_.handle(get("/hls/live/360p/index.m3u8", "_HLS_msn=1000&_HLS_part=3"), 0, a.reply());
  part(1000, 2);
  EXPECT_EQ(a.count(), 0u) << "answered before part 3 existed";
  part(1000, 3);
  auto r = a.wait(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("part-1000.3.m4s"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\""), std::string::npos) << r->body;
}

TEST_F(OriginTest, TheHintedPartIsHeldThenServed) {
  tracks();
  part(1000, 0);
  const auto pl = now("/hls/live/360p/index.m3u8");
  ASSERT_NE(pl.body.find("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-1000.1.m4s\""), std::string::npos) << pl.body;
  // The audio request waits through the video part's arrival (a release
  // pass that keeps it) before its own part comes.
  Answers audio, video;
  origin_.handle(get("/hls/live/audio/part-1000.1.m4s"), 0, audio.reply());
  origin_.handle(get("/hls/live/360p/part-1000.1.m4s"), 0, video.reply());
  EXPECT_EQ(audio.count() + video.count(), 0u);
  part(1000, 1);
  auto v = video.wait(1);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);
  EXPECT_EQ(v->body, "P0-1000.1");
  auto a = audio.wait(1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "P1-1000.1");
}

TEST_F(OriginTest, BadDirectivesGet400AndAHeldRequestGets503AfterThreeTargetDurations) {
  tracks();
  part(1000, 0);
  EXPECT_EQ(now("/hls/live/360p/index.m3u8", "_HLS_msn=1003").status, 400);
  EXPECT_EQ(now("/hls/live/360p/index.m3u8", "_HLS_part=1").status, 400);
  EXPECT_EQ(now("/hls/live/360p/index.m3u8", "_HLS_msn=x").status, 400);
  Answers a;
  origin_.handle(get("/hls/live/360p/index.m3u8", "_HLS_msn=1001"), 0, a.reply());
  clock_.advanceUs(5'900'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(a.count(), 0u) << "expired before 3 target durations";
  clock_.advanceUs(200'000);
  auto r = a.wait(1);
  ASSERT_TRUE(r) << "the expiry thread never answered";
  EXPECT_EQ(r->status, 503);
}

TEST_F(OriginTest, HeldRequestsAreCappedAndTheRestGet503AtOnce) {
  tracks();
  part(1000, 0);
  Answers a;
  for (int i = 0; i < 3; ++i) origin_.handle(get("/hls/live/360p/index.m3u8", "_HLS_msn=1001&_HLS_part=0"), 0, a.reply());
  EXPECT_EQ(a.count(), 0u);
  origin_.handle(get("/hls/live/360p/index.m3u8", "_HLS_msn=1001"), 0, a.reply());
  auto r = a.wait(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(registry_.valueOf("tutti_hls_blocked_requests"), 3);
  part(1001, 0);
  ASSERT_TRUE(a.wait(4));
  EXPECT_EQ(registry_.valueOf("tutti_hls_blocked_requests"), 0);
}

TEST_F(OriginTest, ARepublishStartsANewDiscontinuityWithItsOwnInitAndGapsFillTheOutage) {
  tracks();
  for (uint32_t n = 0; n < 10; ++n) part(1000, n);
  // The publisher is gone for two segments, then a new encoder starts.
  origin_.sinkFor("live").onEnd();
  auto& s = origin_.sinkFor("live");
  s.onTrack(TrackInfo{0, TrackKind::kVideo, "360p", "avc1.64001e", 770'000, 640, 360, 30}, "INIT-V2");
  s.onTrack(TrackInfo{1, TrackKind::kAudio, "audio", "mp4a.40.2", 105'600, 0, 0, 0}, "INIT-A2");
  part(1003, 0, /*discontinuity=*/true);
  const auto pl = now("/hls/live/360p/index.m3u8");
  ASSERT_EQ(pl.status, 200);
  EXPECT_NE(pl.body.find("#EXT-X-GAP"), std::string::npos) << pl.body;
  EXPECT_NE(pl.body.find("#EXT-X-DISCONTINUITY"), std::string::npos) << pl.body;
  EXPECT_NE(pl.body.find("init-1.mp4"), std::string::npos) << pl.body;
  EXPECT_EQ(now("/hls/live/360p/init-1.mp4").body, "INIT-V2");
  EXPECT_EQ(now("/hls/live/360p/init-0.mp4").body, "INIT-V");
  EXPECT_EQ(now("/hls/live/360p/part-1003.0.m4s").body, "P0-1003.0");
}

TEST_F(OriginTest, AnEventGoesIntoThePlaylistAndAsEmsgIntoThePartHoldingItsFrame) {
  tracks();
  part(1000, 0);
  MediaEvent ev;
  ev.id = "result-7";
  ev.media_ts_us = kT0 + 3 * kPart + 50'000;  // inside part 3 of msn 1000
  ev.class_name = "tutti.result";
  ev.data = R"({"winner":"red 7"})";
  ASSERT_TRUE(origin_.addEvent("live", ev).ok());
  EXPECT_FALSE(origin_.addEvent("live", ev).ok()) << "an id is never reused";
  EXPECT_FALSE(origin_.addEvent("nowhere", ev).ok());
  for (uint32_t n = 1; n < 5; ++n) part(1000, n);
  const auto pl = now("/hls/live/360p/index.m3u8");
  EXPECT_NE(pl.body.find("#EXT-X-DATERANGE:ID=\"result-7\",CLASS=\"tutti.result\",START-DATE="), std::string::npos) << pl.body;
  EXPECT_NE(pl.body.find("X-TUTTI-DATA=\"eyJ3aW5uZXIiOiJyZWQgNyJ9\""), std::string::npos) << pl.body;
  // Part 3 starts with the emsg box; the parts around it do not.
  const auto p3 = now("/hls/live/360p/part-1000.3.m4s").body;
  ASSERT_GT(p3.size(), 8u);
  EXPECT_EQ(p3.substr(4, 4), "emsg");
  const uint32_t box = (static_cast<uint8_t>(p3[0]) << 24) | (static_cast<uint8_t>(p3[1]) << 16) |
                       (static_cast<uint8_t>(p3[2]) << 8) | static_cast<uint8_t>(p3[3]);
  EXPECT_EQ(p3.substr(box), "P0-1000.3") << "the part follows the box unchanged";
  EXPECT_NE(p3.find("urn:tutti:event:2026"), std::string::npos);
  EXPECT_NE(p3.find(ev.data), std::string::npos);
  EXPECT_EQ(now("/hls/live/360p/part-1000.2.m4s").body, "P0-1000.2");
  EXPECT_EQ(now("/hls/live/360p/part-1000.4.m4s").body, "P0-1000.4");
  EXPECT_EQ(now("/hls/live/audio/part-1000.3.m4s").body.substr(4, 4), "emsg") << "every rendition carries it";
  EXPECT_EQ(registry_.valueOf("tutti_media_events_placed_total"), 2);
  // A late event (its part is out already) is in the playlist only.
  MediaEvent late = ev;
  late.id = "late";
  late.media_ts_us = kT0 + 50'000;
  ASSERT_TRUE(origin_.addEvent("live", late).ok());
  part(1000, 5);
  EXPECT_EQ(now("/hls/live/360p/part-1000.0.m4s").body, "P0-1000.0");
  EXPECT_NE(now("/hls/live/360p/index.m3u8").body.find("ID=\"late\""), std::string::npos);
}

TEST_F(OriginTest, ThePartBeingWrittenIsStreamedAsItGrowsAndStoredWhole) {
  tracks();
  part(1000, 0);
  auto& s = origin_.sinkFor("live");
  auto chunk = [&](uint32_t n, bool first, std::string bytes) {
    Chunk c;
    c.msn = 1000;
    c.index = n;
    c.first_capture_us = kT0 + n * kPart;
    c.first = first;
    c.bytes = std::move(bytes);
    s.onChunk(0, c);
  };
  // The hinted part is requested before it exists: held.
  Answers a;
  origin_.handle(get("/hls/live/360p/part-1000.1.m4s"), 0, a.reply());
  EXPECT_EQ(a.count(), 0u);
  // Its first chunk: the response starts, streamed.
  chunk(1, true, "AAA");
  auto r = a.wait(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(r->stream) << "not streamed";
  std::vector<std::pair<std::string, bool>> pieces;
  std::function<void()> pull = [&] {
    r->stream->next([&](std::string piece, bool last) { pieces.emplace_back(std::move(piece), last); });
  };
  pull();
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0], (std::pair<std::string, bool>{"AAA", false}));
  pull();  // nothing new yet: waits
  EXPECT_EQ(pieces.size(), 1u);
  chunk(1, false, "BB");
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[1], (std::pair<std::string, bool>{"BB", false}));
  pull();
  // The part completes: the rest and the end.
  Part p;
  p.msn = 1000;
  p.index = 1;
  p.first_capture_us = kT0 + kPart;
  p.duration_us = kPart;
  p.bytes = "AAABB";
  s.onPart(0, std::move(p));
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_TRUE(pieces[2].second) << "no end";
  EXPECT_EQ(pieces[0].first + pieces[1].first + pieces[2].first, "AAABB");
  EXPECT_EQ(now("/hls/live/360p/part-1000.1.m4s").body, "AAABB") << "stored whole";
  EXPECT_EQ(registry_.valueOf("tutti_hls_streamed_parts_total"), 1);
}

}  // namespace
}  // namespace tutti::media
