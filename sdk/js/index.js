// Tutti JavaScript SDK: the public API (types in index.d.ts).
export { Client, State, defaultClockUs } from './src/client.js';
export { ClockEstimator } from './src/clock_estimator.js';
export { Backoff } from './src/backoff.js';
export { TuttiError, ErrorCode, Close, shouldReconnect, kTimeout, kDisconnected, kInvalidArgument } from './src/errors.js';
export { MediaPlayer } from './src/player.js';
export * as codec from './src/codec.js';
