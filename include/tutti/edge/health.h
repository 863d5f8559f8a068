#pragma once
// One origin's (or parent's) health, from the results of probes and of real
// fetches: consecutive failures mark it down, consecutive successes mark it
// up again, with hysteresis (HAProxy's fall / rise) so that one lost probe
// does not flap it, and one lucky probe does not bring back a node that
// fails half its requests. Pure state: the owner runs the probes and feeds
// the results; times come from the Clock.
//
// Thread: not thread-safe; one owner.

#include <cstdint>

#include "tutti/core/clock.h"
#include "tutti/core/result.h"

namespace tutti::edge {

struct HealthConfig {
  // Consecutive failures that take an up node down. 3 probes a second apart
  // notice a dead origin within 3 s, and ride out one lost packet.
  int fall = 3;
  // Consecutive successes that bring a down node back. 2: a node that
  // answers every other request stays down.
  int rise = 2;
  // The state before any result. Up: a new edge tries its origins at once
  // rather than waiting `rise` probes.
  bool initially_up = true;
};

class HealthTracker {
 public:
  // kBadConfig unless 1 <= fall, rise <= 1000.
  static Result<HealthTracker> create(HealthConfig config, const Clock& clock);

  // Feed one result; returns true when it changed the state.
  bool recordSuccess();
  bool recordFailure();
  bool record(bool ok) { return ok ? recordSuccess() : recordFailure(); }

  bool up() const { return up_; }
  // When the state last changed (creation counts), on monoUs() and wallUs().
  int64_t changedAtUs() const { return changed_at_us_; }
  int64_t changedAtWallUs() const { return changed_at_wall_us_; }
  // Time in the current state, at now.
  int64_t inStateUs() const { return clock_->monoUs() - changed_at_us_; }
  uint64_t transitions() const { return transitions_; }
  int consecutiveFailures() const { return failures_; }
  int consecutiveSuccesses() const { return successes_; }

 private:
  HealthTracker(HealthConfig config, const Clock& clock);
  void flip();

  HealthConfig config_;
  const Clock* clock_;
  bool up_;
  int failures_ = 0;
  int successes_ = 0;
  uint64_t transitions_ = 0;
  int64_t changed_at_us_ = 0;
  int64_t changed_at_wall_us_ = 0;
};

}  // namespace tutti::edge
