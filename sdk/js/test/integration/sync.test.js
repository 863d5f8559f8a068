// Clock sync, scheduled delivery and fair windows against a real server on
// the same machine: its clock is the system clock, so the system clock
// (aligned to microseconds, wallClockUs) judges the synced one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, closeClients, stallMonitor, startServer, until, sleep, wallClockUs } from './server.js';

let server;
const wall = wallClockUs();
before(async () => {
  server = await startServer('[limits]\npublish_rate_per_s = 1000\npublish_burst = 1000\n' +
                             '[auth]\nanonymous = true\nanonymous_windows = ["*"]\n');
});
after(async () => { await closeClients(); await server?.stop(); });

test('the synced clock is within a millisecond on loopback and its uncertainty covers the true error', async () => {
  // A client clock 3.2 s behind and running 200 ppm fast: the estimate must remove both.
  const t0 = wall();
  const skewed = () => { const w = wall(); return w - 3_200_000 + Math.round((w - t0) * 200e-6); };
  const c = client(server.url, { clockUs: skewed });
  await c.connect();
  await until(() => c.syncStats().replies >= 40, 3000, '40 time replies');
  let worst = 0;
  for (let i = 0; i < 50; ++i) {
    const before = wall();
    const st = c.serverNow();
    const afterUs = wall();
    assert.ok(st.synced);
    // The server clock at the call lies in [before, after]; the estimate's error is at least the distance to it.
    const err = st.timeUs < before ? before - st.timeUs : st.timeUs > afterUs ? st.timeUs - afterUs : 0;
    assert.ok(err <= st.uncertaintyUs, `error ${err} us not covered by uncertainty ${st.uncertaintyUs} us`);
    worst = Math.max(worst, err);
    await sleep(10);
  }
  assert.ok(worst < 1000, `error ${worst} us on loopback`);
  const s = c.syncStats();
  assert.ok(s.uncertaintyUs < 2000, `uncertainty ${s.uncertaintyUs} us on loopback`);
  assert.ok(s.bestRttUs > 0 && s.bestRttUs < 5000, `best rtt ${s.bestRttUs}`);
  assert.ok(Math.abs(s.offsetUs - 3_200_000) < 10_000, `offset ${s.offsetUs}`);
  assert.equal(s.refused, 0);
  await c.close();
});

test('`at` publications are held and fire at the synced instant; late ones are flagged', async (t) => {
  const sub = client(server.url);
  const pub = client(server.url);
  const fired = [];
  await sub.subscribe('at:1', { onPublication: (p) => fired.push({ p, wallUs: wall() }) });
  await pub.connect();
  await until(() => sub.syncStats().replies >= 20 && pub.syncStats().replies >= 20, 3000, 'sync');
  const monitor = stallMonitor(2000);
  const rounds = [];  // {err, disturbed}
  try {
    // Up to 20 rounds, until 5 were not disturbed by a stall of this process.
    while (rounds.length < 20 && rounds.filter((r) => !r.disturbed).length < 5) {
      const i = rounds.length;
      const at = pub.serverNow().timeUs + 120_000;
      const ack = await pub.publish('at:1', { round: i }, { atUs: at });
      assert.ok(ack.offset > 0);
      await until(() => fired.length === i + 1, 2000, `round ${i}`);
      const f = fired[i];
      assert.equal(f.p.atUs, at);
      assert.equal(f.p.lateUs, 0, 'on time');
      rounds.push({ err: f.wallUs - at, disturbed: monitor.overlaps(at - 2500, f.wallUs + 1) });
    }
  } finally {
    monitor.stop();
  }
  const all = rounds.map((r) => r.err);
  // Never early, whatever the machine does (stalls of this VM reach 150 ms: later is bounded only loosely).
  for (const e of all) assert.ok(e >= -1000 && e <= 1_000_000, `fired ${e} us from at (all: ${all})`);
  const calm = rounds.filter((r) => !r.disturbed).map((r) => r.err).sort((a, b) => a - b);
  if (calm.length >= 3) {
    // Rounds no stall (> 2 ms) of this process touched: the median within 2 ms of the instant (held
    // to `at`, not fired on arrival). Single rounds are not bounded tighter than the loose check
    // above: a timer wake-up on a loaded 2-core host can be late by tens of ms without the stall
    // monitor seeing it (one CI run: 18.6 ms). Precision figures live in bench/sync/run.
    const median = calm[calm.length >> 1];
    assert.ok(median >= -500 && median <= 2000, `median ${median} us from at (undisturbed: ${calm}; all: ${all})`);
  } else {
    t.diagnostic(`precision not judged: ${rounds.length - calm.length} of ${rounds.length} rounds disturbed by host stalls`);
  }
  const n = rounds.length;
  // Already past: delivered at once, flagged with how late.
  const past = pub.serverNow().timeUs - 50_000;
  await pub.publish('at:1', { late: true }, { atUs: past });
  await until(() => fired.length === n + 1, 2000, 'late publication');
  const l = fired[n].p;
  assert.ok(l.lateUs >= 50_000 && l.lateUs < 1_000_000, `lateUs ${l.lateUs}`);
  // delay_ms: the server sets at = ts + delay; the SDK holds it until then.
  await pub.publish('at:1', { delayed: true }, { delayMs: 200 });
  await until(() => fired.length === n + 2, 2000, 'delayed publication');
  const d = fired[n + 1];
  assert.equal(d.p.atUs, d.p.ts + 200_000);
  assert.ok(d.wallUs - d.p.atUs >= -1000 && d.wallUs - d.p.atUs <= 100_000, `delayed fired ${d.wallUs - d.p.atUs} us from at`);
  const k = sub.counters();
  assert.equal(k.scheduledOnTime, n + 1);
  assert.equal(k.scheduledLate, 1);
  await Promise.all([sub.close(), pub.close()]);
});

test('a fair window accepts an action in time and refuses a late one', async () => {
  const dealer = client(server.url);
  const player = client(server.url);
  await Promise.all([dealer.connect(), player.connect()]);
  await until(() => player.syncStats().replies >= 20, 3000, 'sync');
  const w = await dealer.openWindow('table:9', 'round-1', { durationMs: 400 });
  assert.equal(w.window, 'round-1');
  assert.equal(w.closesAt - w.opensAt, 400_000);
  assert.ok(w.settlesAt >= w.closesAt);
  // An honest action in time is accepted. (A stall of this process between the stamp and the send
  // makes the stamp look forged, 'implausible', and rightly so: then the round is played again.)
  const monitor = stallMonitor(20_000);
  let ok;
  let actionId;
  for (let attempt = 0; attempt < 3; ++attempt) {
    actionId = `bet-${attempt + 1}`;
    const from = wall();
    ok = await player.act('table:9', 'round-1', { bet: 5 }, { actionId });
    if (ok.accepted || ok.reason !== 'implausible' || !monitor.overlaps(from, wall())) break;
  }
  monitor.stop();
  assert.equal(ok.accepted, true, `refused: ${ok.reason}`);
  assert.equal(ok.actionId, actionId);
  assert.ok(ok.received >= ok.stamp - 1000);
  // The same action again: the first decision, flagged duplicate.
  const again = await player.act('table:9', 'round-1', { bet: 5 }, { actionId });
  assert.equal(again.duplicate, true);
  assert.equal(again.accepted, true);
  // After closes_at (stamped then): late.
  while (player.serverNow().timeUs <= w.closesAt + 20_000) await sleep(10);
  const late = await player.act('table:9', 'round-1', { bet: 6 });
  assert.equal(late.accepted, false);
  assert.equal(late.reason, 'late');
  await assert.rejects(dealer.openWindow('table:9', 'round-1', { durationMs: 400 }), (e) => e.code === 1301);
  await Promise.all([dealer.close(), player.close()]);
});
