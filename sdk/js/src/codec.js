// The SDK's side of docs/protocol.md: encodes commands, decodes replies and
// pushes. Pure functions on strings, mirroring sdk/cpp/src/codec.cc; the
// shared vectors in test/vectors/protocol pin both down.
//
// Numbers. Times and offsets are integers (microseconds, counts) held in
// Numbers: exact below 2^53, which UTC microseconds are by far.

import { ErrorCode, TuttiError } from './errors.js';

// --- framing: a frame holds one or more JSON texts separated by '\n'.

export function splitLines(frame) {
  return frame.split('\n').filter((l) => l.length > 0);
}

export function joinLines(lines) { return lines.join('\n'); }

// --- commands. `id` 0 means "no reply wanted" (the field is left out).

function command(id, method, params) {
  const o = {};
  if (id) o.id = id;
  o.method = method;
  if (params && Object.keys(params).length > 0) o.params = params;
  return JSON.stringify(o);
}

const isSet = (v) => v !== undefined && v !== null;

export function encodeConnect(id, token, name, client) {
  const p = {};
  if (token) p.token = token;
  if (name) p.name = name;
  if (client) p.client = client;
  return command(id, 'connect', p);
}

export function encodeSubscribe(id, room, recover, presence) {
  const p = { room };
  if (recover) p.recover = { epoch: recover.epoch, offset: recover.offset };
  if (presence) p.presence = true;
  return command(id, 'subscribe', p);
}

export function encodeUnsubscribe(id, room) { return command(id, 'unsubscribe', { room }); }

// `data`: any JSON value (undefined is sent as null). `opts`: {atUs, delayMs, mediaTsUs}.
export function encodePublish(id, room, data, clientMsgId, opts = {}) {
  const p = { room, data: data === undefined ? null : data };
  if (clientMsgId) p.client_msg_id = clientMsgId;
  if (isSet(opts.atUs)) p.at = opts.atUs;
  if (isSet(opts.delayMs)) p.delay_ms = opts.delayMs;
  if (isSet(opts.mediaTsUs)) p.media_ts = opts.mediaTsUs;
  return command(id, 'publish', p);
}

export function encodePresence(id, room) { return command(id, 'presence', { room }); }
export function encodePing(id) { return command(id, 'ping', {}); }

// `telemetry`: {rttUs, offsetUs, uncertaintyUs} or null (no valid estimate yet: no params).
export function encodeTime(id, telemetry) {
  const p = {};
  if (telemetry) {
    p.rtt_us = telemetry.rttUs;
    p.offset_us = telemetry.offsetUs;
    p.uncertainty_us = telemetry.uncertaintyUs;
  }
  return command(id, 'time', p);
}

export function encodeWindowOpen(id, room, window, spec = {}) {
  const p = { room, window };
  if (isSet(spec.opensAtUs)) p.opens_at = spec.opensAtUs;
  if (isSet(spec.closesAtUs)) p.closes_at = spec.closesAtUs;
  if (isSet(spec.durationMs)) p.duration_ms = spec.durationMs;
  return command(id, 'window_open', p);
}

export function encodeAction(id, room, window, stampUs, data, actionId) {
  return command(id, 'action', { room, window, ts: stampUs, data: data === undefined ? null : data, action_id: actionId });
}

// --- incoming. Field readers: absent = default, wrong type = bad.

class Reader {
  constructor(o) { this.o = o; this.bad = false; }
  has(k) { return Object.prototype.hasOwnProperty.call(this.o, k); }
  str(k) {
    const v = this.o[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') { this.bad = true; return ''; }
    return v;
  }
  i64(k) {
    const v = this.o[k];
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isFinite(v)) { this.bad = true; return 0; }
    return Math.trunc(v);
  }
  u64(k) {
    const v = this.o[k];
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) { this.bad = true; return 0; }
    return v;
  }
  num(k, dflt) {
    const v = this.o[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number') { this.bad = true; return dflt; }
    return v;
  }
  bool(k) {
    const v = this.o[k];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') { this.bad = true; return false; }
    return v;
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const malformed = (what) => new TuttiError(ErrorCode.BadRequest, `malformed ${what} from server`);

function presenceClient(r) {
  return { session: r.str('session'), user: r.str('user'), client: r.str('client') };
}

// One line from the server. Returns
//   {kind: 'reply', id, error?: TuttiError, result?}   (error replies carry `error`)
//   {kind: 'pub', pub}            {kind: 'join' | 'leave', room, client}
//   {kind: 'disconnect', disconnect: {code, reason}}
//   {kind: 'unknown_push'}        a push this SDK does not know: ignore it
//   {kind: 'invalid', problem}    not JSON, not an object, or a field of the wrong type
export function decodeLine(line) {
  let v;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return { kind: 'invalid', problem: 'not JSON: ' + e.message };
  }
  if (!isObject(v)) return { kind: 'invalid', problem: 'not an object' };
  const r = new Reader(v);
  if (r.has('push')) {
    if (typeof v.push !== 'string') return { kind: 'invalid', problem: 'push is not a string' };
    switch (v.push) {
      case 'pub': {
        const pub = { room: r.str('room'), epoch: r.str('epoch'), offset: r.u64('offset'), ts: r.i64('ts'),
                      data: v.data === undefined ? null : v.data, lateUs: 0 };
        if (isSet(v.at)) pub.atUs = r.i64('at');
        if (isSet(v.media_ts)) pub.mediaTsUs = r.i64('media_ts');
        if (r.bad || pub.room === '' || !r.has('offset')) return { kind: 'invalid', problem: 'bad pub' };
        return { kind: 'pub', pub };
      }
      case 'join':
      case 'leave': {
        const room = r.str('room');
        if (r.bad || !isObject(v.client)) return { kind: 'invalid', problem: 'bad presence push' };
        const cr = new Reader(v.client);
        const client = presenceClient(cr);
        if (cr.bad) return { kind: 'invalid', problem: 'bad presence push' };
        return { kind: v.push, room, client };
      }
      case 'disconnect': {
        const disconnect = { code: r.i64('code'), reason: r.str('reason') };
        if (r.bad) return { kind: 'invalid', problem: 'bad disconnect push' };
        return { kind: 'disconnect', disconnect };
      }
      default:
        return { kind: 'unknown_push' };
    }
  }
  const id = r.u64('id');
  if (r.bad) return { kind: 'invalid', problem: 'bad id' };
  if (r.has('error')) {
    if (!isObject(v.error)) return { kind: 'invalid', problem: 'error is not an object' };
    const er = new Reader(v.error);
    const code = er.i64('code');
    const message = er.str('message');
    if (er.bad) return { kind: 'invalid', problem: 'bad error object' };
    return { kind: 'reply', id, error: new TuttiError(code, message) };
  }
  if (r.has('result')) return { kind: 'reply', id, result: v.result };
  return { kind: 'invalid', problem: 'neither push, result nor error' };
}

// --- typed views of a successful reply's result. Throw TuttiError(1000) when malformed.

const kLimitDefaults = {
  maxFrameBytes: 65536, maxBatch: 100, maxRooms: 128, maxDataBytes: 60000, publishRatePerS: 100,
  publishBurst: 200, outgoingBufferBytes: 1048576, idleTimeoutMs: 30000,
};

export function defaultLimits() { return { ...kLimitDefaults }; }

export function decodeConnectResult(result) {
  if (!isObject(result)) throw malformed('connect result');
  const r = new Reader(result);
  const c = { session: r.str('session'), user: r.str('user'), serverTimeUs: r.i64('server_time_us'),
              version: r.str('version'), protocol: r.i64('protocol'), limits: defaultLimits() };
  if (isObject(result.limits)) {
    const l = new Reader(result.limits);
    const intOr = (k, d) => (l.has(k) ? l.i64(k) : d);
    const d = kLimitDefaults;
    c.limits = {
      maxFrameBytes: intOr('max_frame_bytes', d.maxFrameBytes), maxBatch: intOr('max_batch', d.maxBatch),
      maxRooms: intOr('max_rooms', d.maxRooms), maxDataBytes: intOr('max_data_bytes', d.maxDataBytes),
      publishRatePerS: l.num('publish_rate_per_s', d.publishRatePerS), publishBurst: l.num('publish_burst', d.publishBurst),
      outgoingBufferBytes: intOr('outgoing_buffer_bytes', d.outgoingBufferBytes),
      idleTimeoutMs: intOr('idle_timeout_ms', d.idleTimeoutMs),
    };
    if (l.bad) throw malformed('connect result');
  }
  if (r.bad) throw malformed('connect result');
  return c;
}

export function decodeSubscribeResult(result) {
  if (!isObject(result)) throw malformed('subscribe result');
  const r = new Reader(result);
  const s = { room: r.str('room'), epoch: r.str('epoch'), offset: r.u64('offset'), reason: r.str('reason'),
              replayed: r.u64('replayed') };
  if (r.has('recovered')) s.recovered = r.bool('recovered');
  if (r.bad) throw malformed('subscribe result');
  return s;
}

export function decodePublishAck(result) {
  if (!isObject(result)) throw malformed('publish ack');
  const r = new Reader(result);
  const a = { room: r.str('room'), epoch: r.str('epoch'), offset: r.u64('offset'), ts: r.i64('ts'),
              duplicate: r.bool('duplicate') };
  if (r.bad) throw malformed('publish ack');
  return a;
}

export function decodePresenceResult(result) {
  if (!isObject(result)) throw malformed('presence result');
  const r = new Reader(result);
  const p = { room: r.str('room'), clients: [] };
  if (r.has('clients')) {
    if (!Array.isArray(result.clients)) throw malformed('presence result');
    for (const c of result.clients) {
      if (!isObject(c)) throw malformed('presence result');
      const cr = new Reader(c);
      p.clients.push(presenceClient(cr));
      if (cr.bad) throw malformed('presence result');
    }
  }
  if (r.bad) throw malformed('presence result');
  return p;
}

export function decodePingResult(result) {
  if (!isObject(result)) throw malformed('ping result');
  const r = new Reader(result);
  const t = r.i64('server_time_us');
  if (r.bad) throw malformed('ping result');
  return t;
}

// {t1, t2}: both required.
export function decodeTimeResult(result) {
  if (!isObject(result)) throw malformed('time result');
  const r = new Reader(result);
  const t = { t1: r.i64('t1'), t2: r.i64('t2') };
  if (r.bad || !r.has('t1') || !r.has('t2')) throw malformed('time result');
  return t;
}

export function decodeWindowInfo(result) {
  if (!isObject(result)) throw malformed('window_open result');
  const r = new Reader(result);
  const w = { room: r.str('room'), window: r.str('window'), opensAt: r.i64('opens_at'),
              closesAt: r.i64('closes_at'), settlesAt: r.i64('settles_at') };
  if (r.bad) throw malformed('window_open result');
  return w;
}

// `decision` is required ("accepted" or "refused"); duplicate is set by
// `"duplicate": true` or by reason "duplicate".
export function decodeActionDecision(result) {
  if (!isObject(result)) throw malformed('action result');
  const r = new Reader(result);
  const decision = r.str('decision');
  const d = { room: r.str('room'), window: r.str('window'), actionId: r.str('action_id'),
              accepted: decision === 'accepted', reason: r.str('reason'), duplicate: false,
              stamp: r.i64('stamp'), received: r.i64('received') };
  d.duplicate = r.bool('duplicate') || d.reason === 'duplicate';
  if (r.has('gap')) d.gapUs = r.i64('gap');
  if (r.has('expected_gap')) d.expectedGapUs = r.i64('expected_gap');
  if (r.bad || (decision !== 'accepted' && decision !== 'refused')) throw malformed('action result');
  return d;
}

// --- stream bookkeeping: what to do with a publication given the last
// position delivered in its room.
export const Verdict = Object.freeze({ Deliver: 'deliver', Duplicate: 'duplicate', Gap: 'gap' });

export function classify(last, epoch, offset) {
  if (epoch !== last.epoch) return Verdict.Gap;
  if (offset <= last.offset) return Verdict.Duplicate;
  if (offset === last.offset + 1) return Verdict.Deliver;
  return Verdict.Gap;
}
