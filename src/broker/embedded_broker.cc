#include "tutti/broker/embedded_broker.h"

#include <cstdio>
#include <random>
#include <unordered_map>

#include "tutti/protocol/codes.h"

namespace tutti::broker {

struct EmbeddedBroker::RoomState {
  std::unique_ptr<sync::Room> room;
  std::vector<uint32_t> worker_refs;  // live subscriptions per worker
  size_t subscribers = 0;
  struct Pending {
    sync::PublishInput input;
    size_t worker;
    std::function<void(Result<PublishResult>)> done;
  };
  std::vector<Pending> pending;
  bool drain_scheduled = false;
  // Members listed by an edge: session -> the relaying connection's session.
  // Only that connection's leave (or its close) unlists them: after an
  // edge's reconnect its new connection takes them over, and the old one,
  // closed late, must not unlist them.
  std::unordered_map<std::string, std::string> relayed_by;
};

struct EmbeddedBroker::Shard {
  std::unordered_map<std::string, RoomState> rooms;
  std::mt19937_64 rng{std::random_device{}()};
};

EmbeddedBroker::EmbeddedBroker(std::vector<Executor*> executors, std::vector<WorkerSink*> sinks, PolicyFn policy,
                               const Clock& clock, sync::AuditLog* audit)
    : executors_(std::move(executors)), sinks_(std::move(sinks)), policy_(std::move(policy)), clock_(clock), audit_(audit) {
  for (size_t i = 0; i < executors_.size(); ++i) shards_.push_back(std::make_unique<Shard>());
}

EmbeddedBroker::~EmbeddedBroker() = default;

size_t EmbeddedBroker::homeOf(const std::string& room) const {
  return std::hash<std::string>{}(room) % executors_.size();
}

EmbeddedBroker::RoomState& EmbeddedBroker::roomState(size_t home, const std::string& room) {
  auto& shard = *shards_[home];
  auto it = shard.rooms.find(room);
  if (it != shard.rooms.end()) return it->second;
  // A new incarnation of the room: a fresh epoch tells recovering clients
  // that history from before cannot be trusted.
  char epoch[17];
  std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(shard.rng()));
  RoomState st;
  st.room = std::make_unique<sync::Room>(room, epoch, policy_(room), clock_.wallUs());
  st.worker_refs.assign(executors_.size(), 0);
  return shard.rooms.emplace(room, std::move(st)).first->second;
}

void EmbeddedBroker::publish(PublishRequest req, std::function<void(Result<PublishResult>)> done) {
  const size_t home = homeOf(req.room);
  executors_[home]->post([this, home, req = std::move(req), done = std::move(done)]() mutable {
    auto& st = roomState(home, req.room);
    st.pending.push_back({sync::PublishInput{std::move(req.data_json), std::move(req.dedup_key), req.at_us, req.delay_us, req.media_ts_us},
                          req.worker, std::move(done)});
    if (!st.drain_scheduled) {
      // Let publishes already queued on this worker join the batch.
      st.drain_scheduled = true;
      executors_[home]->post([this, home, room = req.room] { drain(home, room); });
    }
  });
}

void EmbeddedBroker::drain(size_t home, const std::string& room) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end()) return;
  auto& st = it->second;
  st.drain_scheduled = false;
  if (st.pending.empty()) return;
  auto pending = std::move(st.pending);
  st.pending.clear();

  std::vector<sync::PublishInput> inputs;
  inputs.reserve(pending.size());
  for (auto& p : pending) inputs.push_back(std::move(p.input));
  const auto acks = order(st, room, std::move(inputs));

  // One post per publishing worker with all its acks.
  std::vector<std::vector<std::pair<std::function<void(Result<PublishResult>)>, PublishResult>>> by_worker(
      executors_.size());
  const std::string& epoch = st.room->epoch();
  for (size_t i = 0; i < pending.size(); ++i) {
    by_worker[pending[i].worker].emplace_back(std::move(pending[i].done),
                                              PublishResult{epoch, acks[i].offset, acks[i].ts_us, acks[i].duplicate});
  }
  for (size_t w = 0; w < by_worker.size(); ++w) {
    if (by_worker[w].empty()) continue;
    executors_[w]->post([acks = std::move(by_worker[w])]() mutable {
      for (auto& [done, result] : acks) done(std::move(result));
    });
  }
}

std::vector<sync::PublishAck> EmbeddedBroker::order(RoomState& st, const std::string& room,
                                                    std::vector<sync::PublishInput> inputs) {
  std::vector<sync::PublishAck> acks;
  auto ordered = std::make_shared<std::vector<sync::Publication>>();
  st.room->publish(inputs, clock_.wallUs(), acks, *ordered);
  // Live output before acks: a publisher that is also a subscriber sees its
  // message before (or with) the ack, never a gap.
  if (!ordered->empty()) {
    Publications shared = std::move(ordered);
    postToSubscribedWorkers(executors_, sinks_, st.worker_refs,
                            [room, shared](WorkerSink& sink) { sink.deliver(room, shared); });
  }
  return acks;
}

void EmbeddedBroker::subscribe(SubscribeRequest req, std::function<void(Result<sync::SubscribeSnapshot>)> done) {
  const size_t home = homeOf(req.room);
  executors_[home]->post([this, home, req = std::move(req), done = std::move(done)]() mutable {
    auto& st = roomState(home, req.room);
    st.worker_refs[req.worker]++;
    st.subscribers++;
    st.room->touch(clock_.wallUs());
    // Everything up to snapshot.top is in the snapshot; everything after it
    // is posted to the worker after `done` (one FIFO queue per worker).
    auto snap = st.room->subscribe(req.recover);
    if (req.presence) join(st, req.room, *req.presence);
    executors_[req.worker]->post(
        [done = std::move(done), snap = std::move(snap)]() mutable { done(std::move(snap)); });
  });
}

void EmbeddedBroker::unsubscribe(const std::string& room, size_t worker, const std::string& session) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, worker, session] {
    auto it = shards_[home]->rooms.find(room);
    if (it == shards_[home]->rooms.end()) return;
    auto& st = it->second;
    if (st.worker_refs[worker] > 0) st.worker_refs[worker]--;
    if (st.subscribers > 0) st.subscribers--;
    st.room->touch(clock_.wallUs());
    if (!session.empty()) leave(st, room, session);
  });
}

void EmbeddedBroker::join(RoomState& st, const std::string& room, const protocol::ClientInfo& info) {
  if (!st.room->join(info)) return;
  Frame ev = std::make_shared<const std::string>(protocol::encodePresenceEvent(true, room, info));
  postToSubscribedWorkers(executors_, sinks_, st.worker_refs,
                          [room, ev](WorkerSink& sink) { sink.presenceEvent(room, ev); });
}

void EmbeddedBroker::leave(RoomState& st, const std::string& room, const std::string& session) {
  const auto* member = st.room->member(session);
  if (!member) return;
  const protocol::ClientInfo info = *member;
  st.room->leave(session);
  Frame ev = std::make_shared<const std::string>(protocol::encodePresenceEvent(false, room, info));
  postToSubscribedWorkers(executors_, sinks_, st.worker_refs,
                          [room, ev](WorkerSink& sink) { sink.presenceEvent(room, ev); });
}

void EmbeddedBroker::presenceJoin(const std::string& room, protocol::ClientInfo info, const std::string& via) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, info = std::move(info), via] {
    auto& st = roomState(home, room);
    st.room->touch(clock_.wallUs());
    if (st.room->member(info.session) && !st.relayed_by.count(info.session)) return;  // a local subscriber's session
    st.relayed_by[info.session] = via;
    join(st, room, info);
  });
}

void EmbeddedBroker::presenceLeave(const std::string& room, const std::string& session, const std::string& via) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, session, via] {
    auto it = shards_[home]->rooms.find(room);
    if (it == shards_[home]->rooms.end()) return;
    auto& st = it->second;
    auto by = st.relayed_by.find(session);
    if (by == st.relayed_by.end() || by->second != via) return;
    st.relayed_by.erase(by);
    st.room->touch(clock_.wallUs());
    leave(st, room, session);
  });
}

void EmbeddedBroker::presence(const std::string& room, size_t worker,
                              std::function<void(Result<std::vector<protocol::ClientInfo>>)> done) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, worker, done = std::move(done)]() mutable {
    std::vector<protocol::ClientInfo> list;
    auto it = shards_[home]->rooms.find(room);
    if (it != shards_[home]->rooms.end()) list = it->second.room->presence();
    executors_[worker]->post([done = std::move(done), list = std::move(list)]() mutable { done(std::move(list)); });
  });
}

void EmbeddedBroker::history(const std::string& room, uint64_t since, size_t limit, size_t worker,
                             std::function<void(Result<HistoryPage>)> done) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, since, limit, worker, done = std::move(done)]() mutable {
    Result<HistoryPage> result = makeError(404, "no such room");
    auto it = shards_[home]->rooms.find(room);
    if (it != shards_[home]->rooms.end()) {
      auto& r = *it->second.room;
      HistoryPage page;
      page.epoch = r.epoch();
      page.top = r.top();
      page.first_offset = r.history().firstOffset();
      page.publications = r.history().after(since, limit);
      result = std::move(page);
    }
    executors_[worker]->post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

void EmbeddedBroker::rooms(size_t worker, std::function<void(std::vector<RoomInfo>)> done) {
  gatherFromShards<RoomInfo>(
      executors_, worker,
      [this](size_t home) {
        std::vector<RoomInfo> part;
        for (auto& [name, st] : shards_[home]->rooms)
          part.push_back(RoomInfo{name, st.room->epoch(), st.room->top(), st.room->history().size(), st.subscribers,
                                  st.room->presenceCount()});
        return part;
      },
      std::move(done));
}

std::string EmbeddedBroker::audit(const std::string& fields) {
  if (!audit_) return {};
  auto h = audit_->append(fields);
  return h ? h.value() : std::string();
}

namespace {
std::string jstr(std::string_view s) {
  std::string out;
  protocol::appendJsonString(out, s);
  return out;
}
}  // namespace

void EmbeddedBroker::openWindow(WindowRequest req, std::function<void(Result<sync::WindowSpec>)> done) {
  const size_t home = homeOf(req.room);
  executors_[home]->post([this, home, req = std::move(req), done = std::move(done)]() mutable {
    auto& st = roomState(home, req.room);
    const int64_t now = clock_.wallUs();
    auto spec = st.room->openWindow(req.window, req.opens_at_us, req.closes_at_us, req.duration_us, now);
    if (spec) {
      const auto& w = spec.value();
      audit("\"event\":\"window_open\",\"room\":" + jstr(req.room) + ",\"window\":" + jstr(w.id) +
            ",\"opens_at\":" + std::to_string(w.opens_at_us) + ",\"closes_at\":" + std::to_string(w.closes_at_us) +
            ",\"settles_at\":" + std::to_string(w.settles_at_us) + ",\"by\":" + jstr(req.opened_by) +
            ",\"at\":" + std::to_string(now));
      // Announce it in the room's order, so every subscriber sees the same countdown.
      std::vector<sync::PublishInput> in(1);
      in[0].data_json = "{\"type\":\"window_open\",\"window\":" + jstr(w.id) + ",\"opens_at\":" +
                        std::to_string(w.opens_at_us) + ",\"closes_at\":" + std::to_string(w.closes_at_us) +
                        ",\"settles_at\":" + std::to_string(w.settles_at_us) + "}";
      order(st, req.room, std::move(in));
      executors_[home]->postAfter(std::max<int64_t>(0, w.settles_at_us - now),
                                  [this, home, room = req.room, id = w.id] { settle(home, room, id); });
    }
    executors_[req.worker]->post([done = std::move(done), spec = std::move(spec)]() mutable { done(std::move(spec)); });
  });
}

void EmbeddedBroker::settle(size_t home, const std::string& room, const std::string& id) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end()) return;
  auto& st = it->second;
  auto* w = st.room->window(id);
  if (!w) return;
  const int64_t now = clock_.wallUs();
  if (!w->settled(now)) {  // clocks disagree slightly: try again when due
    executors_[home]->postAfter(w->spec().settles_at_us - now, [this, home, room, id] { settle(home, room, id); });
    return;
  }
  std::string refused = "{";
  for (const auto& [reason, n] : w->refusedByReason()) {
    if (refused.size() > 1) refused += ',';
    refused += jstr(reason) + ":" + std::to_string(n);
  }
  refused += '}';
  const std::string hash =
      audit("\"event\":\"window_settled\",\"room\":" + jstr(room) + ",\"window\":" + jstr(id) +
            ",\"accepted\":" + std::to_string(w->accepted()) + ",\"refused\":" + refused + ",\"at\":" + std::to_string(now));
  std::vector<sync::PublishInput> in(1);
  in[0].data_json = "{\"type\":\"window_summary\",\"window\":" + jstr(id) + ",\"opens_at\":" +
                    std::to_string(w->spec().opens_at_us) + ",\"closes_at\":" + std::to_string(w->spec().closes_at_us) +
                    ",\"accepted\":" + std::to_string(w->accepted()) + ",\"refused\":" + refused +
                    ",\"audit_hash\":" + jstr(hash) + "}";
  order(st, room, std::move(in));
  // Keep the settled window a while to answer stragglers and replays, then forget it.
  executors_[home]->postAfter(60'000'000, [this, home, room, id] {
    auto r = shards_[home]->rooms.find(room);
    if (r != shards_[home]->rooms.end()) r->second.room->eraseWindow(id);
  });
}

void EmbeddedBroker::act(ActionRequest req, std::function<void(Result<ActionResult>)> done) {
  const size_t home = homeOf(req.room);
  executors_[home]->post([this, home, req = std::move(req), done = std::move(done)]() mutable {
    ActionResult result;
    auto it = shards_[home]->rooms.find(req.room);
    sync::FairWindow* w = it == shards_[home]->rooms.end() ? nullptr : it->second.room->window(req.window);
    auto& d = result.decision;
    if (!w) {
      d.reason = "unknown_window";
      d.stamp_us = req.input.stamp_us;
      d.received_us = req.input.received_us;
      d.gap_us = d.received_us - d.stamp_us;
    } else {
      d = w->decide(req.input);
    }
    if (!d.duplicate) {
      result.audit_hash = audit(
          "\"event\":\"decision\",\"room\":" + jstr(req.room) + ",\"window\":" + jstr(req.window) +
          ",\"user\":" + jstr(req.input.user) + ",\"client\":" + jstr(req.input.client) +
          ",\"action_id\":" + jstr(req.input.action_id) + ",\"stamp\":" + std::to_string(d.stamp_us) +
          ",\"received\":" + std::to_string(d.received_us) + ",\"gap\":" + std::to_string(d.gap_us) +
          ",\"expected_gap\":" + std::to_string(d.expected_gap_us) + ",\"allowed_deviation\":" +
          std::to_string(d.allowed_deviation_us) + ",\"decision\":" + (d.accepted ? "\"accepted\"" : "\"refused\"") +
          ",\"reason\":" + jstr(d.reason) + ",\"data\":" + req.data_json);
    }
    executors_[req.worker]->post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

void EmbeddedBroker::reportDelay(const std::string& room, size_t worker, int64_t owd_us) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, worker, owd_us] {
    auto it = shards_[home]->rooms.find(room);
    if (it != shards_[home]->rooms.end()) it->second.room->reportDelay(worker, owd_us);
  });
}

void EmbeddedBroker::tick(size_t worker) {
  auto& rooms = shards_[worker]->rooms;
  const int64_t now = clock_.wallUs();
  for (auto it = rooms.begin(); it != rooms.end();) {
    auto& st = it->second;
    if (st.room->expire(now) && st.subscribers == 0 && st.pending.empty() && !st.drain_scheduled)
      it = rooms.erase(it);
    else
      ++it;
  }
}

}  // namespace tutti::broker
