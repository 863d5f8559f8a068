#pragma once
// One room: its sequencer, history, dedup cache and presence. Pure state with
// no threads or I/O: the broker owns each Room on the room's home worker and
// calls it only there, so nothing here locks.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tutti/protocol/codec.h"
#include "tutti/core/result.h"
#include "tutti/sync/dedup.h"
#include "tutti/sync/fair_window.h"
#include "tutti/sync/history.h"
#include "tutti/sync/sequencer.h"

namespace tutti::sync {

// When subscribers should show a publication (docs/sync.md).
enum class Delivery {
  kImmediate,  // as soon as it arrives (no `at`)
  kAt,         // scheduled: `at` given by the publisher, else `at` = ts
  kDelay,      // `at` = ts + the room's delay (fixed, or adaptive to subscribers' delays)
};

struct RoomPolicy {
  size_t history_size = 1000;
  int64_t history_ttl_us = 300'000'000;
  bool presence = true;
  bool clients_may_publish = true;
  int64_t dedup_window_us = 300'000'000;
  size_t dedup_max_entries = 10000;
  int64_t idle_ttl_us = 600'000'000;

  Delivery delivery = Delivery::kImmediate;
  int64_t delay_us = 500'000;
  // Adaptive delay: the high percentile of subscribers' one-way delays plus a
  // margin, kept within [delay_min_us, delay_max_us].
  bool delay_adaptive = false;
  int64_t delay_min_us = 50'000;
  int64_t delay_max_us = 3'000'000;
  int64_t delay_margin_us = 30'000;

  FairnessPolicy fairness;
};

struct PublishInput {
  std::string data_json;
  std::string dedup_key;  // empty: no de-duplication
  std::optional<int64_t> at_us = std::nullopt;     // per-message override: show at
  std::optional<int64_t> delay_us = std::nullopt;  // per-message override: show ts + delay
  std::optional<int64_t> media_ts_us = std::nullopt;  // carried to subscribers: the video frame it belongs to
};

// What a subscriber gets: the position it starts after, and with recovery the
// publications it missed.
struct SubscribeSnapshot {
  std::string epoch;
  uint64_t top = 0;
  bool recovery_requested = false;
  bool recovered = false;
  std::string reason;                // epoch_changed | history_exhausted | offset_ahead
  std::vector<Publication> replay;   // offsets recover.offset+1 .. top, when recovered
};

class Room {
 public:
  Room(std::string name, std::string epoch, RoomPolicy policy, int64_t now_us);

  const std::string& name() const { return name_; }
  const std::string& epoch() const { return seq_.epoch(); }
  uint64_t top() const { return seq_.top(); }
  const RoomPolicy& policy() const { return policy_; }
  const History& history() const { return history_; }

  // Orders a batch. acks[i] answers inputs[i]; `ordered` receives the new
  // publications (duplicates excluded), contiguous and in offset order.
  void publish(std::span<const PublishInput> inputs, int64_t now_us, std::vector<PublishAck>& acks,
               std::vector<Publication>& ordered);

  // The position a new subscriber starts after, with exact recovery when asked.
  SubscribeSnapshot subscribe(const std::optional<protocol::StreamPosition>& recover) const;

  // Presence, keyed by session id.
  // false when the session is listed already (nothing changes).
  bool join(const protocol::ClientInfo& info) { return presence_.emplace(info.session, info).second; }
  bool leave(const std::string& session) { return presence_.erase(session) > 0; }
  // The listed member with this session (nullptr: not listed).
  const protocol::ClientInfo* member(const std::string& session) const {
    auto it = presence_.find(session);
    return it == presence_.end() ? nullptr : &it->second;
  }
  std::vector<protocol::ClientInfo> presence() const;
  size_t presenceCount() const { return presence_.size(); }

  // Adaptive delay: one worker's percentile of its subscribers' one-way
  // delays (0 = none there). The room uses the largest report.
  void reportDelay(size_t worker, int64_t owd_us);
  // The delay `delay` rooms add now.
  int64_t currentDelayUs() const;

  // Fair windows. opens/closes default as in protocol.md; settles_at = closes + grace.
  Result<WindowSpec> openWindow(const std::string& id, std::optional<int64_t> opens_at_us,
                                std::optional<int64_t> closes_at_us, std::optional<int64_t> duration_us,
                                int64_t now_us);
  FairWindow* window(const std::string& id);
  void eraseWindow(const std::string& id) { windows_.erase(id); }
  size_t windowCount() const { return windows_.size(); }

  // Drops expired history; true when the room is idle past its TTL and may be
  // forgotten (the caller also checks it has no subscribers).
  bool expire(int64_t now_us);
  int64_t lastActivityUs() const { return last_activity_us_; }
  void touch(int64_t now_us) { last_activity_us_ = now_us; }

 private:
  std::string name_;
  RoomPolicy policy_;
  Sequencer seq_;
  History history_;
  DedupCache dedup_;
  std::map<std::string, protocol::ClientInfo> presence_;
  std::map<size_t, int64_t> delay_reports_;  // worker -> one-way delay percentile (us)
  std::map<std::string, FairWindow> windows_;
  int64_t last_activity_us_;
};

}  // namespace tutti::sync
