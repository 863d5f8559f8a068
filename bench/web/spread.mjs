// Playback-position spread across three viewers of the demo page (/), in
// Debian's Chromium, with the SDK's target-latency controller and with hls.js
// defaults (?controller=0). Each page logs every presented frame (wall time
// of presentation from requestVideoFrameCallback, capture time from program
// date time). Offline, on a 100 ms grid of wall time, each page's latency is
// `t - capture time of the last frame it presented by t`; the spread at t is
// the largest minus the smallest of the three (the worst pair). All pages and
// the server share one machine, hence one wall clock. Prints one JSON line.
// Pages are 640x480 windows (TUTTI_WEB_BENCH_VIEWPORT=WxH to change), playing
// every rung (TUTTI_WEB_BENCH_MAX=HEIGHT: none taller, the demo's ?max=).
// Usage: node spread.mjs TUTTI_BINARY [SAMPLE_SECONDS=30] [WARMUP_SECONDS=20]

import { launch, openDemo, sleep, startTable, until, waitForStream } from '../../test/e2e/web_harness.mjs';

const [tutti, sampleArg, warmArg] = process.argv.slice(2);
const sampleS = Number(sampleArg || 30);
const warmS = Number(warmArg || 20);
const GRID_MS = 100;
const PAGES = 3;
const MAX = Number(process.env.TUTTI_WEB_BENCH_MAX || 0);
const [VW, VH] = (process.env.TUTTI_WEB_BENCH_VIEWPORT || '640x480').split('x').map(Number);
const VIEWPORT = { width: VW, height: VH };

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : null;
};
const r1 = (x) => (x == null ? null : Math.round(x * 10) / 10);

// logs: per page, [[shownWallMs, captureUs], ...] in presentation order.
function spreads(logs, t0, t1) {
  const idx = logs.map(() => 0);
  const out = { spread: [], median: [], latency: logs.map(() => []), missing: 0 };
  for (let t = t0; t <= t1; t += GRID_MS) {
    const lat = [];
    logs.forEach((log, i) => {
      while (idx[i] + 1 < log.length && log[idx[i] + 1][0] <= t) idx[i]++;
      if (log.length && log[idx[i]][0] <= t) lat.push(t - log[idx[i]][1] / 1000);
    });
    if (lat.length < logs.length) { out.missing++; continue; }
    lat.forEach((l, i) => out.latency[i].push(l));
    out.spread.push(Math.max(...lat) - Math.min(...lat));
    const med = pct(lat, 50);
    out.median.push(Math.max(...lat.map((l) => Math.abs(l - med))));
  }
  return out;
}

async function measure(browser, origin, controller) {
  const pages = [];
  for (let i = 0; i < PAGES; i++) pages.push(await openDemo(browser, origin, { query: `controller=${controller ? 1 : 0}&report=0${MAX ? `&max=${MAX}` : ''}`, name: `bench${i}`, viewport: VIEWPORT }));
  await Promise.all(pages.map((p) => until(p.read, (s) => s.frames > 30, 40000)));
  await sleep(warmS * 1000);
  const t0 = Date.now();
  await sleep(sampleS * 1000);
  const t1 = Date.now();
  const logs = await Promise.all(pages.map((p) => p.page.evaluate((since) => window.tuttiDemo.frameLog(since), t0 - 1000)));
  const reads = await Promise.all(pages.map((p) => p.read()));
  await Promise.all(pages.map((p) => p.context.close()));
  const s = spreads(logs, t0, t1);
  return {
    spread_p50_ms: r1(pct(s.spread, 50)), spread_p95_ms: r1(pct(s.spread, 95)), spread_max_ms: r1(pct(s.spread, 100)),
    from_median_p95_ms: r1(pct(s.median, 95)), grid_points: s.spread.length, grid_points_missing: s.missing,
    latency_p50_ms_per_page: s.latency.map((l) => r1(pct(l, 50))),
    frames_per_page: logs.map((l) => l.length), dropped_per_page: reads.map((r) => r.dropped),
    level_per_page: reads.map((r) => r.level), playback_rate_per_page: reads.map((r) => r1(r.playbackRate * 100) / 100),
  };
}

const server = await startTable(tutti, { bettingMs: 10000, pauseMs: 5000 });
const browser = await launch();
let out;
try {
  if (!(await waitForStream(server.origin))) throw new Error('stream did not come up');
  const controller = await measure(browser, server.origin, true);
  const defaults = await measure(browser, server.origin, false);
  out = {
    spread_p95_ms_controller: controller.spread_p95_ms, spread_p95_ms_default: defaults.spread_p95_ms,
    sample_s: sampleS, warmup_s: warmS, grid_ms: GRID_MS, pages: PAGES, viewport: `${VW}x${VH}`, max_height: MAX || null,
    controller, default: defaults,
  };
} finally {
  await browser.close();
  await server.stop();
}
console.log(JSON.stringify(out));
