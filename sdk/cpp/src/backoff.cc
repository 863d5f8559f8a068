#include "tutti/sdk/backoff.h"

#include <algorithm>

namespace tutti::sdk {

Backoff::Backoff(int64_t min_ms, int64_t max_ms, uint64_t seed)
    : min_ms_(std::max<int64_t>(1, min_ms)), max_ms_(std::max(max_ms, std::max<int64_t>(1, min_ms))),
      rng_(seed) {}

int64_t Backoff::nextDelayMs() {
  // d = min * 2^(attempt+1), capped; doubling stops at the cap so it cannot overflow.
  int64_t d = min_ms_ * 2;
  for (int i = 0; i < attempt_ && d < max_ms_; ++i) d *= 2;
  d = std::min(d, max_ms_);
  if (attempt_ < 1000) ++attempt_;
  std::uniform_int_distribution<int64_t> dist(std::min(d, std::max(min_ms_, d / 2)), d);
  return dist(rng_);
}

}  // namespace tutti::sdk
