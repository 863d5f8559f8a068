// Token refusals: the connect promise rejects with the server's code, the
// client closes for good (4003: no reconnect), and a good token or a token
// provider connects.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, closeClients, mintToken, startServer } from './server.js';

const SECRET = 'js-sdk-test-secret-0123456789abcdef';
let server;
before(async () => {
  server = await startServer(`[auth]\nanonymous = false\nalgorithm = "HS256"\nsecret = "${SECRET}"\n`);
});
after(async () => { await closeClients(); await server?.stop(); });

test('a token with a bad signature is refused with 1104 and close 4003, without reconnecting', async () => {
  const token = await mintToken(['--sub', 'mallory', '--secret', 'not-the-secret-0123456789abcdef']);
  const errors = [];
  const c = client(server.url, { token, onError: (e) => errors.push(e.code) });
  await assert.rejects(c.connect(), (e) => e.code === 1104 && e.name === 'TuttiError');
  assert.equal(await c.waitForState('closed', 2000), true);
  assert.equal(c.lastClose().code, 4003);
  assert.deepEqual(errors, [1104]);
  assert.equal(c.counters().connects, 0);
  await assert.rejects(c.subscribe('r', {}), (e) => e.code === 9002);
});

test('no token where anonymous access is off is refused with 1107', async () => {
  const c = client(server.url);
  await assert.rejects(c.connect(), (e) => e.code === 1107);
  assert.equal(await c.waitForState('closed', 2000), true);
  assert.equal(c.lastClose().code, 4003);
});

test('a malformed token is refused with 1101', async () => {
  const c = client(server.url, { token: 'not.a.jwt' });
  await assert.rejects(c.connect(), (e) => e.code === 1101);
});

test('a good token connects as its user; the token provider is asked on every attempt', async () => {
  const token = await mintToken(['--sub', 'alice', '--secret', SECRET, '--subscribe', 'room:*', '--publish', 'room:*']);
  let asked = 0;
  const c = client(server.url, { tokenProvider: async () => { asked++; return token; }, backoffMinMs: 10, backoffMaxMs: 50 });
  const info = await c.connect();
  assert.equal(info.user, 'alice');
  assert.equal(asked, 1);
  await assert.rejects(c.subscribe('other:1', {}), (e) => e.code === 1108);
  await c.subscribe('room:1', {});
  c.testDropConnection();
  assert.equal(await c.waitForState('connected', 3000), true);
  assert.equal(asked, 2);
  await c.close();
});
