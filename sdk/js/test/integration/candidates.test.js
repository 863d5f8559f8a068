// Candidate endpoints (ClientOptions.candidates, the edges of a region): the
// client connects to one that answers GET /healthz, skips one that does not,
// and moves to the other when its endpoint dies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, closeClients, startServer, until } from './server.js';

const servers = [];
after(async () => { await closeClients(); await Promise.all(servers.map((s) => s.stop())); });

test('a candidate that does not answer is skipped', async () => {
  const a = await startServer();
  servers.push(a);
  const dead = 'ws://127.0.0.1:1/ws';
  const c = client(undefined, { candidates: [dead, a.url], candidateProbeMs: 500 });
  await c.connect();
  assert.equal(c.endpoint, a.url);
});

test('when its endpoint dies the client moves to the other candidate and keeps its room', async () => {
  const a = await startServer();
  const b = await startServer();
  servers.push(a, b);
  const c = client(undefined, { candidates: [a.url, b.url], backoffMinMs: 50, backoffMaxMs: 200 });
  await c.connect();
  const first = c.endpoint;
  assert.ok(first === a.url || first === b.url);
  const got = [];
  await c.subscribe('lobby', { onPublication: (p) => got.push(p.data) });
  const [dying, other] = first === a.url ? [a, b] : [b, a];
  dying.proc.kill('SIGKILL');
  await until(() => c.endpoint === other.url && c.state() === 'connected', 10000, 'moved to the other endpoint');
  // Subscribed again there (a plain origin: its own room): publications flow.
  const pub = client(other.url);
  await pub.connect();
  // The SDK subscribes again by itself after the reconnect.
  for (let i = 0; i < 50 && got.length === 0; ++i) {
    await pub.publish('lobby', { n: i });
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(got.length > 0, 'publications reach the client on the other endpoint');
});

test('no candidate answering is a failed attempt, retried', async () => {
  const c = client(undefined, { candidates: ['ws://127.0.0.1:1/ws'], candidateProbeMs: 200, connectTimeoutMs: 1500 });
  await assert.rejects(c.connect());
});
