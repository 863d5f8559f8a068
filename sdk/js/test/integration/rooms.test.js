// Rooms against a real server: connect, order, presence, recovery across a
// dropped socket without gap or duplicate, publish resend de-duplicated.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, closeClients, startServer, until, sleep } from './server.js';

let server;
before(async () => { server = await startServer('[limits]\npublish_rate_per_s = 10000\npublish_burst = 10000\n[auth]\nanonymous = true\n'); });
after(async () => { await closeClients(); await server?.stop(); });

test('connects anonymously and reports the connect reply', async () => {
  const c = client(server.url);
  const states = [];
  c.on('state', (s) => states.push(s.state));
  const info = await c.connect();
  assert.equal(info.protocol, 1);
  assert.equal(info.user, '');
  assert.ok(info.session.length > 0);
  assert.ok(Math.abs(info.serverTimeUs - Date.now() * 1000) < 5_000_000);
  assert.ok(info.limits.maxFrameBytes > 0 && info.limits.maxBatch > 0);
  assert.equal(c.state(), 'connected');
  assert.deepEqual(states, ['connecting', 'connected']);
  assert.ok((await c.ping()) > 0);
  await c.close();
  assert.equal(c.state(), 'closed');
  await assert.rejects(c.publish('r', 1), (e) => e.code === 9002);
});

test('publications arrive once and in offset order, and acks carry consecutive offsets', async () => {
  const sub = client(server.url);
  const pub = client(server.url);
  const got = [];
  const first = await sub.subscribe('order:1', { onPublication: (p) => got.push(p) });
  assert.equal(first.offset, 0);
  const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publish('order:1', { i })));
  await until(() => got.length >= 50, 3000, '50 publications');
  assert.deepEqual(acks.map((a) => a.offset), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.deepEqual(got.map((p) => p.offset), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.deepEqual(got.map((p) => p.data.i), Array.from({ length: 50 }, (_, i) => i));
  assert.ok(got.every((p) => p.epoch === first.epoch && p.ts > 0 && p.lateUs === 0));
  assert.deepEqual(sub.position('order:1'), { epoch: first.epoch, offset: 50 });
  await assert.rejects(sub.subscribe('order:1', {}), (e) => e.code === 1202);
  await assert.rejects(sub.subscribe('bad room!', {}), (e) => e.code === 1206);
  await Promise.all([sub.close(), pub.close()]);
});

test('presence: join and leave pushes and the presence list', async () => {
  const a = client(server.url, { clientId: 'watcher-a' });
  const joins = [], leaves = [];
  await a.subscribe('pres:1', { onJoin: (c) => joins.push(c), onLeave: (c) => leaves.push(c) }, { presence: true });
  const b = client(server.url, { clientId: 'player-b' });
  await b.subscribe('pres:1', {});
  await until(() => joins.some((c) => c.client === 'player-b'), 3000, 'join of b');
  const list = await a.presence('pres:1');
  assert.deepEqual(list.clients.map((c) => c.client).sort(), ['player-b', 'watcher-a']);
  await b.close();
  await until(() => leaves.some((c) => c.client === 'player-b'), 3000, 'leave of b');
  await a.close();
});

test('recovers across a dropped socket with no gap and no duplicate', async () => {
  const sub = client(server.url, { backoffMinMs: 20, backoffMaxMs: 100 });
  const pub = client(server.url);
  const got = [];
  const results = [];
  await sub.subscribe('recover:1', { onPublication: (p) => got.push(p.offset), onSubscribed: (r) => results.push(r) });
  const N = 300;
  let sent = 0;
  const publishing = (async () => {
    for (; sent < N; ++sent) {
      await pub.publish('recover:1', { n: sent });
      if (sent % 10 === 0) await sleep(1);
    }
  })();
  await until(() => got.length >= 40, 5000, 'first publications');
  sub.testDropConnection();  // messages keep coming while it is away
  assert.notEqual(sub.state(), 'connected');
  await publishing;
  await until(() => got.length >= N, 5000, `all ${N} publications (have ${got.length})`);
  await sleep(50);
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => i + 1), 'every offset exactly once, in order');
  const k = sub.counters();
  assert.equal(k.reconnects, 1);
  assert.equal(k.recoveriesOk, 1);
  assert.equal(k.recoveriesFailed, 0);
  assert.equal(results.length, 2);
  assert.equal(results[1].recovered, true);
  assert.equal(sub.lastClose().code, 1006);
  await Promise.all([sub.close(), pub.close()]);
});

test('a publish cut off by a dropped socket is resent and published once', async () => {
  const watcher = client(server.url);
  const seen = [];
  await watcher.subscribe('dedup:1', { onPublication: (p) => seen.push(p) });
  const p = client(server.url, { backoffMinMs: 20, backoffMaxMs: 100 });
  await p.connect();
  const ack = p.publish('dedup:1', { once: true });
  await Promise.resolve();  // the publish leaves on this microtask ...
  await Promise.resolve();
  p.testDropConnection();   // ... and the socket goes before its ack can come back
  const a = await ack;
  assert.equal(p.counters().publishesResent, 1);
  assert.equal(a.offset, 1);
  await sleep(200);
  assert.equal(seen.length, 1, 'exactly one publication in the room');
  assert.equal(seen[0].offset, 1);
  // The server recognised the resend by its client_msg_id when the first copy had reached it.
  assert.equal(a.duplicate, true, 'the resend was answered as a duplicate');
  // The same (client, client_msg_id) from another connection is the same message too.
  const again = client(server.url, { clientId: p.clientId() });
  const a2 = await again.publish('dedup:1', { once: true }, { clientMsgId: 'fixed-1' });
  const a3 = await again.publish('dedup:1', { once: true }, { clientMsgId: 'fixed-1' });
  assert.equal(a2.duplicate, false);
  assert.equal(a3.duplicate, true);
  assert.equal(a3.offset, a2.offset);
  await Promise.all([watcher.close(), p.close(), again.close()]);
});

test('request errors carry the server codes', async () => {
  const c = client(server.url);
  await assert.rejects(c.unsubscribe('never:1'), (e) => e.code === 1201);
  await assert.rejects(c.presence('never:1'), (e) => e.code === 1201);
  await assert.rejects(c.publish('bad room!', 1), (e) => e.code === 1206 && e.message.length > 0);
  await c.close();
});
