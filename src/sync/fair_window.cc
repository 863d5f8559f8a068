#include "tutti/sync/fair_window.h"

#include <algorithm>
#include <cstdlib>

namespace tutti::sync {

Decision FairWindow::decide(const ActionInput& a) {
  const std::string key = a.user + '\x1f' + a.client + '\x1f' + a.action_id;
  if (auto it = decided_.find(key); it != decided_.end()) {
    Decision d = it->second;
    d.duplicate = true;
    return d;
  }
  Decision d;
  d.stamp_us = a.stamp_us;
  d.received_us = a.received_us;
  d.gap_us = a.received_us - a.stamp_us;
  if (a.rtt_min_us >= 0) {
    d.expected_gap_us = a.rtt_min_us / 2;
    const int64_t jitter = std::clamp<int64_t>(a.rtt_max_us - a.rtt_min_us, 0, policy_.max_jitter_allowance_us);
    d.allowed_deviation_us = policy_.tolerance_us + jitter;
  } else {
    // No measurement yet: accept any gap from "slightly in the future" to the
    // largest one-way delay we wait for.
    d.allowed_deviation_us = policy_.tolerance_us;
  }

  if (!a.permitted) {
    d.reason = "not_permitted";
  } else if (a.received_us > spec_.settles_at_us) {
    d.reason = "late";
  } else if (d.expected_gap_us >= 0 ? std::llabs(d.gap_us - d.expected_gap_us) > d.allowed_deviation_us
                                    : (d.gap_us < -d.allowed_deviation_us || d.gap_us > policy_.grace_us)) {
    d.reason = "implausible";
  } else if (a.stamp_us < spec_.opens_at_us) {
    d.reason = "early";
  } else if (a.stamp_us > spec_.closes_at_us) {
    d.reason = "late";
  } else {
    d.accepted = true;
  }
  if (d.accepted) ++accepted_;
  else ++refused_[d.reason];
  decided_.emplace(key, d);
  return d;
}

}  // namespace tutti::sync
