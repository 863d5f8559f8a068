// hls.js in Debian's Chromium against a live `tutti serve` (the synthetic
// camera into stream "demo"). Shared by the browser test and bench/media/run:
// startServer() runs the binary on a free port, openPlayer() loads hls.js in a
// fresh page and plays the multivariant playlist in low-latency mode, and the
// returned handle reads what the page sees (frames decoded, pixels, level,
// latency from program date time) and throttles its network over CDP.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
export const HLS_JS = require.resolve('hls.js/dist/hls.min.js');
// BROWSER.md: the binary itself (not Debian's wrapper script), these flags.
export const CHROMIUM = process.env.TUTTI_CHROMIUM || '/usr/lib/chromium/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

// Runs `tutti serve --config <dir>/tutti.toml` (the toml written to a fresh
// directory, removed when it exits) and resolves {port, proc, log, stop} once
// it listens.
//
// The server runs ahead of the browser for CPU: on a real deployment it has
// its own machine; here it shares two cores with Chromium's pages. With the
// kernel's autogroup scheduling (Debian's default) a nice value only counts
// inside a session, and Playwright starts Chromium in a session of its own,
// so the server gets one too (detached: setsid) and both it and that
// session's group run at nice -10 (TUTTI_E2E_NICE; `nice` and
// /proc/PID/autogroup need root to raise a priority: without it the server
// runs at the default). Without the group's nice the ladder fell behind real
// time in the browser tests (edge lag growing 0.3 s per second under three
// pages).
export function spawnServer(tutti, toml) {
  const dir = mkdtempSync(join(tmpdir(), 'tutti-e2e-'));
  writeFileSync(join(dir, 'tutti.toml'), toml);
  const nice = process.env.TUTTI_E2E_NICE ?? '-10';
  const cmd = nice === '0' ? [tutti] : ['nice', '-n', nice, tutti];
  const proc = spawn(cmd[0], [...cmd.slice(1), 'serve', '--config', join(dir, 'tutti.toml')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (nice !== '0') try { writeFileSync(`/proc/${proc.pid}/autogroup`, nice); } catch {}
  // A detached child outlives a test that dies: stop it with the test.
  const reap = () => { try { proc.kill('SIGKILL'); } catch {} };
  process.once('exit', reap);
  proc.once('exit', () => { process.off('exit', reap); rmSync(dir, { recursive: true, force: true }); });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; if (log.length > 200000) log = log.slice(-100000); });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('tutti serve did not start:\n' + log)), 15000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on [\d.]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({
          port: Number(m[1]), proc, log: () => log,
          stop: () => new Promise((r) => { if (proc.exitCode !== null || proc.signalCode !== null) return r(); proc.once('exit', r); proc.kill('SIGTERM'); }),
        });
      }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tutti serve exited (${code}):\n${log}`)); });
  });
}

// Starts `tutti serve` with the synthetic camera.
export function startServer(tutti, extraToml = '') {
  return spawnServer(tutti, `[server]\nlisten = "127.0.0.1:0"\naudit_log = ""\n[media]\ncamera = true\n${extraToml}`);
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

// Opens a page playing `url` with hls.js. `config` adds to hls.js's.
export async function openPlayer(browser, url, config = {}) {
  const page = await browser.newPage();
  await page.setContent('<html><body style="margin:0;background:#000"><video id="v" muted playsinline width="640" height="360"></video></body></html>');
  await page.addScriptTag({ path: HLS_JS });
  await page.evaluate(({ url, config }) => {
    const video = document.getElementById('v');
    const hls = new Hls({ lowLatencyMode: true, ...config });
    const s = { switches: [], errors: [], fatal: null };
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => s.switches.push(d.level));
    hls.on(Hls.Events.ERROR, (_e, d) => {
      s.errors.push(d.details);
      if (d.fatal) s.fatal = d.details;
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => {});
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 90;
    window.__player = {
      hls, video, s,
      read() {
        const q = video.getVideoPlaybackQuality();
        const date = hls.playingDate;
        return {
          frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, time: video.currentTime, paused: video.paused,
          level: hls.currentLevel, levels: hls.levels.map((l) => l.height), lowLatency: hls.lowLatencyMode,
          latencyS: date ? (Date.now() - date.getTime()) / 1000 : null, switches: s.switches.slice(),
          errors: s.errors.slice(-5), fatal: s.fatal, buffered: video.buffered.length ? video.buffered.end(video.buffered.length - 1) - video.currentTime : 0,
        };
      },
      // Variance of the luma of a 160x90 snapshot: a blank or black canvas is ~0.
      pixelVariance() {
        const g = canvas.getContext('2d', { willReadFrequently: true });
        g.drawImage(video, 0, 0, canvas.width, canvas.height);
        const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0, sq = 0;
        const n = px.length / 4;
        for (let i = 0; i < px.length; i += 4) {
          const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
          sum += y;
          sq += y * y;
        }
        const mean = sum / n;
        return sq / n - mean * mean;
      },
    };
  }, { url, config });
  return {
    page,
    read: () => page.evaluate(() => window.__player.read()),
    pixelVariance: () => page.evaluate(() => window.__player.pixelVariance()),
    async throttle(kbps) {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: (kbps * 1000) / 8, uploadThroughput: -1 });
    },
  };
}

// Polls read() until pred(state) or the timeout; returns the last state.
export async function until(player, pred, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let st = await player.read();
  while (!pred(st) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 250));
    st = await player.read();
  }
  return st;
}
