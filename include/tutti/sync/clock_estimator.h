#pragma once
// Client-side estimate of the server clock from NTP-style exchanges (the
// `time` command of docs/protocol.md). Pure computation, no I/O, no clock of
// its own: the caller passes every time in.
//
// One exchange gives four timestamps: t0 client send, t1 server receive,
// t2 server reply, t3 client receive (t0/t3 on the client clock, t1/t2 on the
// server clock, all microseconds). By causality alone the offset
// theta = server - client lies in [t2 - t3, t1 - t0] (Cristian's bound),
// whatever the delays and however asymmetric they are. The estimator keeps
// a sliding window of such intervals and intersects them:
//
//   * Drift. The client clock may run at a slightly different rate, so theta
//     moves. Once the window spans drift_min_span_us, the rate is fitted:
//     the window is cut into drift_buckets buckets of time, each bucket's
//     envelope [max lower bound, min upper bound] gives a midpoint, and a
//     weighted least-squares line through the midpoints gives the slope
//     (weights favour buckets whose envelope is narrow: their midpoint is
//     the most trustworthy). The slope is clamped to +-max_drift_ppm.
//   * Honesty. Every bound is carried to the query time along the fitted
//     slope and widened by the drift allowance (drift_allowance_ppm plus
//     three standard errors of the fit; max_drift_ppm before any fit) times
//     its age, so a wrong drift estimate widens the interval instead of
//     moving it off the truth.
//   * Estimate. lo = max of the carried lower bounds, hi = min of the upper
//     ones; offset = (lo + hi) / 2, uncertainty = (hi - lo) / 2. The lower
//     bound is set by the fastest server->client trip and the upper by the
//     fastest client->server one, found independently, so with symmetric
//     jitter the estimate converges on the truth; with asymmetric paths the
//     error is half the asymmetry of the minimum delays and the uncertainty
//     (half the minimum RTT) still covers it.
//   * Steps. If the intervals stop intersecting (the client clock was set,
//     the route changed), the oldest samples are dropped until they do, and
//     resets() counts it.
//
// The algorithm is the contract shared with the JavaScript SDK; the test
// vectors in test/vectors/clock_estimator (README.md there) pin it down.
//
// Threads: not thread-safe; the owner serialises calls (the C++ SDK holds a
// mutex around it).

#include <cstddef>
#include <cstdint>
#include <deque>

namespace tutti::sync {

struct ClockEstimatorConfig {
  // Samples older than this (client time, from the newest sample's t3) leave
  // the window: long enough to find the fastest round trips of a jittery
  // path, short enough that a drift allowance of 20 ppm stays below 1 ms.
  int64_t window_us = 30'000'000;
  // At most this many samples (the oldest leave first): bounds memory (40
  // bytes a sample) and the cost of a refit (linear). 2048 holds the whole
  // window at one exchange every 15 ms, so a fast cadence still fits drift
  // over 30 s (over 10 s, +-10 ms of jitter leaves some 35 ppm of slope error).
  size_t max_samples = 2048;
  // Drift is fitted only over a window at least this long: over shorter
  // spans jitter dominates the slope.
  int64_t drift_min_span_us = 4'000'000;
  // Buckets of the drift fit (at least 3 must hold samples).
  int drift_buckets = 16;
  // No real clock is off by more (quartz: tens of ppm); also the allowance
  // before the first fit.
  double max_drift_ppm = 500;
  // Floor of the allowance for an error in the fitted drift.
  double drift_allowance_ppm = 20;
};

class ClockEstimator {
 public:
  using Config = ClockEstimatorConfig;

  struct Estimate {
    bool valid = false;          // false until a sample was accepted
    int64_t offset_us = 0;       // server time - client time at the query
    int64_t uncertainty_us = 0;  // the true offset is within offset_us +- this
    double drift_ppm = 0;        // client clock rate error: > 0 = client runs fast
    int64_t best_rtt_us = 0;     // the smallest round trip in the window
    size_t samples = 0;          // samples in the window
  };

  explicit ClockEstimator(Config config = {});

  // One exchange. Refused (false, nothing changes) if the round trip is
  // negative ((t3 - t0) < (t2 - t1), impossible for an honest exchange) or
  // the client times go backwards (t3 < t0).
  bool addSample(int64_t t0, int64_t t1, int64_t t2, int64_t t3);

  // The estimate for client time `client_now_us` (normally now, i.e. at or
  // after the newest sample: then O(1); earlier query times cost O(window)).
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
  struct Fit {
    double slope = 0;      // d(theta)/d(client time), = -drift
    double allowance = 0;  // drift error allowance (fraction, e.g. 20e-6)
    bool fitted = false;   // from data (else the prior)
  };
  // Cached intersection for query times at or after newest_t_: the carried
  // bounds are linear in q with the same coefficient for every sample.
  struct Envelope {
    double lo_c = 0;  // lo(q) = lo_c + (slope - allowance) * q
    double hi_c = 0;  // hi(q) = hi_c + (slope + allowance) * q
  };

  Envelope envelopeFor(const Fit& f) const;
  bool consistent(const Fit& f) const;
  Fit fitDrift() const;
  void bounds(double q, const Fit& f, double& lo, double& hi) const;
  void trim();

  Config config_;
  std::deque<Sample> samples_;
  bool has_origin_ = false;
  int64_t origin_c_ = 0;
  int64_t origin_theta_ = 0;
  double newest_t_ = 0;  // the largest t_lo in the window
  Fit fit_;
  Envelope env_;
  int64_t best_rtt_us_ = 0;
  uint64_t resets_ = 0;
};

}  // namespace tutti::sync
