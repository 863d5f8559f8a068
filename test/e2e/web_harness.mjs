// Shared by the web pages' browser tests (web_table_test.mjs,
// web_resilience_test.mjs) and bench/web/run: starts `tutti serve` with the
// demo table, the synthetic camera and the built pages (web/dist), opens the
// demo in Debian's Chromium and reads the page's test hook (window.tuttiDemo,
// docs/web.md).
//
// TUTTI_E2E_ORIGIN=http://host:port (with TUTTI_E2E_API_KEY) runs against a
// server that is already up instead of starting one.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, spawnServer } from './hls_player.mjs';

export { launch };
const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..');
export const WEB_DIST = join(REPO, 'web', 'dist');
export const API_KEY = process.env.TUTTI_E2E_API_KEY || 'e2e-admin-key';
export const ROOM = 'table:1';
// Screenshots and other artifacts: $TUTTI_TEST_ARTIFACTS, else build/test-artifacts/web.
export const ARTIFACTS = process.env.TUTTI_TEST_ARTIFACTS || join(REPO, 'build', 'test-artifacts', 'web');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The pages are built by scripts/build (node web/build.mjs); build them here
// if a test runs on a tree where they are not (fast: about a second).
export function ensureBuilt() {
  if (existsSync(join(WEB_DIST, 'index.html')) && existsSync(join(WEB_DIST, 'admin', 'index.html'))) return;
  const r = spawnSync(process.execPath, [join(REPO, 'web', 'build.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node web/build.mjs failed:\n${r.stderr}`);
}

// `tutti serve` with the demo table: rounds of `bettingMs` of betting, the
// room's grace (window_grace_ms, default 1 s), the result, `pauseMs` of pause.
export async function startTable(tutti, { bettingMs = 4000, pauseMs = 2000, extraToml = '' } = {}) {
  if (process.env.TUTTI_E2E_ORIGIN) {
    const origin = process.env.TUTTI_E2E_ORIGIN.replace(/\/$/, '');
    return { origin, port: Number(new URL(origin).port), log: () => '', stop: async () => {} };
  }
  ensureBuilt();
  const toml = [
    '[server]', 'listen = "127.0.0.1:0"', 'audit_log = ""', `api_key = "${API_KEY}"`,
    '[web]', `root = "${WEB_DIST}"`,
    '[demo]', `table = "${ROOM}"`, `betting_ms = ${bettingMs}`, `pause_ms = ${pauseMs}`, 'stream = "demo"',
    // A 480p camera: the ladder's top rung is 480p anyway, and decoding and
    // scaling a 720p source would take CPU the three pages need.
    '[media]', 'camera = true', 'camera_size = "854x480"',
    // window_tolerance_ms: the page's stamp reaches the server through a
    // browser sharing two cores with the ladder; the fairness rule itself is
    // tested with tight figures in the integration tests.
    '[[rooms]]', 'prefix = "table:"', 'media_stream = "demo"', 'window_tolerance_ms = 100',
    extraToml,
  ].join('\n');
  const srv = await spawnServer(tutti, toml);
  return { ...srv, origin: `http://127.0.0.1:${srv.port}` };
}

export async function waitForStream(origin, ms = 25000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(`${origin}/hls/demo/master.m3u8`)).ok) return true;
    } catch {}
    await sleep(250);
  }
  return false;
}

// How far the stream's newest media lags the wall clock (ms): the program
// date time of the last segment plus its parts, in a rendition's playlist.
// Tens of milliseconds to a few hundred when the ladder keeps up; it grows
// when the host cannot encode in real time (a diagnostic for the checks that
// measure latency).
export async function edgeLagMs(origin, rendition = '240p') {
  const text = await (await fetch(`${origin}/hls/demo/${rendition}/index.m3u8`)).text();
  let pdt = null;
  let parts = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      pdt = Date.parse(line.slice(25));
      parts = 0;
    } else if (line.startsWith('#EXT-X-PART:')) {
      parts += Number(/DURATION=([\d.]+)/.exec(line)[1]) * 1000;
    }
  }
  return pdt == null ? null : Math.round(Date.now() - (pdt + parts));
}

export async function api(origin, path, body) {
  const r = await fetch(origin + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// Opens the demo page in a new context of `browser`. Returns a handle whose
// read() is the page's tuttiDemo.read() snapshot.
// The default window is small: three pages share two cores with the ladder, and
// the compositor's cost grows with the pixels it draws.
export async function openDemo(browser, origin, { query = '', name, viewport = { width: 960, height: 600 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e.message || e)));
  const q = new URLSearchParams(query);
  if (name) q.set('name', name);
  await page.goto(`${origin}/${q.toString() ? '?' + q : ''}`);
  await page.waitForFunction(() => window.tuttiDemo && typeof window.tuttiDemo.read === 'function', null, { timeout: 10000 });
  return {
    page, context, errors,
    read: () => page.evaluate(() => window.tuttiDemo.read()),
    pixelVariance: () => page.evaluate(() => window.tuttiDemo.pixelVariance()),
    serverNowUs: () => page.evaluate(() => window.tuttiDemo.client.serverNow().timeUs),
    async cdp() {
      if (!this.cdp_) {
        this.cdp_ = await context.newCDPSession(page);
        await this.cdp_.send('Network.enable');
      }
      return this.cdp_;
    },
    async throttle(kbps) {
      await (await this.cdp()).send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: (kbps * 1000) / 8, uploadThroughput: -1 });
    },
    async offline(on) {
      await (await this.cdp()).send('Network.emulateNetworkConditions', { offline: on, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    },
  };
}

// Polls fn() until pred(value) or the timeout; returns the last value.
export async function until(fn, pred, ms, stepMs = 250) {
  const end = Date.now() + ms;
  let v = await fn();
  while (!pred(v) && Date.now() < end) {
    await sleep(stepMs);
    v = await fn();
  }
  return v;
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

// ok/FAIL lines, a JSON summary last, exit status = failures.
export function reporter(test) {
  let failures = 0;
  const summary = {};
  return {
    summary,
    check(ok, what, detail) {
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok ? '' : ': ' + JSON.stringify(detail)}`);
      if (!ok) failures++;
      return ok;
    },
    finish() {
      console.log(JSON.stringify({ test, failures, ...summary }));
      return failures;
    },
  };
}

// Offsets seen by a page, per epoch: are they contiguous from the first, with no repeat?
export function offsetsContiguous(offsets) {
  const problems = [];
  for (const [epoch, list] of Object.entries(offsets)) {
    for (let i = 1; i < list.length; i++) {
      if (list[i] !== list[i - 1] + 1) problems.push({ epoch, after: list[i - 1], got: list[i] });
    }
  }
  return problems;
}
