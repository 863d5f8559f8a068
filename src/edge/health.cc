#include "tutti/edge/health.h"

#include "tutti/edge/codes.h"

namespace tutti::edge {

Result<HealthTracker> HealthTracker::create(HealthConfig config, const Clock& clock) {
  if (config.fall < 1 || config.fall > 1000 || config.rise < 1 || config.rise > 1000) {
    return makeError(code::kBadConfig, "health: fall and rise must be in [1, 1000]");
  }
  return HealthTracker(config, clock);
}

HealthTracker::HealthTracker(HealthConfig config, const Clock& clock)
    : config_(config),
      clock_(&clock),
      up_(config.initially_up),
      changed_at_us_(clock.monoUs()),
      changed_at_wall_us_(clock.wallUs()) {}

bool HealthTracker::recordSuccess() {
  failures_ = 0;
  if (successes_ < config_.rise) ++successes_;  // saturates: only "enough" matters
  if (!up_ && successes_ >= config_.rise) {
    flip();
    return true;
  }
  return false;
}

bool HealthTracker::recordFailure() {
  successes_ = 0;
  if (failures_ < config_.fall) ++failures_;
  if (up_ && failures_ >= config_.fall) {
    flip();
    return true;
  }
  return false;
}

void HealthTracker::flip() {
  up_ = !up_;
  ++transitions_;
  changed_at_us_ = clock_->monoUs();
  changed_at_wall_us_ = clock_->wallUs();
}

}  // namespace tutti::edge
