#pragma once
// Reconnect delays: exponential backoff with jitter. Attempt n (from 0) waits
// a uniformly random time in [max(min_ms, d/2), d] where
// d = min(max_ms, min_ms * 2^(n+1)) ("equal jitter"): never below min_ms nor
// above max_ms, growing fast enough to spare a struggling server, random
// enough to spread a crowd of clients that lost the same server.
//
// Not thread-safe; Client uses one on its I/O thread.

#include <cstdint>
#include <random>

namespace tutti::sdk {

class Backoff {
 public:
  Backoff(int64_t min_ms, int64_t max_ms, uint64_t seed);

  // The delay before the next attempt, in milliseconds; advances the attempt count.
  int64_t nextDelayMs();
  // After a successful connection: the next failure starts from min_ms again.
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  int64_t min_ms_;
  int64_t max_ms_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace tutti::sdk
