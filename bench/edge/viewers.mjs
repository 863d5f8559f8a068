// N viewers asking an edge at once for one object, each on its own
// connection (node:http, no agent: one socket per request).
//
//   node bench/edge/viewers.mjs PORT PATH N TIMEOUT_MS [--after-next-part ORIGIN_PORT PLAYLIST]
//
// Every socket is connected first; then every request is sent in one loop,
// so they reach the edge together. Prints one JSON object: how many answered,
// how many with 200 and the same body (length and hash) as the most common
// answer, the X-Cache values, and the timings.
import http from 'node:http';
import { createHash } from 'node:crypto';

const [port, path, nArg, timeoutArg] = process.argv.slice(2);  // PATH: '-' with --after-next-part
const n = Number(nArg);
const timeoutMs = Number(timeoutArg ?? 20000);
const t0 = performance.now();
const ms = (t) => Math.round((t - t0) * 10) / 10;

const results = new Array(n).fill(null);
const requests = [];
let connected = 0;
let connectErrors = 0;
let sentAt = 0;
let sendSpread = 0;

const finished = new Promise((resolve) => {
  let left = n;
  const finish = (i, r) => {  // once per viewer
    if (results[i]) return;
    results[i] = r;
    if (--left === 0) resolve();
  };
  for (let i = 0; i < n; i++) {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, method: 'GET', agent: false,
      headers: { Connection: 'close' } });
    requests.push(req);
    req.on('socket', (s) => s.once('connect', () => { if (++connected + connectErrors === n) trigger(); }));
    req.on('response', (res) => {
      const hash = createHash('sha256');
      let length = 0;
      res.on('data', (c) => { hash.update(c); length += c.length; });
      res.on('end', () => finish(i, { status: res.statusCode, length, hash: hash.digest('hex'),
        xcache: res.headers['x-cache'] ?? '', at: performance.now() }));
      res.on('error', () => finish(i, { status: 0, error: 'body' }));
    });
    req.on('error', (e) => {
      if (!req.__sent && !results[i]) connectErrors++;
      finish(i, { status: 0, error: e.code || e.message || String(e) });
      if (connected + connectErrors === n && !sentAt) trigger();
    });
  }
});

// With --after-next-part ORIGIN_PORT PLAYLIST: once every socket is
// connected, a blocking playlist request to the origin for the part its
// playlist hints returns when that part is made; the viewers then ask for the
// part hinted next, which the origin will make about a part duration later.
let target = path;
async function nextHinted(originPort, playlist) {
  const get = (p) => new Promise((resolve, reject) => {
    const r = http.get({ host: '127.0.0.1', port: originPort, path: p, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    });
    r.setTimeout(10000, () => r.destroy(new Error('origin playlist timeout')));
    r.on('error', reject);
  });
  const hint = (pl) => /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(pl)?.[1];
  const dir = playlist.slice(0, playlist.lastIndexOf('/') + 1);
  const now = hint(await get(playlist));
  const m = now && /(\d+)\.(\d+)\.m4s$/.exec(now);
  if (!m) throw new Error(`no preload hint in ${playlist}`);
  const next = hint(await get(`${playlist}?_HLS_msn=${m[1]}&_HLS_part=${m[2]}`));
  if (!next) throw new Error('no preload hint after the blocking request');
  return dir + next;
}
const afterIdx = process.argv.indexOf('--after-next-part');
const after = afterIdx > 0 ? { port: Number(process.argv[afterIdx + 1]), playlist: process.argv[afterIdx + 2] } : null;

function trigger() {
  sendAll().catch((e) => {
    console.log(JSON.stringify({ error: String(e?.message ?? e) }));
    process.exit(1);
  });
}

async function sendAll() {
  if (sentAt) return;
  sentAt = -1;
  if (after) target = await nextHinted(after.port, after.playlist);
  sentAt = performance.now();
  for (const r of requests) { r.__sent = true; r.path = target; if (!r.destroyed) r.end(); }
  sendSpread = performance.now() - sentAt;
}

const timer = setTimeout(() => { for (const r of requests) r.destroy(new Error('timeout')); }, timeoutMs);
await finished;
clearTimeout(timer);

const byKey = new Map();
for (const r of results) {
  if (r && r.status === 200) {
    const k = `${r.length}:${r.hash}`;
    byKey.set(k, (byKey.get(k) ?? 0) + 1);
  }
}
let common = '', most = 0;
for (const [k, c] of byKey) if (c > most) { common = k; most = c; }
const statuses = {}, xcache = {}, errors = {};
let last = 0;
for (const r of results) {
  statuses[r?.status ?? 0] = (statuses[r?.status ?? 0] ?? 0) + 1;
  if (r?.xcache !== undefined && r.status) xcache[r.xcache || '-'] = (xcache[r.xcache || '-'] ?? 0) + 1;
  if (r?.error) errors[r.error] = (errors[r.error] ?? 0) + 1;
  if (r?.at) last = Math.max(last, r.at);
}
console.log(JSON.stringify({
  path: target,
  viewers: n,
  connected,
  answered: results.filter((r) => r && r.status).length,
  ok_same_body: most,                  // 200 with the most common body
  body_length: common ? Number(common.split(':')[0]) : 0,
  distinct_bodies: byKey.size,
  statuses, x_cache: xcache, errors,
  connect_ms: sentAt ? ms(sentAt) : null,
  send_spread_ms: Math.round(sendSpread * 10) / 10,
  all_answered_after_send_ms: sentAt && last ? Math.round((last - sentAt) * 10) / 10 : null,
}));
