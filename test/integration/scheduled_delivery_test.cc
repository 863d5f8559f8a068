// Scheduled delivery end to end: publications carrying `at` are held by the
// SDK until its synced clock reaches `at`, so clients behind very different
// links show them at the same moment. Clients sit behind netem TCP proxies
// (tools/netem); every callback's real time is read from the one machine
// clock, so the spread across clients is measured directly.
//
// Needs tutti_netem linked into integration_test; without it the tests that
// need a proxy compile to a skip.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/common/harness.h"
#include "test/common/stall_probe.h"
#include "test/common/wait.h"
#include "tutti/core/clock.h"
#include "tutti/sdk/client.h"

#if __has_include("tutti/netem/proxy.h")
#define TUTTI_HAVE_NETEM 1
#include "tutti/netem/proxy.h"
#endif

namespace tutti::test {
namespace {

constexpr char kConfig[] = R"(
[server]
workers = 2
audit_log = ""

[limits]
publish_rate_per_s = 1000
publish_burst = 1000

[[rooms]]
prefix = "delayed:"
delivery = "delay"
delay_ms = 300

[[rooms]]
prefix = ""
)";

const Clock& sys() { return SystemClock::instance(); }

// Sanitizer builds run several times slower on a shared 2-core machine:
// timing figures get this much slack there (release asserts the real ones).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kSlack = 5;
#else
constexpr int64_t kSlack = 1;
#endif

// What one client saw: each publication with the real time of its callback.
class Recorder {
 public:
  sdk::SubscriptionHandlers handlers() {
    sdk::SubscriptionHandlers h;
    h.on_publication = [this](const sdk::Publication& p) {
      const int64_t now = sys().wallUs();
      std::lock_guard lock(mu_);
      seen_.push_back({p, now});
    };
    return h;
  }
  struct Seen {
    sdk::Publication pub;
    int64_t wall_us;
  };
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  // The callback time of the publication at `offset` (-1 if not seen).
  int64_t wallOf(uint64_t offset) {
    std::lock_guard lock(mu_);
    for (const auto& s : seen_)
      if (s.pub.offset == offset) return s.wall_us;
    return -1;
  }

 private:
  std::mutex mu_;
  std::vector<Seen> seen_;
};

int64_t percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return INT64_MAX;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * p / 100))];
}

TEST(ScheduledDelivery, HeldPublicationsKeepOffsetOrderAndLateOnesSaySo) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client c(clientOptions(*server));
  Recorder rec;
  ASSERT_TRUE(await(c.subscribe("show:1", rec.handlers())).ok());
  ASSERT_TRUE(eventually([&] { return c.syncStats().samples >= 10; }, 5000));

  const int64_t now = c.serverNow().time_us;
  const int64_t at_a = now + 600'000;
  const int64_t at_c = now + 300'000;
  ASSERT_TRUE(await(c.publish("show:1", R"("A")", sdk::PublishOptions{.at_us = at_a})).ok());  // offset 1
  ASSERT_TRUE(await(c.publish("show:1", R"("B")")).ok());                                     // 2: unscheduled
  ASSERT_TRUE(await(c.publish("show:1", R"("C")", sdk::PublishOptions{.at_us = at_c})).ok());  // 3: due before A
  ASSERT_TRUE(eventually([&] { return rec.count() >= 3; }, 5000));
  auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 3u);
  // Offset order, all released at A's `at`.
  EXPECT_EQ(seen[0].pub.offset, 1u);
  EXPECT_EQ(seen[1].pub.offset, 2u);
  EXPECT_EQ(seen[2].pub.offset, 3u);
  // Held until `at`: the precision figure (<= 2 ms) is bench/sync/run's; a
  // test asserts the behaviour with room for a loaded machine.
  EXPECT_NEAR(static_cast<double>(seen[0].wall_us - at_a), 0.0, 20'000.0 * kSlack);
  EXPECT_EQ(seen[0].pub.late_us, 0);
  EXPECT_FALSE(seen[1].pub.at_us.has_value());
  EXPECT_GE(seen[1].wall_us, seen[0].wall_us);
  // C waited behind A: shown ~300 ms after its own `at`, and flagged.
  ASSERT_TRUE(seen[2].pub.at_us.has_value());
  EXPECT_EQ(*seen[2].pub.at_us, at_c);
  EXPECT_NEAR(static_cast<double>(seen[2].pub.late_us), 300'000.0, 5'000.0 * kSlack);

  // Arriving after its `at`: at once, with how late.
  const int64_t t_pub = sys().wallUs();
  ASSERT_TRUE(await(c.publish("show:1", R"("D")", sdk::PublishOptions{.at_us = c.serverNow().time_us - 200'000})).ok());
  ASSERT_TRUE(eventually([&] { return rec.count() >= 4; }, 5000));
  auto d = rec.seen()[3];
  EXPECT_EQ(d.pub.offset, 4u);
  EXPECT_GE(d.pub.late_us, 200'000);
  EXPECT_LT(d.pub.late_us, 200'000 + 100'000 * kSlack);
  EXPECT_LT(d.wall_us - t_pub, 100'000 * kSlack);
  auto counters = c.counters();
  EXPECT_EQ(counters.scheduled_on_time, 1u);
  EXPECT_EQ(counters.scheduled_late, 2u);
}

TEST(ScheduledDelivery, WithoutHoldingDeliversOnArrival) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client c(clientOptions(*server));
  Recorder rec;
  ASSERT_TRUE(await(c.subscribe("show:2", rec.handlers(), {.hold_until_at = false})).ok());
  ASSERT_TRUE(eventually([&] { return c.serverNow().synced; }, 5000));
  const int64_t at = c.serverNow().time_us + 1'000'000;
  const int64_t t_pub = sys().wallUs();
  ASSERT_TRUE(await(c.publish("show:2", "1", sdk::PublishOptions{.at_us = at})).ok());
  ASSERT_TRUE(eventually([&] { return rec.count() >= 1; }, 5000));
  auto s = rec.seen()[0];
  EXPECT_LT(s.wall_us - t_pub, 200'000 * kSlack);
  ASSERT_TRUE(s.pub.at_us.has_value());
  EXPECT_EQ(*s.pub.at_us, at);
  EXPECT_EQ(s.pub.late_us, 0);
}

TEST(ScheduledDelivery, RoomDelayPolicyIsHonoured) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client c(clientOptions(*server));
  Recorder rec;
  ASSERT_TRUE(await(c.subscribe("delayed:1", rec.handlers())).ok());
  ASSERT_TRUE(eventually([&] { return c.syncStats().samples >= 10; }, 5000));
  ASSERT_TRUE(await(c.publish("delayed:1", "1")).ok());
  ASSERT_TRUE(eventually([&] { return rec.count() >= 1; }, 5000));
  auto s = rec.seen()[0];
  ASSERT_TRUE(s.pub.at_us.has_value());
  EXPECT_EQ(*s.pub.at_us - s.pub.ts, 300'000);
  EXPECT_NEAR(static_cast<double>(s.wall_us - *s.pub.at_us), 0.0, 20'000.0 * kSlack);
}

#ifdef TUTTI_HAVE_NETEM

TEST(ScheduledDelivery, TwentyClientsOverSpreadDelaysShowItWithinTwoMilliseconds) {
  constexpr int kClients = 20;
  // Rounds until kRounds undisturbed ones, at most kMaxRounds (~1 s each).
  constexpr size_t kRounds = 10;
  constexpr int kMaxRounds = 16;
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);

  // One-way delays spread from 5 to 250 ms, each client behind its own link.
  std::vector<std::unique_ptr<netem::Proxy>> proxies;
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::unique_ptr<sdk::Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    netem::ProxyConfig cfg;
    cfg.target_port = server->port();
    const int64_t delay_us = 5'000 + (245'000 * i) / (kClients - 1);
    cfg.up = {.delay_us = delay_us, .jitter_us = 1'000};
    cfg.down = {.delay_us = delay_us, .jitter_us = 1'000};
    cfg.seed = 100 + static_cast<uint64_t>(i);
    auto p = netem::Proxy::startTcp(cfg);
    ASSERT_TRUE(p.ok()) << p.error().message;
    proxies.push_back(std::move(*p));
  }
  for (int i = 0; i < kClients; ++i) {
    recs.push_back(std::make_unique<Recorder>());
    sdk::ClientOptions o;
    o.url = "ws://127.0.0.1:" + std::to_string(proxies[i]->port()) + "/ws";
    o.request_timeout_ms = 15000;
    o.connect_timeout_ms = 10000;
    clients.push_back(std::make_unique<sdk::Client>(o));
  }
  std::vector<std::future<Result<sdk::SubscribeResult>>> subs;
  for (int i = 0; i < kClients; ++i) subs.push_back(clients[i]->subscribe("show:big", recs[i]->handlers()));
  for (auto& f : subs) ASSERT_TRUE(await(f, 20000).ok());
  sdk::Client publisher(clientOptions(*server));
  ASSERT_TRUE(await(publisher.connect()).ok());
  // Wait out the sync burst (3 s of exchanges every 20 ms).
  ASSERT_TRUE(eventually(
      [&] {
        for (auto& c : clients)
          if (c->syncStats().samples < 100) return false;
        return publisher.syncStats().samples >= 100;
      },
      15000 * kSlack, 50));
  auto allHave = [&](size_t n) {
    return eventually(
        [&] {
          for (auto& r : recs)
            if (r->count() < n) return false;
          return true;
        },
        10000);
  };

  // Immediate delivery, for comparison: each client sees it one delay later.
  ASSERT_TRUE(await(publisher.publish("show:big", R"({"round":0})")).ok());
  ASSERT_TRUE(allHave(1));
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (auto& r : recs) {
    lo = std::min(lo, r->wallOf(1));
    hi = std::max(hi, r->wallOf(1));
  }
  const int64_t immediate_spread = hi - lo;

  // Scheduled: `at` one second ahead, every round. Per round: the spread
  // (last callback - first), and each callback's distance from `at`.
  // Rounds the host disturbed badly (a CPU gone for 10 ms or more, which
  // alone could approach the bound asserted below) are not counted. Shorter
  // stalls are frequent on a busy host (2-7 ms in most rounds of one CI run)
  // and stay in: this test checks behaviour; the 2 ms figure is the bench's.
  StallProbe probe(10'000);
  std::vector<int64_t> spreads, disturbed_spreads, devs;
  for (int round = 1; round <= kMaxRounds && spreads.size() < kRounds; ++round) {
    const int64_t at = publisher.serverNow().time_us + 1'000'000;
    ASSERT_TRUE(await(publisher.publish("show:big", "{\"round\":" + std::to_string(round) + "}",
                                        sdk::PublishOptions{.at_us = at}))
                    .ok());
    const uint64_t offset = 1 + static_cast<uint64_t>(round);
    ASSERT_TRUE(allHave(offset));
    std::vector<int64_t> ts;
    for (auto& r : recs) ts.push_back(r->wallOf(offset));
    std::sort(ts.begin(), ts.end());
    const int64_t spread = ts.back() - ts.front();
    const int64_t stall = probe.worstBetween(at - 20'000, ts.back());
    if (stall > 0) {
      std::printf("  round %d: the host stalled the test process for %.1f ms (spread %.3f ms): not counted\n", round,
                  static_cast<double>(stall) / 1000, static_cast<double>(spread) / 1000);
      disturbed_spreads.push_back(spread);
      continue;
    }
    spreads.push_back(spread);
    for (int64_t t : ts) devs.push_back(t - at);
  }
  for (auto& r : recs) {
    for (const auto& s : r->seen()) {
      if (s.pub.at_us) {
        EXPECT_EQ(s.pub.late_us, 0) << "offset " << s.pub.offset;
      }
    }
  }

  std::vector<int64_t> abs_devs;
  for (int64_t d : devs) abs_devs.push_back(std::llabs(d));
  std::printf(
      "[scheduled delivery] %d clients, one-way 5..250 ms: immediate spread %.1f ms; scheduled (at = now + 1 s): "
      "%zu undisturbed rounds, spread p50 %.3f ms p99 %.3f ms, |callback - at| p50 %.3f ms p99 %.3f ms; "
      "%zu rounds disturbed by host stalls (probe %s)\n",
      kClients, static_cast<double>(immediate_spread) / 1000, spreads.size(),
      static_cast<double>(percentile(spreads, 50)) / 1000, static_cast<double>(percentile(spreads, 99)) / 1000,
      static_cast<double>(percentile(abs_devs, 50)) / 1000, static_cast<double>(percentile(abs_devs, 99)) / 1000,
      disturbed_spreads.size(), probe.realtime() ? "real-time" : "normal priority");
  EXPECT_GT(immediate_spread, 200'000) << "the links should spread immediate delivery by ~245 ms";
  if (spreads.size() < kRounds / 2) GTEST_SKIP() << "the host stalled too often to measure the spread";
  // Behaviour: clients 5..250 ms apart show the message together, a small
  // fraction of the immediate spread. The figure itself (p99 <= 2 ms) is a
  // performance target and lives in bench/sync/run, as the brief asks.
  EXPECT_LE(percentile(spreads, 99), 20'000 * kSlack) << "scheduled delivery spread p99";
}

#else

TEST(ScheduledDelivery, NeedsNetem) { GTEST_SKIP() << "tutti_netem is not linked into integration_test"; }

#endif

}  // namespace
}  // namespace tutti::test
