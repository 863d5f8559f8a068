#pragma once
// The broker orders rooms and keeps their history; the server's per-worker
// hubs fan its output out to sockets. This is the seam between one node
// (EmbeddedBroker: each room on a home worker, in memory) and a cluster
// (a JetStream-backed broker, later): the server talks only to this interface.
//
// Threads: every call names the worker it is made from and is made on that
// worker's thread; every callback runs on that same worker. Live output for a
// room goes to each worker that has subscribers, through its WorkerSink, in
// offset order.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tutti/core/result.h"
#include "tutti/protocol/codec.h"
#include "tutti/sync/publication.h"
#include "tutti/sync/room.h"

namespace tutti::broker {

using sync::Frame;
using Publications = std::shared_ptr<const std::vector<sync::Publication>>;

// How work reaches a worker's thread (implemented over the worker's event loop).
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void post(std::function<void()> fn) = 0;
  // Runs fn on this worker after delay_us (steady time). For window settling.
  virtual void postAfter(int64_t delay_us, std::function<void()> fn) = 0;
};

// A worker's fan-out, called on that worker's thread.
class WorkerSink {
 public:
  virtual ~WorkerSink() = default;
  // Live publications of a room: contiguous offsets, in order, never repeated.
  virtual void deliver(const std::string& room, const Publications& pubs) = 0;
  // A join or leave push, for local subscribers that opted in to presence.
  virtual void presenceEvent(const std::string& room, const Frame& frame) = 0;
};

struct PublishRequest {
  std::string room;
  size_t worker = 0;
  std::string data_json;
  std::string dedup_key;  // empty: no de-duplication
  std::optional<int64_t> at_us = std::nullopt;  // scheduled delivery overrides (docs/protocol.md)
  std::optional<int64_t> delay_us = std::nullopt;
  std::optional<int64_t> media_ts_us = std::nullopt;  // the video frame it belongs to (docs/media.md)
  // Who publishes: what dedup_key was built from. The embedded broker needs
  // only dedup_key; a relay (the edge's RelayBroker) forwards these so the
  // origin de-duplicates per end user, wherever they connected.
  std::string user = {};
  std::string client = {};
  std::string client_msg_id = {};
};

struct PublishResult {
  std::string epoch;
  uint64_t offset = 0;
  int64_t ts_us = 0;
  bool duplicate = false;
};

struct SubscribeRequest {
  std::string room;
  size_t worker = 0;
  std::optional<protocol::StreamPosition> recover;
  // Present when the room has presence on: the subscriber joins the list.
  std::optional<protocol::ClientInfo> presence;
};

struct WindowRequest {
  std::string room;
  std::string window;
  std::optional<int64_t> opens_at_us;
  std::optional<int64_t> closes_at_us;
  std::optional<int64_t> duration_us;
  size_t worker = 0;
  std::string opened_by;  // user (or "api"), for the audit log
};

struct ActionRequest {
  std::string room;
  std::string window;
  sync::ActionInput input;
  std::string data_json;
  size_t worker = 0;
};

struct ActionResult {
  sync::Decision decision;
  std::string audit_hash;  // hash of the audit line recording it ("" without an audit log)
};

struct HistoryPage {
  std::string epoch;
  uint64_t top = 0;
  uint64_t first_offset = 0;
  std::vector<sync::Publication> publications;
};

struct RoomInfo {
  std::string room;
  std::string epoch;
  uint64_t top = 0;
  size_t history = 0;
  size_t subscribers = 0;
  size_t presence = 0;
};

class Broker {
 public:
  virtual ~Broker() = default;

  virtual void publish(PublishRequest req, std::function<void(Result<PublishResult>)> done) = 0;
  // Registers the worker for the room's live output, then answers with the
  // snapshot; every live publication after snapshot.top reaches the worker's
  // sink after `done` has run.
  virtual void subscribe(SubscribeRequest req, std::function<void(Result<sync::SubscribeSnapshot>)> done) = 0;
  // One call per earlier successful subscribe. session: leaves presence ("" = none).
  virtual void unsubscribe(const std::string& room, size_t worker, const std::string& session) = 0;

  virtual void presence(const std::string& room, size_t worker,
                        std::function<void(Result<std::vector<protocol::ClientInfo>>)> done) = 0;
  // A client connected elsewhere (an edge's, docs/edge.md) joins or leaves
  // the room's presence, with the same push as a subscriber's own join or
  // leave. `via` names the relaying connection (its session): a join of a
  // listed session only moves it to `via` (no push), and a leave counts only
  // from the connection that listed it last.
  virtual void presenceJoin(const std::string& room, protocol::ClientInfo info, const std::string& via) = 0;
  virtual void presenceLeave(const std::string& room, const std::string& session, const std::string& via) = 0;
  virtual void history(const std::string& room, uint64_t since, size_t limit, size_t worker,
                       std::function<void(Result<HistoryPage>)> done) = 0;
  virtual void rooms(size_t worker, std::function<void(std::vector<RoomInfo>)> done) = 0;

  // Fair windows (docs/sync.md). Opening publishes a `window_open` message to
  // the room; at settles_at a `window_summary` follows. Every decision is
  // appended to the audit log when there is one. An action for an unknown
  // window is refused with reason unknown_window.
  virtual void openWindow(WindowRequest req, std::function<void(Result<sync::WindowSpec>)> done) = 0;
  virtual void act(ActionRequest req, std::function<void(Result<ActionResult>)> done) = 0;

  // Adaptive delay input: this worker's percentile of its subscribers'
  // one-way delays in the room (0 = no subscribers there).
  virtual void reportDelay(const std::string& room, size_t worker, int64_t owd_us) = 0;

  // Periodic housekeeping for the rooms homed on this worker (expiry, GC).
  virtual void tick(size_t worker) = 0;
};

// Runs part(home) on every shard's executor and calls done, on `worker`'s
// executor, with the parts concatenated once every shard has answered (the
// rooms listing of both brokers).
template <typename T>
void gatherFromShards(const std::vector<Executor*>& executors, size_t worker,
                      std::function<std::vector<T>(size_t home)> part, std::function<void(std::vector<T>)> done) {
  struct Gather {
    std::vector<T> all;
    size_t remaining;
    std::function<void(std::vector<T>)> done;
  };
  auto g = std::make_shared<Gather>(Gather{{}, executors.size(), std::move(done)});
  auto shared_part = std::make_shared<std::function<std::vector<T>(size_t)>>(std::move(part));
  for (size_t home = 0; home < executors.size(); ++home)
    executors[home]->post([&executors, home, worker, g, shared_part] {
      executors[worker]->post([g, got = (*shared_part)(home)]() mutable {
        for (auto& x : got) g->all.push_back(std::move(x));
        if (--g->remaining == 0) g->done(std::move(g->all));
      });
    });
}

// Posts fn(sink) to each worker that has subscribers of a room (refs[w] > 0),
// to run there: the fan-out of a room's publications and presence events.
template <typename F>
void postToSubscribedWorkers(const std::vector<Executor*>& executors, const std::vector<WorkerSink*>& sinks,
                             const std::vector<uint32_t>& refs, const F& fn) {
  for (size_t w = 0; w < executors.size(); ++w)
    if (refs[w] != 0) executors[w]->post([sink = sinks[w], fn] { fn(*sink); });
}

using PolicyFn = std::function<sync::RoomPolicy(const std::string& room)>;

}  // namespace tutti::broker
