import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../src/backoff.js';
import { shouldReconnect } from '../../src/errors.js';

test('Backoff grows exponentially within its bounds and resets', () => {
  const hi = new Backoff(100, 5000, () => 0.999999);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => hi.nextDelayMs()), [200, 400, 800, 1600, 3200, 5000, 5000]);
  hi.reset();
  assert.equal(hi.nextDelayMs(), 200);
  const lo = new Backoff(100, 5000, () => 0);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => lo.nextDelayMs()), [100, 200, 400, 800, 1600, 2500]);
});

test('Backoff jitter spreads clients over [d/2, d]', () => {
  const seen = new Set();
  for (let i = 0; i < 50; ++i) {
    const b = new Backoff(100, 5000);
    for (let k = 0; k < 3; ++k) b.nextDelayMs();
    const d = b.nextDelayMs();  // 4th attempt: d = 1600
    assert.ok(d >= 800 && d <= 1600, `${d}`);
    seen.add(d);
  }
  assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
});

test('shouldReconnect follows the close code table', () => {
  for (const c of [1000, 1002, 1006, 1007, 1009, 4001, 4004, 4005, 4006, 4008]) assert.equal(shouldReconnect(c), true, `${c}`);
  for (const c of [4002, 4003, 4009]) assert.equal(shouldReconnect(c), false, `${c}`);
});
