// The live table (/): dealer video, a betting window whose countdown runs on
// the synced server clock (the same instant on every screen), bets judged by
// the server's fair window, results revealed with the video frame that shows
// them, a chat, and this viewer's own figures.
//
// URL parameters: table (room, default "table:1"), stream (default "demo"),
// controller=0 (hls.js defaults, no target-latency controller), target=MS
// (target latency), name (chat name), report=0 (no viewer reports), max=HEIGHT
// (no rendition taller than that).
//
// window.tuttiDemo exposes the page's state for the browser tests and the
// bench (docs/web.md); read() returns a plain snapshot.

import './demo.css';
import { Client } from 'tutti-sdk';
import { createChat } from './chat.js';
import { createTable } from './table.js';
import { startVideo } from './video.js';

const params = new URLSearchParams(location.search);
const room = params.get('table') || 'table:1';
const stream = params.get('stream') || 'demo';
const controller = params.get('controller') !== '0';
// 2.5 s behind capture: the origin's edge is about 1.4 s behind (parts of
// 200 ms, PART-HOLD-BACK, the ladder), which leaves a second of buffer; at
// the SDK's default of 1.8 s three pages sharing two cores with the ladder
// stalled now and then.
const targetLatencyMs = Number(params.get('target')) || 2500;
const report = params.get('report') !== '0';
// max=HEIGHT: no rendition taller than that (a data saver; the tests use it
// to keep three pages' decoding off the cores the ladder needs).
const maxHeight = Number(params.get('max')) || 0;
const $ = (id) => document.getElementById(id);
// Writes only changes (each write costs a layout next to the video decoder).
const setText = (id, text) => {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
};

const hook = {
  room, stream, controller, connection: 'connecting', states: [], offsets: {}, subscribes: [], errors: [],
  results: [], decisions: [], lastDecision: null, window: null, chat: [],
};
window.tuttiDemo = hook;

const client = new Client({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
  name: 'tutti-demo/0.1.0',
  onState: ({ state }) => {
    hook.connection = state;
    hook.states.push({ state, at: Date.now() });
    if (hook.states.length > 50) hook.states.shift();
    const conn = $('conn');
    conn.className = `conn ${state}`;
    $('conn-text').textContent = { connected: 'live', connecting: 'connecting', reconnect_wait: 'reconnecting', closed: 'offline', idle: 'offline' }[state] || state;
  },
  onError: (e) => hook.errors.push(`${e.code} ${e.message}`),
});
hook.client = client;

const video = startVideo({ video: $('video'), stream, client, controller, targetLatencyMs, maxHeight });
hook.hls = video.hls;
hook.player = video.player;
hook.pixelVariance = video.pixelVariance;

const table = createTable({ client, room, player: video.player, hls: video.hls, hook });
const chat = createChat({ client, room, hook, name: params.get('name') });

// Every publication of the table room, in offset order (exactly once across
// reconnects: the SDK recovers from its last position).
function onPublication(pub) {
  // Every offset as received (a test checks there is no gap and no repeat).
  const seen = (hook.offsets[pub.epoch] ||= []);
  const last = seen.length ? seen[seen.length - 1] : -1;
  seen.push(pub.offset);
  if (seen.length > 20000) seen.splice(0, seen.length - 20000);
  if (pub.offset <= last) return;
  const d = pub.data;
  if (!d || typeof d !== 'object') return;
  if (d.type === 'chat') chat.onMessage(pub);
  else table.onPublication(pub);
}

// Joining: subscribe, then (once) re-subscribe from a little before the top
// so a viewer who arrives mid-round sees the open window, the last results
// and the recent chat. The replay is recovery from a known position, so it is
// exact; publications older than the join are shown as history, not revealed.
async function join() {
  const handlers = {
    onPublication: (pub) => onPublication(pub),
    onSubscribed: (r) => hook.subscribes.push({ ...r, at: Date.now() }),
    onJoin: () => table.seats(+1),
    onLeave: () => table.seats(-1),
  };
  await client.connect();
  // The first subscription only finds the room's position; its publications
  // are dropped because the recovering subscription delivers them again, in
  // order, after the older ones.
  const first = await client.subscribe(room, { onPublication: () => {} });
  table.historyUntil(first.epoch, first.offset);
  await client.unsubscribe(room);
  await client.subscribe(room, handlers, { presence: true, recover: { epoch: first.epoch, offset: Math.max(0, first.offset - 40) } });
  const p = await client.presence(room).catch(() => null);
  if (p) table.seats(0, p.clients.length);
}

join().catch((e) => {
  hook.errors.push(String(e && e.message || e));
  $('loading').textContent = `Could not join: ${e.message || e}`;
});

// This viewer's figures, a few times a second, and a report for the
// dashboard every 2 s (room viewers:<stream>).
let lastReport = 0;
function tick() {
  const lat = video.player.latency();
  const now = client.serverNow();
  const st = client.syncStats();
  const r = video.player.rendition();
  const bw = video.hls.bandwidthEstimate;
  hook.latencyMs = lat.latencyMs;
  hook.level = video.hls.currentLevel;
  hook.rendition = r ? r.name || `${r.height}p` : null;
  hook.uncertaintyMs = now.synced ? now.uncertaintyUs / 1000 : null;
  setText('s-latency', lat.latencyMs == null ? '–' : `${(lat.latencyMs / 1000).toFixed(2)} s${lat.controller ? ` (target ${(lat.targetLatencyMs / 1000).toFixed(1)} s)` : ''}`);
  setText('latency-badge', lat.latencyMs == null ? '–' : `${(lat.latencyMs / 1000).toFixed(1)} s`);
  setText('s-clock', now.synced ? `± ${(now.uncertaintyUs / 1000).toFixed(2)} ms` : 'syncing…');
  setText('s-rendition', r ? `${r.name || r.height + 'p'} · ${r.width}×${r.height}` : '–');
  setText('s-bw', bw ? `${(bw / 1e6).toFixed(2)} Mb/s` : '–');
  setText('s-rate', `${lat.playbackRate.toFixed(2)}× ${lat.controller ? 'synced' : 'free'}`);
  setText('s-rtt', st.lastRttUs > 0 ? `${(st.lastRttUs / 1000).toFixed(1)} ms` : '–');
  const q = $('video').getVideoPlaybackQuality();
  hook.frames = q.totalVideoFrames;
  hook.dropped = q.droppedVideoFrames;
  if (hook.frames > 0) $('loading').classList.add('hidden');
  if (report && client.state() === 'connected' && Date.now() - lastReport > 2000 && lat.latencyMs != null) {
    lastReport = Date.now();
    client.publish(`viewers:${stream}`, {
      type: 'viewer', viewer: client.clientId(), stream, room, rendition: hook.rendition,
      latency_ms: Math.round(lat.latencyMs), uncertainty_ms: hook.uncertaintyMs, rate: lat.playbackRate,
    }).catch(() => {});
  }
}
setInterval(tick, 250);

// A plain snapshot for page.evaluate().
hook.read = () => {
  const lat = video.player.latency();
  return {
    connection: hook.connection, frames: hook.frames, dropped: hook.dropped, presented: video.s.framesPresented,
    level: video.hls.currentLevel, levels: video.hls.levels.map((l) => l.height), rendition: hook.rendition,
    latencyMs: lat.latencyMs, targetLatencyMs: lat.targetLatencyMs, hlsLatencyMs: Number.isFinite(video.hls.latency) ? Math.round(video.hls.latency * 1000) : null,
    playingDateLatencyMs: video.hls.playingDate ? Math.round(client.serverNow().timeUs / 1000 - video.hls.playingDate.getTime()) : null,
    bufferAheadMs: (() => { const v = $('video'); const b = v.buffered; return b.length ? Math.round((b.end(b.length - 1) - v.currentTime) * 1000) : 0; })(),
    playbackRate: lat.playbackRate, controller: lat.controller,
    uncertaintyMs: hook.uncertaintyMs, switches: video.s.switches.slice(), errors: video.s.errors.slice(-5), fatal: video.s.fatal,
    paused: $('video').paused, results: hook.results.slice(), decisions: hook.decisions.slice(), lastDecision: hook.lastDecision,
    window: hook.window, offsets: Object.fromEntries(Object.entries(hook.offsets).map(([e, o]) => [e, o.slice()])),
    subscribes: hook.subscribes.slice(), states: hook.states.slice(), counters: client.counters(), chat: hook.chat.slice(-50), pageErrors: hook.errors.slice(-5),
  };
};
hook.frameLog = (sinceMs = 0) => video.s.frameLog.filter((f) => f[0] >= sinceMs);
hook.bet = (color, amount) => table.bet(color, amount);
hook.say = (text) => chat.say(text);
