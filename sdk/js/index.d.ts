// Types of the Tutti JavaScript SDK (ES module "tutti-sdk", sdk/js).
// Hand-written; mirrors the C++ SDK (sdk/cpp/include/tutti/sdk/*.h) one to one,
// with camelCase names. The wire protocol is docs/protocol.md.
//
// Time. Every time value is an integer number of MICROSECONDS, as on the
// wire, held in a plain JavaScript Number: UTC microseconds (~1.8e15 today)
// stay far below 2^53, so they are exact. Fields ending in `Us` are
// microseconds, `Ms` milliseconds. Server times (ts, at, stamp, ...) are UTC
// microseconds of the server's clock; read it with Client.serverNow().
//
// Callbacks run on the JavaScript event loop; they may call the Client.

// ---------------------------------------------------------------- errors

/** SDK-side error codes, outside the server's ranges (100, 1000-1399). */
export declare const kTimeout: 9001;
export declare const kDisconnected: 9002;
export declare const kInvalidArgument: 9003;

/** Error codes of docs/protocol.md plus the SDK's own, by name. */
export declare const ErrorCode: Readonly<{
  Internal: 100; BadRequest: 1000; UnknownMethod: 1001; InvalidParams: 1002;
  NotConnected: 1004; AlreadyConnected: 1005; BatchTooLarge: 1006;
  TokenMalformed: 1101; TokenAlgNone: 1102; TokenWrongAlg: 1103; TokenBadSignature: 1104;
  TokenExpired: 1105; TokenNotYetValid: 1106; AnonymousRefused: 1107; PermissionDenied: 1108;
  TokenMissingClaim: 1109;
  NotSubscribed: 1201; AlreadySubscribed: 1202; TooManyRooms: 1203; PublishNotAllowed: 1204;
  RateLimited: 1205; BadRoomName: 1206; PresenceOff: 1207; DataTooLarge: 1208;
  WindowExists: 1301; BadWindowTimes: 1302;
  Timeout: 9001; Disconnected: 9002; InvalidArgument: 9003;
}>;

/** Every rejected promise of the SDK rejects with a TuttiError. */
export declare class TuttiError extends Error {
  constructor(code: number, message: string);
  /** The server's error code (docs/protocol.md) or one of kTimeout/kDisconnected/kInvalidArgument. */
  readonly code: number;
}

// ---------------------------------------------------------------- values

export type State = 'idle' | 'connecting' | 'connected' | 'reconnect_wait' | 'closed';
/** The State values by name. */
export declare const State: Readonly<{ Idle: 'idle'; Connecting: 'connecting'; Connected: 'connected';
  ReconnectWait: 'reconnect_wait'; Closed: 'closed' }>;

/** WebSocket close codes of docs/protocol.md by name. */
export declare const Close: Readonly<{ Normal: 1000; NoStatus: 1005; Abnormal: 1006; MessageTooBig: 1009;
  Shutdown: 4001; ProtocolError: 4002; BadToken: 4003; TokenExpired: 4004; SlowConsumer: 4005;
  LimitExceeded: 4006; ConnectTimeout: 4008; Kicked: 4009 }>;
/** Whether the SDK reconnects after this close code (not after 4002, 4003, 4009). */
export declare function shouldReconnect(closeCode: number): boolean;
/** The default client clock: UTC microseconds (performance.timeOrigin + performance.now()). */
export declare function defaultClockUs(): number;
/** The wire codec (encodeX / decodeX functions of docs/protocol.md); internal, exported for tests and tools. */
export declare const codec: any;

/** Why a connection ended: the WebSocket close code and reason (1006: no close frame). */
export interface CloseInfo { code: number; reason: string; }
export interface StateChange { state: State; close: CloseInfo; }

/** A position in a room's stream: the last publication seen. */
export interface Position { epoch: string; offset: number; }

export interface Limits {
  maxFrameBytes: number; maxBatch: number; maxRooms: number; maxDataBytes: number;
  publishRatePerS: number; publishBurst: number; outgoingBufferBytes: number; idleTimeoutMs: number;
}

/** The connect reply. */
export interface ConnectInfo {
  session: string;
  /** "" when anonymous. */
  user: string;
  serverTimeUs: number;
  version: string;
  protocol: number;
  limits: Limits;
}

/** A "pub" push, delivered exactly once and in offset order per room. */
export interface Publication {
  room: string;
  epoch: string;
  offset: number;
  /** Server UTC us when the room ordered it. */
  ts: number;
  /** The published JSON value (parsed). */
  data: unknown;
  /** Scheduled: the server time (UTC us) at which to show it. */
  atUs?: number;
  /** Pinned to a video frame: that frame's capture time (UTC us). See MediaPlayer.reveal. */
  mediaTsUs?: number;
  /** How far past `atUs` the callback ran when it could not be on time; 0 otherwise. */
  lateUs: number;
}

export interface PublishOptions {
  /** De-duplication key; default "<clientId>-<n>" (unless autoClientMsgId is false). */
  clientMsgId?: string;
  /** Show at this server time (UTC us), e.g. client.serverNow().timeUs + 1_000_000. */
  atUs?: number;
  /** Or: show this long after the server orders it (server-side). Not with atUs. */
  delayMs?: number;
  /** The video frame (capture time, UTC us) this publication belongs to. */
  mediaTsUs?: number;
}

export interface PublishAck {
  room: string; epoch: string; offset: number; ts: number;
  /** This clientMsgId was already published: this is the original ack. */
  duplicate: boolean;
}

/** The subscribe reply (the first and every automatic resubscribe). */
export interface SubscribeResult {
  room: string;
  epoch: string;
  /** The room's top at subscribe time. */
  offset: number;
  /** Set only when the subscribe carried `recover`. */
  recovered?: boolean;
  /** When recovered is false: "epoch_changed" | "history_exhausted" | "offset_ahead". */
  reason: string;
  replayed: number;
}

export interface PresenceClient { session: string; user: string; client: string; }
export interface PresenceResult { room: string; clients: PresenceClient[]; }

/** The synced server clock (Client.serverNow()). */
export interface ServerTime {
  /** The server's UTC microseconds now (the client clock while !synced). */
  timeUs: number;
  /** The server's clock is within timeUs +- this (0 while !synced). */
  uncertaintyUs: number;
  /** At least one `time` exchange succeeded. */
  synced: boolean;
}

export interface ClockStats {
  synced: boolean;
  offsetUs: number;
  uncertaintyUs: number;
  /** > 0: the client clock runs fast. */
  driftPpm: number;
  bestRttUs: number;
  lastRttUs: number;
  samples: number;
  requests: number;
  replies: number;
  refused: number;
  resets: number;
}

/** window_open times; omitted: server defaults (opens now; give closesAtUs or durationMs). */
export interface WindowSpec { opensAtUs?: number; closesAtUs?: number; durationMs?: number; }
/** The window_open reply (server UTC us). */
export interface WindowInfo { room: string; window: string; opensAt: number; closesAt: number; settlesAt: number; }

export interface ActOptions {
  /** De-duplication id; default "<clientId>-a<n>". */
  actionId?: string;
  /** The stamp sent as `ts`; default serverNow().timeUs at the call. */
  stampUs?: number;
}

/** The server's decision; refusals are answers, not errors. */
export interface ActionDecision {
  room: string; window: string; actionId: string;
  accepted: boolean;
  /** "" when accepted; else "late" | "early" | "implausible" | "not_permitted" | "unknown_window" | "duplicate". */
  reason: string;
  duplicate: boolean;
  /** The stamp the server judged (server UTC us). */
  stamp: number;
  /** When the server read the action (server UTC us). */
  received: number;
  gapUs?: number;
  expectedGapUs?: number;
}

export interface Counters {
  connects: number; reconnects: number; gapsDetected: number; recoveriesOk: number;
  recoveriesFailed: number; publicationsReceived: number; duplicatesDropped: number;
  publishesResent: number; actionsResent: number; scheduledOnTime: number; scheduledLate: number;
}

// ---------------------------------------------------------------- client

export interface ClockEstimatorConfig {
  windowUs?: number; maxSamples?: number; maxDriftPpm?: number; driftMinSpanUs?: number;
  driftBuckets?: number; wanderPpm?: number;
}

export interface ClientOptions {
  /** ws://HOST:PORT/ws or wss://... (or give `candidates`) */
  url?: string;
  /**
   * Endpoints to choose from (the edges of a region: an origin's GET /api/directory lists them).
   * Before each connection attempt the SDK asks GET /healthz of every candidate at once and
   * connects to the first that answers 200 (the nearest healthy one), so when its edge fails the
   * next attempt moves to the next nearest, and rooms recover there. `url` is then not used.
   */
  candidates?: string[];
  /** How long the candidate probe waits (default 1000 ms); none answering is a failed attempt. */
  candidateProbeMs?: number;
  /** WebSocket constructor; default globalThis.WebSocket (pass `ws`'s in Node 20). */
  WebSocket?: any;
  /** Token for the connect command; empty/absent = anonymous. */
  token?: string;
  /** Called before every connection attempt; its result replaces `token`. */
  tokenProvider?: () => string | Promise<string>;
  /** Default "tutti-js-sdk/0.1.0". */
  name?: string;
  /** Stable client instance id (publish de-duplication); default random 16 hex digits. */
  clientId?: string;
  backoffMinMs?: number;   // 100
  backoffMaxMs?: number;   // 5000
  reconnect?: boolean;     // true
  connectTimeoutMs?: number;  // 5000
  requestTimeoutMs?: number;  // 5000
  autoClientMsgId?: boolean;  // true
  /** The client clock in UTC microseconds; default Date-based with sub-ms precision (performance.now). */
  clockUs?: () => number;
  clockSync?: boolean;             // true
  syncBurstIntervalMs?: number;    // 20
  syncBurstMs?: number;            // 3000
  syncSettleIntervalMs?: number;   // 50
  syncSettleMs?: number;           // 30000
  syncIntervalMs?: number;         // 500
  clockEstimator?: ClockEstimatorConfig;
  /** `at` delivery: timers wake this long before `at`, then a bounded precise wait. Default 2000. */
  deliverySpinUs?: number;
  onState?: (change: StateChange) => void;
  onConnected?: (info: ConnectInfo) => void;
  /** Errors not tied to a call (error replies with id 0, connect refusals, bad server lines). */
  onError?: (error: TuttiError) => void;
}

export interface SubscriptionHandlers {
  onPublication?: (pub: Publication) => void;
  /** Every subscribe reply, including automatic resubscribes with their recovery outcome. */
  onSubscribed?: (result: SubscribeResult) => void;
  onJoin?: (client: PresenceClient) => void;
  onLeave?: (client: PresenceClient) => void;
  /** The server refused the subscription (also on a resubscribe); the room is dropped. */
  onError?: (error: TuttiError) => void;
}

export interface SubscribeOptions {
  presence?: boolean;
  /** Start from this position: the first subscribe carries `recover`. */
  recover?: Position;
  /** Hold publications with `at` until serverNow() reaches it (default true). */
  holdUntilAt?: boolean;
}

export declare class Client {
  constructor(options: ClientOptions);
  /** Starts connecting (idempotent). Resolves with the first connect reply; rejects with the
   * server's error (e.g. 1104) or kTimeout (the client keeps trying unless the close says not to). */
  connect(): Promise<ConnectInfo>;
  subscribe(room: string, handlers?: SubscriptionHandlers, options?: SubscribeOptions): Promise<SubscribeResult>;
  unsubscribe(room: string): Promise<void>;
  /** `data`: any JSON value. A string as 3rd argument is the clientMsgId. */
  publish(room: string, data: unknown, options?: PublishOptions | string): Promise<PublishAck>;
  openWindow(room: string, windowId: string, spec: WindowSpec): Promise<WindowInfo>;
  act(room: string, windowId: string, data: unknown, options?: ActOptions): Promise<ActionDecision>;
  serverNow(): ServerTime;
  /** The endpoint connected to, or tried next (null before the first candidate probe). */
  readonly endpoint: string | null;
  syncStats(): ClockStats;
  presence(room: string): Promise<PresenceResult>;
  /** Application-level round trip; resolves with the server's time (UTC us). */
  ping(): Promise<number>;
  /** Clean close (1000), no reconnect; pending calls reject with kDisconnected. Idempotent. */
  close(): Promise<void>;
  state(): State;
  waitForState(state: State, timeoutMs: number): Promise<boolean>;
  lastClose(): CloseInfo;
  connectInfo(): ConnectInfo | null;
  position(room: string): Position | null;
  counters(): Counters;
  clientId(): string;
  /** Listener registration besides the options; returns a function that removes it. */
  on(event: 'state', fn: (change: StateChange) => void): () => void;
  on(event: 'connected', fn: (info: ConnectInfo) => void): () => void;
  on(event: 'error', fn: (error: TuttiError) => void): () => void;
  /** Test hook: drops the socket without a close handshake; the client reconnects and recovers. */
  testDropConnection(): void;
}

// ---------------------------------------------------------------- clock estimator

export interface Estimate {
  valid: boolean; offsetUs: number; uncertaintyUs: number; driftPpm: number;
  driftMinPpm: number; driftMaxPpm: number; bestRttUs: number; samples: number;
}
/** The estimator of include/tutti/sync/clock_estimator.h (same algorithm, same vectors). */
export declare class ClockEstimator {
  constructor(config?: ClockEstimatorConfig);
  addSample(t0: number, t1: number, t2: number, t3: number): boolean;
  estimate(clientNowUs: number): Estimate;
  serverTime(clientNowUs: number): number;
  resets(): number;
  size(): number;
  clear(): void;
}

/** Exponential backoff with full jitter in [min, cap]. */
export declare class Backoff {
  constructor(minMs: number, maxMs: number, random?: () => number);
  nextDelayMs(): number;
  reset(): void;
}

// ---------------------------------------------------------------- player (also "tutti-sdk/player")

/** The part of hls.js the player reads (pass your Hls instance; the SDK imports nothing). */
export interface HlsLike {
  levels?: Array<{ bitrate?: number; width?: number; height?: number; name?: string }>;
  currentLevel?: number;
  playingDate?: Date | null;
  latency?: number;
  on?(event: string, fn: (...args: any[]) => void): void;
  off?(event: string, fn: (...args: any[]) => void): void;
}

export interface MediaPlayerOptions {
  video: HTMLVideoElement;
  hls?: HlsLike;
  /** Needed for the latency controller (serverNow()). */
  client?: Pick<Client, 'serverNow'>;
  /** Hls events object (Hls.Events); default the standard event names. */
  hlsEvents?: Record<string, string>;
  /** Target latency, server now - capture time of the presented frame. Default 1800 ms
   * (the origin's PART-HOLD-BACK is 0.6 s; 1.5-2 s is what LL-HLS holds here). */
  targetLatencyMs?: number;
  /** Latency controller on (default true). Off = hls.js defaults, playbackRate 1. */
  controller?: boolean;
  /** No rate change within +- this (default 20 ms). */
  deadBandMs?: number;
  /** playbackRate stays within 1 +- this (default 0.1). */
  maxRateDelta?: number;
  /** Seek when off target by more than this (default 2500 ms). */
  seekThresholdMs?: number;
  /** Monotonic milliseconds (default performance.now); tests inject one. */
  nowMs?: () => number;
  /** Default callback for reveal() without one. */
  onReveal?: (item: any, info: RevealInfo) => void;
}

export interface RevealInfo {
  /** Capture time (UTC us) of the presented frame that revealed the item. */
  frameCaptureUs: number;
  /** frameCaptureUs - item.mediaTsUs (>= 0): how far from its own frame it fired. */
  offFrameUs: number;
  /** client.serverNow().timeUs when it fired (0 without a client). */
  serverNowUs: number;
}

export interface LatencyInfo {
  /** serverNow - capture time of the presented frame, ms (null if unknown yet). */
  latencyMs: number | null;
  targetLatencyMs: number;
  playbackRate: number;
  controller: boolean;
  /** Capture time (UTC us) of the last presented frame. */
  frameCaptureUs: number | null;
  seeks: number;
}

export interface Rendition { level: number; bitrate: number; width: number; height: number; name: string; }

export declare class MediaPlayer {
  constructor(options: MediaPlayerOptions);
  /** Capture time (UTC us) for a media time in seconds (default video.currentTime); null if unknown. */
  captureTimeUs(mediaTimeS?: number): number | null;
  /** Fires `callback` (or onReveal) when the frame with capture time >= item.mediaTsUs is presented.
   * `item` is a Publication or any object with mediaTsUs. */
  reveal<T extends { mediaTsUs?: number }>(item: T, callback?: (item: T, info: RevealInfo) => void): void;
  /** Items waiting for their frame. */
  pending(): number;
  latency(): LatencyInfo;
  rendition(): Rendition | null;
  setController(on: boolean): void;
  setTargetLatencyMs(ms: number): void;
  destroy(): void;
}
