// Client-side estimate of the server clock from `time` exchanges: the
// algorithm of include/tutti/sync/clock_estimator.h (src/sync/clock_estimator.cc),
// written out in test/vectors/clock_estimator/README.md; both SDKs are checked
// against those vectors. Pure computation: the caller passes every time in
// (integers, microseconds).
//
// In short: each exchange bounds theta = server - client to
// [t2 - t3, t1 - t0]; theta is modelled over the window as a line
// a + s (t - newest); the bounds (loosened by wander_ppm x age) cut a convex
// polygon of feasible (a, s); a weighted fit of bucket midpoints picks the
// slope (shrunk towards 0 by its standard error); the estimate is the middle
// of the feasible lines of that slope, and the uncertainty reaches both ends
// of the values every feasible line takes at the query time.

const kEpsilonUs = 1e-3;
const kFitFloorUs = 100.0;
const kShrink = 2.0;

export const kDefaultClockEstimatorConfig = Object.freeze({
  windowUs: 120_000_000, maxSamples: 2048, maxDriftPpm: 500, driftMinSpanUs: 4_000_000,
  driftBuckets: 16, wanderPpm: 20,
});

const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);
// std::llround: half away from zero.
const llround = (x) => Math.sign(x) * Math.round(Math.abs(x));

export class ClockEstimator {
  constructor(config = {}) {
    this.config_ = { ...kDefaultClockEstimatorConfig, ...config };
    this.resets_ = 0;
    this.clear();
  }

  clear() {
    this.samples_ = [];  // {tLo, tHi, lo, hi, rttUs}
    this.poly_ = [];     // vertices {a, s}
    this.slope_ = 0;
    this.hasOrigin_ = false;
    this.originC_ = 0;
    this.originTheta_ = 0;
    this.newestT_ = 0;
    this.bestRttUs_ = 0;
  }

  resets() { return this.resets_; }
  size() { return this.samples_.length; }

  addSample(t0, t1, t2, t3) {
    if (t3 < t0) return false;
    const rtt = (t3 - t0) - (t2 - t1);
    if (rtt < 0) return false;
    if (!this.hasOrigin_) {
      this.hasOrigin_ = true;
      this.originC_ = t0;
      this.originTheta_ = t1 - t0;
    }
    this.samples_.push({ tLo: t3 - this.originC_, tHi: t0 - this.originC_, lo: (t2 - t3) - this.originTheta_,
                         hi: (t1 - t0) - this.originTheta_, rttUs: rtt });
    this.trim_();
    this.poly_ = this.feasible_(0);
    if (this.poly_.length === 0) {
      // No clock fits the whole window (a step, a route change): drop as few
      // of the oldest as needed (feasibility only grows as samples go).
      let lo = 1, hi = this.samples_.length - 1;
      while (lo < hi) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (this.feasible_(mid).length > 0) hi = mid;
        else lo = mid + 1;
      }
      this.samples_.splice(0, lo);
      ++this.resets_;
      this.trim_();
      this.poly_ = this.feasible_(0);
    }
    this.slope_ = this.fitSlope_();
    let best = this.samples_[0].rttUs;
    for (const s of this.samples_) best = Math.min(best, s.rttUs);
    this.bestRttUs_ = best;
    return true;
  }

  trim_() {
    const max = Math.max(1, this.config_.maxSamples);
    if (this.samples_.length > max) this.samples_.splice(0, this.samples_.length - max);
    let newest = -Infinity;
    for (const s of this.samples_) newest = Math.max(newest, s.tLo);
    this.newestT_ = newest;
    const oldestKept = this.newestT_ - this.config_.windowUs;
    let drop = 0;
    while (this.samples_.length - drop > 1 && this.samples_[drop].tHi < oldestKept) ++drop;
    if (drop > 0) this.samples_.splice(0, drop);
  }

  feasible_(first) {
    const maxS = this.config_.maxDriftPpm * 1e-6;
    const wander = this.config_.wanderPpm * 1e-6;
    const samples = this.samples_;
    if (first >= samples.length) return [];
    const N = this.newestT_;

    let nw = samples[first];
    for (let i = first; i < samples.length; ++i) if (samples[i].tLo >= nw.tLo) nw = samples[i];
    const margin = 1 + (maxS + wander) * (N - Math.min(nw.tHi, nw.tLo));
    const a0 = nw.lo - margin, a1 = nw.hi + margin;
    let poly = [{ a: a0, s: -maxS }, { a: a1, s: -maxS }, { a: a1, s: maxS }, { a: a0, s: maxS }];

    const same = (x, y) => Math.abs(x.a - y.a) < 1e-6 && Math.abs(x.s - y.s) < 1e-12;
    // Keeps the part of poly where sign * (a + s tau - c) >= 0 (Sutherland-Hodgman).
    const clip = (tau, c, sign) => {
      const out = [];
      const push = (v) => { if (out.length === 0 || !same(out[out.length - 1], v)) out.push(v); };
      const n = poly.length;
      for (let k = 0; k < n; ++k) {
        const p = poly[k];
        const q = poly[(k + 1) % n];
        const gp = sign * (p.a + p.s * tau - c);
        const gq = sign * (q.a + q.s * tau - c);
        const pin = gp >= -kEpsilonUs, qin = gq >= -kEpsilonUs;
        if (pin) push(p);
        if (pin !== qin) {
          const r = gp / (gp - gq);
          push({ a: p.a + r * (q.a - p.a), s: p.s + r * (q.s - p.s) });
        }
      }
      if (out.length > 1 && same(out[0], out[out.length - 1])) out.pop();
      poly = out;
    };

    const lows = [], highs = [];
    for (let i = first; i < samples.length; ++i) {
      const s = samples[i];
      lows.push({ x: s.tLo - N, y: s.lo - wander * (N - s.tLo) });
      highs.push({ x: s.tHi - N, y: s.hi + wander * (N - s.tHi) });
    }
    // Andrew's monotone chain; upper: the upper hull (highest of equal x), else the lower.
    const hull = (pts, upper) => {
      pts.sort((p, q) => p.x - q.x);  // stable
      const sign = upper ? 1 : -1;
      const h = [];
      for (const p of pts) {
        if (h.length > 0 && h[h.length - 1].x === p.x) {
          if (sign * (p.y - h[h.length - 1].y) <= 0) continue;
          h.pop();
        }
        while (h.length >= 2) {
          const o = h[h.length - 2];
          const a = h[h.length - 1];
          const cross = (a.x - o.x) * (p.y - o.y) - (a.y - o.y) * (p.x - o.x);
          if (sign * cross < 0) break;
          h.pop();
        }
        h.push(p);
      }
      return h;
    };
    for (const p of hull(lows, true)) {
      clip(p.x, p.y, 1);
      if (poly.length === 0) return poly;
    }
    for (const p of hull(highs, false)) {
      clip(p.x, p.y, -1);
      if (poly.length === 0) return poly;
    }
    return poly;
  }

  fitSlope_() {
    const samples = this.samples_;
    const nb = this.config_.driftBuckets;
    if (samples.length < 3 || nb < 3) return 0;
    let first = Infinity;
    for (const s of samples) first = Math.min(first, s.tHi);
    const span = this.newestT_ - first;
    if (span < this.config_.driftMinSpanUs || span <= 0) return 0;
    const width = span / nb;
    const buckets = [];
    for (let i = 0; i < nb; ++i) buckets.push({ lo: -Infinity, tLo: 0, hi: Infinity, tHi: 0 });
    for (const s of samples) {
      const i = clamp(Math.floor(((s.tLo + s.tHi) / 2 - first) / width), 0, nb - 1);
      const b = buckets[i];
      if (s.lo > b.lo) { b.lo = s.lo; b.tLo = s.tLo; }
      if (s.hi < b.hi) { b.hi = s.hi; b.tHi = s.tHi; }
    }
    const pts = [];
    let minHalf = Infinity;
    for (const b of buckets) {
      if (b.lo === -Infinity) continue;
      const half = Math.max(0, (b.hi - b.lo) / 2);
      pts.push({ x: (b.tLo + b.tHi) / 2, y: (b.lo + b.hi) / 2, half });
      minHalf = Math.min(minHalf, half);
    }
    const n = pts.length;
    if (n < 3) return 0;
    const excess = pts.map((p) => p.half - minHalf).sort((x, y) => x - y);
    const floorUs = Math.max(kFitFloorUs, excess[Math.floor(n / 2)]);
    let sw = 0, swx = 0, swy = 0;
    const w = new Array(n);
    for (let i = 0; i < n; ++i) {
      const d = pts[i].half - minHalf + floorUs;
      w[i] = 3.0 / (d * d);
      sw += w[i];
      swx += w[i] * pts[i].x;
      swy += w[i] * pts[i].y;
    }
    const mx = swx / sw, my = swy / sw;
    let sxx = 0, sxy = 0;
    for (let i = 0; i < n; ++i) {
      sxx += w[i] * (pts[i].x - mx) * (pts[i].x - mx);
      sxy += w[i] * (pts[i].x - mx) * (pts[i].y - my);
    }
    if (!(sxx > 0)) return 0;
    const slope = sxy / sxx;
    let chi2 = 0;
    for (let i = 0; i < n; ++i) {
      const r = pts[i].y - my - slope * (pts[i].x - mx);
      chi2 += w[i] * r * r;
    }
    const se = Math.sqrt((1.0 / sxx) * Math.max(1.0, chi2 / (n - 2)));
    const noise = kShrink * se;
    const shrunk = (slope * slope * slope) / (slope * slope + noise * noise);
    const maxS = this.config_.maxDriftPpm * 1e-6;
    return clamp(Number.isFinite(shrunk) ? shrunk : 0, -maxS, maxS);
  }

  estimate(clientNowUs) {
    const e = { valid: false, offsetUs: 0, uncertaintyUs: 0, driftPpm: 0, driftMinPpm: 0, driftMaxPpm: 0,
                bestRttUs: 0, samples: 0 };
    if (this.samples_.length === 0 || this.poly_.length === 0) return e;
    const tau = (clientNowUs - this.originC_) - this.newestT_;
    let lo = Infinity, hi = -Infinity, sLo = Infinity, sHi = -Infinity;
    for (const v of this.poly_) {
      const theta = v.a + v.s * tau;
      lo = Math.min(lo, theta);
      hi = Math.max(hi, theta);
      sLo = Math.min(sLo, v.s);
      sHi = Math.max(sHi, v.s);
    }
    const s = clamp(this.slope_, sLo, sHi);
    let aLo = Infinity, aHi = -Infinity;
    const poly = this.poly_;
    const n = poly.length;
    for (let k = 0; k < n; ++k) {
      const p = poly[k];
      const r = poly[(k + 1) % n];
      if (p.s === s) {
        aLo = Math.min(aLo, p.a);
        aHi = Math.max(aHi, p.a);
      }
      if ((p.s - s) * (r.s - s) < 0) {
        const a = p.a + ((s - p.s) / (r.s - p.s)) * (r.a - p.a);
        aLo = Math.min(aLo, a);
        aHi = Math.max(aHi, a);
      }
    }
    let mid = aLo <= aHi ? (aLo + aHi) / 2 + s * tau : (lo + hi) / 2;
    const extra = this.config_.wanderPpm * 1e-6 * Math.abs(tau);
    lo -= extra;
    hi += extra;
    mid = clamp(mid, lo, hi);
    const offset = llround(mid);
    e.valid = true;
    e.offsetUs = this.originTheta_ + offset;
    e.uncertaintyUs = Math.ceil(Math.max(hi - offset, offset - lo));
    e.driftPpm = -s * 1e6;
    e.driftMinPpm = -sHi * 1e6;
    e.driftMaxPpm = -sLo * 1e6;
    e.bestRttUs = this.bestRttUs_;
    e.samples = this.samples_.length;
    return e;
  }

  serverTime(clientNowUs) {
    const e = this.estimate(clientNowUs);
    return clientNowUs + (e.valid ? e.offsetUs : 0);
  }
}
