// MediaPlayer on a fake <video> and a fake hls.js: capture time from program
// date time, media events revealed with their frame, the latency controller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaPlayer } from '../../src/player.js';

const PDT_MS = 1764309189000;  // program date time of the fragment starting at media time 10 s

function fakes({ serverNowUs }) {
  const frames = [];
  const video = {
    currentTime: 10, paused: false, seeking: false, playbackRate: 1,
    buffered: { length: 1, start: () => 0, end: () => 100 },
    requestVideoFrameCallback(cb) { frames.push(cb); return frames.length; },
    cancelVideoFrameCallback() {},
  };
  const handlers = {};
  const hls = {
    currentLevel: 1, playingDate: null,
    levels: [{ bitrate: 350000, width: 426, height: 240, name: '240p' }, { bitrate: 1200000, width: 854, height: 480, name: '480p' }],
    on(ev, fn) { handlers[ev] = fn; }, off(ev) { delete handlers[ev]; },
  };
  const client = { serverNow: () => ({ timeUs: serverNowUs(), uncertaintyUs: 100, synced: true }) };
  // Presents the frame at media time t (seconds).
  const present = (t) => { video.currentTime = t; const cb = frames.shift(); cb(0, { mediaTime: t }); };
  const details = { fragments: [{ start: 8, duration: 2, programDateTime: PDT_MS - 2000 }, { start: 10, duration: 2, programDateTime: PDT_MS }] };
  return { video, hls, client, present, handlers, details };
}

test('maps media time to capture time through the fragments\' program date time', () => {
  let now = 0;
  const f = fakes({ serverNowUs: () => now });
  const p = new MediaPlayer({ video: f.video, hls: f.hls, client: f.client, controller: false });
  assert.equal(p.captureTimeUs(10.5), null, 'nothing known yet');
  f.hls.playingDate = new Date(PDT_MS + 500);
  assert.equal(p.captureTimeUs(), (PDT_MS + 500) * 1000, 'coarse fallback: hls.playingDate');
  f.handlers.hlsLevelUpdated('hlsLevelUpdated', { details: f.details });
  assert.equal(p.captureTimeUs(10.5), (PDT_MS + 500) * 1000);
  assert.equal(p.captureTimeUs(9.25), (PDT_MS - 2000 + 1250) * 1000);
  assert.equal(p.captureTimeUs(12.1), (PDT_MS + 2100) * 1000, 'past the last fragment: extrapolated');
  assert.deepEqual(p.rendition(), { level: 1, bitrate: 1200000, width: 854, height: 480, name: '480p' });
  p.destroy();
});

test('reveals each media event with the frame that carries it, and says how far from it', () => {
  let now = 0;
  const f = fakes({ serverNowUs: () => now });
  const p = new MediaPlayer({ video: f.video, hls: f.hls, client: f.client, controller: false });
  f.handlers.hlsLevelLoaded('hlsLevelLoaded', { details: f.details });
  const fired = [];
  const cb = (item, info) => fired.push({ id: item.id, ...info });
  const frameUs = (t) => (PDT_MS + (t - 10) * 1000) * 1000;
  p.reveal({ id: 'b', mediaTsUs: frameUs(10.2) }, cb);
  p.reveal({ id: 'a', mediaTsUs: frameUs(10.1) }, cb);
  // 10 ms after frame 10.1 (within half a frame: that frame's, as program
  // date time's millisecond rounding can put a frame just before its event).
  p.reveal({ id: 'c', mediaTsUs: frameUs(10.1) + 10_000 }, cb);
  // 20 ms after it: past half a frame, so the next frame's.
  p.reveal({ id: 'd', mediaTsUs: frameUs(10.1) + 20_000 }, cb);
  assert.equal(p.pending(), 4);
  f.present(10.0);
  assert.equal(fired.length, 0);
  f.present(10.1);
  assert.deepEqual(fired.map((x) => x.id), ['a', 'c']);
  assert.equal(fired[0].offFrameUs, 0);
  assert.ok(Math.abs(fired[1].offFrameUs + 10_000) < 2);
  f.present(10.1 + 1 / 30);
  assert.deepEqual(fired.map((x) => x.id), ['a', 'c', 'd']);
  assert.ok(Math.abs(fired[2].offFrameUs - (1e6 / 30 - 20_000)) < 2);
  f.present(10.2 + 1 / 30);  // frame 10.2 skipped: b fires with the next one, one frame off
  assert.deepEqual(fired.map((x) => x.id), ['a', 'c', 'd', 'b']);
  assert.ok(Math.abs(fired[3].offFrameUs - 1e6 / 30) < 2);
  assert.equal(p.pending(), 0);
  // An event for a frame already shown fires at once.
  p.reveal({ id: 'old', mediaTsUs: frameUs(10.0) }, cb);
  assert.equal(fired[4].id, 'old');
  p.destroy();
});

test('a page that drops frames keeps the reveal tolerance at half of one frame', () => {
  let now = 0;
  const f = fakes({ serverNowUs: () => now });
  const p = new MediaPlayer({ video: f.video, hls: f.hls, client: f.client, controller: false });
  f.handlers.hlsLevelLoaded('hlsLevelLoaded', { details: f.details });
  const fired = [];
  const frame = 1 / 30;
  // Every other frame presented (a loaded page): steps of two frames.
  let t = 10;
  for (let i = 0; i < 40; ++i, t += 2 * frame) f.present(t);
  // An event 1.6 frames ahead of the last presented frame: not that frame's,
  // not the next one's, and must wait for the one after.
  const last = t - 2 * frame;
  p.reveal({ id: 'x', mediaTsUs: (PDT_MS + (last - 10 + 1.6 * frame) * 1000) * 1000 }, (item, info) => fired.push(info));
  assert.equal(fired.length, 0, 'not revealed with a frame shown before its own');
  f.present(last + frame);
  assert.equal(fired.length, 0, 'more than half a frame early: still not');
  f.present(last + 2 * frame);
  assert.equal(fired.length, 1);
  assert.ok(Math.abs(fired[0].offFrameUs - 0.4 * 1e6 * frame) < 1000);
  p.destroy();
});

test('the controller speeds up when behind the target, slows down when ahead, and rests in the dead band', () => {
  let now = 0;
  const f = fakes({ serverNowUs: () => now });
  const p = new MediaPlayer({ video: f.video, hls: f.hls, client: f.client, targetLatencyMs: 1500, nowMs: () => 0 });
  f.handlers.hlsLevelUpdated('hlsLevelUpdated', { details: f.details });
  const frameUs = (t) => (PDT_MS + (t - 10) * 1000) * 1000;
  // 1.9 s behind real time: 400 ms over the target -> faster, capped at 1.1.
  let t = 10;
  for (let i = 0; i < 100; ++i, t += 1 / 30) { now = frameUs(t) + 1_900_000; f.present(t); }
  assert.ok(Math.abs(p.latency().latencyMs - 1900) < 5);
  assert.ok(f.video.playbackRate > 1.05 && f.video.playbackRate <= 1.1, `rate ${f.video.playbackRate}`);
  // 1.2 s: ahead of the target -> slower, not below 0.9.
  for (let i = 0; i < 200; ++i, t += 1 / 30) { now = frameUs(t) + 1_200_000; f.present(t); }
  assert.ok(f.video.playbackRate < 0.95 && f.video.playbackRate >= 0.9, `rate ${f.video.playbackRate}`);
  // On target (within the dead band): rate 1.
  for (let i = 0; i < 300; ++i, t += 1 / 30) { now = frameUs(t) + 1_510_000; f.present(t); }
  assert.equal(f.video.playbackRate, 1);
  // Off by 4 s: one seek forward instead of a long catch-up.
  now = frameUs(t) + 5_500_000;
  const before = f.video.currentTime = t;
  f.present(t);
  assert.equal(p.latency().seeks, 1);
  assert.ok(Math.abs(f.video.currentTime - (before + 4.0)) < 0.01, `seeked to ${f.video.currentTime}`);
  // Turned off: back to rate 1 and left alone (hls.js defaults).
  for (let i = 0; i < 5; ++i, t += 1 / 30) { now = frameUs(t) + 1_900_000; f.present(t); }
  p.setController(false);
  assert.equal(f.video.playbackRate, 1);
  for (let i = 0; i < 50; ++i, t += 1 / 30) { now = frameUs(t) + 1_900_000; f.present(t); }
  assert.equal(f.video.playbackRate, 1);
  assert.equal(p.latency().controller, false);
  p.destroy();
});

test('the controller does not speed up with little buffered ahead', () => {
  let now = 0;
  const f = fakes({ serverNowUs: () => now });
  let ahead = 0.2;
  f.video.buffered = { length: 1, start: () => 0, end: () => f.video.currentTime + ahead };
  const p = new MediaPlayer({ video: f.video, hls: f.hls, client: f.client, targetLatencyMs: 1500, nowMs: () => 0 });
  f.handlers.hlsLevelUpdated('hlsLevelUpdated', { details: f.details });
  const frameUs = (t) => (PDT_MS + (t - 10) * 1000) * 1000;
  let t = 10;
  // 400 ms behind the target, but only 0.2 s buffered: speeding up would stall.
  for (let i = 0; i < 100; ++i, t += 1 / 30) { now = frameUs(t) + 1_900_000; f.present(t); }
  assert.equal(f.video.playbackRate, 1);
  // With 2 s ahead it catches up.
  ahead = 2;
  for (let i = 0; i < 10; ++i, t += 1 / 30) { now = frameUs(t) + 1_900_000; f.present(t); }
  assert.ok(f.video.playbackRate > 1.05, `rate ${f.video.playbackRate}`);
  p.destroy();
});
