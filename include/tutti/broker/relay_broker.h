#pragma once
// The edge's broker (docs/edge.md, "Rooms at the edge"): rooms are ordered by
// an origin, and relayed here. One upstream connection (the C++ SDK's Client:
// reconnects, gap detection, recovery, clock sync) to the first origin of
// [edge] origins that answers, failing over to the next; one upstream
// subscription per room with local subscribers. What arrives is kept in a
// RoomMirror per room (the origin's epoch, offsets, ts, at and media_ts, and
// its recent history) and fanned out to the local workers' hubs, so a client
// gets from an edge byte for byte the frames it would get from the origin, and
// recovers from the edge as it would from the origin.
//
// Presence: the edge's clients are listed at the origin (presence_relay, again
// after every upstream resubscription), and the origin's join and leave pushes
// are fanned out here to local subscribers who asked for them, so the list and
// the events are the room's, wherever its members connected.
//
// Adaptive delay: the edge's workers report their viewers' one-way delays per
// room (as at an origin); the edge sends the largest upstream (delay_report),
// and the origin adds it to the edge connection's own one-way delay.
//
// Publishes, window_open and actions are forwarded upstream with `relay`
// (the end user, and for actions the edge's read time and its measurements of
// the client), which the origin honours only from a token with `edge: true`.
//
// Threads. Every Broker call is made on a worker and answers on it, as the
// interface says. A room lives on its home worker (hash of its name), where
// its mirror is touched without locks. The SDK's callbacks run on the SDK's
// I/O thread and only post into the home worker (or the caller's worker).
// A control thread watches the upstream (failover) and copies its clock
// estimate into the OriginClock every 20 ms. The upstream Client pointer is
// behind a mutex taken once per forwarded command or upstream (un)subscribe,
// never per delivered publication.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tutti/broker/broker.h"
#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"

namespace tutti::sdk {
class Client;
struct Publication;
struct PresenceClient;
struct SubscribeResult;
}  // namespace tutti::sdk

namespace tutti::broker {

// The edge's clock: the origin's time as the edge estimates it (the upstream
// Client's clock sync), read lock-free. wallUs() is the system clock plus the
// latest offset estimate (refreshed every 20 ms; before the first sync, the
// system clock itself). monoUs() is the system's monotonic clock.
// Thread-safe.
class OriginClock final : public Clock {
 public:
  int64_t wallUs() const override;
  int64_t monoUs() const override;
  // origin - system clock, and the estimate's uncertainty (us).
  void set(int64_t offset_us, int64_t uncertainty_us);
  int64_t offsetUs() const { return offset_us_.load(std::memory_order_relaxed); }
  int64_t uncertaintyUs() const { return uncertainty_us_.load(std::memory_order_relaxed); }
  bool synced() const { return synced_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> offset_us_{0};
  std::atomic<int64_t> uncertainty_us_{0};
  std::atomic<bool> synced_{false};
};

struct RelayConfig {
  // "host:port" of each origin, in order of preference.
  std::vector<std::string> origins;
  // Called before every upstream connection attempt (on the SDK's thread):
  // a token with `edge: true` and permissions for every relayed room.
  std::function<std::string()> token_provider;
  // Upstream down this long: move to the next origin (with more than one).
  int64_t failover_ms = 3000;
  // A local subscriber waits this long for the upstream's first answer, then
  // gets error 100 (the origin is unreachable).
  int64_t subscribe_timeout_ms = 5000;
  // Forwarded commands: the SDK resends across upstream reconnects until this.
  int64_t request_timeout_ms = 10000;
  // A room nobody here subscribes to keeps its upstream subscription and
  // mirror this long (a client moving over from another edge can still
  // recover from it), at most the room rule's idle_ttl.
  int64_t linger_us = 60'000'000;
};

class RelayBroker final : public Broker {
 public:
  // executors[i] and sinks[i] belong to worker i; they, the clock and the
  // registry must outlive the broker.
  RelayBroker(RelayConfig config, std::vector<Executor*> executors, std::vector<WorkerSink*> sinks, PolicyFn policy,
              OriginClock& clock, metrics::Registry& registry);
  ~RelayBroker() override;

  // Connects upstream and starts the control thread.
  void start();
  // Closes the upstream (no SDK callback runs after it returns) and stops the
  // control thread. Call before the workers stop. Idempotent; not on a worker.
  void stop();

  void publish(PublishRequest req, std::function<void(Result<PublishResult>)> done) override;
  void subscribe(SubscribeRequest req, std::function<void(Result<sync::SubscribeSnapshot>)> done) override;
  void unsubscribe(const std::string& room, size_t worker, const std::string& session) override;
  void presence(const std::string& room, size_t worker,
                std::function<void(Result<std::vector<protocol::ClientInfo>>)> done) override;
  // Forwarded upstream as they come (an edge behind this one; not listed
  // again after an upstream reconnect, unlike this edge's own clients).
  void presenceJoin(const std::string& room, protocol::ClientInfo info, const std::string& via) override;
  void presenceLeave(const std::string& room, const std::string& session, const std::string& via) override;
  void history(const std::string& room, uint64_t since, size_t limit, size_t worker,
               std::function<void(Result<HistoryPage>)> done) override;
  void rooms(size_t worker, std::function<void(std::vector<RoomInfo>)> done) override;
  void tick(size_t worker) override;
  void openWindow(WindowRequest req, std::function<void(Result<sync::WindowSpec>)> done) override;
  void act(ActionRequest req, std::function<void(Result<ActionResult>)> done) override;
  // The origin computes `at`; the edge reports upstream how far beyond it
  // its viewers of the room are (the largest of its workers' percentiles,
  // delay_report), when that moves by a millisecond or more.
  void reportDelay(const std::string& room, size_t worker, int64_t owd_us) override;

  size_t homeOf(const std::string& room) const;
  // The origin the upstream connection uses now ("host:port").
  std::string currentOrigin() const;

 private:
  struct Shard;
  struct RoomState;
  RoomState& roomState(size_t home, const std::string& room);
  void upstreamSubscribe(size_t home, const std::string& room, RoomState& st,
                         std::optional<protocol::StreamPosition> from);
  void onUpstreamSubscribed(size_t home, const std::string& room, uint64_t gen, const sdk::SubscribeResult& res);
  void onUpstreamPublication(size_t home, const std::string& room, uint64_t gen, const sdk::Publication& pub);
  void onUpstreamError(size_t home, const std::string& room, uint64_t gen, const Error& e);
  void onUpstreamPresence(size_t home, const std::string& room, uint64_t gen, bool join, const sdk::PresenceClient& who);
  void relayPresence(const std::string& room, bool join, const protocol::ClientInfo& info);
  void sendDelay(const std::string& room, RoomState& st);
  void drain(size_t home, const std::string& room);
  void answerWaiting(size_t home, const std::string& room, RoomState& st);
  void resubscribeAll(size_t home);
  std::shared_ptr<sdk::Client> upstream() const;
  std::shared_ptr<sdk::Client> makeClient(size_t origin_index) const;
  void controlLoop();

  RelayConfig config_;
  std::vector<Executor*> executors_;
  std::vector<WorkerSink*> sinks_;
  PolicyFn policy_;
  OriginClock& clock_;
  metrics::Counter& relayed_;
  metrics::Counter& dropped_;
  metrics::Counter& failovers_;
  metrics::Gauge& upstream_up_;
  metrics::Gauge& sync_uncertainty_us_;
  std::vector<std::unique_ptr<Shard>> shards_;  // shards_[i] touched only on worker i

  mutable std::mutex mu_;  // guards client_, origin_index_, stopped_ (control path)
  std::shared_ptr<sdk::Client> client_;
  size_t origin_index_ = 0;
  bool stopped_ = false;
  std::condition_variable cv_;
  std::thread control_;
  // Upstream subscription generations: callbacks of an older one are ignored.
  std::atomic<uint64_t> next_gen_{1};
};

}  // namespace tutti::broker
