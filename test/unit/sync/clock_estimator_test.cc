#include "tutti/sync/clock_estimator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

// Everything runs on simulated time: a network with seeded jitter carries
// `time` exchanges between a server clock (the true time) and a client clock
// with an offset, a drift and possibly a step. No sleeping.

namespace tutti::sync {
namespace {

namespace json = boost::json;

constexpr int64_t kEpochUs = 1'764'309'189'000'000;  // the true (= server) time the runs start at

// splitmix64: portable, so the same seed gives the same network everywhere
// (the vectors' generator relies on it).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t jitter(int64_t j) { return j == 0 ? 0 : static_cast<int64_t>(std::llround((uniform() * 2 - 1) * j)); }

 private:
  uint64_t s_;
};

struct Scenario {
  int64_t up_us = 40'000;
  int64_t down_us = 40'000;
  int64_t jitter_us = 0;        // uniform +- on each one-way delay
  int64_t interval_us = 20'000;  // between exchanges
  int64_t duration_us = 10'000'000;
  int64_t client_offset_us = 0;  // client clock - true time at the start
  double drift_ppm = 0;          // client clock rate error (> 0: fast)
  int64_t step_at_us = -1;       // true time (from the start) of a client clock step
  int64_t step_us = 0;           // how far the client clock jumps then
  int64_t server_proc_us = 30;   // t2 - t1
  uint64_t seed = 1;
};

// The client clock, as a function of the true time (us since the start).
int64_t clientClock(const Scenario& sc, int64_t t) {
  double drifted = static_cast<double>(t) * sc.drift_ppm * 1e-6;
  int64_t c = kEpochUs + t + sc.client_offset_us + static_cast<int64_t>(std::llround(drifted));
  if (sc.step_at_us >= 0 && t >= sc.step_at_us) c += sc.step_us;
  return c;
}

struct Exchange {
  int64_t t0, t1, t2, t3;
  int64_t arrival;  // true time (from the start) at which t3 is read
};

std::vector<Exchange> simulate(const Scenario& sc) {
  Rng rng(sc.seed);
  std::vector<Exchange> out;
  for (int64_t t = 0; t < sc.duration_us; t += sc.interval_us) {
    int64_t up = std::max<int64_t>(0, sc.up_us + rng.jitter(sc.jitter_us));
    int64_t down = std::max<int64_t>(0, sc.down_us + rng.jitter(sc.jitter_us));
    Exchange e;
    e.t0 = clientClock(sc, t);
    e.t1 = kEpochUs + t + up;
    e.t2 = e.t1 + sc.server_proc_us;
    e.arrival = t + up + sc.server_proc_us + down;
    e.t3 = clientClock(sc, e.arrival);
    out.push_back(e);
  }
  std::stable_sort(out.begin(), out.end(), [](const Exchange& a, const Exchange& b) { return a.arrival < b.arrival; });
  return out;
}

struct QueryPoint {
  int64_t t;            // true time from the start
  int64_t error_us;     // estimated server time - true server time
  int64_t uncertainty_us;
  double drift_ppm;
  size_t samples;
};

// Feeds the exchanges as they arrive and queries every query_every_us.
std::vector<QueryPoint> run(const Scenario& sc, ClockEstimator& est, int64_t query_every_us = 5'000) {
  std::vector<Exchange> ex = simulate(sc);
  std::vector<QueryPoint> out;
  size_t next = 0;
  for (int64_t q = 0; q < sc.duration_us; q += query_every_us) {
    while (next < ex.size() && ex[next].arrival <= q) {
      const Exchange& e = ex[next++];
      EXPECT_TRUE(est.addSample(e.t0, e.t1, e.t2, e.t3));
    }
    auto e = est.estimate(clientClock(sc, q));
    if (!e.valid) continue;
    int64_t server_est = clientClock(sc, q) + e.offset_us;
    out.push_back(QueryPoint{q, server_est - (kEpochUs + q), e.uncertainty_us, e.drift_ppm, e.samples});
  }
  return out;
}

int64_t p99AbsError(const std::vector<QueryPoint>& pts, int64_t from_us, int64_t to_us = INT64_MAX) {
  std::vector<int64_t> errs;
  for (const auto& p : pts)
    if (p.t >= from_us && p.t < to_us) errs.push_back(std::llabs(p.error_us));
  if (errs.empty()) return INT64_MAX;
  std::sort(errs.begin(), errs.end());
  return errs[std::min(errs.size() - 1, static_cast<size_t>(static_cast<double>(errs.size()) * 0.99))];
}

// Every query point: the true offset lies within the stated uncertainty.
void expectCovered(const std::vector<QueryPoint>& pts, int64_t skip_from = -1, int64_t skip_to = -1) {
  size_t bad = 0;
  for (const auto& p : pts) {
    if (p.t >= skip_from && p.t < skip_to) continue;
    if (std::llabs(p.error_us) > p.uncertainty_us) {
      if (++bad <= 5)
        ADD_FAILURE() << "at t=" << p.t << " us: error " << p.error_us << " us exceeds uncertainty "
                      << p.uncertainty_us << " us (drift " << p.drift_ppm << " ppm, " << p.samples << " samples)";
    }
  }
  EXPECT_EQ(bad, 0u) << "query points where the uncertainty did not cover the error";
}

TEST(ClockEstimator, IsInvalidWhenEmpty) {
  ClockEstimator est;
  auto e = est.estimate(kEpochUs);
  EXPECT_FALSE(e.valid);
  EXPECT_EQ(e.samples, 0u);
  EXPECT_EQ(est.serverTime(12345), 12345);
}

TEST(ClockEstimator, RefusesNegativeRoundTripsAndBackwardClientTimes) {
  ClockEstimator est;
  // The server held it 10 ms but the client saw only 5 ms pass.
  EXPECT_FALSE(est.addSample(1000, 5000, 15000, 6000));
  EXPECT_FALSE(est.addSample(2000, 5000, 5000, 1999));
  EXPECT_FALSE(est.estimate(10000).valid);
  EXPECT_TRUE(est.addSample(1000, 5000, 5000, 1000));  // zero RTT is possible (coarse clocks)
  EXPECT_TRUE(est.estimate(1000).valid);
}

TEST(ClockEstimator, OneSampleGivesCristiansInterval) {
  ClockEstimator est;
  // theta in [t2 - t3, t1 - t0] = [100 - 60, 150 - 0] = [40, 150]
  ASSERT_TRUE(est.addSample(0, 150, 100 + 50, 60 + 50));
  auto e = est.estimate(110);
  ASSERT_TRUE(e.valid);
  EXPECT_EQ(e.best_rtt_us, 110);
  EXPECT_EQ(e.samples, 1u);
  // Midpoint of [40, 150] = 95, half-width 55 (plus what a drift of up to
  // 500 ppm could add over the sample's 0..110 us age, and rounding).
  EXPECT_NEAR(e.offset_us, 95, 1);
  EXPECT_GE(e.uncertainty_us, 55);
  EXPECT_LE(e.uncertainty_us, 57);
}

TEST(ClockEstimator, ConvergesBelowOneMillisecondWithSymmetricJitter) {
  Scenario sc;
  sc.jitter_us = 10'000;
  sc.duration_us = 20'000'000;
  sc.client_offset_us = -1'234'567;
  ClockEstimator est;
  auto pts = run(sc, est);
  int64_t p99 = p99AbsError(pts, 5'000'000);
  EXPECT_LE(p99, 1000) << "p99 |error| after 5 s";
  EXPECT_LE(p99AbsError(pts, 5'000'000, 6'000'000), 1000) << "p99 |error| between 5 and 6 s";
  expectCovered(pts);
  EXPECT_EQ(est.resets(), 0u);
  auto e = est.estimate(clientClock(sc, sc.duration_us));
  EXPECT_NEAR(e.best_rtt_us, 60'000 + 30, 2'000);  // the fastest of 1000 round trips
  EXPECT_NEAR(e.drift_ppm, 0, 20);
  std::printf("symmetric 40 +- 10 ms: p99 |error| after 5 s = %lld us, final uncertainty %lld us\n",
              static_cast<long long>(p99), static_cast<long long>(e.uncertainty_us));
}

TEST(ClockEstimator, ErrsByHalfTheAsymmetryAndSaysSo) {
  Scenario sc;
  sc.up_us = 10'000;
  sc.down_us = 60'000;
  sc.jitter_us = 2'000;
  sc.duration_us = 15'000'000;
  ClockEstimator est;
  auto pts = run(sc, est);
  expectCovered(pts);
  for (const auto& p : pts) {
    if (p.t < 2'000'000) continue;
    // The server->client path is 50 ms slower: the estimate puts the server
    // 25 ms behind the truth.
    ASSERT_NEAR(p.error_us, -25'000, 2'000) << "at t=" << p.t;
  }
}

TEST(ClockEstimator, RecoversClientOffsetAndDrift) {
  Scenario sc;
  sc.jitter_us = 10'000;
  sc.duration_us = 40'000'000;
  sc.client_offset_us = 3'000'000;
  sc.drift_ppm = 150;
  sc.seed = 7;
  ClockEstimator est;
  auto pts = run(sc, est);
  expectCovered(pts);
  ASSERT_FALSE(pts.empty());
  for (const auto& p : pts) {
    if (p.t < 30'000'000) continue;
    ASSERT_NEAR(p.drift_ppm, 150, 20) << "at t=" << p.t;
    ASSERT_LT(std::llabs(p.error_us), 1000) << "at t=" << p.t;
  }
  EXPECT_EQ(est.resets(), 0u);
}

TEST(ClockEstimator, StaysHonestWithDriftOnAFastLink) {
  // A LAN: tiny delays, so the uncertainty is tiny too; a large drift must
  // be measured (the bounds pin it here) for the error to stay inside.
  Scenario sc;
  sc.up_us = 200;
  sc.down_us = 200;
  sc.jitter_us = 50;
  sc.interval_us = 100'000;
  sc.duration_us = 60'000'000;
  sc.drift_ppm = -400;
  sc.seed = 3;
  ClockEstimator est;
  auto pts = run(sc, est, 20'000);
  expectCovered(pts);
  EXPECT_NEAR(pts.back().drift_ppm, -400, 5);
  EXPECT_LT(pts.back().uncertainty_us, 500);
  auto e = est.estimate(clientClock(sc, sc.duration_us));
  EXPECT_LE(e.drift_min_ppm, -400);
  EXPECT_GE(e.drift_max_ppm, -400);
  EXPECT_LT(e.drift_max_ppm - e.drift_min_ppm, 100);
}

TEST(ClockEstimator, FollowsTheSdkCadenceHonestly) {
  // The SDK's steady cadence: one exchange every 2 s after a 3 s burst.
  Scenario burst;
  burst.jitter_us = 10'000;
  burst.duration_us = 3'000'000;
  burst.drift_ppm = 80;
  Scenario steady = burst;
  steady.interval_us = 2'000'000;
  steady.duration_us = 120'000'000;
  steady.seed = 2;
  ClockEstimator est;
  auto a = simulate(burst);
  auto b = simulate(steady);
  std::vector<Exchange> all;
  for (auto& e : a) all.push_back(e);
  for (auto& e : b)
    if (e.arrival > burst.duration_us) all.push_back(e);
  std::stable_sort(all.begin(), all.end(), [](const Exchange& x, const Exchange& y) { return x.arrival < y.arrival; });
  size_t next = 0;
  size_t bad = 0;
  std::vector<QueryPoint> pts;
  for (int64_t q = 0; q < steady.duration_us; q += 50'000) {
    while (next < all.size() && all[next].arrival <= q) {
      const auto& e = all[next++];
      est.addSample(e.t0, e.t1, e.t2, e.t3);
    }
    auto e = est.estimate(clientClock(steady, q));
    if (!e.valid) continue;
    int64_t err = clientClock(steady, q) + e.offset_us - (kEpochUs + q);
    pts.push_back(QueryPoint{q, err, e.uncertainty_us, e.drift_ppm, e.samples});
    if (std::llabs(err) > e.uncertainty_us) ++bad;
  }
  EXPECT_EQ(bad, 0u);
  // Right after the burst the jittery sparse samples must not invent a drift.
  EXPECT_LE(p99AbsError(pts, 5'000'000, 10'000'000), 1000);
}

TEST(ClockEstimator, RecoversFromAClockStep) {
  Scenario sc;
  sc.up_us = 5'000;
  sc.down_us = 5'000;
  sc.jitter_us = 1'000;
  sc.duration_us = 20'000'000;
  sc.step_at_us = 10'000'000;
  sc.step_us = 100'000;  // the client clock jumps 100 ms ahead: the offset drops by 100 ms
  ClockEstimator est;
  auto pts = run(sc, est);
  // Until the first exchange sent after the step comes back, nothing can know.
  expectCovered(pts, sc.step_at_us, sc.step_at_us + 100'000);
  EXPECT_GE(est.resets(), 1u);
  for (const auto& p : pts) {
    if (p.t < sc.step_at_us + 1'000'000) continue;
    ASSERT_LT(std::llabs(p.error_us), 1000) << "at t=" << p.t;
  }
}

TEST(ClockEstimator, KeepsItsWindowBounded) {
  Scenario sc;
  sc.interval_us = 20'000;
  sc.duration_us = 40'000'000;
  ClockEstimator::Config cfg;
  cfg.max_samples = 512;
  ClockEstimator est(cfg);
  for (const auto& e : simulate(sc)) est.addSample(e.t0, e.t1, e.t2, e.t3);
  EXPECT_EQ(est.size(), 512u);
  cfg.max_samples = 100000;
  cfg.window_us = 30'000'000;
  ClockEstimator by_age(cfg);
  for (const auto& e : simulate(sc)) by_age.addSample(e.t0, e.t1, e.t2, e.t3);
  // 30 s of samples every 20 ms.
  EXPECT_NEAR(static_cast<double>(by_age.size()), 1500, 10);
}

TEST(ClockEstimator, ClearForgetsEverything) {
  ClockEstimator est;
  ASSERT_TRUE(est.addSample(0, 100, 100, 50));
  est.clear();
  EXPECT_FALSE(est.estimate(100).valid);
  EXPECT_EQ(est.size(), 0u);
}

// ---- shared test vectors (test/vectors/clock_estimator, format in its README.md)

#ifdef TUTTI_VECTORS_DIR
const std::filesystem::path kVectorDir = std::filesystem::path(TUTTI_VECTORS_DIR) / "clock_estimator";

int64_t asInt(const json::value& v) { return v.to_number<int64_t>(); }

ClockEstimator::Config configFrom(const json::object& o) {
  ClockEstimator::Config c;
  if (auto* v = o.if_contains("window_us")) c.window_us = asInt(*v);
  if (auto* v = o.if_contains("max_samples")) c.max_samples = static_cast<size_t>(asInt(*v));
  if (auto* v = o.if_contains("drift_min_span_us")) c.drift_min_span_us = asInt(*v);
  if (auto* v = o.if_contains("drift_buckets")) c.drift_buckets = static_cast<int>(asInt(*v));
  if (auto* v = o.if_contains("max_drift_ppm")) c.max_drift_ppm = v->to_number<double>();
  if (auto* v = o.if_contains("wander_ppm")) c.wander_ppm = v->to_number<double>();
  return c;
}

// A ppm figure for a vector file: six decimals, and integers (0 included,
// never -0) written as integers so the files read plainly.
json::value ppmJson(double ppm) {
  double r = std::round(ppm * 1e6) / 1e6;
  if (r == std::floor(r) && std::abs(r) < 1e9) return static_cast<int64_t>(r);
  return r;
}

json::object configJson(const ClockEstimator::Config& c) {
  json::object o;
  o["window_us"] = c.window_us;
  o["max_samples"] = c.max_samples;
  o["drift_min_span_us"] = c.drift_min_span_us;
  o["drift_buckets"] = c.drift_buckets;
  o["max_drift_ppm"] = ppmJson(c.max_drift_ppm);
  o["wander_ppm"] = ppmJson(c.wander_ppm);
  return o;
}

TEST(ClockEstimatorVectors, AllVectorsPass) {
  ASSERT_TRUE(std::filesystem::is_directory(kVectorDir)) << kVectorDir;
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kVectorDir)) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    SCOPED_TRACE(entry.path().filename().string());
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    json::object v = json::parse(ss.str()).as_object();
    ClockEstimator est(configFrom(v.at("config").as_object()));
    const json::object& tol = v.at("tolerance").as_object();
    const int64_t tol_offset = asInt(tol.at("offset_us"));
    const int64_t tol_unc = asInt(tol.at("uncertainty_us"));
    const double tol_drift = tol.at("drift_ppm").to_number<double>();
    std::vector<size_t> refused_expected;
    if (auto* r = v.if_contains("refused"))
      for (const auto& i : r->as_array()) refused_expected.push_back(static_cast<size_t>(asInt(i)));
    std::vector<size_t> refused;
    const json::array& samples = v.at("samples").as_array();
    const json::array& queries = v.at("queries").as_array();
    size_t qi = 0;
    size_t checked = 0;
    auto runQueries = [&](size_t after) {
      for (; qi < queries.size() && static_cast<size_t>(asInt(queries[qi].at("after"))) == after; ++qi) {
        const json::object& q = queries[qi].as_object();
        const json::object& x = q.at("expect").as_object();
        SCOPED_TRACE("query " + std::to_string(qi) + " after " + std::to_string(after) + " samples");
        auto e = est.estimate(asInt(q.at("client_us")));
        ++checked;
        ASSERT_EQ(e.valid, x.at("valid").as_bool());
        if (!e.valid) continue;
        EXPECT_NEAR(e.offset_us, asInt(x.at("offset_us")), tol_offset);
        EXPECT_NEAR(e.uncertainty_us, asInt(x.at("uncertainty_us")), tol_unc);
        EXPECT_NEAR(e.drift_ppm, x.at("drift_ppm").to_number<double>(), tol_drift);
        EXPECT_NEAR(e.drift_min_ppm, x.at("drift_min_ppm").to_number<double>(), tol_drift);
        EXPECT_NEAR(e.drift_max_ppm, x.at("drift_max_ppm").to_number<double>(), tol_drift);
        EXPECT_EQ(e.best_rtt_us, asInt(x.at("best_rtt_us")));
        EXPECT_EQ(static_cast<int64_t>(e.samples), asInt(x.at("samples")));
        if (auto* truth = q.if_contains("truth_offset_us")) {
          EXPECT_LE(std::llabs(e.offset_us - asInt(*truth)), e.uncertainty_us);
        }
      }
    };
    runQueries(0);
    for (size_t i = 0; i < samples.size(); ++i) {
      const json::array& s = samples[i].as_array();
      if (!est.addSample(asInt(s.at(0)), asInt(s.at(1)), asInt(s.at(2)), asInt(s.at(3)))) refused.push_back(i);
      runQueries(i + 1);
    }
    EXPECT_EQ(qi, queries.size()) << "queries with an `after` beyond the samples, or out of order";
    EXPECT_EQ(refused, refused_expected);
    EXPECT_GT(checked, 0u);
  }
  EXPECT_GE(files, 5u);
}

// Regenerates the vectors from this implementation:
//   TUTTI_WRITE_VECTORS=1 build/<dir>/test/unit/unit_sync_test --gtest_filter='*WriteVectors*'
// Only when the algorithm changes on purpose (and the JS SDK follows).
struct VectorSpec {
  std::string name;
  std::string description;
  Scenario sc;
  int64_t query_every_us;
};

void writeVector(const VectorSpec& spec, const ClockEstimator::Config& cfg) {
  std::vector<Exchange> ex = simulate(spec.sc);
  ClockEstimator est(cfg);
  std::ostringstream out;
  out << "{\n\"name\": " << json::serialize(json::string(spec.name)) << ",\n";
  out << "\"description\": " << json::serialize(json::string(spec.description)) << ",\n";
  out << "\"config\": " << json::serialize(configJson(cfg)) << ",\n";
  out << "\"tolerance\": {\"offset_us\": 2, \"uncertainty_us\": 2, \"drift_ppm\": 0.01},\n";
  out << "\"samples\": [\n";
  for (size_t i = 0; i < ex.size(); ++i)
    out << "[" << ex[i].t0 << "," << ex[i].t1 << "," << ex[i].t2 << "," << ex[i].t3 << "]"
        << (i + 1 < ex.size() ? ",\n" : "\n");
  out << "],\n\"queries\": [\n";
  size_t next = 0;
  bool first = true;
  for (int64_t q = 0; q < spec.sc.duration_us; q += spec.query_every_us) {
    while (next < ex.size() && ex[next].arrival <= q) {
      est.addSample(ex[next].t0, ex[next].t1, ex[next].t2, ex[next].t3);
      ++next;
    }
    int64_t c = clientClock(spec.sc, q);
    auto e = est.estimate(c);
    json::object x;
    x["valid"] = e.valid;
    if (e.valid) {
      x["offset_us"] = e.offset_us;
      x["uncertainty_us"] = e.uncertainty_us;
      x["drift_ppm"] = ppmJson(e.drift_ppm);
      x["drift_min_ppm"] = ppmJson(e.drift_min_ppm);
      x["drift_max_ppm"] = ppmJson(e.drift_max_ppm);
      x["best_rtt_us"] = e.best_rtt_us;
      x["samples"] = e.samples;
    }
    json::object qo;
    qo["after"] = next;
    qo["client_us"] = c;
    // Right after a step nothing can know it yet: no truth to check there.
    const bool just_stepped = spec.sc.step_at_us >= 0 && q >= spec.sc.step_at_us && q < spec.sc.step_at_us + 200'000;
    if (!just_stepped) qo["truth_offset_us"] = (kEpochUs + q) - c;
    qo["expect"] = std::move(x);
    out << (first ? "" : ",\n") << json::serialize(qo);
    first = false;
  }
  out << "\n]\n}\n";
  std::ofstream f(kVectorDir / (spec.name + ".json"));
  f << out.str();
}

TEST(ClockEstimatorVectors, WriteVectors) {
  if (std::getenv("TUTTI_WRITE_VECTORS") == nullptr) GTEST_SKIP() << "set TUTTI_WRITE_VECTORS=1 to regenerate";
  std::filesystem::create_directories(kVectorDir);
  ClockEstimator::Config cfg;
  cfg.window_us = 30'000'000;  // the files were made with this window; it shows trimming within 40 s
  std::vector<VectorSpec> specs;
  {
    VectorSpec v{"symmetric_jitter", "40 ms +- 10 ms each way, an exchange every 20 ms, 8 s: the drift fit starts at 4 s",
                 {}, 250'000};
    v.sc.jitter_us = 10'000;
    v.sc.duration_us = 8'000'000;
    v.sc.client_offset_us = -1'234'567;
    v.sc.seed = 11;
    specs.push_back(v);
  }
  {
    VectorSpec v{"asymmetric", "10 ms up, 60 ms down, +-1 ms: the estimate is 25 ms off and the uncertainty says so",
                 {}, 250'000};
    v.sc.up_us = 10'000;
    v.sc.down_us = 60'000;
    v.sc.jitter_us = 1'000;
    v.sc.interval_us = 100'000;
    v.sc.duration_us = 6'000'000;
    v.sc.seed = 12;
    specs.push_back(v);
  }
  {
    VectorSpec v{"offset_and_drift",
                 "client clock +3 s and +150 ppm, 5 ms +- 1 ms each way, an exchange every 100 ms, 40 s: "
                 "drift fitted, window trimmed to 30 s",
                 {}, 1'000'000};
    v.sc.up_us = 5'000;
    v.sc.down_us = 5'000;
    v.sc.jitter_us = 1'000;
    v.sc.interval_us = 100'000;
    v.sc.duration_us = 40'000'000;
    v.sc.client_offset_us = 3'000'000;
    v.sc.drift_ppm = 150;
    v.sc.seed = 13;
    specs.push_back(v);
  }
  {
    VectorSpec v{"clock_step",
                 "2 ms +- 0.5 ms each way, an exchange every 50 ms; at 5 s the client clock jumps 100 ms ahead: "
                 "older samples are dropped",
                 {}, 250'000};
    v.sc.up_us = 2'000;
    v.sc.down_us = 2'000;
    v.sc.jitter_us = 500;
    v.sc.interval_us = 50'000;
    v.sc.duration_us = 10'000'000;
    v.sc.step_at_us = 5'000'000;
    v.sc.step_us = 100'000;
    v.sc.seed = 14;
    specs.push_back(v);
  }
  for (const auto& s : specs) writeVector(s, cfg);

  // Hand-made: refusals and the empty estimator.
  std::ofstream f(kVectorDir / "refusals.json");
  const int64_t b = kEpochUs;
  ClockEstimator est(cfg);
  std::vector<std::array<int64_t, 4>> samples = {
      {b, b + 5'000, b + 15'000, b + 6'000},      // negative RTT: refused
      {b + 2'000, b + 5'000, b + 5'000, b + 1'999},  // t3 < t0: refused
      {b + 10'000, b + 10'150, b + 10'150, b + 10'110},  // theta in [40, 150]
      {b + 20'000, b + 20'080, b + 20'090, b + 20'060},  // theta in [30, 80] -> [40, 80]
  };
  std::ostringstream out;
  out << "{\n\"name\": \"refusals\",\n\"description\": \"negative-RTT and backward samples are refused; an empty "
         "estimator is invalid; two samples intersect\",\n";
  out << "\"config\": " << json::serialize(configJson(cfg)) << ",\n";
  out << "\"tolerance\": {\"offset_us\": 1, \"uncertainty_us\": 1, \"drift_ppm\": 0.01},\n";
  out << "\"refused\": [0, 1],\n\"samples\": [\n";
  for (size_t i = 0; i < samples.size(); ++i)
    out << "[" << samples[i][0] << "," << samples[i][1] << "," << samples[i][2] << "," << samples[i][3] << "]"
        << (i + 1 < samples.size() ? ",\n" : "\n");
  out << "],\n\"queries\": [\n";
  bool first = true;
  auto query = [&](size_t after, int64_t c) {
    auto e = est.estimate(c);
    json::object x;
    x["valid"] = e.valid;
    if (e.valid) {
      x["offset_us"] = e.offset_us;
      x["uncertainty_us"] = e.uncertainty_us;
      x["drift_ppm"] = ppmJson(e.drift_ppm);
      x["drift_min_ppm"] = ppmJson(e.drift_min_ppm);
      x["drift_max_ppm"] = ppmJson(e.drift_max_ppm);
      x["best_rtt_us"] = e.best_rtt_us;
      x["samples"] = e.samples;
    }
    json::object qo;
    qo["after"] = after;
    qo["client_us"] = c;
    qo["expect"] = std::move(x);
    out << (first ? "" : ",\n") << json::serialize(qo);
    first = false;
  };
  query(0, b);
  for (size_t i = 0; i < samples.size(); ++i) {
    est.addSample(samples[i][0], samples[i][1], samples[i][2], samples[i][3]);
    query(i + 1, samples[i][3] + 1'000);
  }
  out << "\n]\n}\n";
  f << out.str();
}
#endif

}  // namespace
}  // namespace tutti::sync
