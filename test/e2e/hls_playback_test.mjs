// Browser check (ctest E2E.*): hls.js in Debian's Chromium plays Tutti's
// LL-HLS in low-latency mode, decodes real frames onto a canvas that is not
// blank, and switches down to the lowest rung when the page's network is
// throttled, and keeps playing. Usage: node hls_playback_test.mjs TUTTI_BINARY

import { launch, openPlayer, startServer, until } from './hls_player.mjs';

const tutti = process.argv[2];
let failures = 0;
const summary = {};
function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok ? '' : ': ' + JSON.stringify(detail)}`);
  if (!ok) failures++;
}

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const server = await startServer(tutti);
const browser = await launch();
const deadline = setTimeout(() => {
  console.log('FAIL timed out');
  process.exit(1);
}, 110000);
try {
  const url = `http://127.0.0.1:${server.port}/hls/demo/master.m3u8`;
  check(await waitHttp(url, 20000), 'the multivariant playlist is up', server.log().slice(-2000));
  // Start on the top rung, as a viewer with a fast link would be.
  const p = await openPlayer(browser, url, { startLevel: 2 });
  let st = await until(p, (s) => s.frames > 90 || s.fatal, 30000);
  check(st.frames > 90 && !st.fatal, 'frames are decoded (90 in 30 s)', st);
  check(st.lowLatency === true, 'hls.js runs in low-latency mode', st);
  check(JSON.stringify(st.levels) === '[240,360,480]', 'three rungs', st.levels);
  const variance = await p.pixelVariance();
  check(variance > 200, 'the canvas shows a picture (luma variance)', variance);
  summary.latency_s = st.latencyS;
  const top = st.levels.length - 1;
  st = await until(p, (s) => s.level === top, 10000);
  check(st.level === top, 'plays the top rung with an open network', st);
  // 800 kb/s: room for 240p (490 kb/s with audio), not for 360p (876 kb/s).
  await p.throttle(800);
  st = await until(p, (s) => s.level === 0 || s.fatal, 40000);
  check(st.level === 0, 'switches down to the lowest rung when throttled', st);
  const frames = st.frames;
  st = await until(p, (s) => s.frames > frames + 60 || s.fatal, 20000);
  check(st.frames > frames + 60 && !st.fatal, 'keeps playing after the switch', st);
  summary.switches = st.switches;
  summary.frames = st.frames;
} catch (e) {
  check(false, 'no exception', String(e && e.stack || e));
} finally {
  clearTimeout(deadline);
  await browser.close();
  await server.stop();
}
console.log(JSON.stringify({ test: 'hls_playback', failures, ...summary }));
process.exit(failures ? 1 : 0);
