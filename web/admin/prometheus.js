// A small reader of the Prometheus text format (what `/metrics` serves):
// enough for counters, gauges and histograms, which is all Tutti exports.
// parse(text) -> Map name -> [{labels: {k: v}, value: number}]

export function parse(text) {
  const out = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2].replace(/\\(.)/g, '$1');
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value });
  }
  return out;
}

// The sum of a metric's samples, optionally only those whose labels match.
export function total(metrics, name, match = {}) {
  let sum = 0;
  for (const s of metrics.get(name) || []) {
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

// One histogram as [{le, count}] in bucket order, counts per bucket (not
// cumulative), plus its total count and sum.
export function histogram(metrics, name) {
  const buckets = (metrics.get(name + '_bucket') || [])
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), cum: s.value }))
    .sort((a, b) => a.le - b.le);
  let prev = 0;
  const perBucket = buckets.map((b) => {
    const count = b.cum - prev;
    prev = b.cum;
    return { le: b.le, count };
  });
  return { buckets: perBucket, count: total(metrics, name + '_count'), sum: total(metrics, name + '_sum') };
}

// a - b bucket by bucket (histograms over an interval from two snapshots).
export function subtract(a, b) {
  if (!b || b.buckets.length !== a.buckets.length) return a;
  return {
    buckets: a.buckets.map((x, i) => ({ le: x.le, count: Math.max(0, x.count - b.buckets[i].count) })),
    count: a.count - b.count,
    sum: a.sum - b.sum,
  };
}

// A quantile estimated from bucket counts (linear within the bucket).
export function quantile(h, q) {
  if (!h.count) return null;
  const target = q * h.count;
  let cum = 0;
  let lower = 0;
  for (const b of h.buckets) {
    if (cum + b.count >= target && b.count > 0) {
      if (!Number.isFinite(b.le)) return lower;
      return lower + ((target - cum) / b.count) * (b.le - lower);
    }
    cum += b.count;
    if (Number.isFinite(b.le)) lower = b.le;
  }
  return lower;
}
