// A player helper on hls.js (passed in by the caller: the SDK imports
// nothing) and an HTMLVideoElement:
//
//  * capture time. docs/media.md: each segment's EXT-X-PROGRAM-DATE-TIME is
//    the capture time (server UTC) of its first frame, so a media time t in
//    a fragment maps to programDateTime + (t - frag.start). The fragments
//    come from hls.js's level details (LEVEL_UPDATED / LEVEL_LOADED, or
//    hls.levels[..].details); hls.playingDate is the coarse fallback for the
//    current position only.
//  * media events. reveal(pub) holds a publication carrying mediaTsUs until
//    the video presents the frame it belongs to: on every presented frame
//    (requestVideoFrameCallback, metadata.mediaTime) each pending item with
//    mediaTsUs <= the frame's capture time fires, with how far past its own
//    frame that was (offFrameUs: 0 when its frame itself was presented).
//  * target latency. latency = client.serverNow() - capture time of the
//    presented frame. A proportional controller with a dead band nudges
//    video.playbackRate within 1 +- maxRateDelta so every viewer converges on
//    the same latency; it seeks only when off by more than seekThresholdMs.
//    The origin holds back PART-HOLD-BACK = 0.6 s (three 200 ms parts) at
//    least; the default target of 1.8 s leaves room for a blocking playlist
//    reload, one part in flight and the buffer hls.js keeps, which LL-HLS
//    holds on this origin without stalls. setController(false) leaves the
//    rate at 1: hls.js's own defaults (the bench compares both).
//
// Times: capture times and mediaTsUs are server UTC microseconds (Numbers);
// media times are seconds (HTMLMediaElement); latencies milliseconds.

const kEvents = {
  LEVEL_LOADED: 'hlsLevelLoaded', LEVEL_UPDATED: 'hlsLevelUpdated', FRAG_CHANGED: 'hlsFragChanged',
  LEVEL_SWITCHED: 'hlsLevelSwitched',
};
// Latency smoothing (EWMA weight of each frame): ~30 frames = 1 s at 30 fps.
const kLatencyAlpha = 0.05;
// Rate gain: 1 + gain x (error in s): 100 ms off -> 5 % faster; time constant 2 s.
const kGainPerS = 0.5;
// The rate is written only when it moves by more than this (playbackRate
// writes can make the audio renderer glitch).
const kRateStep = 0.005;
// After a seek, let the new position settle before judging it again.
const kSeekCooldownMs = 2000;
// The frame length is the shortest of this many steps between presented frames.
const kFrameSteps = 30;
// The controller speeds up only with more than this buffered ahead (s).
const kMinAheadS = 0.3;

export class MediaPlayer {
  constructor(options) {
    if (!options || !options.video) throw new Error('MediaPlayer: options.video is required');
    this.video_ = options.video;
    this.hls_ = options.hls ?? null;
    this.client_ = options.client ?? null;
    this.events_ = { ...kEvents, ...(options.hlsEvents ?? {}) };
    this.targetLatencyMs_ = options.targetLatencyMs ?? 1800;
    this.controller_ = options.controller !== false;
    this.deadBandMs_ = options.deadBandMs ?? 20;
    this.maxRateDelta_ = options.maxRateDelta ?? 0.1;
    this.seekThresholdMs_ = options.seekThresholdMs ?? 2500;
    this.onReveal_ = options.onReveal ?? null;
    this.now_ = options.nowMs ?? (() => performance.now());  // monotonic ms (tests inject one)

    this.fragments_ = [];  // [{start (s), duration (s), pdtMs}], sorted by start
    this.pending_ = [];    // [{item, callback, mediaTsUs}], sorted by mediaTsUs
    this.frameUs_ = 33_333;          // presented frame length, measured
    this.frameSteps_ = [33_333];     // the last steps between presented frames (us)
    this.revealToleranceUs_ = 16_667; // half of it
    this.latencyMs_ = null;
    this.rawLatencyMs_ = null;
    this.frameCaptureUs_ = null;
    this.seeks_ = 0;
    this.lastSeekMs_ = -Infinity;
    this.destroyed_ = false;
    this.frameHandle_ = null;
    this.pollTimer_ = null;

    this.onLevelDetails_ = (_event, data) => { if (data && data.details) this.setFragments_(data.details.fragments); };
    if (this.hls_ && typeof this.hls_.on === 'function') {
      this.hls_.on(this.events_.LEVEL_LOADED, this.onLevelDetails_);
      this.hls_.on(this.events_.LEVEL_UPDATED, this.onLevelDetails_);
    }
    this.scheduleFrame_();
  }

  // ---- capture time

  setFragments_(frags) {
    if (!Array.isArray(frags)) return;
    const out = [];
    for (const f of frags) {
      if (f && Number.isFinite(f.programDateTime) && Number.isFinite(f.start))
        out.push({ start: f.start, duration: f.duration ?? 0, pdtMs: f.programDateTime });
    }
    if (out.length > 0) this.fragments_ = out.sort((a, b) => a.start - b.start);
  }

  // The fragments to map with: the latest level details seen, else the current level's.
  currentFragments_() {
    if (this.fragments_.length === 0 && this.hls_ && Array.isArray(this.hls_.levels)) {
      const lv = this.hls_.levels[this.hls_.currentLevel] ?? this.hls_.levels.find((l) => l && l.details);
      if (lv && lv.details) this.setFragments_(lv.details.fragments);
    }
    return this.fragments_;
  }

  captureTimeUs(mediaTimeS) {
    const t = mediaTimeS ?? this.video_.currentTime;
    const frags = this.currentFragments_();
    if (frags.length > 0 && Number.isFinite(t)) {
      // The last fragment starting at or before t (or the first, extrapolating back).
      let lo = 0, hi = frags.length - 1, k = 0;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (frags[mid].start <= t) { k = mid; lo = mid + 1; } else hi = mid - 1;
      }
      const f = frags[k];
      return Math.round((f.pdtMs + (t - f.start) * 1000) * 1000);
    }
    // Coarse fallback: hls.js's date of the current position (plus the distance to t).
    const d = this.hls_ && this.hls_.playingDate;
    if (d && typeof d.getTime === 'function' && Number.isFinite(d.getTime())) {
      const dt = mediaTimeS === undefined ? 0 : mediaTimeS - this.video_.currentTime;
      return Math.round((d.getTime() + dt * 1000) * 1000);
    }
    return null;
  }

  // ---- media events

  reveal(item, callback) {
    const cb = callback ?? this.onReveal_;
    if (typeof cb !== 'function') throw new Error('MediaPlayer.reveal: no callback (and no onReveal option)');
    const ts = item && Number.isFinite(item.mediaTsUs) ? item.mediaTsUs : null;
    if (ts === null) {  // not pinned to a frame: nothing to wait for
      cb(item, { frameCaptureUs: this.frameCaptureUs_ ?? 0, offFrameUs: 0, serverNowUs: this.serverNowUs_() });
      return;
    }
    // Already shown? Then at once, flagged by how far past its frame we are.
    if (this.frameCaptureUs_ !== null && ts <= this.frameCaptureUs_ + this.revealToleranceUs_) {
      cb(item, { frameCaptureUs: this.frameCaptureUs_, offFrameUs: this.frameCaptureUs_ - ts, serverNowUs: this.serverNowUs_() });
      return;
    }
    let i = this.pending_.length;
    while (i > 0 && this.pending_[i - 1].mediaTsUs > ts) --i;
    this.pending_.splice(i, 0, { item, callback: cb, mediaTsUs: ts });
  }

  pending() { return this.pending_.length; }

  serverNowUs_() { return this.client_ ? this.client_.serverNow().timeUs : 0; }

  // One presented frame (from requestVideoFrameCallback, or the polling
  // fallback): reveal what it carries, then steer the latency.
  onFrame_(mediaTimeS) {
    const cap = this.captureTimeUs(mediaTimeS);
    if (cap === null) return;
    // The frame's length: the shortest step between consecutive presented
    // frames of late (30 fps until known). A page that drops frames presents
    // steps of two or three frames; an average of them would widen the
    // reveal tolerance and fire events a frame early. (The first steps are
    // judged beside the 30 fps guess.)
    if (this.frameCaptureUs_ !== null && cap > this.frameCaptureUs_ && cap - this.frameCaptureUs_ < 200_000) {
      this.frameSteps_.push(cap - this.frameCaptureUs_);
      if (this.frameSteps_.length > kFrameSteps) this.frameSteps_.shift();
      this.frameUs_ = Math.min(...this.frameSteps_);
    }
    this.frameCaptureUs_ = cap;
    // Program date time has millisecond precision, so the frame that carries
    // an event can map up to a millisecond before its media_ts: an event is
    // this frame's when it falls within half a frame after it.
    this.revealToleranceUs_ = this.frameUs_ / 2;
    const nowUs = this.serverNowUs_();
    while (this.pending_.length > 0 && this.pending_[0].mediaTsUs <= cap + this.revealToleranceUs_) {
      const p = this.pending_.shift();
      try {
        p.callback(p.item, { frameCaptureUs: cap, offFrameUs: cap - p.mediaTsUs, serverNowUs: nowUs });
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
    if (this.client_) {
      const st = this.client_.serverNow();
      const raw = (st.timeUs - cap) / 1000;
      this.rawLatencyMs_ = raw;
      this.latencyMs_ = this.latencyMs_ === null ? raw : this.latencyMs_ + kLatencyAlpha * (raw - this.latencyMs_);
      if (this.controller_) this.steer_(raw);
    }
  }

  // The controller: the error is the smoothed latency minus the target.
  steer_(rawMs) {
    const v = this.video_;
    const nowMs = this.now_();
    if (nowMs - this.lastSeekMs_ < kSeekCooldownMs) return;
    const err = this.latencyMs_ - this.targetLatencyMs_;
    if (Math.abs(rawMs - this.targetLatencyMs_) > this.seekThresholdMs_ && !v.paused && !v.seeking) {
      const target = v.currentTime + (rawMs - this.targetLatencyMs_) / 1000;
      if (this.seekable_(target)) {
        v.currentTime = target;
        this.seeks_++;
        this.lastSeekMs_ = nowMs;
        this.latencyMs_ = null;
        this.setRate_(1);
        return;
      }
    }
    let rate = 1;
    if (Math.abs(err) > this.deadBandMs_) {
      const e = err - Math.sign(err) * this.deadBandMs_;
      rate = 1 + Math.max(-this.maxRateDelta_, Math.min(this.maxRateDelta_, kGainPerS * e / 1000));
    }
    // Never faster than the buffer allows: speeding up with little ahead
    // only trades latency for a stall. Below kMinAheadS, no speed-up; up to
    // twice that, a proportional share of it.
    if (rate > 1) {
      const ahead = this.bufferAheadS_();
      rate = 1 + (rate - 1) * Math.max(0, Math.min(1, (ahead - kMinAheadS) / kMinAheadS));
    }
    this.setRate_(rate);
  }

  // Seconds buffered ahead of the playhead.
  bufferAheadS_() {
    const v = this.video_;
    const b = v.buffered;
    if (!b || typeof b.length !== 'number') return 0;
    for (let i = 0; i < b.length; ++i)
      if (v.currentTime >= b.start(i) - 0.05 && v.currentTime <= b.end(i)) return b.end(i) - v.currentTime;
    return 0;
  }

  seekable_(t) {
    const b = this.video_.buffered;
    if (!b || typeof b.length !== 'number') return false;
    for (let i = 0; i < b.length; ++i) if (t >= b.start(i) && t <= b.end(i) - 0.1) return true;
    return false;
  }

  setRate_(rate) {
    const v = this.video_;
    if (rate === 1 ? v.playbackRate !== 1 : Math.abs(v.playbackRate - rate) >= kRateStep) v.playbackRate = rate;
  }

  scheduleFrame_() {
    if (this.destroyed_) return;
    const v = this.video_;
    if (typeof v.requestVideoFrameCallback === 'function') {
      this.frameHandle_ = v.requestVideoFrameCallback((_now, metadata) => {
        this.frameHandle_ = null;
        if (this.destroyed_) return;
        this.onFrame_(metadata && Number.isFinite(metadata.mediaTime) ? metadata.mediaTime : v.currentTime);
        this.scheduleFrame_();
      });
    } else {
      // No per-frame callback: poll the current time (frame precision lost).
      this.pollTimer_ = setTimeout(() => {
        this.pollTimer_ = null;
        if (this.destroyed_) return;
        if (!v.paused) this.onFrame_(v.currentTime);
        this.scheduleFrame_();
      }, 16);
    }
  }

  // ---- state

  latency() {
    return { latencyMs: this.latencyMs_, targetLatencyMs: this.targetLatencyMs_, playbackRate: this.video_.playbackRate,
             controller: this.controller_, frameCaptureUs: this.frameCaptureUs_, seeks: this.seeks_ };
  }

  rendition() {
    const h = this.hls_;
    if (!h || !Array.isArray(h.levels)) return null;
    const level = h.currentLevel;
    const l = h.levels[level];
    if (!l) return null;
    return { level, bitrate: l.bitrate ?? 0, width: l.width ?? 0, height: l.height ?? 0, name: l.name ?? '' };
  }

  setController(on) {
    this.controller_ = !!on;
    if (!this.controller_) this.setRate_(1);
  }

  setTargetLatencyMs(ms) { this.targetLatencyMs_ = ms; }

  destroy() {
    this.destroyed_ = true;
    if (this.frameHandle_ !== null && typeof this.video_.cancelVideoFrameCallback === 'function')
      this.video_.cancelVideoFrameCallback(this.frameHandle_);
    if (this.pollTimer_ !== null) clearTimeout(this.pollTimer_);
    if (this.hls_ && typeof this.hls_.off === 'function') {
      this.hls_.off(this.events_.LEVEL_LOADED, this.onLevelDetails_);
      this.hls_.off(this.events_.LEVEL_UPDATED, this.onLevelDetails_);
    }
    this.pending_ = [];
  }
}
