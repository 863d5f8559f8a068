// The operations dashboard (/admin). Every second it reads the server's own
// endpoints, with the Basic credentials the browser already sent for /admin:
//   /api/stats, /api/rooms, /api/latency?room=R     counts and per-client sync
//   /metrics                                         rates and histograms
//   /api/history?room=R                              windows, decisions, results,
//                                                    and viewers' reports (viewers:<stream>)
//   /api/media/streams                               renditions of each stream
// and draws them with Chart.js (bundled by web/build.mjs).
// window.tuttiAdmin exposes what was read, for the browser tests.

import './admin.css';
import {
  BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
} from 'chart.js';
import { histogram, parse, quantile, subtract, total } from './prometheus.js';

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip);

const POLL_MS = 1000;
const SPAN_S = 300; // time charts show the last five minutes
const HIST_WINDOW_S = 30;

const palette = ['#f5c542', '#4fd1c5', '#f56565', '#9f7aea', '#63b3ed', '#ed8936', '#48bb78', '#ed64a6'];
Chart.defaults.color = '#9aa5b1';
Chart.defaults.borderColor = 'rgba(255,255,255,0.08)';
Chart.defaults.font.family = 'Inter, "DejaVu Sans", system-ui, sans-serif';
Chart.defaults.animation = false;

const $ = (id) => document.getElementById(id);
const fmtMs = (s) => (s == null ? '–' : s < 0.001 ? `${(s * 1e6).toFixed(0)} µs` : `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`);
const fmtCount = (n) => (n == null ? '–' : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function timeChart(canvas, datasets, yTitle) {
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: datasets.map((d, i) => ({ label: d, data: [], borderColor: palette[i], backgroundColor: palette[i] + '33', pointRadius: 0, borderWidth: 2, tension: 0.25, fill: i === 0 })) },
    options: {
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        x: { type: 'linear', min: -SPAN_S, max: 0, ticks: { callback: (v) => (v === 0 ? 'now' : `${v}s`) } },
        y: { beginAtZero: true, title: { display: !!yTitle, text: yTitle } },
      },
      plugins: { legend: { display: datasets.length > 1 } },
    },
  });
}

function barChart(canvas, labels, datasets, { stacked = false, yTitle = '', horizontal = false } = {}) {
  return new Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: datasets.map((d, i) => ({ label: d, data: [], backgroundColor: palette[i % palette.length], borderRadius: 3 })) },
    options: {
      maintainAspectRatio: false,
      indexAxis: horizontal ? 'y' : 'x',
      scales: { x: { stacked }, y: { stacked, beginAtZero: true, title: { display: !!yTitle, text: yTitle } } },
      plugins: { legend: { display: datasets.length > 1 } },
    },
  });
}

const bucketLabel = (le) => (!Number.isFinite(le) ? '> 5 s' : le < 0.001 ? `${le * 1e6} µs` : le < 1 ? `${+(le * 1e3).toFixed(2)} ms` : `${le} s`);

const charts = {
  connections: timeChart($('c-connections'), ['connections'], ''),
  rate: timeChart($('c-rate'), ['out', 'in'], 'msg/s'),
  hist: barChart($('c-hist'), [], ['round trip', 'one way', 'sync uncertainty']),
  p2w: barChart($('c-p2w'), [], ['publish → write']),
  spread: timeChart($('c-spread'), [], 'ms'),
  windows: barChart($('c-windows'), [], ['accepted', 'late', 'early', 'implausible', 'other'], { stacked: true }),
  viewers: barChart($('c-viewers'), [], ['playback latency', 'clock ±'], { yTitle: 'ms' }),
};

// What the page has read; tests look at it.
const state = {
  polls: 0, errors: 0, lastError: null, stats: null, rooms: [], latency: {}, streams: [], windows: new Map(),
  viewers: new Map(), series: { t: [], connections: [], in: [], out: [] }, spread: new Map(), metricsSnapshots: [],
};
window.tuttiAdmin = state;

async function getJson(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function getText(path) {
  const r = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.text();
}

// Publications of a room after the last one read (history API), bounded.
const historyPos = new Map();
async function readHistory(room, top) {
  let since = historyPos.get(room);
  if (since == null) since = Math.max(0, top - 300);
  if (since >= top) return [];
  const h = await getJson(`/api/history?room=${encodeURIComponent(room)}&since=${since}&limit=1000`);
  const pubs = h.publications || [];
  historyPos.set(room, pubs.length ? pubs[pubs.length - 1].offset : h.offset);
  return pubs;
}

function noteWindowPublication(room, pub) {
  const d = pub.data;
  if (!d || typeof d !== 'object') return;
  const key = (w) => `${room}\u0000${w}`;
  if (d.type === 'window_open' && d.window) {
    const w = state.windows.get(key(d.window)) || { room, window: d.window };
    Object.assign(w, { opens_at: d.opens_at, closes_at: d.closes_at, order: pub.ts });
    state.windows.set(key(d.window), w);
  } else if (d.type === 'window_summary' && d.window) {
    const w = state.windows.get(key(d.window)) || { room, window: d.window, order: pub.ts };
    Object.assign(w, { accepted: d.accepted || 0, refused: d.refused || {}, audit_hash: d.audit_hash, settled: true });
    state.windows.set(key(d.window), w);
  } else if (d.type === 'result' && d.round) {
    const w = state.windows.get(key(d.round)) || { room, window: d.round, order: pub.ts };
    w.result = d;
    state.windows.set(key(d.round), w);
  }
  // Keep the last 50 windows.
  if (state.windows.size > 50) {
    const oldest = [...state.windows.entries()].sort((a, b) => a[1].order - b[1].order)[0][0];
    state.windows.delete(oldest);
  }
}

function noteViewerReport(pub) {
  const d = pub.data;
  if (!d || d.type !== 'viewer' || !d.viewer) return;
  state.viewers.set(d.viewer, { ...d, ts: pub.ts });
}

function pushSeries(t, values) {
  const s = state.series;
  s.t.push(t);
  for (const [k, v] of Object.entries(values)) s[k].push(v);
  while (s.t.length && t - s.t[0] > SPAN_S * 1000) {
    s.t.shift();
    for (const k of Object.keys(values)) s[k].shift();
  }
}

const asPoints = (ts, vs, now) => ts.map((t, i) => ({ x: (t - now) / 1000, y: vs[i] })).filter((p) => p.y != null);

function rate(name, match, now, metrics) {
  const snaps = state.metricsSnapshots;
  const prev = snaps.length > 1 ? snaps[snaps.length - 2] : null;
  if (!prev) return null;
  const dt = (now - prev.t) / 1000;
  return dt > 0 ? Math.max(0, (total(metrics, name, match) - total(prev.m, name, match)) / dt) : null;
}

// Two viewers' clocks can disagree by at most the sum of their uncertainty
// bounds: the room's spread is the sum of its two largest.
function roomSpreadMs(clients) {
  const u = clients.map((c) => c.sync_uncertainty_us).filter((x) => x != null && x >= 0).sort((a, b) => b - a);
  if (!u.length) return null;
  return ((u[0] + (u[1] ?? u[0])) / 1000);
}

function median(xs) {
  const s = xs.filter((x) => x != null && x >= 0).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
}

async function poll() {
  const now = Date.now();
  const [stats, rooms, metricsText, streams] = await Promise.all([
    getJson('/api/stats'), getJson('/api/rooms'), getText('/metrics'), getJson('/api/media/streams').catch(() => ({ streams: [] })),
  ]);
  const metrics = parse(metricsText);
  state.metricsSnapshots.push({ t: now, m: metrics });
  while (state.metricsSnapshots.length > HIST_WINDOW_S + 2) state.metricsSnapshots.shift();
  state.stats = stats;
  state.rooms = rooms.rooms || [];
  state.streams = streams.streams || [];

  // Per-room latency and the rooms' publications (windows, results, viewer reports).
  const visible = state.rooms.filter((r) => r.subscribers > 0).sort((a, b) => b.subscribers - a.subscribers).slice(0, 12);
  await Promise.all(visible.map(async (r) => {
    state.latency[r.room] = (await getJson(`/api/latency?room=${encodeURIComponent(r.room)}`)).clients || [];
  }));
  for (const r of state.rooms) {
    if (r.room.startsWith('viewers:')) (await readHistory(r.room, r.offset)).forEach(noteViewerReport);
    else if (!r.room.endsWith(':chat')) (await readHistory(r.room, r.offset)).forEach((p) => noteWindowPublication(r.room, p));
  }
  for (const [id, v] of state.viewers) if (now - v.ts / 1000 > 15000) state.viewers.delete(id);

  const inRate = rate('tutti_messages_in_total', {}, now, metrics);
  const outRate = rate('tutti_messages_out_total', {}, now, metrics);
  const hlsRate = rate('tutti_hls_requests_total', {}, now, metrics);
  pushSeries(now, { connections: stats.connections, in: inRate, out: outRate });
  for (const r of visible) {
    if (!state.spread.has(r.room)) state.spread.set(r.room, { t: [], v: [] });
    const s = state.spread.get(r.room);
    s.t.push(now);
    s.v.push(roomSpreadMs(state.latency[r.room] || []));
    while (s.t.length && now - s.t[0] > SPAN_S * 1000) { s.t.shift(); s.v.shift(); }
  }
  for (const [room, s] of state.spread) if (!visible.some((r) => r.room === room) && now - s.t[s.t.length - 1] > SPAN_S * 1000) state.spread.delete(room);

  render(now, metrics, { inRate, outRate, hlsRate });
  state.polls++;
}

function render(now, metrics, { inRate, outRate, hlsRate }) {
  const st = state.stats;
  $('t-connections').textContent = fmtCount(st.connections);
  $('t-rooms').textContent = fmtCount(st.rooms);
  $('t-in').textContent = inRate == null ? '–' : inRate.toFixed(1);
  $('t-out').textContent = outRate == null ? '–' : outRate.toFixed(1);
  $('t-hls').textContent = hlsRate == null ? '–' : hlsRate.toFixed(1);
  $('t-viewers').textContent = state.viewers.size;
  const up = st.uptime_s;
  $('t-uptime').textContent = up >= 3600 ? `${Math.floor(up / 3600)}h ${Math.floor((up % 3600) / 60)}m` : `${Math.floor(up / 60)}m ${up % 60}s`;

  const s = state.series;
  charts.connections.data.datasets[0].data = asPoints(s.t, s.connections, now);
  charts.connections.update();
  charts.rate.data.datasets[0].data = asPoints(s.t, s.out, now);
  charts.rate.data.datasets[1].data = asPoints(s.t, s.in, now);
  charts.rate.update();

  // Latency histograms over the last 30 s (whole life until 30 s of snapshots exist).
  const oldest = state.metricsSnapshots[0];
  const windowed = state.metricsSnapshots.length > HIST_WINDOW_S;
  const hists = ['tutti_client_rtt_seconds', 'tutti_client_one_way_seconds', 'tutti_client_sync_uncertainty_seconds'].map((n) => {
    const h = histogram(metrics, n);
    return windowed ? subtract(h, histogram(oldest.m, n)) : h;
  });
  $('hist-note').textContent = windowed ? `last ${HIST_WINDOW_S} s` : 'since start';
  const lastUsed = (hs) => Math.max(3, ...hs.map((h) => h.buckets.reduce((m, b, i) => (b.count > 0 ? i : m), 0))) + 1;
  const firstUsed = (hs) => Math.max(0, Math.min(...hs.map((h) => h.buckets.findIndex((b) => b.count > 0)).filter((i) => i >= 0)) - 1);
  const lo = firstUsed(hists) || 0;
  const hi = lastUsed(hists);
  charts.hist.data.labels = (hists[0].buckets.slice(lo, hi)).map((b) => `≤ ${bucketLabel(b.le)}`);
  hists.forEach((h, i) => { charts.hist.data.datasets[i].data = h.buckets.slice(lo, hi).map((b) => b.count); });
  charts.hist.update();
  $('hist-q').innerHTML = ['round trip', 'one way', 'sync ±'].map((n, i) => `<span><b>${n}</b> p50 ${fmtMs(quantile(hists[i], 0.5))} · p99 ${fmtMs(quantile(hists[i], 0.99))}</span>`).join('');

  let p2w = histogram(metrics, 'tutti_publish_to_write_seconds');
  if (windowed) p2w = subtract(p2w, histogram(oldest.m, 'tutti_publish_to_write_seconds'));
  const plo = firstUsed([p2w]) || 0;
  const phi = lastUsed([p2w]);
  charts.p2w.data.labels = p2w.buckets.slice(plo, phi).map((b) => `≤ ${bucketLabel(b.le)}`);
  charts.p2w.data.datasets[0].data = p2w.buckets.slice(plo, phi).map((b) => b.count);
  charts.p2w.update();
  $('p2w-q').innerHTML = `<span><b>p50</b> ${fmtMs(quantile(p2w, 0.5))}</span><span><b>p99</b> ${fmtMs(quantile(p2w, 0.99))}</span><span><b>writes</b> ${fmtCount(p2w.count)}</span>`;

  // Sync spread per room, over time.
  const rooms = [...state.spread.keys()];
  charts.spread.data.datasets = rooms.map((room, i) => ({
    label: room, data: asPoints(state.spread.get(room).t, state.spread.get(room).v, now), borderColor: palette[i % palette.length],
    backgroundColor: palette[i % palette.length], pointRadius: 0, borderWidth: 2, tension: 0.25,
  }));
  charts.spread.options.plugins.legend.display = true;
  charts.spread.update();

  const tbody = $('rooms').querySelector('tbody');
  tbody.innerHTML = state.rooms.slice().sort((a, b) => b.subscribers - a.subscribers).slice(0, 12).map((r) => {
    const cl = state.latency[r.room] || [];
    const ow = median(cl.map((c) => c.one_way_us));
    const sp = roomSpreadMs(cl);
    return `<tr><td class="mono">${esc(r.room)}</td><td>${r.subscribers}</td><td>${r.offset}</td><td>${r.history}</td><td>${ow == null ? '–' : fmtMs(ow / 1e6)}</td><td>${sp == null ? '–' : sp.toFixed(2) + ' ms'}</td></tr>`;
  }).join('') || '<tr><td colspan="6" class="empty">no rooms yet</td></tr>';

  // Windows: decisions per window (the last 12), newest right.
  const wins = [...state.windows.values()].sort((a, b) => a.order - b.order);
  const shown = wins.filter((w) => w.settled).slice(-12);
  charts.windows.data.labels = shown.map((w) => w.window);
  const reasons = ['late', 'early', 'implausible'];
  charts.windows.data.datasets[0].data = shown.map((w) => w.accepted);
  reasons.forEach((r, i) => { charts.windows.data.datasets[i + 1].data = shown.map((w) => (w.refused || {})[r] || 0); });
  charts.windows.data.datasets[4].data = shown.map((w) => Object.entries(w.refused || {}).filter(([k]) => !reasons.includes(k)).reduce((a, [, v]) => a + v, 0));
  charts.windows.update();
  const wbody = $('windows').querySelector('tbody');
  wbody.innerHTML = wins.slice(-8).reverse().map((w) => {
    const refused = Object.entries(w.refused || {}).filter(([, v]) => v).map(([k, v]) => `${v} ${k}`).join(', ') || (w.settled ? '0' : '');
    const res = w.result ? `<span class="chip ${esc(w.result.color)}">${esc(w.result.number)}</span>` : '';
    const closes = w.closes_at ? new Date(w.closes_at / 1000).toISOString().slice(11, 19) : '';
    const status = w.settled ? (w.audit_hash ? `<span class="mono" title="${esc(w.audit_hash)}">${esc(w.audit_hash.slice(0, 10))}…</span>` : 'settled') : '<span class="open">open</span>';
    return `<tr><td class="mono">${esc(w.room)}</td><td class="mono">${esc(w.window)}</td><td>${closes}</td><td>${w.accepted ?? ''}</td><td>${esc(refused)}</td><td>${res}</td><td>${status}</td></tr>`;
  }).join('') || '<tr><td colspan="7" class="empty">no windows yet</td></tr>';

  // Streams and their renditions; viewers' latency per viewer.
  $('streams').innerHTML = state.streams.map((s) => {
    const viewers = [...state.viewers.values()].filter((v) => v.stream === s.stream);
    const byLevel = (name) => viewers.filter((v) => v.rendition === name).length;
    const rows = (s.renditions || []).map((r) => `<tr><td class="mono">${esc(r.name)}</td><td>${r.width && r.height ? `${r.width}×${r.height}` : 'audio'}</td><td>${r.bandwidth ? (r.bandwidth / 1000).toFixed(0) + ' kb/s' : ''}</td><td>${byLevel(r.name)}</td></tr>`).join('');
    const lat = median(viewers.map((v) => v.latency_ms));
    return `<div class="stream"><div class="stream-head"><span class="mono big">${esc(s.stream)}</span><span>segment ${s.msn ?? '–'}</span><span>${viewers.length} viewer${viewers.length === 1 ? '' : 's'}</span><span>latency p50 ${lat == null ? '–' : (lat / 1000).toFixed(2) + ' s'}</span></div>
      <table class="table"><thead><tr><th>rendition</th><th>size</th><th>bandwidth</th><th>viewers</th></tr></thead><tbody>${rows}</tbody></table></div>`;
  }).join('') || '<div class="empty">no live stream</div>';

  const viewers = [...state.viewers.values()].sort((a, b) => String(a.viewer).localeCompare(b.viewer)).slice(0, 24);
  charts.viewers.data.labels = viewers.map((v) => `${String(v.viewer).slice(0, 6)} · ${v.rendition || '?'}`);
  charts.viewers.data.datasets[0].data = viewers.map((v) => v.latency_ms);
  charts.viewers.data.datasets[1].data = viewers.map((v) => v.uncertainty_ms);
  charts.viewers.update();
}

async function loop() {
  const started = Date.now();
  try {
    await poll();
    $('live').className = 'dot ok';
    $('status-text').textContent = `live · ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    state.errors++;
    state.lastError = String(e && e.message || e);
    $('live').className = 'dot bad';
    $('status-text').textContent = state.lastError;
  }
  setTimeout(loop, Math.max(100, POLL_MS - (Date.now() - started)));
}
loop();
