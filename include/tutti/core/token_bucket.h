#pragma once
// A token bucket for rate limits: `rate` tokens per second, at most `burst`
// stored. Time comes from the caller (monotonic microseconds) so tests drive
// it by hand. Not thread-safe: one owner.

#include <algorithm>
#include <cstdint>

namespace tutti {

class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double burst, int64_t now_us)
      : rate_per_us_(rate_per_s / 1e6), burst_(burst), tokens_(burst), last_us_(now_us) {}

  // Takes n tokens if available.
  bool tryTake(int64_t now_us, double n = 1) {
    refill(now_us);
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }
  double tokens(int64_t now_us) {
    refill(now_us);
    return tokens_;
  }

 private:
  void refill(int64_t now_us) {
    if (now_us > last_us_) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - last_us_) * rate_per_us_);
      last_us_ = now_us;
    }
  }
  double rate_per_us_;
  double burst_;
  double tokens_;
  int64_t last_us_;
};

}  // namespace tutti
