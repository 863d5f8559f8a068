// The JS codec against the shared protocol vectors (test/vectors/protocol),
// which sdk/cpp/test/codec_test.cc checks too, plus framing and stream
// bookkeeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as codec from '../../src/codec.js';
import { TuttiError } from '../../src/errors.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../../test/vectors/protocol');
const commands = JSON.parse(readFileSync(join(dir, 'commands.json'), 'utf8')).cases;
const incoming = JSON.parse(readFileSync(join(dir, 'incoming.json'), 'utf8')).cases;

function encode(method, a) {
  switch (method) {
    case 'connect': return codec.encodeConnect(a.id, a.token, a.name, a.client);
    case 'subscribe': return codec.encodeSubscribe(a.id, a.room, a.recover ?? null, a.presence);
    case 'unsubscribe': return codec.encodeUnsubscribe(a.id, a.room);
    case 'publish': return codec.encodePublish(a.id, a.room, a.data, a.client_msg_id ?? '',
                                               { atUs: a.at, delayMs: a.delay_ms, mediaTsUs: a.media_ts });
    case 'presence': return codec.encodePresence(a.id, a.room);
    case 'ping': return codec.encodePing(a.id);
    case 'time': return codec.encodeTime(a.id, a.telemetry ? { rttUs: a.telemetry.rtt_us, offsetUs: a.telemetry.offset_us,
                                                               uncertaintyUs: a.telemetry.uncertainty_us } : null);
    case 'window_open': return codec.encodeWindowOpen(a.id, a.room, a.window,
                                                      { opensAtUs: a.opens_at, closesAtUs: a.closes_at, durationMs: a.duration_ms });
    case 'action': return codec.encodeAction(a.id, a.room, a.window, a.ts, a.data, a.action_id);
    default: throw new Error('vector names an unknown method ' + method);
  }
}

// The typed views, turned back into wire names to compare with the vectors.
const views = {
  connect: (r) => {
    const c = codec.decodeConnectResult(r);
    const l = c.limits;
    return { session: c.session, user: c.user, server_time_us: c.serverTimeUs, version: c.version, protocol: c.protocol,
             limits: { max_frame_bytes: l.maxFrameBytes, max_batch: l.maxBatch, max_rooms: l.maxRooms,
                       max_data_bytes: l.maxDataBytes, publish_rate_per_s: l.publishRatePerS, publish_burst: l.publishBurst,
                       outgoing_buffer_bytes: l.outgoingBufferBytes, idle_timeout_ms: l.idleTimeoutMs } };
  },
  subscribe: (r) => {
    const s = codec.decodeSubscribeResult(r);
    const v = { room: s.room, epoch: s.epoch, offset: s.offset, reason: s.reason, replayed: s.replayed };
    if (s.recovered !== undefined) v.recovered = s.recovered;
    return v;
  },
  publish: (r) => {
    const a = codec.decodePublishAck(r);
    return { room: a.room, epoch: a.epoch, offset: a.offset, ts: a.ts, duplicate: a.duplicate };
  },
  presence: (r) => codec.decodePresenceResult(r),
  ping: (r) => ({ server_time_us: codec.decodePingResult(r) }),
  time: (r) => codec.decodeTimeResult(r),
  window_open: (r) => {
    const w = codec.decodeWindowInfo(r);
    return { room: w.room, window: w.window, opens_at: w.opensAt, closes_at: w.closesAt, settles_at: w.settlesAt };
  },
  action: (r) => {
    const d = codec.decodeActionDecision(r);
    const v = { room: d.room, window: d.window, action_id: d.actionId, accepted: d.accepted, reason: d.reason,
                duplicate: d.duplicate, stamp: d.stamp, received: d.received };
    if (d.gapUs !== undefined) v.gap = d.gapUs;
    if (d.expectedGapUs !== undefined) v.expected_gap = d.expectedGapUs;
    return v;
  },
};

test('the protocol vectors are there', () => {
  assert.ok(commands.length >= 15 && incoming.length >= 30, `${commands.length} commands, ${incoming.length} lines`);
});

for (const c of commands) {
  test(`encodes ${c.method}: ${c.name}`, () => {
    const text = encode(c.method, c.args);
    assert.ok(!text.includes('\n'), 'one line');
    assert.deepStrictEqual(JSON.parse(text), c.expect);
  });
}

for (const c of incoming) {
  test(`decodes: ${c.name}`, () => {
    const x = c.expect;
    const got = codec.decodeLine(c.line);
    switch (x.kind) {
      case 'pub': {
        assert.equal(got.kind, 'pub', got.problem);
        const p = got.pub;
        const v = { room: p.room, epoch: p.epoch, offset: p.offset, ts: p.ts, data: p.data };
        if (p.atUs !== undefined) v.at = p.atUs;
        if (p.mediaTsUs !== undefined) v.media_ts = p.mediaTsUs;
        assert.deepStrictEqual(v, x.pub);
        assert.equal(p.lateUs, 0);
        break;
      }
      case 'join':
      case 'leave':
        assert.equal(got.kind, x.kind);
        assert.equal(got.room, x.room);
        assert.deepStrictEqual(got.client, x.client);
        break;
      case 'disconnect':
        assert.equal(got.kind, 'disconnect');
        assert.deepStrictEqual(got.disconnect, { code: x.code, reason: x.reason });
        break;
      case 'unknown_push':
      case 'invalid':
        assert.equal(got.kind, x.kind);
        break;
      case 'error':
        assert.equal(got.kind, 'reply');
        assert.equal(got.id, x.id);
        assert.ok(got.error instanceof TuttiError);
        assert.equal(got.error.code, x.code);
        assert.equal(got.error.message, x.message);
        break;
      case 'result': {
        assert.equal(got.kind, 'reply');
        assert.equal(got.id, x.id);
        assert.equal(got.error, undefined);
        const view = views[x.decode];
        assert.ok(view, 'unknown view ' + x.decode);
        if (x.malformed) {
          assert.throws(() => view(got.result), (e) => e instanceof TuttiError && e.code === 1000);
        } else {
          assert.deepStrictEqual(view(got.result), x.value);
        }
        break;
      }
      default:
        assert.fail('vector names an unknown kind ' + x.kind);
    }
  });
}

test('splitLines skips empty lines and joinLines joins with newlines', () => {
  assert.deepEqual(codec.splitLines('{"a":1}\n\n{"b":2}\n'), ['{"a":1}', '{"b":2}']);
  assert.deepEqual(codec.splitLines(''), []);
  assert.deepEqual(codec.splitLines('\n\n'), []);
  assert.equal(codec.joinLines(['{}', '[]']), '{}\n[]');
});

test('classify delivers the next offset, drops duplicates and flags gaps and new epochs', () => {
  const last = { epoch: 'e1', offset: 10 };
  assert.equal(codec.classify(last, 'e1', 11), codec.Verdict.Deliver);
  assert.equal(codec.classify(last, 'e1', 10), codec.Verdict.Duplicate);
  assert.equal(codec.classify(last, 'e1', 3), codec.Verdict.Duplicate);
  assert.equal(codec.classify(last, 'e1', 12), codec.Verdict.Gap);
  assert.equal(codec.classify(last, 'e2', 11), codec.Verdict.Gap);
});
