// The edge's HTTP side (docs/edge.md) between a real origin (the synthetic
// camera's LL-HLS) and real viewers on loopback: what viewers of two edges
// get, how many origin requests a crowd costs, an origin that dies and comes
// back, and upstreams that answer with garbage.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/wait.h"

namespace tutti::test {
namespace {

std::string originConfig(uint16_t port = 0) {
  std::string c = "[server]\nworkers = 1\n";
  if (port) c += "listen = \"127.0.0.1:" + std::to_string(port) + "\"\n";
  return c + "[media]\ncamera = true\ncamera_size = \"426x240\"\n";
}

std::string edgeConfig(uint16_t origin_port, const std::vector<uint16_t>& parents = {}, uint16_t listen = 0) {
  std::string c = "[server]\nworkers = 2\nrole = \"edge\"\napi_key = \"k\"\n";
  if (listen) c += "listen = \"127.0.0.1:" + std::to_string(listen) + "\"\n";
  c += "[limits]\nmax_connections_per_ip = 5000\n[edge]\norigins = [\"127.0.0.1:" + std::to_string(origin_port) +
       "\"]\nprobe_interval_ms = 200\n";
  if (!parents.empty()) {
    c += "parents = [";
    for (size_t i = 0; i < parents.size(); ++i) c += (i ? ", \"127.0.0.1:" : "\"127.0.0.1:") + std::to_string(parents[i]) + "\"";
    c += "]\n";
  }
  return c;
}

// The last complete part and the preload-hinted one of a media playlist.
struct Parts {
  std::string complete, hinted;
};
Parts partsOf(const std::string& playlist) {
  Parts p;
  for (size_t at = playlist.find("#EXT-X-PART:"); at != std::string::npos; at = playlist.find("#EXT-X-PART:", at + 1)) {
    const auto u = playlist.find("URI=\"", at);
    p.complete = playlist.substr(u + 5, playlist.find('"', u + 5) - u - 5);
  }
  if (const auto h = playlist.find("#EXT-X-PRELOAD-HINT:"); h != std::string::npos) {
    const auto u = playlist.find("URI=\"", h);
    p.hinted = playlist.substr(u + 5, playlist.find('"', u + 5) - u - 5);
  }
  return p;
}

bool waitForParts(uint16_t port, const std::string& target, int timeout_ms) {
  return eventually([&] { return !partsOf(httpGet(port, target).body).complete.empty(); }, timeout_ms, 100);
}

// A counter not incremented yet is not listed: 0.
double metric(uint16_t port, const char* series) { return metricValue(port, series).value_or(0); }

// n viewers asking for one target at once, each on its own connection: the
// status and body length of each answer.
std::vector<std::pair<int, size_t>> crowd(uint16_t port, const std::string& target, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      continue;
    }
    fds.push_back(fd);
  }
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";
  for (int fd : fds) (void)!::write(fd, req.data(), req.size());
  std::vector<std::string> got(fds.size());
  std::vector<bool> open(fds.size(), true);
  size_t left = fds.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> p;
    std::vector<size_t> idx;
    for (size_t i = 0; i < fds.size(); ++i)
      if (open[i]) {
        p.push_back({fds[i], POLLIN, 0});
        idx.push_back(i);
      }
    if (::poll(p.data(), p.size(), 200) <= 0) continue;
    for (size_t k = 0; k < p.size(); ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[16384];
      const ssize_t r = ::read(p[k].fd, buf, sizeof buf);
      if (r > 0) {
        got[idx[k]].append(buf, static_cast<size_t>(r));
      } else {
        open[idx[k]] = false;
        --left;
      }
    }
  }
  std::vector<std::pair<int, size_t>> out;
  for (size_t i = 0; i < fds.size(); ++i) {
    ::close(fds[i]);
    const auto& g = got[i];
    const int status = g.size() > 12 ? std::atoi(g.substr(9, 3).c_str()) : 0;
    const auto head_end = g.find("\r\n\r\n");
    out.emplace_back(status, head_end == std::string::npos ? 0 : g.size() - head_end - 4);
  }
  return out;
}

// Waits for two complete segments in the origin's playlist (past the short
// first one, whose hinted parts may never come); the part it hints next.
std::string nextHintedPart(uint16_t origin_port, const std::string& pl) {
  EXPECT_TRUE(eventually(
      [&] {
        const auto body = httpGet(origin_port, pl).body;
        size_t n = 0;
        for (auto at = body.find("#EXTINF:"); at != std::string::npos; at = body.find("#EXTINF:", at + 1)) ++n;
        return n >= 2;
      },
      20000, 100));
  return partsOf(httpGet(origin_port, pl).body).hinted;
}

TEST(EdgeHttp, ViewersOfTwoEdgesGetTheOriginsBytes) {
  auto origin = startServer(originConfig());
  ASSERT_TRUE(origin);
  auto a = startServer(edgeConfig(origin->port()));
  auto b = startServer(edgeConfig(origin->port()));
  ASSERT_TRUE(a && b);
  const std::string pl = "/hls/demo/240p/index.m3u8";
  ASSERT_TRUE(waitForParts(a->port(), pl, 20000));
  const auto part = "/hls/demo/240p/" + partsOf(httpGet(a->port(), pl).body).complete;
  const auto at_origin = httpGet(origin->port(), part);
  ASSERT_EQ(at_origin.status, 200) << part;
  const auto via_a = httpGet(a->port(), part);
  const auto via_b = httpGet(b->port(), part);
  EXPECT_EQ(via_a.status, 200);
  EXPECT_EQ(via_b.status, 200);
  EXPECT_EQ(via_a.body, at_origin.body);
  EXPECT_EQ(via_b.body, at_origin.body);
  EXPECT_EQ(via_a.content_type, "video/mp4");
  EXPECT_NE(via_a.header("cache-control").find("immutable"), std::string::npos);
  // The second viewer of an edge is a hit.
  EXPECT_EQ(httpGet(a->port(), part).header("x-cache"), "HIT");
  // A whole segment (larger than the edge keeps in memory: it is sent from
  // a file with sendfile), twice on one connection, as the origin has it.
  // The stream's first segment can be short (and, on a slow sanitizer build,
  // below that size): take the newest complete one that is not.
  std::string seg;
  HttpResponse seg_origin;
  ASSERT_TRUE(eventually([&] {
    const auto text = httpGet(origin->port(), pl).body;
    std::vector<std::string> segs;
    for (auto at = text.find("\nseg-"); at != std::string::npos; at = text.find("\nseg-", at + 1))
      segs.push_back("/hls/demo/240p/" + text.substr(at + 1, text.find('\n', at + 1) - at - 1));
    for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
      seg_origin = httpGet(origin->port(), *it);
      if (seg_origin.status == 200 && seg_origin.body.size() > 8u * 1024) {
        seg = *it;
        return true;
      }
    }
    return false;
  }, 20000, 200)) << "no segment above 8 KiB: the file path is not tested";
  EXPECT_EQ(httpGet(b->port(), seg).body, seg_origin.body);
  const auto seg_hit = httpGet(b->port(), seg);
  EXPECT_EQ(seg_hit.header("x-cache"), "HIT");
  EXPECT_EQ(seg_hit.body, seg_origin.body);
  // The multivariant playlist is listed once every rendition has a complete
  // segment (404 before): wait for that at the origin, then compare.
  const std::string mv = "/hls/demo/master.m3u8";
  ASSERT_TRUE(eventually([&] { return httpGet(origin->port(), mv).status == 200; }, 15000, 100));
  const auto mv_origin = httpGet(origin->port(), mv);
  ASSERT_NE(mv_origin.body.find("#EXT-X-STREAM-INF"), std::string::npos) << mv_origin.body;
  for (const auto* edge : {&a, &b}) {
    // An edge may still hold the origin's early 404 for its short negative TTL.
    ASSERT_TRUE(eventually([&] { return httpGet((*edge)->port(), mv).status == 200; }, 5000, 100));
    EXPECT_EQ(httpGet((*edge)->port(), mv).body, mv_origin.body);
  }
}

TEST(EdgeHttp, FiveHundredViewersOfAnUncachedPartCostTheOriginOneRequest) {
  auto origin = startServer(originConfig());
  ASSERT_TRUE(origin);
  auto edge = startServer(edgeConfig(origin->port()));
  ASSERT_TRUE(edge);
  const std::string pl = "/hls/demo/240p/index.m3u8";
  // The part the origin's playlist hints: not made yet, so nobody has it.
  const std::string hinted = "/hls/demo/240p/" + nextHintedPart(origin->port(), pl);
  const double before = metric(origin->port(), "tutti_hls_requests_total{kind=\"part\"}");
  const auto answers = crowd(edge->port(), hinted, 500);
  ASSERT_EQ(answers.size(), 500u);
  size_t ok = 0;
  for (const auto& [status, length] : answers) {
    if (status == 200 && length == answers.front().second && length > 0) ++ok;
  }
  EXPECT_EQ(ok, 500u) << "every viewer gets the same part; the first: " << answers.front().first << " with "
                      << answers.front().second << " bytes, the last: " << answers.back().first << "; " << hinted;
  const double after = metric(origin->port(), "tutti_hls_requests_total{kind=\"part\"}");
  EXPECT_EQ(after - before, 1) << "one origin request for 500 viewers; the edge's flights: "
                               << metric(edge->port(), "tutti_edge_upstream_fetches_total") << ", answers "
                               << metric(edge->port(), "tutti_edge_upstream_answers_total{outcome=\"ok\"}") << " ok, "
                               << metric(edge->port(), "tutti_edge_upstream_answers_total{outcome=\"failed\"}") << " failed";
  // Every other viewer waited behind that one fetch, or (arriving after it,
  // on a slow machine) was answered from the cache.
  EXPECT_GE(metric(edge->port(), "tutti_edge_coalesced_requests_total") +
                metric(edge->port(), "tutti_edge_cache_hits_total"),
            499);
}

TEST(EdgeHttp, ATierOfParentsCostsTheOriginOneRequestForTheViewersOfEveryChild) {
  auto origin = startServer(originConfig());
  ASSERT_TRUE(origin);
  auto parent = startServer(edgeConfig(origin->port()));
  ASSERT_TRUE(parent);
  auto c1 = startServer(edgeConfig(origin->port(), {parent->port()}));
  auto c2 = startServer(edgeConfig(origin->port(), {parent->port()}));
  ASSERT_TRUE(c1 && c2);
  const std::string parent_up = "tutti_edge_parent_up{parent=\"127.0.0.1:" + std::to_string(parent->port()) + "\"}";
  ASSERT_TRUE(eventually([&] { return metric(c1->port(), parent_up.c_str()) == 1 && metric(c2->port(), parent_up.c_str()) == 1; },
                         10000, 100));
  const std::string pl = "/hls/demo/240p/index.m3u8";
  const std::string hinted = "/hls/demo/240p/" + nextHintedPart(origin->port(), pl);
  const double before = metric(origin->port(), "tutti_hls_requests_total{kind=\"part\"}");
  // 100 viewers at each child at once, for the part nobody has yet.
  std::vector<std::pair<int, size_t>> at1, at2;
  std::thread t1([&] { at1 = crowd(c1->port(), hinted, 100); });
  std::thread t2([&] { at2 = crowd(c2->port(), hinted, 100); });
  t1.join();
  t2.join();
  ASSERT_EQ(at1.size(), 100u);
  ASSERT_EQ(at2.size(), 100u);
  size_t ok = 0;
  for (const auto* set : {&at1, &at2})
    for (const auto& [status, length] : *set)
      if (status == 200 && length == at1.front().second && length > 0) ++ok;
  EXPECT_EQ(ok, 200u) << hinted << ": first " << at1.front().first << ", " << at2.front().first;
  EXPECT_EQ(metric(origin->port(), "tutti_hls_requests_total{kind=\"part\"}") - before, 1)
      << "the parent collapses both children's fetches into one origin request";
  // Each child fetched from the parent, not from the origin.
  EXPECT_EQ(metric(c1->port(), "tutti_edge_upstream_answers_total{outcome=\"ok\"}"), 1);
  EXPECT_EQ(metric(c2->port(), "tutti_edge_upstream_answers_total{outcome=\"ok\"}"), 1);
  EXPECT_EQ(metric(parent->port(), "tutti_edge_upstream_answers_total{outcome=\"ok\"}"), 1);
  EXPECT_EQ(httpGet(c1->port(), hinted).body, httpGet(origin->port(), hinted).body);

  // The parent dies: the children see it down and go to the origin themselves.
  parent->sendSignal(SIGKILL);
  parent->waitExit(5000);
  ASSERT_TRUE(eventually([&] { return metric(c1->port(), parent_up.c_str()) == 0; }, 10000, 100));
  const std::string next = "/hls/demo/240p/" + nextHintedPart(origin->port(), pl);
  const auto via = httpGet(c1->port(), next);
  EXPECT_EQ(via.status, 200) << next << ": " << via.body;
  EXPECT_EQ(via.body, httpGet(origin->port(), next).body);
}

TEST(EdgeHttp, TwoEdgesThatAreEachOthersParentDetectTheLoopAndAskTheOrigin) {
  auto origin = startServer(originConfig());
  ASSERT_TRUE(origin);
  const uint16_t pa = freeLoopbackPort(SOCK_STREAM);
  const uint16_t pb = freeLoopbackPort(SOCK_STREAM);
  auto a = startServer(edgeConfig(origin->port(), {pb}, pa));
  auto b = startServer(edgeConfig(origin->port(), {pa}, pb));
  ASSERT_TRUE(a && b);
  const std::string up_b = "tutti_edge_parent_up{parent=\"127.0.0.1:" + std::to_string(pb) + "\"}";
  ASSERT_TRUE(eventually([&] { return metric(a->port(), up_b.c_str()) == 1; }, 10000, 100));
  const std::string pl = "/hls/demo/240p/index.m3u8";
  ASSERT_TRUE(waitForParts(origin->port(), pl, 20000));
  const std::string part = "/hls/demo/240p/" + partsOf(httpGet(origin->port(), pl).body).complete;
  // a asks b (its parent), b asks a (its parent) with a in CDN-Loop: a
  // refuses with 508, and b goes on to the origin.
  const auto got = httpGet(a->port(), part);
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, httpGet(origin->port(), part).body);
  EXPECT_EQ(metric(a->port(), "tutti_edge_loops_total"), 1);
}

TEST(EdgeHttp, AFloodOfDistinctObjectsReachesTheOriginOnlyUpToTheFetchBound) {
  auto origin = startServer(originConfig());
  ASSERT_TRUE(origin);
  auto edge = startServer(edgeConfig(origin->port()) + "max_fetches = 1\n");
  ASSERT_TRUE(edge);
  const std::string pl = "/hls/demo/240p/index.m3u8";
  const std::string hinted = nextHintedPart(origin->port(), pl);
  // Two objects nobody has yet, asked at once: the hinted part, and the
  // playlist that will list it (a blocking request), both held by the origin.
  const auto text = httpGet(origin->port(), pl).body;
  const auto dot = hinted.rfind('.', hinted.size() - 5);
  const std::string msn = hinted.substr(5, dot - 5), part = hinted.substr(dot + 1, hinted.size() - 4 - dot - 1);
  const std::string targets[2] = {"/hls/demo/240p/" + hinted, pl + "?_HLS_msn=" + msn + "&_HLS_part=" + part};
  const double before = metric(origin->port(), "tutti_hls_requests_total{kind=\"part\"}") +
                        metric(origin->port(), "tutti_hls_requests_total{kind=\"playlist\"}");
  HttpResponse got[2];
  std::thread t0([&] { got[0] = httpGet(edge->port(), targets[0]); });
  std::thread t1([&] { got[1] = httpGet(edge->port(), targets[1]); });
  t0.join();
  t1.join();
  const int ok = (got[0].status == 200) + (got[1].status == 200);
  const int busy = (got[0].status == 503) + (got[1].status == 503);
  EXPECT_EQ(ok, 1) << targets[0] << ": " << got[0].status << ", " << targets[1] << ": " << got[1].status;
  EXPECT_EQ(busy, 1) << "the second object in the air is refused at once";
  EXPECT_EQ(metric(edge->port(), "tutti_edge_coalescer_busy_total"), 1);
  EXPECT_EQ(metric(origin->port(), "tutti_hls_requests_total{kind=\"part\"}") +
                metric(origin->port(), "tutti_hls_requests_total{kind=\"playlist\"}") - before,
            1)
      << "only the admitted one reached the origin";
  // Once it has landed, the other is fetched.
  for (const auto& t : targets) EXPECT_EQ(httpGet(edge->port(), t).status, 200) << t;
}

TEST(EdgeHttp, KeepsServingWhenTheOriginDiesAndResumesWhenItReturns) {
  const uint16_t port = freeLoopbackPort(SOCK_STREAM);
  auto origin = startServer(originConfig(port));
  ASSERT_TRUE(origin);
  ASSERT_EQ(origin->port(), port);
  auto edge = startServer(edgeConfig(port));
  ASSERT_TRUE(edge);
  const std::string pl = "/hls/demo/240p/index.m3u8";
  ASSERT_TRUE(waitForParts(edge->port(), pl, 20000));
  const std::string before_text = httpGet(edge->port(), pl).body;
  const std::string part = "/hls/demo/240p/" + partsOf(before_text).complete;
  const auto part_bytes = httpGet(edge->port(), part).body;
  ASSERT_FALSE(part_bytes.empty());
  ASSERT_TRUE(eventually([&] { return httpGet(edge->port(), "/hls/demo/master.m3u8").status == 200; }, 10000, 100));
  const std::string master = httpGet(edge->port(), "/hls/demo/master.m3u8").body;

  const std::string up_series = "tutti_edge_origin_up{origin=\"127.0.0.1:" + std::to_string(port) + "\"}";
  origin->sendSignal(SIGKILL);
  origin->waitExit(5000);
  // The edge notices (health probes every 200 ms, down after 3 failures)...
  EXPECT_TRUE(eventually([&] { return metric(edge->port(), up_series.c_str()) == 0; }, 5000, 50));
  EXPECT_NE(httpGet(edge->port(), "/api/edge", {{"X-API-Key", "k"}}).body.find("\"up\":false"), std::string::npos);
  // ...and serves what it has: the part, and the playlists past their
  // freshness (stale-if-error), marked so.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  const auto part_again = httpGet(edge->port(), part);
  EXPECT_EQ(part_again.status, 200);
  EXPECT_EQ(part_again.body, part_bytes);
  const auto stale = httpGet(edge->port(), pl);
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.header("x-cache"), "STALE");
  EXPECT_EQ(stale.body, before_text);
  EXPECT_EQ(httpGet(edge->port(), "/hls/demo/master.m3u8").body, master);
  EXPECT_GE(metric(edge->port(), "tutti_edge_served_stale_total"), 1);
  EXPECT_EQ(httpGet(edge->port(), "/healthz").status, 200);

  // The origin returns where it was: the edge marks it up and serves new media.
  auto back = startServer(originConfig(port));
  ASSERT_TRUE(back);
  EXPECT_TRUE(eventually([&] { return metric(edge->port(), up_series.c_str()) == 1; }, 5000, 50));
  std::string fresh;
  EXPECT_TRUE(eventually(
      [&] {
        const auto r = httpGet(edge->port(), pl);
        fresh = r.body;
        return r.status == 200 && r.header("x-cache") != "STALE" && !partsOf(fresh).complete.empty() && fresh != before_text;
      },
      20000, 200))
      << fresh;
}

// An upstream that answers every request with `answer` and then closes.
class FakeUpstream {
 public:
  explicit FakeUpstream(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 64);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        char buf[4096];
        (void)!::read(c, buf, sizeof buf);
        (void)!::write(c, answer_.data(), answer_.size());
        ::close(c);
      }
    });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  std::string answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(EdgeHttp, HostileUpstreamAnswersCostAnErrorNotTheEdge) {
  std::string noise(5000, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 7919) ^ (i >> 3));
  const std::vector<std::string> answers = {
      noise,                                                                          // not HTTP
      "HTTP/1.1 200 OK\r\nContent-Length: 900000000\r\n\r\npartial",                 // oversized
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",                            // cut short
      "HTTP/1.1 200 OK\r\n" + std::string(40000, 'X') + ": y\r\n\r\n",               // a giant head
  };
  for (const auto& answer : answers) {
    FakeUpstream up(answer);
    auto edge = startServer(edgeConfig(up.port()));
    ASSERT_TRUE(edge);
    const auto r = httpGet(edge->port(), "/hls/demo/240p/part-1.0.m4s", {}, 15000);
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_EQ(httpGet(edge->port(), "/healthz").status, 200);
    EXPECT_GE(metric(edge->port(), "tutti_edge_upstream_answers_total{outcome=\"failed\"}"), 1);
  }
  // Requests that cannot be cache keys never reach an upstream.
  FakeUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  auto edge = startServer(edgeConfig(up.port()));
  ASSERT_TRUE(edge);
  EXPECT_EQ(httpGet(edge->port(), "/hls/demo/240p/index.m3u8?_HLS_part=3").status, 400);
  EXPECT_EQ(metric(edge->port(), "tutti_edge_bad_requests_total"), 1);
}

}  // namespace
}  // namespace tutti::test
