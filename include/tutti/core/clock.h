#pragma once
// Time is read through one interface so that tests can drive it by hand
// (LevelDB's Env, Envoy's simulated time).
//
// Units: microseconds. wallUs() is UTC since the Unix epoch (the one timeline
// of docs/architecture.md); monoUs() is steady and only good for intervals.

#include <atomic>
#include <cstdint>

namespace tutti {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t wallUs() const = 0;
  virtual int64_t monoUs() const = 0;
};

// The real clocks. Thread-safe; one shared instance is enough.
class SystemClock final : public Clock {
 public:
  int64_t wallUs() const override;
  int64_t monoUs() const override;
  static const SystemClock& instance();
};

// A clock that moves only when told. Thread-safe (atomics), so a test thread
// may advance it while workers read it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t wall_us = 1'700'000'000'000'000, int64_t mono_us = 1'000'000)
      : wall_us_(wall_us), mono_us_(mono_us) {}
  int64_t wallUs() const override { return wall_us_.load(std::memory_order_relaxed); }
  int64_t monoUs() const override { return mono_us_.load(std::memory_order_relaxed); }
  void advanceUs(int64_t us) {
    wall_us_.fetch_add(us, std::memory_order_relaxed);
    mono_us_.fetch_add(us, std::memory_order_relaxed);
  }
  void setWallUs(int64_t us) { wall_us_.store(us, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> wall_us_;
  std::atomic<int64_t> mono_us_;
};

}  // namespace tutti
