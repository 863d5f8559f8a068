// Glass-to-glass latency in Chromium: hls.js plays the synthetic camera's
// stream from a `tutti serve` started here; every 250 ms the page's wall
// clock minus the capture time of the frame it shows (hls.playingDate, from
// EXT-X-PROGRAM-DATE-TIME) is one sample. Prints one JSON line.
// Usage: node latency.mjs TUTTI_BINARY SECONDS [hls.js config JSON] [extra [media] TOML lines] [PAGE_LOADS=4]
// SECONDS of samples in all, split over PAGE_LOADS fresh pages.

import { launch, openPlayer, startServer, until } from '../../test/e2e/hls_player.mjs';

const [tutti, secondsArg, configArg, tomlArg, runsArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 40);
const runs = Number(runsArg || 4);
const perRun = [];
const config = configArg ? JSON.parse(configArg) : {};
const server = await startServer(tutti, tomlArg || '');
const browser = await launch();
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : null;
};
let out;
try {
  const url = `http://127.0.0.1:${server.port}/hls/demo/master.m3u8`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  // Several page loads, one after the other: where hls.js starts decides its
  // latency for the session (it does not speed up to catch up by default),
  // so one load is one sample of that choice.
  const samples = [];
  let st;
  for (let run = 0; run < runs; run++) {
    const p = await openPlayer(browser, url, config);
    // Warm up: playing, and 5 s to settle at its target latency.
    st = await until(p, (s) => s.frames > 30, 30000);
    await new Promise((r) => setTimeout(r, 5000));
    const end = Date.now() + (seconds * 1000) / runs;
    while (Date.now() < end) {
      st = await p.read();
      if (st.latencyS != null && !st.paused) samples.push(st.latencyS);
      await new Promise((r) => setTimeout(r, 250));
    }
    perRun.push(pct(samples.slice(-Math.floor((seconds * 4) / runs)), 50));
    await p.page.close();
  }
  out = {
    samples: samples.length, latency_p50_s: pct(samples, 50), latency_p95_s: pct(samples, 95),
    latency_min_s: pct(samples, 0), latency_max_s: pct(samples, 100), p50_per_page_load_s: perRun,
    dropped_frames: st.dropped, level: st.level, errors: st.errors, hls_js_config: config,
  };
} finally {
  await browser.close();
  await server.stop();
}
console.log(JSON.stringify(out));
