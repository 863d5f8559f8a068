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
#include "tutti/sync/dedup.h"
#include "tutti/sync/history.h"
#include "tutti/sync/sequencer.h"

namespace tutti::sync {

struct RoomPolicy {
  size_t history_size = 1000;
  int64_t history_ttl_us = 300'000'000;
  bool presence = true;
  bool clients_may_publish = true;
  int64_t dedup_window_us = 300'000'000;
  size_t dedup_max_entries = 10000;
  int64_t idle_ttl_us = 600'000'000;
};

struct PublishInput {
  std::string data_json;
  std::string dedup_key;  // empty: no de-duplication
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
  void join(const protocol::ClientInfo& info) { presence_[info.session] = info; }
  bool leave(const std::string& session) { return presence_.erase(session) > 0; }
  std::vector<protocol::ClientInfo> presence() const;
  size_t presenceCount() const { return presence_.size(); }

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
  int64_t last_activity_us_;
};

}  // namespace tutti::sync
