#include "tutti/sync/clock_estimator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tutti::sync {

namespace {

// A vertex this far outside a half-plane (in microseconds of theta) still
// counts as inside: bounds that touch exactly (zero round trips, rounding of
// the inputs) must not make the window look inconsistent.
constexpr double kEpsilonUs = 1e-3;
constexpr double kInf = std::numeric_limits<double>::infinity();
// Drift fit: a bucket whose envelope is `excess` wider than the narrowest
// has its midpoint off by up to excess + kFitFloorUs (below ~100 us other
// noise dominates: scheduling, where timestamps are taken), taken as uniform.
constexpr double kFitFloorUs = 100.0;
// A fitted slope s with standard error se is used as s * s^2 / (s^2 + (kShrink se)^2).
constexpr double kShrink = 2.0;

}  // namespace

ClockEstimator::ClockEstimator(Config config) : config_(config) { clear(); }

void ClockEstimator::clear() {
  samples_.clear();
  poly_.clear();
  slope_ = 0;
  has_origin_ = false;
  origin_c_ = 0;
  origin_theta_ = 0;
  newest_t_ = 0;
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

  poly_ = feasible(0);
  if (poly_.empty()) {
    // No clock fits the whole window: the older samples describe a past that
    // is no longer true (a clock step, a route change). Drop as few of the
    // oldest as needed; feasibility only grows as samples go, so the
    // smallest count is found by bisection. The newest alone always fits.
    size_t lo = 1, hi = samples_.size() - 1;
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (!feasible(mid).empty()) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(lo));
    ++resets_;
    trim();
    poly_ = feasible(0);
  }
  slope_ = fitSlope();
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

std::vector<ClockEstimator::Vertex> ClockEstimator::feasible(size_t first) const {
  const double max_s = config_.max_drift_ppm * 1e-6;
  const double wander = config_.wander_ppm * 1e-6;
  if (first >= samples_.size()) return {};

  // Start from a box that surely holds every feasible line: |s| <= max_s and
  // `a` (theta at newest_t_) near the newest sample's bounds.
  const Sample* nw = &samples_[first];
  for (size_t i = first; i < samples_.size(); ++i)
    if (samples_[i].t_lo >= nw->t_lo) nw = &samples_[i];
  const double margin = 1 + (max_s + wander) * (newest_t_ - std::min(nw->t_hi, nw->t_lo));
  const double a0 = nw->lo - margin, a1 = nw->hi + margin;
  std::vector<Vertex> poly{{a0, -max_s}, {a1, -max_s}, {a1, max_s}, {a0, max_s}};
  std::vector<Vertex> out;
  out.reserve(16);

  // Clipping at a vertex that lies on the line would repeat it; repeats would
  // pile up over thousands of clips.
  auto same = [](const Vertex& x, const Vertex& y) {
    return std::abs(x.a - y.a) < 1e-6 && std::abs(x.s - y.s) < 1e-12;
  };
  auto push = [&](const Vertex& v) {
    if (out.empty() || !same(out.back(), v)) out.push_back(v);
  };

  // Keeps the part of `poly` where sign * (a + s * tau - c) >= 0
  // (Sutherland-Hodgman against one half-plane; the polygon stays convex).
  auto clip = [&](double tau, double c, double sign) {
    out.clear();
    const size_t n = poly.size();
    for (size_t k = 0; k < n; ++k) {
      const Vertex& p = poly[k];
      const Vertex& q = poly[(k + 1) % n];
      const double gp = sign * (p.a + p.s * tau - c);
      const double gq = sign * (q.a + q.s * tau - c);
      const bool pin = gp >= -kEpsilonUs, qin = gq >= -kEpsilonUs;
      if (pin) push(p);
      if (pin != qin) {
        const double r = gp / (gp - gq);
        push(Vertex{p.a + r * (q.a - p.a), p.s + r * (q.s - p.s)});
      }
    }
    if (out.size() > 1 && same(out.front(), out.back())) out.pop_back();
    poly.swap(out);
  };

  // Only the hulls matter: a line above every lower bound is above their
  // upper convex hull, and a line below every upper bound is below their
  // lower hull. Clipping by the hulls' vertices alone (a dozen or so) gives
  // the same polygon as clipping by all 2n bounds, at a fraction of the cost.
  struct Pt {
    double x, y;
  };
  std::vector<Pt> lows, highs;
  lows.reserve(samples_.size() - first);
  highs.reserve(samples_.size() - first);
  for (size_t i = first; i < samples_.size(); ++i) {
    const Sample& s = samples_[i];
    // theta(t_lo) >= lo, theta(t_hi) <= hi, each loosened by its age times
    // the wander allowance; x relative to newest_t_ like `a`.
    lows.push_back(Pt{s.t_lo - newest_t_, s.lo - wander * (newest_t_ - s.t_lo)});
    highs.push_back(Pt{s.t_hi - newest_t_, s.hi + wander * (newest_t_ - s.t_hi)});
  }
  auto byX = [](const Pt& p, const Pt& q) { return p.x < q.x; };
  // Andrew's monotone chain. upper = true: the upper hull (keeps the highest
  // point of equal x), else the lower one.
  auto hull = [&](std::vector<Pt>& pts, bool upper) {
    if (!std::is_sorted(pts.begin(), pts.end(), byX)) std::stable_sort(pts.begin(), pts.end(), byX);
    const double sign = upper ? 1 : -1;
    std::vector<Pt> h;
    for (const Pt& p : pts) {
      if (!h.empty() && h.back().x == p.x) {
        if (sign * (p.y - h.back().y) <= 0) continue;
        h.pop_back();
      }
      while (h.size() >= 2) {
        const Pt& o = h[h.size() - 2];
        const Pt& a = h.back();
        const double cross = (a.x - o.x) * (p.y - o.y) - (a.y - o.y) * (p.x - o.x);
        if (sign * cross < 0) break;  // a turns the right way: keep it
        h.pop_back();
      }
      h.push_back(p);
    }
    return h;
  };
  for (const Pt& p : hull(lows, true)) {
    clip(p.x, p.y, 1);
    if (poly.empty()) return poly;
  }
  for (const Pt& p : hull(highs, false)) {
    clip(p.x, p.y, -1);
    if (poly.empty()) return poly;
  }
  return poly;
}

double ClockEstimator::fitSlope() const {
  if (samples_.size() < 3 || config_.drift_buckets < 3) return 0;
  double first = kInf;
  for (const Sample& s : samples_) first = std::min(first, s.t_hi);
  const double span = newest_t_ - first;
  if (span < static_cast<double>(config_.drift_min_span_us) || span <= 0) return 0;

  // Per bucket: the best lower bound (and when) and the best upper bound (and when).
  struct Bucket {
    double lo = -kInf, t_lo = 0, hi = kInf, t_hi = 0;
  };
  const int nb = config_.drift_buckets;
  const double width = span / nb;
  std::vector<Bucket> buckets(static_cast<size_t>(nb));
  for (const Sample& s : samples_) {
    const int i = std::clamp(static_cast<int>(std::floor(((s.t_lo + s.t_hi) / 2 - first) / width)), 0, nb - 1);
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
    pts.push_back(Point{(b.t_lo + b.t_hi) / 2, (b.lo + b.hi) / 2, std::max(0.0, (b.hi - b.lo) / 2)});
    min_half = std::min(min_half, pts.back().half);
  }
  const size_t n = pts.size();
  if (n < 3) return 0;

  // The narrowest envelope is not the true minimum either: its own excess is
  // unknown, so every point's error scale gets a floor of the median excess
  // (and at least kFitFloorUs).
  std::vector<double> excess(n);
  for (size_t i = 0; i < n; ++i) excess[i] = pts[i].half - min_half;
  std::nth_element(excess.begin(), excess.begin() + static_cast<std::ptrdiff_t>(n / 2), excess.end());
  const double floor_us = std::max(kFitFloorUs, excess[n / 2]);

  // Weighted least squares with weights 1 / variance (uniform error of
  // half-width excess + floor: variance (excess + floor)^2 / 3).
  double sw = 0, swx = 0, swy = 0;
  std::vector<double> w(n);
  for (size_t i = 0; i < n; ++i) {
    const double d = pts[i].half - min_half + floor_us;
    w[i] = 3.0 / (d * d);
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
  if (!(sxx > 0)) return 0;
  const double slope = sxy / sxx;
  // Standard error from the error model, or from the residuals when they
  // are larger than the model says (wander, a path that changed).
  double chi2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = pts[i].y - my - slope * (pts[i].x - mx);
    chi2 += w[i] * r * r;
  }
  const double se = std::sqrt(1.0 / sxx * std::max(1.0, chi2 / static_cast<double>(n - 2)));
  const double noise = kShrink * se;
  const double shrunk = slope * slope * slope / (slope * slope + noise * noise);
  const double max_s = config_.max_drift_ppm * 1e-6;
  return std::clamp(std::isfinite(shrunk) ? shrunk : 0.0, -max_s, max_s);
}

ClockEstimator::Estimate ClockEstimator::estimate(int64_t client_now_us) const {
  Estimate e;
  if (samples_.empty() || poly_.empty()) return e;
  const double tau = static_cast<double>(client_now_us - origin_c_) - newest_t_;
  // The range of theta(q) over every feasible line, and of their slopes.
  double lo = kInf, hi = -kInf, s_lo = kInf, s_hi = -kInf;
  for (const Vertex& v : poly_) {
    const double theta = v.a + v.s * tau;
    lo = std::min(lo, theta);
    hi = std::max(hi, theta);
    s_lo = std::min(s_lo, v.s);
    s_hi = std::max(s_hi, v.s);
  }
  // The point: the feasible lines of the fitted slope (kept feasible), the
  // middle of their values at q. They form the chord of the polygon at s.
  const double s = std::clamp(slope_, s_lo, s_hi);
  double a_lo = kInf, a_hi = -kInf;
  const size_t n = poly_.size();
  for (size_t k = 0; k < n; ++k) {
    const Vertex& p = poly_[k];
    const Vertex& r = poly_[(k + 1) % n];
    if (p.s == s) {
      a_lo = std::min(a_lo, p.a);
      a_hi = std::max(a_hi, p.a);
    }
    if ((p.s - s) * (r.s - s) < 0) {
      const double a = p.a + (s - p.s) / (r.s - p.s) * (r.a - p.a);
      a_lo = std::min(a_lo, a);
      a_hi = std::max(a_hi, a);
    }
  }
  double mid = a_lo <= a_hi ? (a_lo + a_hi) / 2 + s * tau : (lo + hi) / 2;
  // The rate may keep wandering after the newest sample.
  const double extra = config_.wander_ppm * 1e-6 * std::abs(tau);
  lo -= extra;
  hi += extra;
  mid = std::clamp(mid, lo, hi);
  const int64_t offset = static_cast<int64_t>(std::llround(mid));
  const double rounded = static_cast<double>(offset);
  e.valid = true;
  e.offset_us = origin_theta_ + offset;
  e.uncertainty_us = static_cast<int64_t>(std::ceil(std::max(hi - rounded, rounded - lo)));
  e.drift_ppm = -s * 1e6;
  e.drift_min_ppm = -s_hi * 1e6;
  e.drift_max_ppm = -s_lo * 1e6;
  e.best_rtt_us = best_rtt_us_;
  e.samples = samples_.size();
  return e;
}

int64_t ClockEstimator::serverTime(int64_t client_now_us) const {
  Estimate e = estimate(client_now_us);
  return client_now_us + (e.valid ? e.offset_us : 0);
}

}  // namespace tutti::sync
