// Glass-to-glass latency in Chromium: hls.js plays the synthetic camera's
// stream from a `tutti serve` started here; every 250 ms the page's wall
// clock minus the capture time of the frame it shows (hls.playingDate, from
// EXT-X-PROGRAM-DATE-TIME) is one sample. Prints one JSON line.
// Usage: node latency.mjs TUTTI_BINARY SECONDS [hls.js config JSON]

import { launch, openPlayer, startServer, until } from '../../test/e2e/hls_player.mjs';

const [tutti, secondsArg, configArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 40);
const config = configArg ? JSON.parse(configArg) : {};
const server = await startServer(tutti);
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
  const p = await openPlayer(browser, url, config);
  // Warm up: playing, and 5 s to settle at its target latency.
  let st = await until(p, (s) => s.frames > 30, 30000);
  await new Promise((r) => setTimeout(r, 5000));
  const samples = [];
  const stalls0 = st.frames;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    st = await p.read();
    if (st.latencyS != null && !st.paused) samples.push(st.latencyS);
    await new Promise((r) => setTimeout(r, 250));
  }
  out = {
    samples: samples.length, latency_p50_s: pct(samples, 50), latency_p95_s: pct(samples, 95),
    latency_min_s: pct(samples, 0), latency_max_s: pct(samples, 100), frames: st.frames - stalls0,
    dropped_frames: st.dropped, level: st.level, errors: st.errors, hls_js_config: config,
  };
} finally {
  await browser.close();
  await server.stop();
}
console.log(JSON.stringify(out));
