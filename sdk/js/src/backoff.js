// Reconnect delays: exponential with jitter, as tutti::sdk::Backoff
// (sdk/cpp/src/backoff.cc). Attempt n waits a random time in [d/2, d] with
// d = min * 2^(n+1) capped at max, so clients that lost the same server do
// not come back in one wave.
export class Backoff {
  constructor(minMs, maxMs, random = Math.random) {
    this.minMs_ = Math.max(1, Math.floor(minMs));
    this.maxMs_ = Math.max(Math.floor(maxMs), this.minMs_);
    this.random_ = random;
    this.attempt_ = 0;
  }

  nextDelayMs() {
    let d = this.minMs_ * 2;
    for (let i = 0; i < this.attempt_ && d < this.maxMs_; ++i) d *= 2;
    d = Math.min(d, this.maxMs_);
    if (this.attempt_ < 1000) ++this.attempt_;
    const lo = Math.min(d, Math.max(this.minMs_, Math.floor(d / 2)));
    return lo + Math.floor(this.random_() * (d - lo + 1));
  }

  reset() { this.attempt_ = 0; }
}
