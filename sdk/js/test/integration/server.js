// Starts a real `tutti serve` for the integration tests: the binary is
// $TUTTI_BIN (CTest passes $<TARGET_FILE:tutti>), on a free port of loopback,
// with the TOML given. Resolves {port, url, stop, log}.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Client } from '../../index.js';

export const TUTTI_BIN = process.env.TUTTI_BIN;

export function startServer(extraToml = '') {
  if (!TUTTI_BIN) throw new Error('set TUTTI_BIN to the tutti binary');
  const toml = `[server]\nlisten = "127.0.0.1:0"\naudit_log = ""\nlog_level = "warn"\n${extraToml}`;
  const dir = mkdtempSync(join(tmpdir(), 'tutti-js-'));
  writeFileSync(join(dir, 'tutti.toml'), toml);
  const proc = spawn(TUTTI_BIN, ['serve', '--config', join(dir, 'tutti.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let log = '';
  proc.stderr.on('data', (d) => { log += d; if (log.length > 200000) log = log.slice(-100000); });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('tutti serve did not start:\n' + log)); }, 15000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on [\d.]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({
          port, url: `ws://127.0.0.1:${port}/ws`, proc, log: () => log,
          stop: () => new Promise((r) => {
            if (proc.exitCode !== null) return r();
            const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
            proc.once('exit', () => { clearTimeout(kill); r(); });
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`tutti serve exited (${code}):\n${log}`)); });
  });
}

// A Client on Node's ws. Every one is remembered so closeClients() can end
// them all: a test that fails half-way must not leave a client reconnecting
// forever (the test process would never exit).
const clients = new Set();
export function client(url, opts = {}) {
  const c = new Client({ url, WebSocket, requestTimeoutMs: 3000, connectTimeoutMs: 3000, ...opts });
  clients.add(c);
  return c;
}
export async function closeClients() {
  await Promise.all([...clients].map((c) => c.close()));
  clients.clear();
}

// Mints a token with the binary's own `tutti token`.
export function mintToken(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(TUTTI_BIN, ['token', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`tutti token: ${code} ${err}`))));
  });
}

// The system clock in microseconds with sub-millisecond resolution, to judge
// the server's clock (the same machine's CLOCK_REALTIME). Node's
// performance.timeOrigin + performance.now() follows it within tens of
// microseconds (checked against Python's time.time_ns() over a pipe: never
// behind, ~40 us ahead at best = the pipe's latency); Date.now() only has
// milliseconds.
export function wallClockUs() {
  return () => Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(cond, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(5);
  }
}

// Records stalls of this process (the event loop not running for more than
// thresholdUs: the host took the CPU away, or another process had it), so a
// timing test can tell its own lateness from the machine's. On this 2-core VM
// builds and browsers of other jobs cause stalls of tens of milliseconds.
export function stallMonitor(thresholdUs = 2500) {
  const wall = wallClockUs();
  let last = wall();
  const stalls = [];
  const timer = setInterval(() => {
    const now = wall();
    if (now - last > thresholdUs) stalls.push([last, now]);
    last = now;
  }, 1);
  return {
    stalls,
    // Whether a stall overlapped [fromUs, toUs] (system clock us).
    overlaps: (fromUs, toUs) => stalls.some(([s, e]) => s < toUs && e > fromUs),
    stop: () => clearInterval(timer),
  };
}
