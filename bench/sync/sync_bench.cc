// The synchronisation benchmark (issue 3): a real `tutti serve`, C++ SDK
// clients behind `tutti netem` proxies, and the figures docs/sync.md quotes.
// Everything runs on one machine, so the server's clock is the wall clock and
// the wall clock judges: an SDK's serverNow() error is serverNow() minus
// SystemClock, and a callback's spread is measured in SystemClock time.
//
//   sync_bench [--quick]
//
// Prints progress on stderr and one JSON object as the last stdout line.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>

#include "test/common/server_process.h"
#include "test/common/stall_probe.h"
#include "tutti/core/clock.h"
#include "tutti/netem/proxy.h"
#include "tutti/sdk/client.h"
#include "tutti/sdk/test_clock.h"
#include "tutti/sync/audit_log.h"

using namespace tutti;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int64_t kMs = 1000;

int64_t wallUs() { return SystemClock::instance().wallUs(); }

void sleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[idx];
}

// serverNow() minus the wall clock, read around it. A read that took longer
// than 300 us (the thread was descheduled: this VM loses its CPUs to the
// host at times) says nothing about the estimate and is skipped.
std::optional<std::pair<double, double>> sampleErrorMs(sdk::Client& c) {
  const int64_t w0 = wallUs();
  const auto t = c.serverNow();
  const int64_t w1 = wallUs();
  if (w1 - w0 > 300) return std::nullopt;
  return std::make_pair(static_cast<double>(t.time_us - (w0 + w1) / 2) / 1000.0,
                        static_cast<double>(t.uncertainty_us) / 1000.0);
}

void note(const std::string& s) { std::fprintf(stderr, "sync_bench: %s\n", s.c_str()); }

std::unique_ptr<netem::Proxy> proxy(uint16_t target, int64_t up_us, int64_t down_us, int64_t jitter_us, uint64_t seed) {
  netem::ProxyConfig pc;
  pc.target_port = target;
  pc.up.delay_us = up_us;
  pc.down.delay_us = down_us;
  pc.up.jitter_us = jitter_us;
  pc.down.jitter_us = jitter_us;
  pc.seed = seed;
  auto p = netem::Proxy::startTcp(pc);
  if (!p) {
    note("proxy: " + p.error().message);
    std::exit(1);
  }
  return std::move(p.value());
}

std::unique_ptr<sdk::Client> client(uint16_t port, const tutti::Clock* clock = nullptr, int64_t spin_us = 300,
                                    std::shared_ptr<sdk::EventLoop> loop = nullptr) {
  sdk::ClientOptions o;
  o.loop = std::move(loop);
  o.url = "ws://127.0.0.1:" + std::to_string(port) + "/ws";
  o.clock = clock;
  o.delivery_spin_us = spin_us;
  o.connect_timeout_ms = 20000;
  o.request_timeout_ms = 20000;
  return std::make_unique<sdk::Client>(o);
}

bool connectAll(std::vector<std::unique_ptr<sdk::Client>>& cs) {
  std::vector<std::future<Result<sdk::ConnectInfo>>> fs;
  for (auto& c : cs) fs.push_back(c->connect());
  bool ok = true;
  for (auto& f : fs) ok = f.get().ok() && ok;
  return ok;
}

// --- 1. clock error through 40 ms +- 10 ms each way ---------------------------------
struct ClockResult {
  double error_p99_ms = -1;
  double error_p50_ms = -1;
  double offset_drift_error_p99_ms = -1;
  double recovered_drift_ppm = 0;
};

ClockResult clockScenario(test::ServerProcess& server, bool quick) {
  note("clock: 8 clients through 40 ms +- 10 ms each way, one with +3 s offset and +150 ppm drift");
  auto link = proxy(server.port(), 40 * kMs, 40 * kMs, 10 * kMs, 7);
  sdk::OffsetDriftClock skewed(SystemClock::instance(), 3'000'000, 150);
  std::vector<std::unique_ptr<sdk::Client>> cs;
  for (int i = 0; i < 8; ++i) cs.push_back(client(link->port(), i == 0 ? &skewed : nullptr));
  connectAll(cs);
  // The figure is "within 5 s": the synced clients are read from 5 s to 15 s
  // after connecting. The drifting one needs a longer span for its drift to
  // stand out of the jitter (the SDK's settling phase, 30 s): it is read
  // from 15 s to 30 s, and its drift taken at the end.
  const auto t0 = Steady::now();
  const auto since = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count(); };
  const int64_t synced_end_ms = quick ? 8000 : 15000;
  const int64_t drift_from_ms = quick ? 8000 : 15000;
  const int64_t end_ms = quick ? 15000 : 30000;
  sleepMs(5000);
  std::vector<double> errs, skew_errs;
  while (since() < end_ms) {
    const int64_t t = since();
    for (size_t i = 0; i < cs.size(); ++i) {
      if (i == 0 ? t < drift_from_ms : t >= synced_end_ms) continue;
      const auto e = sampleErrorMs(*cs[i]);
      if (e) (i == 0 ? skew_errs : errs).push_back(std::abs(e->first));
      if (e && std::abs(e->first) > 0.5 && std::getenv("SYNC_BENCH_DEBUG")) {
        auto st = cs[i]->syncStats();
        std::fprintf(stderr, "  clock client %zu at %lld ms: error %.3f ms, uncertainty %.2f ms, drift %.1f ppm, samples %zu\n",
                     i, static_cast<long long>(t), e->first, e->second, st.drift_ppm, st.samples);
      }
    }
    sleepMs(50);
  }
  ClockResult r;
  r.error_p99_ms = percentile(errs, 99);
  r.error_p50_ms = percentile(errs, 50);
  r.offset_drift_error_p99_ms = percentile(skew_errs, 99);
  r.recovered_drift_ppm = cs[0]->syncStats().drift_ppm;
  return r;
}

// --- 2. asymmetric path ----------------------------------------------------------------
struct AsymResult {
  double error_ms = 0;
  double uncertainty_ms = 0;
  bool covered = true;
};

AsymResult asymScenario(test::ServerProcess& server) {
  note("asymmetric: 10 ms up, 60 ms down");
  auto link = proxy(server.port(), 10 * kMs, 60 * kMs, 0, 11);
  std::vector<std::unique_ptr<sdk::Client>> cs;
  for (int i = 0; i < 4; ++i) cs.push_back(client(link->port()));
  connectAll(cs);
  sleepMs(4000);
  AsymResult r;
  std::vector<double> errs, uncs;
  for (int k = 0; k < 40; ++k) {
    for (auto& c : cs) {
      const auto e = sampleErrorMs(*c);
      if (!e) continue;
      errs.push_back(std::abs(e->first));
      uncs.push_back(e->second);
      if (std::abs(e->first) > e->second) r.covered = false;
    }
    sleepMs(50);
  }
  r.error_ms = percentile(errs, 50);
  r.uncertainty_ms = percentile(uncs, 50);
  return r;
}

// --- 3. synchronised delivery: 200 clients, one-way delays 5..250 ms ---------------------
struct SpreadResult {
  double at_p99_ms = -1;  // over the rounds the host did not disturb
  double at_max_ms = -1;
  double at_p99_all_rounds_ms = -1;
  int rounds = 0, disturbed_rounds = 0;
  bool probe_realtime = false;
  double immediate_p99_ms = -1;
  int clients = 0;
  int late = 0;
};

// `loops` > 0: the clients share that many SDK EventLoops (threads), as an
// application hosting many clients would; 0: every client has a thread of its
// own, and 200 threads woken at the same instant on 2 cores queue for them
// (about 10 us each), which widens the spread by itself.
SpreadResult spreadScenario(test::ServerProcess& server, bool quick, int loops) {
  const int groups = 20;
  const int per_group = quick ? 4 : 10;
  note("delivery: " + std::to_string(groups * per_group) + " clients behind links of 5..250 ms one way, " +
       (loops > 0 ? "on " + std::to_string(loops) + " shared I/O threads" : std::string("one I/O thread each")));
  std::vector<std::shared_ptr<sdk::EventLoop>> pool;
  for (int i = 0; i < loops; ++i) pool.push_back(sdk::EventLoop::create());
  std::vector<std::unique_ptr<netem::Proxy>> links;
  std::vector<std::unique_ptr<sdk::Client>> cs;
  for (int g = 0; g < groups; ++g) {
    const int64_t d = 5 * kMs + g * (245 * kMs) / (groups - 1);
    links.push_back(proxy(server.port(), d, d, 0, 100 + g));
    for (int i = 0; i < per_group; ++i) {
      auto loop = pool.empty() ? nullptr : pool[cs.size() % pool.size()];
      cs.push_back(client(links.back()->port(), nullptr, 0, std::move(loop)));
    }
  }
  // When each client's callback ran (wall clock), per message tag.
  std::mutex mu;
  std::map<std::string, std::vector<int64_t>> seen;
  std::map<std::string, std::vector<std::pair<int64_t, size_t>>> seen_by;  // (time, client index)
  std::atomic<int> late{0};
  std::vector<std::future<Result<sdk::SubscribeResult>>> subs;
  for (size_t ci = 0; ci < cs.size(); ++ci) {
    auto& c = cs[ci];
    c->connect();
    sdk::SubscriptionHandlers h;
    h.on_publication = [&, ci](const sdk::Publication& p) {
      const int64_t now = wallUs();
      if (p.late_us > 0) late++;
      std::lock_guard lock(mu);
      seen[p.data].push_back(now);
      seen_by[p.data].emplace_back(now, ci);
    };
    subs.push_back(c->subscribe("bench:spread", h));
  }
  for (auto& f : subs)
    if (auto r = f.get(); !r) note("subscribe: " + r.error().message);
  // A table's players join before the round: wait until every client has
  // left the SDK's connect burst and settling phase (30 s of exchanges every
  // 50 ms, which with 200 clients, 20 proxies and the server on 2 cores keep
  // the CPUs busy) and syncs at its steady cadence.
  sleepMs(quick ? 5000 : 31000);

  auto publisher = client(server.port());
  if (auto c = publisher->connect().get(); !c) note("publisher: " + c.error().message);
  // A round the host disturbed (a CPU taken away for 0.5 ms or more around
  // its instant) is reported apart: that spread is the VM's, not Tutti's.
  test::StallProbe probe(500);
  std::map<std::string, int64_t> at_of;  // tag -> at
  const int messages = quick ? 4 : 12;
  for (int m = 0; m < messages; ++m) {
    sdk::PublishOptions o;
    o.at_us = publisher->serverNow().time_us + 700 * kMs;  // farther than the slowest path
    const std::string tag = "\"at-" + std::to_string(m) + "\"";
    at_of[tag] = *o.at_us;
    if (auto a = publisher->publish("bench:spread", tag, o).get(); !a) note("publish: " + a.error().message);
    sleepMs(1000);
    if (auto a = publisher->publish("bench:spread", "\"now-" + std::to_string(m) + "\"").get(); !a)
      note("publish: " + a.error().message);
    sleepMs(600);
  }
  sleepMs(1000);
  int disturbed = 0, undisturbed = 0;
  // Every callback's distance from its message's median callback time (ms);
  // with skip_disturbed, only over the rounds the host left alone.
  auto spreadOf = [&](const std::string& prefix, bool skip_disturbed) {
    std::vector<double> dev;
    std::lock_guard lock(mu);
    for (auto& [tag, times] : seen) {
      if (tag.rfind("\"" + prefix, 0) != 0 || times.empty()) continue;
      auto sorted = times;
      std::sort(sorted.begin(), sorted.end());
      if (skip_disturbed) {
        const int64_t stall = probe.worstBetween(at_of[tag] - 5 * kMs, sorted.back());
        if (stall > 0) {
          ++disturbed;
          note("  " + tag + ": the host stalled a CPU for " + std::to_string(stall / 1000.0).substr(0, 5) +
               " ms: reported apart");
          continue;
        }
        ++undisturbed;
      }
      const int64_t median = sorted[sorted.size() / 2];
      for (int64_t t : times) dev.push_back(std::abs(static_cast<double>(t - median)) / 1000.0);
    }
    return dev;
  };
  if (std::getenv("SYNC_BENCH_DEBUG")) {
    std::lock_guard lock(mu);
    for (auto& [tag, v] : seen) {
      auto sorted = v;
      std::sort(sorted.begin(), sorted.end());
      const int64_t med = sorted[sorted.size() / 2];
      std::fprintf(stderr, "  %s: n %zu, from median: min %.3f p1 %.3f p10 %.3f p90 %.3f p99 %.3f max %.3f ms\n", tag.c_str(),
                   sorted.size(), (sorted.front() - med) / 1000.0, (sorted[sorted.size() / 100] - med) / 1000.0,
                   (sorted[sorted.size() / 10] - med) / 1000.0, (sorted[sorted.size() * 9 / 10] - med) / 1000.0,
                   (sorted[sorted.size() * 99 / 100] - med) / 1000.0, (sorted.back() - med) / 1000.0);
    }
  }
  if (std::getenv("SYNC_BENCH_DEBUG_CLIENTS")) {
    std::lock_guard lock(mu);
    for (auto& [tag, v] : seen_by) {
      if (tag.rfind("\"at-", 0) != 0) continue;
      auto sorted = v;
      std::sort(sorted.begin(), sorted.end());
      const int64_t median = sorted[sorted.size() / 2].first;
      for (auto& [t, ci] : v)
        if (std::abs(t - median) > 2000) {
          auto st = cs[ci]->syncStats();
          std::fprintf(stderr, "  %s client %zu (group %zu) off by %.2f ms; unc %.2f ms best_rtt %.1f ms samples %zu\n",
                       tag.c_str(), ci, ci / per_group, static_cast<double>(t - median) / 1000.0,
                       static_cast<double>(st.uncertainty_us) / 1000.0, static_cast<double>(st.best_rtt_us) / 1000.0,
                       st.samples);
        }
    }
  }
  SpreadResult r;
  auto at = spreadOf("at-", true);
  r.at_p99_ms = percentile(at, 99);
  r.at_max_ms = at.empty() ? -1 : *std::max_element(at.begin(), at.end());
  r.at_p99_all_rounds_ms = percentile(spreadOf("at-", false), 99);
  r.rounds = undisturbed;
  r.disturbed_rounds = disturbed;
  r.probe_realtime = probe.realtime();
  r.immediate_p99_ms = percentile(spreadOf("now-", false), 99);
  r.clients = static_cast<int>(cs.size());
  r.late = late.load();
  return r;
}

// --- 4. fair window -------------------------------------------------------------------
struct FairResult {
  bool near_before = false, far_before = false, near_after_refused = false, far_after_refused = false;
  bool forged_implausible = false, audit_ok = false, tamper_detected = false;
  std::string detail;
  bool ok() const {
    return near_before && far_before && near_after_refused && far_after_refused && forged_implausible && audit_ok &&
           tamper_detected;
  }
};

// Waits until the client's synced clock reads `t`.
void waitSynced(sdk::Client& c, int64_t t) {
  while (c.serverNow().time_us < t) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

FairResult fairScenario(test::ServerProcess& server, const std::string& audit_path) {
  note("fair window: clients at 5 ms and 250 ms one way");
  auto near_link = proxy(server.port(), 5 * kMs, 5 * kMs, 0, 21);
  auto far_link = proxy(server.port(), 250 * kMs, 250 * kMs, 0, 22);
  auto near = client(near_link->port());
  auto far = client(far_link->port());
  auto dealer = client(server.port());
  std::vector<std::unique_ptr<sdk::Client>*> all{&near, &far, &dealer};
  for (auto* c : all)
    if (auto r = (*c)->connect().get(); !r) note("connect: " + r.error().message);
  sleepMs(5000);  // sync, and a few rtt probes at the server

  FairResult r;
  auto round = [&](const std::string& id, int64_t offset_from_close_us, bool expect_accept) {
    sdk::WindowSpec spec;
    spec.duration_ms = 2000;
    auto w = dealer->openWindow("bench:table", id, spec).get();
    if (!w) {
      r.detail += "open " + id + ": " + w.error().message + "; ";
      return std::make_pair(false, false);
    }
    auto act = [&](sdk::Client& c, const char* who) {
      waitSynced(c, w->closes_at + offset_from_close_us);
      auto d = c.act("bench:table", id, "{\"bet\":10}").get();
      if (!d) {
        r.detail += std::string(who) + ": " + d.error().message + "; ";
        return false;
      }
      r.detail += std::string(who) + "@" + id + "=" + (d->accepted ? "accepted" : d->reason) + " ";
      return d->accepted == expect_accept && (expect_accept || d->reason == "late");
    };
    std::pair<bool, bool> out;
    std::thread tn([&] { out.first = act(*near, "near"); });
    std::thread tf([&] { out.second = act(*far, "far"); });
    tn.join();
    tf.join();
    return out;
  };
  std::tie(r.near_before, r.far_before) = round("before", -50 * kMs, true);
  std::tie(r.near_after_refused, r.far_after_refused) = round("after", 50 * kMs, false);

  // A forger acts 300 ms after the close and stamps 50 ms before it.
  sdk::WindowSpec spec;
  spec.duration_ms = 1000;
  auto w = dealer->openWindow("bench:table", "forged", spec).get();
  if (w) {
    waitSynced(*near, w->closes_at + 300 * kMs);
    sdk::ActOptions o;
    o.stamp_us = w->closes_at - 50 * kMs;
    auto d = near->act("bench:table", "forged", "{\"bet\":1000}", o).get();
    r.forged_implausible = d && !d->accepted && d->reason == "implausible";
    r.detail += "forged=" + std::string(d ? (d->accepted ? "accepted" : d->reason) : d.error().message);
  }

  sleepMs(1500);  // windows settle (grace 1 s): summaries and settlement lines are written
  r.audit_ok = sync::verifyAuditFile(audit_path).ok;
  // Tamper with line 3 of a copy (one added space, still valid JSON with the
  // same fields): verification must fail at line 3.
  std::ifstream in(audit_path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const size_t at = text.find("{\"seq\":3,");
  if (at != std::string::npos) {
    text.insert(at + 9, " ");
    const auto v = sync::verifyAuditText(text);
    r.tamper_detected = !v.ok && v.broken_line == 3;
  }
  r.detail += std::string(" audit=") + (r.audit_ok ? "ok" : "broken") + " tamper=" + (r.tamper_detected ? "detected" : "missed");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  test::ServerProcess server(TUTTI_BINARY,
                             "[server]\nworkers = 2\nlog_level = \"warn\"\n"
                             "[auth]\nanonymous_windows = [\"*\"]\n"
                             "[limits]\nmax_connections_per_ip = 10000\npublish_rate_per_s = 1000\n");
  if (auto s = server.start(); !s) {
    note("server: " + s.error().message);
    return 1;
  }
  const std::string audit_path = server.configPath().substr(0, server.configPath().rfind('/')) + "/tutti-audit.jsonl";

  // SYNC_BENCH_ONLY=spread (or clock, asym, fair) runs one scenario.
  const char* only_env = std::getenv("SYNC_BENCH_ONLY");
  const std::string only = only_env != nullptr ? only_env : "";
  auto runs = [&](const char* name) { return only.empty() || only == name; };
  const auto clock = runs("clock") ? clockScenario(server, quick) : ClockResult{};
  const auto asym = runs("asym") ? asymScenario(server) : AsymResult{};
  const auto fair = runs("fair") ? fairScenario(server, audit_path) : FairResult{};
  const auto spread = runs("spread") ? spreadScenario(server, quick, 4) : SpreadResult{};
  const auto spread_threads = runs("spread") ? spreadScenario(server, quick, 0) : SpreadResult{};
  note("fair window detail: " + fair.detail);

  auto num = [](double v, int digits) {
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return std::string(b);
  };
  auto flag = [](bool v) { return std::string(v ? "true" : "false"); };
  std::string json = "{";
  auto field = [&](const char* k, const std::string& v) { json += (json.size() > 1 ? ",\"" : "\"") + std::string(k) + "\":" + v; };
  field("clock_error_p99_ms", num(clock.error_p99_ms, 3));
  field("clock_error_p50_ms", num(clock.error_p50_ms, 3));
  field("clock_offset_drift_error_p99_ms", num(clock.offset_drift_error_p99_ms, 3));
  field("clock_recovered_drift_ppm", num(clock.recovered_drift_ppm, 1));
  field("asym_error_ms", num(asym.error_ms, 2));
  field("asym_uncertainty_ms", num(asym.uncertainty_ms, 2));
  field("asym_uncertainty_covers", flag(asym.covered));
  field("spread_at_p99_ms", num(spread.at_p99_ms, 3));
  field("spread_at_max_ms", num(spread.at_max_ms, 3));
  field("spread_at_p99_ms_all_rounds", num(spread.at_p99_all_rounds_ms, 3));
  field("spread_rounds", std::to_string(spread.rounds));
  field("spread_rounds_disturbed_by_host", std::to_string(spread.disturbed_rounds));
  field("spread_immediate_p99_ms", num(spread.immediate_p99_ms, 2));
  field("spread_clients", std::to_string(spread.clients));
  field("spread_io_threads", "4");
  field("spread_late_deliveries", std::to_string(spread.late + spread_threads.late));
  field("spread_at_p99_ms_thread_per_client", num(spread_threads.at_p99_ms, 3));
  field("spread_at_p99_ms_thread_per_client_all_rounds", num(spread_threads.at_p99_all_rounds_ms, 3));
  field("spread_rounds_thread_per_client", std::to_string(spread_threads.rounds));
  field("stall_probe_realtime", flag(spread.probe_realtime));
  field("fair_window_ok", flag(fair.ok()));
  field("scheduler", sched_getscheduler(0) == SCHED_FIFO ? "\"fifo\"" : "\"default\"");
  field("quick", flag(quick));
  json += "}";
  std::printf("%s\n", json.c_str());
  return 0;
}
