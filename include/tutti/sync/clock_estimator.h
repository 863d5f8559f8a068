#pragma once
// Client-side estimate of the server clock from NTP-style exchanges (the
// `time` command of docs/protocol.md). Pure computation, no I/O, no clock of
// its own: the caller passes every time in.
//
// One exchange gives four timestamps: t0 client send, t1 server receive,
// t2 server reply, t3 client receive (t0/t3 on the client clock, t1/t2 on the
// server clock, all microseconds). By causality alone the offset
// theta = server - client lies in [t2 - t3, t1 - t0] (Cristian's bound),
// whatever the delays and however asymmetric they are.
//
// The estimator keeps a sliding window of such bounds and finds every clock
// that fits them all (the linear-programming view of clock sync): theta is
// modelled over the window as a line, theta(t) = a + s * (t - t_newest),
// where s is the client clock's rate error (drift). Each lower bound
// requires the line to pass above it at its time, each upper bound below
// it; |s| <= max_drift_ppm. These half-planes cut out a convex polygon of
// feasible (a, s). At a query time q the line's value ranges over an
// interval [lo, hi]: every clock consistent with the data (and with the
// model) is inside, so an uncertainty that reaches both ends is honest by
// construction.
//
// Which point inside: the bounds alone cannot tell the drift when round
// trips are long (a 60 ms RTT leaves +-2000 ppm feasible over 30 s), but
// their midpoints can, statistically. So the drift is fitted: the window is
// cut into drift_buckets buckets of time, each bucket's envelope [max lower,
// min upper] gives a midpoint, and a weighted least-squares line through
// them gives the slope. A midpoint is off by at most its envelope's excess
// width over the true minimum, so points are weighted by the inverse square
// of their excess over the narrowest envelope plus a floor (the median
// excess: the narrowest is not the true minimum either). The slope is shrunk towards 0 by how far it stands
// above its standard error (no drift is the best guess for two
// NTP-disciplined clocks, and a short jittery window must not invent one),
// then kept within the polygon's range of s. The estimate is the middle of
// the lines of that slope through the polygon, carried to the query time;
// the uncertainty is the distance from it to the farther end of [lo, hi].
//
//   * Accuracy. The tightest lower bound comes from the fastest
//     server->client trip, the tightest upper one from the fastest
//     client->server trip, found independently: with symmetric jitter the
//     estimate converges on the truth; with asymmetric paths it errs by half
//     the asymmetry of the minimum delays, which the uncertainty (half the
//     minimum RTT) covers.
//   * Drift that is not quite constant. Clock rates wander a little
//     (temperature); each bound is loosened by wander_ppm times its age, and
//     the uncertainty grows by wander_ppm times the time since the newest
//     sample.
//   * Little data. With samples from a short span any slope up to
//     max_drift_ppm fits: the uncertainty grows with the age of the samples
//     at that rate, which is honest, and the fitted drift stays near 0.
//   * Steps. If no line fits the window any more (the client clock was set,
//     the route changed), the oldest samples are dropped, as few as needed
//     for one to fit again, and resets() counts it.
//
// The algorithm is the contract shared with the JavaScript SDK; the test
// vectors in test/vectors/clock_estimator (README.md there) pin it down.
//
// Threads: not thread-safe; the owner serialises calls (the C++ SDK holds a
// mutex around it).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace tutti::sync {

struct ClockEstimatorConfig {
  // Samples older than this (client time, from the newest sample's t3) leave
  // the window: long enough to find the fastest round trips of a jittery
  // path at a slow cadence and to measure drift over a long baseline (on
  // 40 ms +- 10 ms with one exchange every 500 ms, 30 s leaves ~1 ms of
  // error and a 150 ppm drift unseen; 120 s finds the drift within a few
  // ppm), short enough that a wandering rate stays close to a line.
  int64_t window_us = 120'000'000;
  // At most this many samples (the oldest leave first): bounds memory (40
  // bytes a sample) and the cost of adding one (linear in the window). 2048
  // holds the SDK's connect burst and settling phase plus the rest of the
  // window at its steady cadence.
  size_t max_samples = 2048;
  // No real clock is off by more (NTP's limit; quartz: tens of ppm). Bounds
  // the drift while the samples span too little time to measure it.
  double max_drift_ppm = 500;
  // The drift is fitted only over a window at least this long (before, it
  // is 0): over shorter spans jitter dominates any slope.
  int64_t drift_min_span_us = 4'000'000;
  // Buckets of the drift fit (at least 3 must hold samples).
  int drift_buckets = 16;
  // How far the drift may wander from constant: a bound is loosened by this
  // times its age (20 ppm: 0.6 ms at 30 s, 2.4 ms for the oldest of a 120 s
  // window, which therefore weighs less).
  double wander_ppm = 20;
};

class ClockEstimator {
 public:
  using Config = ClockEstimatorConfig;

  struct Estimate {
    bool valid = false;          // false until a sample was accepted
    int64_t offset_us = 0;       // server time - client time at the query
    int64_t uncertainty_us = 0;  // the true offset is within offset_us +- this
    double drift_ppm = 0;        // client clock rate error: > 0 = client runs fast (the fitted one)
    double drift_min_ppm = 0;    // the range of drifts the bounds allow (within +-max_drift_ppm)
    double drift_max_ppm = 0;
    int64_t best_rtt_us = 0;     // the smallest round trip in the window
    size_t samples = 0;          // samples in the window
  };

  explicit ClockEstimator(Config config = {});

  // One exchange. Refused (false, nothing changes) if the round trip is
  // negative ((t3 - t0) < (t2 - t1), impossible for an honest exchange) or
  // the client times go backwards (t3 < t0).
  bool addSample(int64_t t0, int64_t t1, int64_t t2, int64_t t3);

  // The estimate for client time `client_now_us` (normally now). Costs a
  // pass over the polygon's vertices (a handful); adding a sample costs a
  // pass over the window.
  Estimate estimate(int64_t client_now_us) const;
  // client_now_us + offset (client_now_us itself while invalid).
  int64_t serverTime(int64_t client_now_us) const;

  // How many times inconsistent samples forced older ones out.
  uint64_t resets() const { return resets_; }
  size_t size() const { return samples_.size(); }
  // Forgets every sample and the drift (a new server, a new clock).
  void clear();

 private:
  struct Sample {
    // Times relative to origin_c_, bounds relative to origin_theta_ (doubles
    // stay exact to well below a microsecond).
    double t_lo;  // client time the lower bound refers to (t3)
    double t_hi;  // client time the upper bound refers to (t0)
    double lo;    // t2 - t3
    double hi;    // t1 - t0
    int64_t rtt_us;
  };
  // A vertex of the feasible polygon: a = theta at newest_t_ (relative to
  // origin_theta_), s = d(theta)/d(client time).
  struct Vertex {
    double a, s;
  };

  // The feasible polygon of samples_[first..] (empty if no line fits).
  std::vector<Vertex> feasible(size_t first) const;
  // The fitted slope (shrunk, clamped to +-max_drift_ppm; 0 without a fit).
  double fitSlope() const;
  void trim();

  Config config_;
  std::deque<Sample> samples_;
  std::vector<Vertex> poly_;
  double slope_ = 0;  // fitSlope() of the window
  bool has_origin_ = false;
  int64_t origin_c_ = 0;
  int64_t origin_theta_ = 0;
  double newest_t_ = 0;  // the largest t_lo in the window
  int64_t best_rtt_us_ = 0;
  uint64_t resets_ = 0;
};

}  // namespace tutti::sync
