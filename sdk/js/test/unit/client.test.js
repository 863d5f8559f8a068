// The Client against a scripted fake server (ws's WebSocketServer): what a
// real server cannot be made to do on demand (skip an offset, repeat one,
// stay silent), and the SDK's side of the protocol line by line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { Client } from '../../index.js';

// A fake server: `handle(cmd, send, ws)` answers each command; every command seen is kept.
function fakeServer(handle) {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    const seen = [];
    const sockets = [];
    wss.on('connection', (ws) => {
      sockets.push(ws);
      const send = (o) => ws.send(JSON.stringify(o));
      ws.on('message', (data) => {
        for (const line of String(data).split('\n').filter(Boolean)) {
          const cmd = JSON.parse(line);
          seen.push(cmd);
          if (cmd.method === 'connect') send({ id: cmd.id, result: { session: 's' + sockets.length, user: '', server_time_us: Date.now() * 1000, version: 'fake', protocol: 1 } });
          else if (cmd.method === 'time') { const t = Math.round((performance.timeOrigin + performance.now()) * 1000); send({ id: cmd.id, result: { t1: t, t2: t } }); }
          else handle(cmd, send, ws);
        }
      });
    });
    wss.on('listening', () => resolve({
      url: `ws://127.0.0.1:${wss.address().port}/ws`, seen, sockets,
      close: () => new Promise((r) => { for (const s of sockets) s.terminate(); wss.close(r); }),
    }));
  });
}

const until = async (cond, ms, what) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out: ' + what);
    await new Promise((r) => setTimeout(r, 2));
  }
};
const pub = (offset, extra = {}) => ({ push: 'pub', room: 'r', epoch: 'E', offset, ts: 1, data: { n: offset }, ...extra });

test('an offset jump triggers a recovery from the last delivered offset; duplicates are dropped', async () => {
  const srv = await fakeServer((cmd, send) => {
    if (cmd.method === 'subscribe' && !cmd.params.recover) {
      send({ id: cmd.id, result: { room: 'r', epoch: 'E', offset: 0 } });
      send(pub(1)); send(pub(2)); send(pub(2)); send(pub(4));  // 2 twice, 3 missing
    } else if (cmd.method === 'subscribe') {
      send({ id: cmd.id, result: { room: 'r', epoch: 'E', offset: 4, recovered: true, replayed: 2 } });
      send(pub(3)); send(pub(4)); send(pub(5));
    } else if (cmd.method === 'unsubscribe') {
      send({ id: cmd.id, result: {} });
    }
  });
  const c = new Client({ url: srv.url, WebSocket, clockSync: false });
  const got = [];
  const subs = [];
  await c.subscribe('r', { onPublication: (p) => got.push(p.offset), onSubscribed: (r) => subs.push(r) });
  await until(() => got.length >= 5, 2000, 'five publications');
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
  const recover = srv.seen.filter((m) => m.method === 'subscribe')[1];
  assert.deepEqual(recover.params.recover, { epoch: 'E', offset: 2 });
  assert.ok(srv.seen.some((m) => m.method === 'unsubscribe'));
  const k = c.counters();
  assert.equal(k.gapsDetected, 1);
  assert.equal(k.duplicatesDropped, 1);
  assert.equal(k.recoveriesOk, 1);
  assert.equal(subs[1].recovered, true);
  await c.close();
  await srv.close();
});

test('a failed recovery is reported and the stream continues live from the new top', async () => {
  const srv = await fakeServer((cmd, send) => {
    if (cmd.method === 'subscribe') {
      send({ id: cmd.id, result: { room: 'r', epoch: 'NEW', offset: 7, recovered: false, reason: 'epoch_changed' } });
      send({ ...pub(8), epoch: 'NEW' });
    }
  });
  const c = new Client({ url: srv.url, WebSocket, clockSync: false });
  const got = [];
  const r = await c.subscribe('r', { onPublication: (p) => got.push(p.offset) }, { recover: { epoch: 'OLD', offset: 3 } });
  assert.equal(r.recovered, false);
  assert.equal(r.reason, 'epoch_changed');
  await until(() => got.length === 1, 2000, 'live publication');
  assert.deepEqual(got, [8]);
  assert.deepEqual(c.position('r'), { epoch: 'NEW', offset: 8 });
  assert.equal(c.counters().recoveriesFailed, 1);
  await c.close();
  await srv.close();
});

test('publishes are resent with the same client_msg_id after a reconnect; unanswered calls time out', async () => {
  let conn = 0;
  const srv = await fakeServer((cmd, send, ws) => {
    if (cmd.method === 'publish') {
      if (ws === srv.sockets[0]) return;  // the first connection never acks
      send({ id: cmd.id, result: { room: 'r', epoch: 'E', offset: 1, ts: 5, duplicate: true } });
    }
    if (cmd.method === 'ping') { /* silent */ }
  });
  const c = new Client({ url: srv.url, WebSocket, clockSync: false, backoffMinMs: 5, backoffMaxMs: 10, requestTimeoutMs: 1500 });
  c.on('connected', () => { conn++; });
  await c.connect();
  const p = c.publish('r', { x: 1 });
  await until(() => srv.seen.some((m) => m.method === 'publish'), 1000, 'first publish');
  c.testDropConnection();
  const ack = await p;
  assert.equal(ack.duplicate, true);
  const sends = srv.seen.filter((m) => m.method === 'publish');
  assert.equal(sends.length, 2);
  assert.equal(sends[0].params.client_msg_id, sends[1].params.client_msg_id);
  assert.match(sends[0].params.client_msg_id, new RegExp('^' + c.clientId() + '-\\d+$'));
  assert.equal(conn, 2);
  assert.equal(c.counters().publishesResent, 1);
  const t0 = Date.now();
  await assert.rejects(c.ping(), (e) => e.code === 9001);
  assert.ok(Date.now() - t0 >= 1400);
  await c.close();
  await srv.close();
});

test('`at` publications are held in offset order; a later one waits behind an earlier held one', async () => {
  const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
  let base = 0;
  const srv = await fakeServer((cmd, send) => {
    if (cmd.method === 'subscribe') {
      send({ id: cmd.id, result: { room: 'r', epoch: 'E', offset: 0 } });
      base = nowUs();
      send(pub(1, { at: base + 120_000 }));
      send(pub(2));                          // unscheduled, behind a held one: waits
      send(pub(3, { at: base + 60_000 }));   // due earlier, but after 1 in order: waits too
    }
  });
  const c = new Client({ url: srv.url, WebSocket });
  const got = [];
  await c.subscribe('r', { onPublication: (p) => got.push({ offset: p.offset, at: nowUs(), lateUs: p.lateUs }) });
  await until(() => c.syncStats().replies > 0, 2000, 'a time reply');
  await until(() => got.length === 3, 2000, 'three publications');
  assert.deepEqual(got.map((g) => g.offset), [1, 2, 3]);
  for (const g of got) assert.ok(g.at >= base + 120_000 - 1000, `released ${base + 120_000 - g.at} us early`);
  assert.equal(got[0].lateUs, 0);
  assert.equal(got[1].lateUs, 0);  // not scheduled
  assert.ok(got[2].lateUs > 50_000, 'held past its own at: flagged late');
  await c.close();
  await srv.close();
});

test('time commands carry the estimate as telemetry once it is valid, in a burst', async () => {
  const srv = await fakeServer(() => {});
  const c = new Client({ url: srv.url, WebSocket });
  await c.connect();
  await new Promise((r) => setTimeout(r, 300));
  const times = srv.seen.filter((m) => m.method === 'time');
  assert.ok(times.length >= 5 && times.length <= 20, `${times.length} time commands in 300 ms (burst every 20 ms)`);
  assert.equal(times[0].params, undefined, 'no estimate yet: no params');
  const last = times[times.length - 1].params;
  assert.ok(last && Number.isInteger(last.rtt_us) && Number.isInteger(last.offset_us) && Number.isInteger(last.uncertainty_us));
  assert.ok(Math.abs(c.serverNow().timeUs - Math.round((performance.timeOrigin + performance.now()) * 1000)) < 2000);
  await c.close();
  await srv.close();
});

test('a bad URL or a missing WebSocket fails with kInvalidArgument', async () => {
  await assert.rejects(new Client({ url: 'http://x', WebSocket }).connect(), (e) => e.code === 9003);
  await assert.rejects(new Client({ url: 'ws://127.0.0.1:1/ws', WebSocket: null }).connect(), (e) => e.code === 9003);
});
