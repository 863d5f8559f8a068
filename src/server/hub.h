#pragma once
// A worker's fan-out: which of its connections subscribe to which room.
// Thread: its worker only (the broker calls deliver() there). No locks: the
// broker posts each room's batch here once; this loop queues a reference to
// the same frame on each local subscriber.

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tutti/broker/broker.h"

namespace tutti::server {

class Connection;

// Per-connection state of one subscription; owned by the Connection, the hub
// keeps a pointer while the subscription is live.
struct Subscription {
  uint64_t generation = 0;       // tells a stale broker answer from the current subscription
  bool active = false;           // snapshot received: live frames flow
  bool presence_events = false;  // opted in to join/leave pushes
  bool in_presence = false;      // counted in the room's presence list
  uint64_t last_offset = 0;      // last offset queued to the client
  // An edge's subscription: how far beyond the edge its viewers of the room
  // are (delay_report, us), added to the edge's own one-way delay.
  int64_t downstream_owd_us = 0;
};

class WorkerHub final : public broker::WorkerSink {
 public:
  explicit WorkerHub(size_t index) : index_(index) {}
  size_t index() const { return index_; }

  void addConnection(Connection* c) { connections_.insert(c); }
  void removeConnection(Connection* c) { connections_.erase(c); }
  const std::unordered_set<Connection*>& connections() const { return connections_; }

  void addSubscriber(const std::string& room, Connection* c, Subscription* s);
  void removeSubscriber(const std::string& room, Connection* c);

  // For each local room whose percentile(room) >= 0: that percentile of its
  // subscribers' one-way delays (us). Rooms reported before and gone since
  // are reported with 0, so the home forgets this worker's figure.
  std::vector<std::pair<std::string, int64_t>> delayPercentiles(const std::function<double(const std::string&)>& percentile);
  // Local subscribers of a room, for telemetry.
  std::vector<Connection*> subscribersOf(const std::string& room) const;

  void deliver(const std::string& room, const broker::Publications& pubs) override;
  void presenceEvent(const std::string& room, const broker::Frame& frame) override;

 private:
  struct Subscriber {
    Connection* conn;
    Subscription* sub;
  };
  size_t index_;
  std::unordered_set<Connection*> connections_;
  std::unordered_map<std::string, std::vector<Subscriber>> rooms_;
  std::unordered_set<std::string> reported_;  // rooms with a delay report outstanding
};

}  // namespace tutti::server
