#include "tutti/sync/clock_estimator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tutti::sync {

namespace {

// Weight floor of the drift fit: a bucket whose envelope is wider than the
// narrowest one by `excess` weighs 1 / (excess + kFitFloorUs)^2. Below about
// 100 us other noise (scheduling, timestamp placement) dominates, so
// narrower envelopes are not trusted more.
constexpr double kFitFloorUs = 100.0;
// Intervals that miss each other by less than this (floating point, rounding
// of the inputs) still count as intersecting.
constexpr double kEpsilonUs = 1e-3;
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

ClockEstimator::ClockEstimator(Config config) : config_(config) { clear(); }

void ClockEstimator::clear() {
  samples_.clear();
  has_origin_ = false;
  origin_c_ = 0;
  origin_theta_ = 0;
  newest_t_ = 0;
  fit_ = Fit{0, config_.max_drift_ppm * 1e-6, false};
  env_ = {};
  best_rtt_us_ = 0;
}

bool ClockEstimator::addSample(int64_t t0, int64_t t1, int64_t t2, int64_t t3) {
  if (t3 < t0) return false;
  const int64_t rtt = (t3 - t0) - (t2 - t1);
  if (rtt < 0) return false;
  if (!has_origin_) {
    has_origin_ = true;
    origin_c_ = t0;
    origin_theta_ = t1 - t0;
  }
  samples_.push_back(Sample{static_cast<double>(t3 - origin_c_), static_cast<double>(t0 - origin_c_),
                            static_cast<double>((t2 - t3) - origin_theta_),
                            static_cast<double>((t1 - t0) - origin_theta_), rtt});
  trim();

  // Judge the newcomer with the drift known so far: if it contradicts older
  // samples, the older ones go (a clock step or a route change made them
  // wrong; the newest sample describes the present).
  bool dropped = false;
  while (samples_.size() > 1 && !consistent(fit_)) {
    samples_.pop_front();
    dropped = true;
    trim();  // recomputes newest_t_
  }
  if (dropped) ++resets_;

  // Refit; a fit under which the window no longer intersects is not honest
  // (the allowance is too small for its error): keep the previous one.
  Fit f = fitDrift();
  if (consistent(f)) fit_ = f;
  env_ = envelopeFor(fit_);
  best_rtt_us_ = samples_.front().rtt_us;
  for (const Sample& s : samples_) best_rtt_us_ = std::min(best_rtt_us_, s.rtt_us);
  return true;
}

void ClockEstimator::trim() {
  while (samples_.size() > std::max<size_t>(1, config_.max_samples)) samples_.pop_front();
  double newest = -kInf;
  for (const Sample& s : samples_) newest = std::max(newest, s.t_lo);
  newest_t_ = newest;
  const double oldest_kept = newest_t_ - static_cast<double>(config_.window_us);
  while (samples_.size() > 1 && samples_.front().t_hi < oldest_kept) samples_.pop_front();
}

ClockEstimator::Envelope ClockEstimator::envelopeFor(const Fit& f) const {
  // For q >= every sample time, sample i's carried bounds are
  //   lo_i(q) = lo_i + (slope - a) (q - t_lo_i),  hi_i(q) = hi_i + (slope + a) (q - t_hi_i):
  // the coefficient of q is the same for all, so the max / min is taken once.
  Envelope e{-kInf, kInf};
  for (const Sample& s : samples_) {
    e.lo_c = std::max(e.lo_c, s.lo - (f.slope - f.allowance) * s.t_lo);
    e.hi_c = std::min(e.hi_c, s.hi - (f.slope + f.allowance) * s.t_hi);
  }
  return e;
}

bool ClockEstimator::consistent(const Fit& f) const {
  if (samples_.size() <= 1) return true;
  Envelope e = envelopeFor(f);
  const double q = newest_t_;
  const double lo = e.lo_c + (f.slope - f.allowance) * q;
  const double hi = e.hi_c + (f.slope + f.allowance) * q;
  return hi - lo >= -kEpsilonUs;
}

void ClockEstimator::bounds(double q, const Fit& f, double& lo, double& hi) const {
  lo = -kInf;
  hi = kInf;
  for (const Sample& s : samples_) {
    const double dl = q - s.t_lo;
    const double dh = q - s.t_hi;
    lo = std::max(lo, s.lo + f.slope * dl - f.allowance * std::abs(dl));
    hi = std::min(hi, s.hi + f.slope * dh + f.allowance * std::abs(dh));
  }
}

ClockEstimator::Fit ClockEstimator::fitDrift() const {
  if (samples_.size() < 3 || config_.drift_buckets < 3) return fit_;
  double first = kInf;
  for (const Sample& s : samples_) first = std::min(first, s.t_hi);
  const double span = newest_t_ - first;
  if (span < static_cast<double>(config_.drift_min_span_us) || span <= 0) return fit_;

  // Per bucket: the envelope of its samples, i.e. the best lower bound (and
  // when it was taken) and the best upper bound (and when).
  struct Bucket {
    double lo = -kInf, t_lo = 0, hi = kInf, t_hi = 0;
  };
  const int nb = config_.drift_buckets;
  const double width = span / nb;
  std::vector<Bucket> buckets(static_cast<size_t>(nb));
  for (const Sample& s : samples_) {
    const double mid = (s.t_lo + s.t_hi) / 2;
    int i = static_cast<int>((mid - first) / width);
    i = std::clamp(i, 0, nb - 1);
    Bucket& b = buckets[static_cast<size_t>(i)];
    if (s.lo > b.lo) {
      b.lo = s.lo;
      b.t_lo = s.t_lo;
    }
    if (s.hi < b.hi) {
      b.hi = s.hi;
      b.t_hi = s.t_hi;
    }
  }
  struct Point {
    double x, y, half;
  };
  std::vector<Point> pts;
  double min_half = kInf;
  for (const Bucket& b : buckets) {
    if (b.lo == -kInf) continue;
    Point p{(b.t_lo + b.t_hi) / 2, (b.lo + b.hi) / 2, std::max(0.0, (b.hi - b.lo) / 2)};
    min_half = std::min(min_half, p.half);
    pts.push_back(p);
  }
  const size_t n = pts.size();
  if (n < 3) return fit_;

  // Weighted least squares; weights from how much wider than the best
  // bucket's each envelope is (a wide envelope's midpoint can be off by up
  // to its excess width).
  double sw = 0, swx = 0, swy = 0;
  std::vector<double> w(n);
  for (size_t i = 0; i < n; ++i) {
    const double d = pts[i].half - min_half + kFitFloorUs;
    w[i] = 1.0 / (d * d);
    sw += w[i];
    swx += w[i] * pts[i].x;
    swy += w[i] * pts[i].y;
  }
  const double mx = swx / sw, my = swy / sw;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxx += w[i] * (pts[i].x - mx) * (pts[i].x - mx);
    sxy += w[i] * (pts[i].x - mx) * (pts[i].y - my);
  }
  if (!(sxx > 0)) return fit_;
  const double slope = sxy / sxx;
  double ssr = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = pts[i].y - my - slope * (pts[i].x - mx);
    ssr += w[i] * r * r;
  }
  const double se = std::sqrt(ssr / static_cast<double>(n - 2) / sxx);

  const double max_drift = config_.max_drift_ppm * 1e-6;
  Fit f;
  f.slope = std::clamp(slope, -max_drift, max_drift);
  f.allowance = config_.drift_allowance_ppm * 1e-6 + 3 * se + std::abs(slope - f.slope);
  f.allowance = std::min(f.allowance, max_drift);
  f.fitted = true;
  return f;
}

ClockEstimator::Estimate ClockEstimator::estimate(int64_t client_now_us) const {
  Estimate e;
  if (samples_.empty()) return e;
  const double q = static_cast<double>(client_now_us - origin_c_);
  double lo, hi;
  if (q >= newest_t_) {
    lo = env_.lo_c + (fit_.slope - fit_.allowance) * q;
    hi = env_.hi_c + (fit_.slope + fit_.allowance) * q;
  } else {
    bounds(q, fit_, lo, hi);
  }
  e.valid = true;
  e.offset_us = origin_theta_ + static_cast<int64_t>(std::llround((lo + hi) / 2));
  // Rounded up, plus the half microsecond the offset's rounding may add.
  e.uncertainty_us = static_cast<int64_t>(std::ceil(std::abs(hi - lo) / 2 + 0.5));
  e.drift_ppm = -fit_.slope * 1e6;
  e.best_rtt_us = best_rtt_us_;
  e.samples = samples_.size();
  return e;
}

int64_t ClockEstimator::serverTime(int64_t client_now_us) const {
  Estimate e = estimate(client_now_us);
  return client_now_us + (e.valid ? e.offset_us : 0);
}

}  // namespace tutti::sync
