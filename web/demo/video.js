// The dealer video: hls.js on the stream's multivariant playlist, the SDK's
// MediaPlayer on top of it (capture time from program date time, reveal of
// media events at their frame, the target-latency controller), and a log of
// presented frames (wall time, capture time, media time) read by the tests and the bench.

import Hls from 'hls.js';
import { MediaPlayer } from 'tutti-sdk';

const FRAME_LOG = 3000; // 100 s at 30 fps

export function startVideo({ video, stream, client, controller, targetLatencyMs, maxHeight = 0, hlsConfig = {}, onFatal }) {
  const liveSyncS = Math.max(0.6, (targetLatencyMs - 1400) / 1000);
  const hls = new Hls({
    lowLatencyMode: true,
    // The ESM build runs the transmuxer on the page's thread unless it gets
    // the worker script (web/build.mjs copies it next to the page).
    workerPath: '/hls.worker.js',
    // No more pixels than the stage shows: a small window plays a lower rung
    // (less to download and decode), a large one the top.
    // maxHeight (the page's ?max=): never above that rung, whatever the size.
    capLevelToPlayerSize: !(maxHeight > 0),
    // Rungs with headroom: at low latency the buffer is about a second deep,
    // so a rung that takes 90 % of the link (hls.js's default factors) drains
    // it on every slow part and stalls. Stay on a rung while it takes at most
    // 80 % of the measured bandwidth, and climb to one that takes 60 %.
    abrBandWidthFactor: 0.8,
    abrBandWidthUpFactor: 0.6,
    // With the controller: start near its target (hls.js counts from the
    // playlist's end, which runs about 1.4 s behind capture here), and jump
    // back to it after a long stall rather than play far behind the table.
    // Without it, hls.js's own defaults (what the bench compares against).
    ...(controller ? { liveSyncDuration: liveSyncS, liveMaxLatencyDuration: liveSyncS + 3 } : {}),
    ...hlsConfig,
  });
  const player = new MediaPlayer({
    video, hls, client, hlsEvents: Hls.Events, controller,
    targetLatencyMs,
  });
  const s = { switches: [], errors: [], fatal: null, frameLog: [], framesPresented: 0 };
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => s.switches.push({ level: d.level, at: Date.now() }));
  hls.on(Hls.Events.ERROR, (_e, d) => {
    s.errors.push(d.error && d.details === 'internalException' ? `${d.details}: ${d.event} ${d.error.message}` : d.details);
    if (s.errors.length > 20) s.errors.shift();
    if (d.fatal) {
      s.fatal = d.details;
      // Recover what can be recovered, as a product page would.
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else if (d.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.startLoad(), 1000);
      if (onFatal) onFatal(d);
    }
  });
  hls.loadSource(`/hls/${encodeURIComponent(stream)}/master.m3u8`);
  hls.attachMedia(video);
  video.muted = true;
  const play = () => video.play().catch(() => {});
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
    if (maxHeight > 0) {
      let cap = -1;
      d.levels.forEach((l, i) => { if (l.height && l.height <= maxHeight && (cap < 0 || l.height >= d.levels[cap].height)) cap = i; });
      if (cap >= 0) hls.autoLevelCapping = cap;
    }
    play();
  });
  play();

  // Every presented frame: when it was shown (page wall clock, ms) and its
  // capture time (server UTC us). Both clocks are wall clocks, so on one
  // machine `shown - capture` is the glass-to-glass latency of this page.
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const onFrame = (_now, meta) => {
      const capture = player.captureTimeUs(meta.mediaTime);
      if (capture != null) {
        s.frameLog.push([performance.timeOrigin + meta.expectedDisplayTime, capture, meta.mediaTime]);
        if (s.frameLog.length > FRAME_LOG) s.frameLog.splice(0, s.frameLog.length - FRAME_LOG);
      }
      s.framesPresented = meta.presentedFrames;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 90;
  // Variance of the luma of a 160x90 snapshot: a blank or black picture is ~0.
  function pixelVariance() {
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, canvas.width, canvas.height);
    const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    let sq = 0;
    const n = px.length / 4;
    for (let i = 0; i < px.length; i += 4) {
      const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      sum += y;
      sq += y * y;
    }
    const mean = sum / n;
    return sq / n - mean * mean;
  }

  return { hls, player, s, pixelVariance };
}
