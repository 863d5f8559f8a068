// The JS estimator against the shared vectors of test/vectors/clock_estimator
// (the same files the C++ ClockEstimatorVectors test reads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClockEstimator } from '../../src/clock_estimator.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../../test/vectors/clock_estimator');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

function configOf(c) {
  return { windowUs: c.window_us, maxSamples: c.max_samples, driftMinSpanUs: c.drift_min_span_us,
           driftBuckets: c.drift_buckets, maxDriftPpm: c.max_drift_ppm, wanderPpm: c.wander_ppm };
}

test('the shared clock estimator vectors exist', () => {
  assert.ok(files.length >= 5, `found ${files.length} vector files in ${dir}`);
});

for (const file of files) {
  test(`ClockEstimator matches the shared vector ${file}`, () => {
    const v = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const est = new ClockEstimator(configOf(v.config));
    const refused = new Set(v.refused ?? []);
    const tol = v.tolerance;
    let fed = 0;
    let checked = 0;
    const runQueriesAt = (n) => {
      for (const q of v.queries.filter((q) => q.after === n)) {
        const e = est.estimate(q.client_us);
        const where = `${file}: query after ${q.after} at ${q.client_us}`;
        assert.equal(e.valid, q.expect.valid, where);
        checked++;
        if (!q.expect.valid) continue;
        const x = q.expect;
        assert.ok(Math.abs(e.offsetUs - x.offset_us) <= tol.offset_us, `${where}: offset ${e.offsetUs} vs ${x.offset_us}`);
        assert.ok(Math.abs(e.uncertaintyUs - x.uncertainty_us) <= tol.uncertainty_us,
                  `${where}: uncertainty ${e.uncertaintyUs} vs ${x.uncertainty_us}`);
        for (const [mine, theirs] of [['driftPpm', 'drift_ppm'], ['driftMinPpm', 'drift_min_ppm'], ['driftMaxPpm', 'drift_max_ppm']])
          assert.ok(Math.abs(e[mine] - x[theirs]) <= tol.drift_ppm, `${where}: ${mine} ${e[mine]} vs ${x[theirs]}`);
        assert.equal(e.bestRttUs, x.best_rtt_us, `${where}: best_rtt_us`);
        assert.equal(e.samples, x.samples, `${where}: samples`);
        if (q.truth_offset_us !== undefined)
          assert.ok(Math.abs(e.offsetUs - q.truth_offset_us) <= e.uncertaintyUs, `${where}: truth not covered`);
      }
    };
    runQueriesAt(0);
    for (const [i, [t0, t1, t2, t3]] of v.samples.entries()) {
      assert.equal(est.addSample(t0, t1, t2, t3), !refused.has(i), `${file}: sample ${i} accepted/refused`);
      fed = i + 1;
      runQueriesAt(fed);
    }
    assert.equal(checked, v.queries.length, 'every query ran');
  });
}

test('ClockEstimator refuses a negative round trip and time going backwards', () => {
  const e = new ClockEstimator();
  assert.equal(e.addSample(100, 200, 300, 150), false);  // rtt = 50 - 100 < 0
  assert.equal(e.addSample(100, 200, 200, 90), false);   // t3 < t0
  assert.equal(e.estimate(100).valid, false);
  assert.equal(e.addSample(1000, 6000, 6000, 1200), true);
  const est = e.estimate(1200);
  assert.equal(est.valid, true);
  // The true offset lies in [t2 - t3, t1 - t0] = [4800, 5000].
  assert.ok(est.offsetUs >= 4800 && est.offsetUs <= 5000);
  assert.ok(est.uncertaintyUs >= 100);
});
