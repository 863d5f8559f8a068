#pragma once
// A fair action window (a betting round): decides each action by the
// client's synced stamp, not by when it happened to arrive, as long as the
// stamp is physically plausible for that client's measured delay.
//
// The rule (docs/sync.md). gap = received_us - stamp_us is how long the
// action took from the client's synced clock to the server. For an honestly
// synced client it is about its one-way delay: with NTP-style sync the
// client's error is (d_up - d_down)/2, so gap ~ (d_up + d_down)/2 = rtt/2 on
// any path, symmetric or not. The server measures rtt itself, so:
//   implausible  when |gap - expected| > tolerance, expected = min rtt / 2
//                (a forged early stamp, or one in the future);
//   early        when stamp < opens_at;   late when stamp > closes_at,
//                or when the action arrives after settles_at;
//   accepted     otherwise.
// Pure state; thread: the room's home worker.

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

namespace tutti::sync {

struct FairnessPolicy {
  // Base allowance on |gap - expected| for sync error and scheduling noise.
  int64_t tolerance_us = 25'000;
  // Added on top: this client's measured jitter (max - min recent rtt), up to this cap.
  int64_t max_jitter_allowance_us = 100'000;
  // Largest one-way delay we still wait for after the close (settles_at - closes_at).
  int64_t grace_us = 1'000'000;
  // Longest window one may open.
  int64_t max_duration_us = 3'600'000'000;
};

struct WindowSpec {
  std::string id;
  int64_t opens_at_us = 0;
  int64_t closes_at_us = 0;
  int64_t settles_at_us = 0;
};

struct ActionInput {
  std::string user;
  std::string client;
  std::string action_id;
  int64_t stamp_us = 0;     // client's synced server time when it acted
  int64_t received_us = 0;  // server time when the action was read
  // Server-measured round trips of this connection; -1 when none yet.
  int64_t rtt_min_us = -1;
  int64_t rtt_max_us = -1;
  bool permitted = true;
};

struct Decision {
  bool accepted = false;
  std::string reason;  // empty when accepted: late | early | implausible | not_permitted
  bool duplicate = false;
  int64_t stamp_us = 0;
  int64_t received_us = 0;
  int64_t gap_us = 0;
  int64_t expected_gap_us = -1;  // -1: no rtt measured yet
  int64_t allowed_deviation_us = 0;
};

class FairWindow {
 public:
  FairWindow(WindowSpec spec, FairnessPolicy policy) : spec_(std::move(spec)), policy_(policy) {}

  const WindowSpec& spec() const { return spec_; }
  // Decides and records. A repeated (user, action_id) gets the first decision
  // back with duplicate = true and changes nothing.
  Decision decide(const ActionInput& a);
  bool settled(int64_t now_us) const { return now_us >= spec_.settles_at_us; }

  uint64_t accepted() const { return accepted_; }
  const std::map<std::string, uint64_t>& refusedByReason() const { return refused_; }

 private:
  WindowSpec spec_;
  FairnessPolicy policy_;
  std::unordered_map<std::string, Decision> decided_;  // key: user \x1f action_id
  uint64_t accepted_ = 0;
  std::map<std::string, uint64_t> refused_;
};

}  // namespace tutti::sync
