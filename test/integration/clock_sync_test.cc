// Clock sync end to end: the C++ SDK against a real `tutti serve`, through
// the netem TCP proxy (tools/netem). Server and test share the machine, so
// the server's clock is tutti::SystemClock and every serverNow() can be
// checked against the truth. Also fair windows, whose decisions rest on the
// synced stamp.
//
// Needs tutti_netem linked into integration_test; without it these tests
// compile to a skip.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "test/common/harness.h"
#include "test/common/wait.h"
#include "tutti/core/clock.h"
#include "tutti/sdk/client.h"
#include "tutti/sdk/test_clock.h"

#if __has_include("tutti/netem/proxy.h")
#define TUTTI_HAVE_NETEM 1
#include "tutti/netem/proxy.h"
#endif

namespace tutti::test {
namespace {

#ifdef TUTTI_HAVE_NETEM

constexpr char kConfig[] = R"(
[server]
workers = 2
audit_log = ""
rtt_probe_interval_ms = 200

[auth]
anonymous_windows = ["*"]
)";

const Clock& sys() { return SystemClock::instance(); }

std::unique_ptr<netem::Proxy> startProxy(uint16_t target_port, netem::LinkConfig up, netem::LinkConfig down,
                                         uint64_t seed) {
  netem::ProxyConfig cfg;
  cfg.target_port = target_port;
  cfg.up = up;
  cfg.down = down;
  cfg.seed = seed;
  auto p = netem::Proxy::startTcp(cfg);
  if (!p) {
    ADD_FAILURE() << "proxy: " << p.error().message;
    return nullptr;
  }
  return std::move(*p);
}

sdk::ClientOptions viaProxy(const netem::Proxy& proxy) {
  sdk::ClientOptions o;
  o.url = "ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws";
  o.request_timeout_ms = 10000;
  o.connect_timeout_ms = 5000;
  return o;
}

struct Probe {
  int64_t error_us;        // serverNow() - the server's real clock
  int64_t uncertainty_us;  // what the SDK claimed, plus the probe's own reading window
  bool synced;
};

// serverNow() against the real clock, every `every_us`, for `duration_ms`.
std::vector<Probe> probe(const sdk::Client& c, int64_t duration_ms, int64_t every_us = 2'000) {
  std::vector<Probe> out;
  const int64_t end = sys().monoUs() + duration_ms * 1000;
  while (sys().monoUs() < end) {
    const int64_t a = sys().wallUs();
    const sdk::ServerTime st = c.serverNow();
    const int64_t b = sys().wallUs();
    // A reading the host interrupted (a VM losing its CPU) measures nothing.
    if (b - a <= 200) out.push_back(Probe{st.time_us - (a + b) / 2, st.uncertainty_us + (b - a + 1) / 2, st.synced});
    std::this_thread::sleep_for(std::chrono::microseconds(every_us));
  }
  return out;
}

int64_t p99Abs(const std::vector<Probe>& ps) {
  std::vector<int64_t> e;
  for (const auto& p : ps) e.push_back(std::llabs(p.error_us));
  if (e.empty()) return INT64_MAX;
  std::sort(e.begin(), e.end());
  return e[std::min(e.size() - 1, e.size() * 99 / 100)];
}

size_t uncovered(const std::vector<Probe>& ps) {
  size_t n = 0;
  for (const auto& p : ps) n += (!p.synced || std::llabs(p.error_us) > p.uncertainty_us) ? 1 : 0;
  return n;
}

void printStats(const char* what, const std::vector<Probe>& ps, const sdk::ClockStats& s) {
  int64_t max_abs = 0, max_unc = 0, min_unc = INT64_MAX;
  for (const auto& p : ps) {
    max_abs = std::max<int64_t>(max_abs, std::llabs(p.error_us));
    max_unc = std::max(max_unc, p.uncertainty_us);
    min_unc = std::min(min_unc, p.uncertainty_us);
  }
  std::printf(
      "[clock sync] %s: %zu probes, |error| p99 %lld us max %lld us, uncertainty %lld..%lld us; drift %.1f ppm, "
      "best rtt %lld us, %zu samples, %llu requests, %llu resets\n",
      what, ps.size(), static_cast<long long>(p99Abs(ps)), static_cast<long long>(max_abs),
      static_cast<long long>(min_unc), static_cast<long long>(max_unc), s.drift_ppm,
      static_cast<long long>(s.best_rtt_us), s.samples, static_cast<unsigned long long>(s.requests),
      static_cast<unsigned long long>(s.resets));
}

void sleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

TEST(ClockSync, ConvergesBelowOneMillisecondOverAJitteryLink) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  auto proxy = startProxy(server->port(), {.delay_us = 40'000, .jitter_us = 10'000},
                          {.delay_us = 40'000, .jitter_us = 10'000}, 1);
  ASSERT_TRUE(proxy);
  sdk::Client client(viaProxy(*proxy));
  const int64_t connected_at = sys().monoUs();
  ASSERT_TRUE(await(client.connect()).ok());
  ASSERT_TRUE(eventually([&] { return client.serverNow().synced; }, 5000));
  // Every answer is honest from the first exchange on.
  auto early = probe(client, 1000);
  EXPECT_EQ(uncovered(early), 0u) << "probes in the first second whose error the uncertainty did not cover";
  sleepMs(std::max<int64_t>(0, 5000 - (sys().monoUs() - connected_at) / 1000));
  auto ps = probe(client, 2000);
  printStats("40 +- 10 ms each way, after 5 s", ps, client.syncStats());
  EXPECT_LE(p99Abs(ps), 1000) << "|serverNow() error| p99 after 5 s";
  EXPECT_EQ(uncovered(ps), 0u);
}

TEST(ClockSync, AsymmetricPathErrsByHalfTheAsymmetryAndSaysSo) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  auto proxy = startProxy(server->port(), {.delay_us = 10'000}, {.delay_us = 60'000}, 2);
  ASSERT_TRUE(proxy);
  sdk::Client client(viaProxy(*proxy));
  ASSERT_TRUE(await(client.connect()).ok());
  ASSERT_TRUE(eventually([&] { return client.serverNow().synced; }, 5000));
  auto first = probe(client, 500);
  sleepMs(3000);
  auto ps = probe(client, 1000);
  printStats("10 ms up, 60 ms down", ps, client.syncStats());
  // The reply path is 50 ms slower than the request path: the estimate puts
  // the server 25 ms behind the truth, and the uncertainty (half the RTT) says so.
  for (const auto& p : ps) ASSERT_NEAR(p.error_us, -25'000, 3'000);
  EXPECT_EQ(uncovered(first), 0u);
  EXPECT_EQ(uncovered(ps), 0u);
}

TEST(ClockSync, RecoversAClientClockOffsetDriftAndStep) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  auto proxy = startProxy(server->port(), {.delay_us = 10'000, .jitter_us = 2'000},
                          {.delay_us = 10'000, .jitter_us = 2'000}, 3);
  ASSERT_TRUE(proxy);
  // The client's clock is 3 s ahead and runs 150 ppm fast.
  sdk::OffsetDriftClock wrong(sys(), 3'000'000, 150);
  auto o = viaProxy(*proxy);
  o.clock = &wrong;
  o.sync_burst_ms = 30'000;  // exchanges every 20 ms throughout, so drift is fitted within the test
  sdk::Client client(o);
  ASSERT_TRUE(await(client.connect()).ok());
  ASSERT_TRUE(eventually([&] { return client.serverNow().synced; }, 5000));
  auto early = probe(client, 500);
  sleepMs(11'000);
  auto ps = probe(client, 1000);
  auto st = client.syncStats();
  printStats("client clock +3 s, +150 ppm", ps, st);
  EXPECT_LE(p99Abs(ps), 1000);
  EXPECT_EQ(uncovered(early), 0u);
  EXPECT_EQ(uncovered(ps), 0u);
  EXPECT_NEAR(st.drift_ppm, 150, 20);
  EXPECT_NEAR(static_cast<double>(st.offset_us), -3'000'000.0, 5'000.0);

  // Someone sets the client clock 100 ms ahead: the estimator notices the
  // contradiction on the next exchanges and starts over from them.
  wrong.stepUs(100'000);
  sleepMs(3000);
  auto after = probe(client, 1000);
  auto st2 = client.syncStats();
  printStats("3 s after a +100 ms client clock step", after, st2);
  EXPECT_GE(st2.resets, 1u);
  EXPECT_LE(p99Abs(after), 1000);
  EXPECT_EQ(uncovered(after), 0u);
}

TEST(ClockSync, KeepsItsEstimateAcrossReconnects) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  auto proxy = startProxy(server->port(), {.delay_us = 5'000}, {.delay_us = 5'000}, 4);
  ASSERT_TRUE(proxy);
  auto o = viaProxy(*proxy);
  o.backoff_min_ms = 50;
  o.backoff_max_ms = 200;
  sdk::Client client(o);
  ASSERT_TRUE(await(client.connect()).ok());
  ASSERT_TRUE(eventually([&] { return client.syncStats().samples >= 20; }, 5000));
  proxy->cut();
  // While the link is down the estimate stands.
  EXPECT_TRUE(client.serverNow().synced);
  const size_t before = client.syncStats().replies;
  ASSERT_TRUE(eventually([&] { return client.counters().reconnects >= 1; }, 10000));
  // A new burst after the reconnect, into the same window.
  ASSERT_TRUE(eventually([&] { return client.syncStats().replies >= before + 20; }, 5000));
  auto ps = probe(client, 300);
  EXPECT_EQ(uncovered(ps), 0u);
  EXPECT_LE(p99Abs(ps), 1000);
}

TEST(FairWindow, SyncedActionsAreJudgedByTheirStamp) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  auto proxy = startProxy(server->port(), {.delay_us = 20'000}, {.delay_us = 20'000}, 5);
  ASSERT_TRUE(proxy);
  sdk::Client client(viaProxy(*proxy));
  ASSERT_TRUE(await(client.connect()).ok());
  // Synced, and the server has measured this connection's round trip.
  ASSERT_TRUE(eventually([&] { return client.syncStats().samples >= 20; }, 5000));
  sleepMs(1000);

  auto w = await(client.openWindow("table:1", "round-1", {.duration_ms = 1500}));
  ASSERT_TRUE(w.ok()) << w.error().code << " " << w.error().message;
  EXPECT_EQ(w->window, "round-1");
  EXPECT_EQ(w->closes_at - w->opens_at, 1'500'000);
  EXPECT_GE(w->settles_at, w->closes_at);
  auto again = await(client.openWindow("table:1", "round-1", {.duration_ms = 1500}));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, 1301);

  auto ok = await(client.act("table:1", "round-1", R"({"bet":5})", {.action_id = "bet-1"}));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(ok->accepted) << ok->reason;
  EXPECT_EQ(ok->action_id, "bet-1");
  EXPECT_FALSE(ok->duplicate);
  // The stamp was taken at act(), one one-way delay before the server read it.
  EXPECT_NEAR(static_cast<double>(ok->received - ok->stamp), 20'000.0, 15'000.0);

  // Sent again (as after a reconnect): the first decision, flagged.
  auto dup = await(client.act("table:1", "round-1", R"({"bet":5})", {.action_id = "bet-1"}));
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_TRUE(dup->accepted);

  // Forged stamps: half a second in the past, or in the future.
  const int64_t now = client.serverNow().time_us;
  auto past = await(client.act("table:1", "round-1", "{}", {.action_id = "f1", .stamp_us = now - 500'000}));
  ASSERT_TRUE(past.ok());
  EXPECT_FALSE(past->accepted);
  EXPECT_EQ(past->reason, "implausible");
  auto future = await(client.act("table:1", "round-1", "{}", {.action_id = "f2", .stamp_us = now + 300'000}));
  ASSERT_TRUE(future.ok());
  EXPECT_FALSE(future->accepted);
  EXPECT_EQ(future->reason, "implausible");

  // An automatic action id, after the close: late.
  ASSERT_TRUE(eventually([&] { return client.serverNow().time_us > w->closes_at + 50'000; }, 5000));
  auto late = await(client.act("table:1", "round-1", "{}"));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->accepted);
  EXPECT_EQ(late->reason, "late");
  EXPECT_FALSE(late->action_id.empty());
}

#else

TEST(ClockSync, NeedsNetem) { GTEST_SKIP() << "tutti_netem is not linked into integration_test"; }

#endif

}  // namespace
}  // namespace tutti::test
