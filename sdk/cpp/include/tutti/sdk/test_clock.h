#pragma once
// A client clock that is wrong on purpose, for tests of clock sync: it reads
// a base clock and adds an offset and a rate error (drift), and can be
// stepped while running, as a client whose clock was set by hand.
//
// wallUs() = base + offset + (base - base at construction) * drift_ppm / 1e6.
// monoUs() is the base's (intervals stay real). Thread-safe.

#include <atomic>
#include <cmath>
#include <cstdint>

#include "tutti/core/clock.h"

namespace tutti::sdk {

class OffsetDriftClock final : public Clock {
 public:
  OffsetDriftClock(const Clock& base, int64_t offset_us, double drift_ppm)
      : base_(base), anchor_us_(base.wallUs()), offset_us_(offset_us), drift_ppm_(drift_ppm) {}

  int64_t wallUs() const override {
    const int64_t b = base_.wallUs();
    const double drifted = static_cast<double>(b - anchor_us_) * drift_ppm_ * 1e-6;
    return b + offset_us_.load(std::memory_order_relaxed) + static_cast<int64_t>(std::llround(drifted));
  }
  int64_t monoUs() const override { return base_.monoUs(); }

  // Jumps the clock by `us` (a clock step).
  void stepUs(int64_t us) { offset_us_.fetch_add(us, std::memory_order_relaxed); }
  // This clock minus the base clock at base time `base_us`: the error a
  // perfect sync must remove (server - this clock = -error when the server
  // runs on the base clock).
  int64_t errorAt(int64_t base_us) const {
    const double drifted = static_cast<double>(base_us - anchor_us_) * drift_ppm_ * 1e-6;
    return offset_us_.load(std::memory_order_relaxed) + static_cast<int64_t>(std::llround(drifted));
  }

 private:
  const Clock& base_;
  const int64_t anchor_us_;
  std::atomic<int64_t> offset_us_;
  const double drift_ppm_;
};

}  // namespace tutti::sdk
