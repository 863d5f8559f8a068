// The JavaScript client of docs/protocol.md, mirroring the C++ SDK
// (sdk/cpp/include/tutti/sdk/client.h, sdk/cpp/src/client.cc) one to one:
// one WebSocket connection kept alive across failures, rooms that survive
// reconnects without gap or duplicate, a synced clock, scheduled delivery and
// fair-window actions.
//
// Thread. Everything runs on the JavaScript event loop; callbacks (handlers,
// listeners) run on it too and may call the Client.
//
// Reconnects. When the connection drops the client reconnects with
// exponential backoff and jitter (Backoff) unless the close code says not to
// (4002, 4003, 4009; 4004 only with a tokenProvider). After each reconnect it
// resubscribes every room with `recover` from the last publication delivered
// and resends the publishes (and actions, window opens) not yet acknowledged:
// publishes carry a client_msg_id (SDK-generated unless given) and actions an
// action_id, so the server recognises a resend and answers with its first
// ack / decision instead of acting twice.
//
// Delivery. Per room, publications reach onPublication exactly once and in
// offset order: duplicates (offset <= last) are dropped; a jump (offset >
// last + 1, or a new epoch) triggers a recovery (unsubscribe + subscribe with
// `recover`) whose outcome is reported through onSubscribed.
//
// Clock sync. While connected the client exchanges `time` commands (a burst
// after each connect, then a settling cadence until 30 s after the first
// connect, then a steady one) and feeds a ClockEstimator kept across
// reconnects; serverNow() reads the server's clock with an honest
// uncertainty. Each `time` carries the current estimate as telemetry.
//
// Scheduled delivery. A publication with `at` is held until serverNow()
// reaches it: a timer wakes deliverySpinUs before, then the loop yields
// (setImmediate / MessageChannel) until the instant, so the callback runs
// within a fraction of a millisecond of `at` while other events still flow.
// Offset order holds: a publication never overtakes an earlier held one.
//
// Time values are integers in microseconds held in Numbers (UTC us < 2^53).

import { Backoff } from './backoff.js';
import { ClockEstimator } from './clock_estimator.js';
import * as codec from './codec.js';
import { Close, ErrorCode, TuttiError, kDisconnected, kInvalidArgument, kTimeout, shouldReconnect } from './errors.js';

const kSweepPeriodMs = 20;
// A hold timer never sleeps longer: the estimate may move meanwhile.
const kMaxHoldWaitUs = 50_000;
// The last microseconds before `at` are spent spinning, not yielding.
const kSpinUs = 100;
// A precise wait that overruns this (the estimate jumped, the page slept) gives up and re-arms.
const kMaxPreciseWaitMs = 20;
const kMaxTimeInFlight = 64;

const monoMs = () => performance.now();

// Default client clock: UTC microseconds with sub-millisecond resolution.
export function defaultClockUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function randomHex(n) {
  let s = '';
  const c = globalThis.crypto;
  if (c && c.getRandomValues) {
    const b = new Uint8Array(Math.ceil(n / 2));
    c.getRandomValues(b);
    for (const x of b) s += x.toString(16).padStart(2, '0');
    return s.slice(0, n);
  }
  for (let i = 0; i < n; ++i) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

// Yields to the event loop and calls fn as soon as possible (not clamped like setTimeout(0)).
const yieldThen = (() => {
  if (typeof setImmediate === 'function') return (fn) => setImmediate(fn);
  if (typeof MessageChannel === 'function') {
    const ch = new MessageChannel();
    const queue = [];
    ch.port1.onmessage = () => { const fn = queue.shift(); if (fn) fn(); };
    return (fn) => { queue.push(fn); ch.port2.postMessage(0); };
  }
  return (fn) => setTimeout(fn, 0);
})();

const DEFAULTS = {
  token: '', tokenProvider: null, name: 'tutti-js-sdk/0.1.0', clientId: '',
  backoffMinMs: 100, backoffMaxMs: 5000, reconnect: true, connectTimeoutMs: 5000, requestTimeoutMs: 5000,
  autoClientMsgId: true, clockUs: null, clockSync: true, syncBurstIntervalMs: 20, syncBurstMs: 3000,
  syncSettleIntervalMs: 50, syncSettleMs: 30000, syncIntervalMs: 500, clockEstimator: {}, deliverySpinUs: 2000,
  onState: null, onConnected: null, onError: null,
};

const STATE = Object.freeze({ Idle: 'idle', Connecting: 'connecting', Connected: 'connected',
                              ReconnectWait: 'reconnect_wait', Closed: 'closed' });
export { STATE as State };

export class Client {
  constructor(options) {
    const hasCandidates = options && Array.isArray(options.candidates) && options.candidates.length > 0;
    if (!options || (typeof options.url !== 'string' && !hasCandidates))
      throw new TuttiError(kInvalidArgument, 'options.url (or options.candidates) is required');
    this.opts_ = { ...DEFAULTS, ...options };
    if (!this.opts_.clientId) this.opts_.clientId = randomHex(16);
    this.WS_ = options.WebSocket ?? globalThis.WebSocket;
    this.clock_ = this.opts_.clockUs ?? defaultClockUs;
    this.estimator_ = new ClockEstimator(this.opts_.clockEstimator);
    this.backoff_ = new Backoff(this.opts_.backoffMinMs, this.opts_.backoffMaxMs);
    this.listeners_ = { state: new Set(), connected: new Set(), error: new Set() };
    // The URL of the current or next attempt; with candidates, the nearest (probeCandidates_).
    this.url_ = hasCandidates ? null : this.opts_.url;
    const urls = hasCandidates ? this.opts_.candidates : [this.opts_.url];
    if (!urls.every((u) => /^wss?:\/\/[^/]+/.test(u))) this.urlError_ = 'url must start with ws:// or wss://';
    else if (typeof this.WS_ !== 'function') this.urlError_ = 'no WebSocket: pass options.WebSocket (e.g. from the ws package)';

    this.state_ = STATE.Idle;
    this.conn_ = null;
    this.started_ = false;
    this.closing_ = false;
    this.nextReqId_ = 1;
    this.nextOpSeq_ = 1;
    this.nextMsgId_ = 1;
    this.nextActionId_ = 1;
    this.ops_ = new Map();       // seq -> op, in call order (Map keeps insertion order)
    this.subs_ = new Map();      // room -> sub
    this.inflight_ = new Map();  // request id -> {kind, opSeq, room}, current connection
    this.timeT0_ = new Map();    // request id of a `time` -> t0 (0 until sent)
    this.connectWaiters_ = [];
    this.stateWaiters_ = [];
    this.connectError_ = null;
    this.limits_ = codec.defaultLimits();
    this.info_ = null;
    this.lastClose_ = { code: 0, reason: '' };
    this.positions_ = new Map();
    this.syncBurstUntil_ = 0;
    this.syncSettleUntil_ = null;
    this.timers_ = { reconnect: null, sweep: null, sync: null, hold: null };
    this.holdGen_ = 0;
    this.clockStats_ = { requests: 0, replies: 0, refused: 0, lastRttUs: 0 };
    this.counters_ = { connects: 0, reconnects: 0, gapsDetected: 0, recoveriesOk: 0, recoveriesFailed: 0,
                       publicationsReceived: 0, duplicatesDropped: 0, publishesResent: 0, actionsResent: 0,
                       scheduledOnTime: 0, scheduledLate: 0 };
  }

  // ---------------------------------------------------------------- public

  connect() {
    if (this.closing_) return Promise.reject(this.closedError_());
    if (this.state_ === STATE.Connected && this.info_) return Promise.resolve(this.info_);
    return new Promise((resolve, reject) => {
      this.connectWaiters_.push({ resolve, reject, deadline: monoMs() + this.opts_.connectTimeoutMs });
      this.startIfIdle_();
    });
  }

  subscribe(room, handlers = {}, options = {}) {
    if (this.closing_) return Promise.reject(this.closedError_());
    if (this.subs_.has(room)) return Promise.reject(new TuttiError(ErrorCode.AlreadySubscribed, 'already subscribed to ' + room));
    return new Promise((resolve, reject) => {
      const s = {
        handlers, presence: !!options.presence, holdUntilAt: options.holdUntilAt !== false, held: [],
        pos: options.recover ? { epoch: options.recover.epoch, offset: options.recover.offset } : null,
        phase: 'waiting', reqId: 0, sentRecover: false,
        first: { resolve, reject }, firstDeadline: monoMs() + this.opts_.requestTimeoutMs,
      };
      this.subs_.set(room, s);
      this.startIfIdle_();
      if (this.connected_()) {
        this.sendSubscribe_(room, s);
        this.flush_();
      }
    });
  }

  unsubscribe(room) {
    const s = this.subs_.get(room);
    if (!s) return Promise.reject(new TuttiError(ErrorCode.NotSubscribed, 'not subscribed to ' + room));
    if (s.first) s.first.reject(new TuttiError(ErrorCode.NotSubscribed, 'unsubscribed before the reply'));
    this.subs_.delete(room);
    this.positions_.delete(room);
    if (!this.connected_()) return Promise.resolve();
    return this.addOp_({ type: 'unsubscribe', room }).then(() => undefined);
  }

  publish(room, data, options = {}) {
    if (typeof options === 'string') options = { clientMsgId: options };
    if (options.atUs != null && options.delayMs != null)
      return Promise.reject(new TuttiError(kInvalidArgument, 'publish: give atUs or delayMs, not both'));
    let json;
    try {
      json = JSON.stringify(data === undefined ? null : data);
    } catch (e) {
      return Promise.reject(new TuttiError(kInvalidArgument, 'data is not JSON: ' + e.message));
    }
    if (json === undefined) return Promise.reject(new TuttiError(kInvalidArgument, 'data is not JSON'));
    if (this.closing_) return Promise.reject(this.closedError_());
    let clientMsgId = options.clientMsgId || '';
    if (!clientMsgId && this.opts_.autoClientMsgId) clientMsgId = `${this.opts_.clientId}-${this.nextMsgId_++}`;
    return this.addOp_({ type: 'publish', room, data: JSON.parse(json), clientMsgId, atUs: options.atUs,
                         delayMs: options.delayMs, mediaTsUs: options.mediaTsUs });
  }

  openWindow(room, windowId, spec = {}) {
    if (this.closing_) return Promise.reject(this.closedError_());
    return this.addOp_({ type: 'window_open', room, window: windowId, spec: { ...spec } });
  }

  act(room, windowId, data, options = {}) {
    // The stamp is the moment of the call.
    const stampUs = options.stampUs ?? this.serverNow().timeUs;
    let json;
    try {
      json = JSON.stringify(data === undefined ? null : data);
    } catch (e) {
      return Promise.reject(new TuttiError(kInvalidArgument, 'data is not JSON: ' + e.message));
    }
    if (this.closing_) return Promise.reject(this.closedError_());
    const actionId = options.actionId || `${this.opts_.clientId}-a${this.nextActionId_++}`;
    return this.addOp_({ type: 'action', room, window: windowId, data: JSON.parse(json), stampUs, actionId });
  }

  serverNow() {
    const c = this.clock_();
    const e = this.estimator_.estimate(c);
    if (!e.valid) return { timeUs: c, uncertaintyUs: 0, synced: false };
    return { timeUs: c + e.offsetUs, uncertaintyUs: e.uncertaintyUs, synced: true };
  }

  syncStats() {
    const e = this.estimator_.estimate(this.clock_());
    return { synced: e.valid, offsetUs: e.offsetUs, uncertaintyUs: e.uncertaintyUs, driftPpm: e.driftPpm,
             bestRttUs: e.bestRttUs, lastRttUs: this.clockStats_.lastRttUs, samples: e.samples,
             requests: this.clockStats_.requests, replies: this.clockStats_.replies,
             refused: this.clockStats_.refused, resets: this.estimator_.resets() };
  }

  presence(room) {
    if (this.closing_) return Promise.reject(this.closedError_());
    return this.addOp_({ type: 'presence', room });
  }

  ping() {
    if (this.closing_) return Promise.reject(this.closedError_());
    return this.addOp_({ type: 'ping' });
  }

  close() {
    if (this.closing_) return this.closeDone_ ?? Promise.resolve();
    this.closing_ = true;
    this.clearTimer_('reconnect');
    const c = this.conn_;
    const ci = { code: Close.Normal, reason: 'client close' };
    if (c && c.open) {
      this.closeDone_ = new Promise((resolve) => {
        const finish = () => {
          clearTimeout(guard);
          this.lastClose_ = ci;
          this.terminal_(ci, new TuttiError(kDisconnected, 'client closed'));
          resolve();
        };
        const guard = setTimeout(finish, this.opts_.connectTimeoutMs + 1000);
        c.onClosed = finish;
        try { c.ws.close(1000, 'client close'); } catch { finish(); }
      });
      return this.closeDone_;
    }
    this.terminal_(ci, new TuttiError(kDisconnected, 'client closed'));
    this.closeDone_ = Promise.resolve();
    return this.closeDone_;
  }

  state() { return this.state_; }

  waitForState(state, timeoutMs) {
    if (this.state_ === state) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { state, resolve, timer: null };
      w.timer = setTimeout(() => {
        this.stateWaiters_ = this.stateWaiters_.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.stateWaiters_.push(w);
    });
  }

  lastClose() { return { ...this.lastClose_ }; }
  connectInfo() { return this.info_; }
  position(room) {
    const p = this.positions_.get(room);
    return p ? { ...p } : null;
  }
  counters() { return { ...this.counters_ }; }
  clientId() { return this.opts_.clientId; }

  on(event, fn) {
    const set = this.listeners_[event];
    if (!set) throw new TuttiError(kInvalidArgument, 'unknown event ' + event);
    set.add(fn);
    return () => set.delete(fn);
  }

  // Test hook: drops the socket without a close handshake, as a network failure would.
  testDropConnection() {
    const c = this.conn_;
    if (!c) return;
    this.lost_(c, { code: Close.Abnormal, reason: 'dropped by testDropConnection' });
  }

  // ---------------------------------------------------------------- internals

  emit_(event, arg) {
    const direct = { state: this.opts_.onState, connected: this.opts_.onConnected, error: this.opts_.onError }[event];
    if (direct) this.safe_(direct, arg);
    for (const fn of this.listeners_[event]) this.safe_(fn, arg);
  }

  // A throwing application callback must not break the client's bookkeeping.
  safe_(fn, ...args) {
    try {
      fn(...args);
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }

  closedError_() {
    const c = this.lastClose_;
    let msg = 'client closed';
    if (c.code !== 0) msg += ` (last close ${c.code} ${c.reason})`;
    return new TuttiError(kDisconnected, msg);
  }

  setState_(state, close) {
    this.state_ = state;
    for (const w of this.stateWaiters_.filter((x) => x.state === state)) {
      clearTimeout(w.timer);
      w.resolve(true);
    }
    this.stateWaiters_ = this.stateWaiters_.filter((x) => x.state !== state);
    this.emit_('state', { state, close: close ?? { code: 0, reason: '' } });
  }

  connected_() { return this.conn_ && this.state_ === STATE.Connected ? this.conn_ : null; }

  clearTimer_(name) {
    if (this.timers_[name] !== null) {
      clearTimeout(this.timers_[name]);
      this.timers_[name] = null;
    }
  }

  startIfIdle_() {
    if (this.started_ || this.closing_) return;
    this.started_ = true;
    this.sweep_();
    this.startAttempt_();
  }

  startAttempt_() {
    if (this.closing_) return;
    if (this.urlError_) {
      const e = new TuttiError(kInvalidArgument, this.urlError_);
      this.connectError_ = e;
      return this.terminal_({ code: 0, reason: this.urlError_ }, e);
    }
    this.setState_(STATE.Connecting);
    const c = { ws: null, open: false, outq: [], flushQueued: false, deadline: monoMs() + this.opts_.connectTimeoutMs,
                disconnectPush: null, onClosed: null };
    this.conn_ = c;
    if (this.opts_.candidates && this.opts_.candidates.length > 0) {
      this.probeCandidates_().then((url) => {
        if (c !== this.conn_ || this.closing_) return;
        if (!url) return this.lost_(c, { code: Close.Abnormal, reason: 'no candidate answered' });
        this.url_ = url;
        this.openSocket_(c);
      });
      return;
    }
    this.openSocket_(c);
  }

  // The nearest candidate: GET /healthz on each at once; the first to answer
  // 200 has the lowest round trip (through the whole path). null when none
  // answers within candidateProbeMs.
  probeCandidates_() {
    const httpOf = (u) => u.replace(/^ws(s?):\/\//, 'http$1://').replace(/^(https?:\/\/[^/]+).*$/, '$1');
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timeoutMs = this.opts_.candidateProbeMs ?? 1000;
    return new Promise((resolve) => {
      let left = this.opts_.candidates.length;
      let done = false;
      const finish = (url) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (controller) controller.abort();
        resolve(url);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      for (const url of this.opts_.candidates) {
        fetch(httpOf(url) + '/healthz', { cache: 'no-store', signal: controller ? controller.signal : undefined })
          .then((r) => { if (r.ok) finish(url); else if (--left === 0) finish(null); })
          .catch(() => { if (--left === 0) finish(null); });
      }
    });
  }

  // The endpoint the client is connected to, or will try next (null before the first probe).
  get endpoint() { return this.url_; }

  openSocket_(c) {
    let ws;
    try {
      ws = new this.WS_(this.url_);
    } catch (e) {
      return this.lost_(c, { code: Close.Abnormal, reason: 'WebSocket: ' + e.message });
    }
    c.ws = ws;
    ws.onopen = () => this.onOpen_(c);
    ws.onmessage = (ev) => {
      const t3 = this.clock_();  // t3 of any `time` reply in this frame: as soon as it is read
      if (c !== this.conn_) return;
      if (typeof ev.data !== 'string') return this.emit_('error', new TuttiError(ErrorCode.BadRequest, 'binary frame from server'));
      this.onFrame_(c, ev.data, t3);
    };
    ws.onerror = () => {};  // onclose follows with the code
    ws.onclose = (ev) => {
      if (c.onClosed) return c.onClosed();
      if (c !== this.conn_) return;
      let ci;
      if (ev.code && ev.code !== Close.Abnormal) ci = { code: ev.code, reason: ev.reason || '' };
      else if (c.disconnectPush) ci = c.disconnectPush;  // the server said why, then the transport ended
      else ci = { code: Close.Abnormal, reason: ev.reason || 'connection lost' };
      this.lost_(c, ci);
    };
  }

  async onOpen_(c) {
    if (c !== this.conn_) return;
    c.open = true;
    let token = this.opts_.token;
    if (this.opts_.tokenProvider) {
      try {
        token = await this.opts_.tokenProvider();
      } catch (e) {
        if (c !== this.conn_) return;
        return this.lost_(c, { code: Close.Abnormal, reason: 'tokenProvider failed: ' + (e && e.message) });
      }
      if (c !== this.conn_) return;
    }
    const id = this.nextReqId_++;
    this.inflight_.set(id, { kind: 'connect' });
    c.outq.push({ text: codec.encodeConnect(id, token || '', this.opts_.name, this.opts_.clientId), timeId: 0 });
    this.flush_();
  }

  // Packs queued commands into frames within the server's limits, on the next microtask.
  flush_() {
    const c = this.conn_;
    if (!c || !c.open || c.flushQueued || c.outq.length === 0) return;
    c.flushQueued = true;
    queueMicrotask(() => {
      c.flushQueued = false;
      if (c !== this.conn_ || !c.open) return;
      const connected = this.state_ === STATE.Connected;
      const maxBatch = connected ? Math.max(1, this.limits_.maxBatch) : 1;
      const maxBytes = Math.max(1024, this.limits_.maxFrameBytes);
      while (c.outq.length > 0) {
        let frame = '';
        let n = 0;
        const timeIds = [];
        while (c.outq.length > 0 && n < maxBatch) {
          const cmd = c.outq[0];
          if (n > 0 && frame.length + 1 + cmd.text.length > maxBytes) break;
          if (n > 0) frame += '\n';
          frame += cmd.text;
          if (cmd.timeId) timeIds.push(cmd.timeId);
          c.outq.shift();
          ++n;
        }
        if (timeIds.length > 0) {
          const t0 = this.clock_();  // as late as possible
          for (const id of timeIds) this.timeT0_.set(id, t0);
        }
        try {
          c.ws.send(frame);
        } catch (e) {
          return this.lost_(c, { code: Close.Abnormal, reason: 'send: ' + e.message });
        }
      }
    });
  }

  onFrame_(c, frame, t3) {
    for (const line of codec.splitLines(frame)) {
      if (c !== this.conn_) return;
      const inc = codec.decodeLine(line);
      switch (inc.kind) {
        case 'reply': this.onReply_(c, inc, t3); break;
        case 'pub': this.onPub_(inc.pub); break;
        case 'join':
        case 'leave': {
          const s = this.subs_.get(inc.room);
          const h = s && (inc.kind === 'join' ? s.handlers.onJoin : s.handlers.onLeave);
          if (h) this.safe_(h, inc.client);
          break;
        }
        case 'disconnect': c.disconnectPush = inc.disconnect; break;
        case 'unknown_push': break;  // a newer server: ignore
        default:
          this.emit_('error', new TuttiError(ErrorCode.BadRequest, 'bad line from server: ' + inc.problem));
      }
    }
  }

  onReply_(c, inc, t3) {
    if (inc.id === 0) {
      if (inc.error) this.emit_('error', inc.error);
      return;
    }
    const f = this.inflight_.get(inc.id);
    if (!f) return;
    this.inflight_.delete(inc.id);
    switch (f.kind) {
      case 'connect': {
        if (inc.error) {
          // The server closes next (4003 / 4004); lost_() decides about reconnecting.
          this.connectError_ = inc.error;
          this.emit_('error', inc.error);
          this.resolveConnectWaiters_(inc.error);
          return;
        }
        let info;
        try {
          info = codec.decodeConnectResult(inc.result);
        } catch (e) {
          this.emit_('error', e);
          return this.lost_(c, { code: Close.Abnormal, reason: 'bad connect reply' });
        }
        return this.onConnected_(c, info);
      }
      case 'op': return this.onOpReply_(f.opSeq, inc);
      case 'subscribe': return this.onSubscribeReply_(f.room, inc);
      case 'internal_unsubscribe': return;
      case 'time': return this.onTimeReply_(inc, t3);
    }
  }

  onConnected_(c, info) {
    this.limits_ = info.limits;
    this.info_ = info;
    if (this.counters_.connects++ > 0) this.counters_.reconnects++;
    this.backoff_.reset();
    this.connectError_ = null;
    this.setState_(STATE.Connected);
    this.resolveConnectWaiters_(null, info);
    this.emit_('connected', info);
    if (c !== this.conn_) return;  // a callback closed or dropped it
    for (const [room, s] of this.subs_) if (s.phase === 'waiting') this.sendSubscribe_(room, s);
    for (const [seq, op] of this.ops_) if (op.reqId === 0 && !this.sendOp_(seq, op)) this.ops_.delete(seq);
    this.flush_();
    this.startSync_();
  }

  resolveConnectWaiters_(error, info) {
    const ws = this.connectWaiters_;
    this.connectWaiters_ = [];
    for (const w of ws) (error ? w.reject(error) : w.resolve(info));
  }

  // ---- clock sync

  startSync_() {
    if (!this.opts_.clockSync) return;
    const now = monoMs();
    this.syncBurstUntil_ = now + this.opts_.syncBurstMs;
    if (this.syncSettleUntil_ === null) this.syncSettleUntil_ = now + this.opts_.syncSettleMs;
    this.syncTick_();
  }

  syncTick_() {
    this.clearTimer_('sync');
    if (this.closing_ || !this.connected_()) return;
    this.sendTime_();
    const now = monoMs();
    const o = this.opts_;
    const next = now < this.syncBurstUntil_ ? o.syncBurstIntervalMs
      : now < this.syncSettleUntil_ ? o.syncSettleIntervalMs : o.syncIntervalMs;
    const c = this.conn_;
    this.timers_.sync = setTimeout(() => {
      this.timers_.sync = null;
      if (c === this.conn_) this.syncTick_();
    }, Math.max(1, next));
  }

  sendTime_() {
    if (this.timeT0_.size >= kMaxTimeInFlight) return;
    const e = this.estimator_.estimate(this.clock_());
    const tel = e.valid ? { rttUs: e.bestRttUs, offsetUs: e.offsetUs, uncertaintyUs: e.uncertaintyUs } : null;
    this.clockStats_.requests++;
    const id = this.nextReqId_++;
    this.inflight_.set(id, { kind: 'time' });
    this.timeT0_.set(id, 0);  // stamped by flush_()
    this.conn_.outq.push({ text: codec.encodeTime(id, tel), timeId: id });
    this.flush_();
  }

  onTimeReply_(inc, t3) {
    if (!this.timeT0_.has(inc.id)) return;
    const t0 = this.timeT0_.get(inc.id);
    this.timeT0_.delete(inc.id);
    if (inc.error && inc.error.code === ErrorCode.UnknownMethod) {
      this.clearTimer_('sync');  // a server without `time`: no sync on this connection
      return;
    }
    if (inc.error || t0 === 0) return;
    let r;
    try {
      r = codec.decodeTimeResult(inc.result);
    } catch {
      return;
    }
    if (this.estimator_.addSample(t0, r.t1, r.t2, t3)) {
      this.clockStats_.replies++;
      this.clockStats_.lastRttUs = (t3 - t0) - (r.t2 - r.t1);
    } else {
      this.clockStats_.refused++;
    }
    if (this.nextDue_() !== Infinity) this.armHoldTimer_();  // the estimate moved
  }

  // ---- scheduled delivery

  deliver_(s, pub) {
    this.counters_.publicationsReceived++;
    if (pub.atUs !== undefined) (pub.lateUs > 0 ? this.counters_.scheduledLate++ : this.counters_.scheduledOnTime++);
    if (s.handlers.onPublication) this.safe_(s.handlers.onPublication, pub);
  }

  deliverOrHold_(s, pub) {
    const now = this.serverNow().timeUs;
    const arrivedLate = pub.atUs !== undefined && now >= pub.atUs;
    if (!s.holdUntilAt || (s.held.length === 0 && (pub.atUs === undefined || arrivedLate))) {
      if (arrivedLate) pub.lateUs = Math.max(1, now - pub.atUs);
      return this.deliver_(s, pub);
    }
    let due = pub.atUs ?? -Infinity;
    if (s.held.length > 0) due = Math.max(due, s.held[s.held.length - 1].dueUs);
    s.held.push({ pub, dueUs: due, arrivedLate });
    this.armHoldTimer_();
  }

  nextDue_() {
    let due = Infinity;
    for (const s of this.subs_.values()) if (s.held.length > 0) due = Math.min(due, s.held[0].dueUs);
    return due;
  }

  armHoldTimer_() {
    this.clearTimer_('hold');
    const gen = ++this.holdGen_;
    const due = this.nextDue_();
    if (due === Infinity || this.closing_) return;
    const waitUs = due - this.serverNow().timeUs - this.opts_.deliverySpinUs;
    if (waitUs <= 0) {
      yieldThen(() => { if (gen === this.holdGen_) this.releaseDue_(monoMs()); });
      return;
    }
    this.timers_.hold = setTimeout(() => {
      this.timers_.hold = null;
      if (gen === this.holdGen_) this.releaseDue_(monoMs());
    }, Math.min(waitUs, kMaxHoldWaitUs) / 1000);
  }

  // The last stretch before the earliest due: yield to the loop until within
  // kSpinUs (other events keep flowing), spin the rest, release what is due.
  releaseDue_(startedMs) {
    if (this.closing_) return;
    const due = this.nextDue_();
    if (due === Infinity) return;
    let now = this.serverNow().timeUs;
    if (due - now > this.opts_.deliverySpinUs + 1000) return this.armHoldTimer_();  // early, or the estimate moved
    if (due - now > kSpinUs) {
      if (monoMs() - startedMs > kMaxPreciseWaitMs) return this.armHoldTimer_();
      const gen = ++this.holdGen_;
      yieldThen(() => { if (gen === this.holdGen_) this.releaseDue_(startedMs); });
      return;
    }
    while (now < due) now = this.serverNow().timeUs;
    for (const s of this.subs_.values()) {
      while (s.held.length > 0 && s.held[0].dueUs <= now) {
        const h = s.held.shift();
        if (h.pub.atUs !== undefined && (h.arrivedLate || h.dueUs > h.pub.atUs))
          h.pub.lateUs = Math.max(1, this.serverNow().timeUs - h.pub.atUs);
        this.deliver_(s, h.pub);
      }
    }
    this.armHoldTimer_();
  }

  // ---- rooms and calls

  sendSubscribe_(room, s) {
    const id = this.nextReqId_++;
    s.reqId = id;
    s.phase = 'subscribing';
    s.sentRecover = s.pos !== null;
    this.inflight_.set(id, { kind: 'subscribe', room });
    this.conn_.outq.push({ text: codec.encodeSubscribe(id, room, s.pos, s.presence), timeId: 0 });
  }

  addOp_(op) {
    return new Promise((resolve, reject) => {
      op.resolve = resolve;
      op.reject = reject;
      op.deadline = monoMs() + this.opts_.requestTimeoutMs;
      op.sentBefore = false;
      op.reqId = 0;
      const seq = this.nextOpSeq_++;
      this.ops_.set(seq, op);
      this.startIfIdle_();
      if (this.connected_()) {
        if (!this.sendOp_(seq, op)) this.ops_.delete(seq);
        this.flush_();
      }
    });
  }

  // Queues an op on the current connection; false if it was failed instead.
  sendOp_(seq, op) {
    const id = this.nextReqId_++;
    let text;
    switch (op.type) {
      case 'publish':
        text = codec.encodePublish(id, op.room, op.data, op.clientMsgId,
                                   { atUs: op.atUs, delayMs: op.delayMs, mediaTsUs: op.mediaTsUs });
        break;
      case 'presence': text = codec.encodePresence(id, op.room); break;
      case 'ping': text = codec.encodePing(id); break;
      case 'unsubscribe': text = codec.encodeUnsubscribe(id, op.room); break;
      case 'window_open': text = codec.encodeWindowOpen(id, op.room, op.window, op.spec); break;
      case 'action': text = codec.encodeAction(id, op.room, op.window, op.stampUs, op.data, op.actionId); break;
      default: throw new Error('unknown op ' + op.type);
    }
    // UTF-8 length: the server counts bytes.
    const bytes = typeof TextEncoder === 'function' ? new TextEncoder().encode(text).length : text.length;
    if (bytes > this.limits_.maxFrameBytes) {
      // The server would close the socket (1009) and a resend would loop.
      op.reject(new TuttiError(kInvalidArgument, `command of ${bytes} bytes is above max_frame_bytes`));
      return false;
    }
    if (op.sentBefore && op.type === 'publish') this.counters_.publishesResent++;
    if (op.sentBefore && (op.type === 'action' || op.type === 'window_open')) this.counters_.actionsResent++;
    op.sentBefore = true;
    op.reqId = id;
    this.inflight_.set(id, { kind: 'op', opSeq: seq });
    this.conn_.outq.push({ text, timeId: 0 });
    return true;
  }

  onOpReply_(seq, inc) {
    const op = this.ops_.get(seq);
    if (!op || op.reqId !== inc.id) return;  // timed out meanwhile
    this.ops_.delete(seq);
    if (inc.error) return op.reject(inc.error);
    try {
      switch (op.type) {
        case 'publish': return op.resolve(codec.decodePublishAck(inc.result));
        case 'presence': return op.resolve(codec.decodePresenceResult(inc.result));
        case 'ping': return op.resolve(codec.decodePingResult(inc.result));
        case 'unsubscribe': return op.resolve();
        case 'window_open': return op.resolve(codec.decodeWindowInfo(inc.result));
        case 'action': return op.resolve(codec.decodeActionDecision(inc.result));
      }
    } catch (e) {
      op.reject(e);
    }
  }

  onSubscribeReply_(room, inc) {
    const s = this.subs_.get(room);
    if (!s || s.reqId !== inc.id) return;  // unsubscribed meanwhile
    let res, err = inc.error;
    if (!err) {
      try {
        res = codec.decodeSubscribeResult(inc.result);
      } catch (e) {
        err = e;
      }
    }
    if (err) {
      // Refused (or nonsense): the room is dropped from this client.
      this.subs_.delete(room);
      this.positions_.delete(room);
      if (s.handlers.onError) this.safe_(s.handlers.onError, err);
      if (s.first) s.first.reject(err);
      return;
    }
    if (s.sentRecover) {
      if (res.recovered === undefined) {
        res.recovered = false;  // a server that ignores `recover`
        if (!res.reason) res.reason = 'not_supported';
      }
      if (res.recovered) {
        this.counters_.recoveriesOk++;
        s.pos.epoch = res.epoch;  // the replay continues at pos.offset + 1
      } else {
        this.counters_.recoveriesFailed++;
        s.pos = { epoch: res.epoch, offset: res.offset };
      }
    } else {
      s.pos = { epoch: res.epoch, offset: res.offset };
    }
    s.phase = 'live';
    this.positions_.set(room, { ...s.pos });
    const first = s.first;
    s.first = null;
    if (s.handlers.onSubscribed) this.safe_(s.handlers.onSubscribed, res);
    if (first) first.resolve(res);
  }

  onPub_(pub) {
    const s = this.subs_.get(pub.room);
    if (!s) return;
    // While (re)subscribing, publications of the old subscription are dropped:
    // the recovery replays them from s.pos.
    if (s.phase !== 'live' || !s.pos) return;
    switch (codec.classify(s.pos, pub.epoch, pub.offset)) {
      case codec.Verdict.Deliver:
        s.pos.offset = pub.offset;
        this.positions_.set(pub.room, { ...s.pos });
        this.deliverOrHold_(s, pub);
        break;
      case codec.Verdict.Duplicate:
        this.counters_.duplicatesDropped++;
        break;
      case codec.Verdict.Gap:
        this.counters_.gapsDetected++;
        if (this.connected_()) {
          const id = this.nextReqId_++;
          this.inflight_.set(id, { kind: 'internal_unsubscribe', room: pub.room });
          this.conn_.outq.push({ text: codec.encodeUnsubscribe(id, pub.room), timeId: 0 });
          this.sendSubscribe_(pub.room, s);
          this.flush_();
        }
        break;
    }
  }

  // The connection `c` ended (or an attempt failed): decide what comes next.
  lost_(c, ci) {
    if (c !== this.conn_) return;
    this.conn_ = null;
    if (c.ws) {
      c.ws.onopen = c.ws.onmessage = c.ws.onclose = null;
      c.ws.onerror = () => {};
      try {
        if (typeof c.ws.terminate === 'function') c.ws.terminate();  // Node's ws: drop at once
        else c.ws.close();
      } catch { /* already closed */ }
    }
    if (c.open) this.lastClose_ = { ...ci };
    this.inflight_.clear();
    this.timeT0_.clear();
    this.clearTimer_('sync');
    for (const [seq, op] of this.ops_) {
      if (op.type === 'unsubscribe') {
        op.resolve();
        this.ops_.delete(seq);
      } else {
        op.reqId = 0;
      }
    }
    for (const s of this.subs_.values()) {
      s.phase = 'waiting';
      s.reqId = 0;
    }
    if (this.closing_) return this.terminal_(ci, this.closedError_());
    let retry = this.opts_.reconnect;
    if (c.open && !shouldReconnect(ci.code)) retry = false;
    if (ci.code === Close.TokenExpired && !this.opts_.tokenProvider) retry = false;
    if (!retry) return this.terminal_(ci, this.connectError_ ?? this.closedError_());
    this.setState_(STATE.ReconnectWait, ci);
    this.clearTimer_('reconnect');
    this.timers_.reconnect = setTimeout(() => {
      this.timers_.reconnect = null;
      if (!this.closing_) this.startAttempt_();
    }, this.backoff_.nextDelayMs());
  }

  // Closed for good: everything pending fails with `e`.
  terminal_(ci, e) {
    this.closing_ = true;
    for (const name of Object.keys(this.timers_)) this.clearTimer_(name);
    ++this.holdGen_;
    const c = this.conn_;
    this.conn_ = null;
    if (c && c.ws) {
      c.ws.onopen = c.ws.onmessage = c.ws.onclose = null;
      try { c.ws.close(); } catch { /* ignore */ }
    }
    if (this.state_ !== STATE.Closed) this.setState_(STATE.Closed, ci);
    this.resolveConnectWaiters_(e);
    for (const op of this.ops_.values()) op.reject(e);
    this.ops_.clear();
    for (const s of this.subs_.values()) if (s.first) s.first.reject(e);
    this.subs_.clear();
    this.inflight_.clear();
    this.timeT0_.clear();
    for (const w of this.stateWaiters_) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.stateWaiters_ = [];
  }

  sweep_() {
    this.timers_.sweep = null;
    const now = monoMs();
    for (const [seq, op] of this.ops_) {
      if (op.deadline <= now) {
        this.ops_.delete(seq);  // a late reply finds no op and is ignored
        op.reject(new TuttiError(kTimeout, `no reply within ${this.opts_.requestTimeoutMs} ms`));
      }
    }
    for (const s of this.subs_.values()) {
      if (s.first && s.firstDeadline <= now) {
        s.first.reject(new TuttiError(kTimeout, 'no subscribe reply yet (still trying)'));
        s.first = null;
      }
    }
    const keep = [];
    for (const w of this.connectWaiters_) {
      if (w.deadline <= now) w.reject(new TuttiError(kTimeout, 'not connected yet (still trying)'));
      else keep.push(w);
    }
    this.connectWaiters_ = keep;
    if (this.conn_ && this.state_ === STATE.Connecting && this.conn_.deadline <= now)
      this.lost_(this.conn_, { code: Close.Abnormal, reason: 'connect timeout' });
    if (this.closing_) return;
    this.timers_.sweep = setTimeout(() => this.sweep_(), kSweepPeriodMs);
  }
}
