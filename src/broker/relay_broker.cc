#include "tutti/broker/relay_broker.h"

#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <unordered_map>

#include "tutti/broker/room_mirror.h"
#include "tutti/core/log.h"
#include "tutti/protocol/codes.h"
#include "tutti/sdk/client.h"

namespace tutti::broker {

// ---- OriginClock ----

int64_t OriginClock::wallUs() const {
  return SystemClock::instance().wallUs() + offset_us_.load(std::memory_order_relaxed);
}
int64_t OriginClock::monoUs() const { return SystemClock::instance().monoUs(); }
void OriginClock::set(int64_t offset_us, int64_t uncertainty_us) {
  offset_us_.store(offset_us, std::memory_order_relaxed);
  uncertainty_us_.store(uncertainty_us, std::memory_order_relaxed);
  synced_.store(true, std::memory_order_relaxed);
}

// ---- rooms ----

struct RelayBroker::RoomState {
  explicit RoomState(const sync::RoomPolicy& p) : mirror(p.history_size, p.history_ttl_us), policy(p) {}
  RoomMirror mirror;
  sync::RoomPolicy policy;
  std::vector<uint32_t> worker_refs;  // live local subscriptions per worker
  size_t subscribers = 0;
  // The upstream subscription whose callbacks count (0 = none).
  uint64_t up_gen = 0;
  // Local subscribers waiting for the mirror to catch up with the upstream.
  struct Waiting {
    SubscribeRequest req;
    std::function<void(Result<sync::SubscribeSnapshot>)> done;
    int64_t since_us;
  };
  std::vector<Waiting> waiting;
  // Upstream publications not yet fanned out (one post per worker per batch).
  std::vector<sync::Publication> batch;
  bool drain_scheduled = false;
  int64_t idle_since_us = 0;
  // This edge's clients in the room's presence, listed at the origin with
  // presence_relay: again after every upstream (re)subscription, since a
  // lost upstream connection unlists them there.
  std::map<std::string, protocol::ClientInfo> members;
  bool up_ready = false;  // the current upstream subscription has answered
  // Adaptive delay: each worker's percentile of its viewers' one-way delays,
  // and what the origin was last told (0 = nothing).
  std::map<size_t, int64_t> delay_reports;
  int64_t delay_sent_us = 0;
};

struct RelayBroker::Shard {
  std::unordered_map<std::string, RoomState> rooms;
};

RelayBroker::RelayBroker(RelayConfig config, std::vector<Executor*> executors, std::vector<WorkerSink*> sinks,
                         PolicyFn policy, OriginClock& clock, metrics::Registry& registry)
    : config_(std::move(config)),
      executors_(std::move(executors)),
      sinks_(std::move(sinks)),
      policy_(std::move(policy)),
      clock_(clock),
      relayed_(registry.counter("tutti_edge_relayed_publications_total",
                                "Publications received from the origin and fanned out by this edge")),
      dropped_(registry.counter("tutti_edge_relay_dropped_total",
                                "Upstream publications that did not continue a room's mirror (dropped)")),
      failovers_(registry.counter("tutti_edge_upstream_failovers_total", "Moves of the rooms' upstream to another origin")),
      upstream_up_(registry.gauge("tutti_edge_upstream_connected", "1 while the rooms' upstream connection is up")),
      sync_uncertainty_us_(registry.gauge("tutti_edge_clock_uncertainty_us",
                                          "Uncertainty of this edge's estimate of the origin's clock (us)")) {
  for (size_t i = 0; i < executors_.size(); ++i) shards_.push_back(std::make_unique<Shard>());
}

RelayBroker::~RelayBroker() { stop(); }

size_t RelayBroker::homeOf(const std::string& room) const {
  return std::hash<std::string>{}(room) % executors_.size();
}

std::shared_ptr<sdk::Client> RelayBroker::makeClient(size_t origin_index) const {
  sdk::ClientOptions o;
  o.url = "ws://" + config_.origins[origin_index] + "/ws";
  o.token_provider = config_.token_provider;
  o.name = "tutti-edge/" TUTTI_VERSION;
  o.request_timeout_ms = config_.request_timeout_ms;
  o.connect_timeout_ms = 3000;
  o.backoff_max_ms = 1000;
  auto c = std::make_shared<sdk::Client>(std::move(o));
  (void)c->connect();
  return c;
}

void RelayBroker::start() {
  std::lock_guard lock(mu_);
  if (client_ || stopped_ || config_.origins.empty()) return;
  client_ = makeClient(0);
  control_ = std::thread([this] { controlLoop(); });
}

void RelayBroker::stop() {
  std::shared_ptr<sdk::Client> c;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    c = std::move(client_);
  }
  cv_.notify_all();
  if (control_.joinable()) control_.join();
  if (c) c->close();  // pending forwarded commands fail now, on the SDK thread
  c.reset();          // the last owner, normally: joins the SDK's thread
}

std::shared_ptr<sdk::Client> RelayBroker::upstream() const {
  std::lock_guard lock(mu_);
  return client_;
}

std::string RelayBroker::currentOrigin() const {
  std::lock_guard lock(mu_);
  return config_.origins.empty() ? std::string() : config_.origins[origin_index_];
}

void RelayBroker::controlLoop() {
  using Steady = std::chrono::steady_clock;
  std::optional<Steady::time_point> down_since;
  std::deque<std::pair<Steady::time_point, std::shared_ptr<sdk::Client>>> retired;
  std::unique_lock lock(mu_);
  while (!stopped_) {
    cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (stopped_) break;
    auto c = client_;
    lock.unlock();
    const auto now = Steady::now();
    // The edge's clock is the origin's, as the upstream's sync estimates it.
    const auto st = c->syncStats();
    if (st.synced) {
      clock_.set(st.offset_us, st.uncertainty_us);
      sync_uncertainty_us_.set(st.uncertainty_us);
    }
    const bool up = c->state() == sdk::State::kConnected;
    upstream_up_.set(up ? 1 : 0);
    if (up) down_since.reset();
    else if (!down_since) down_since = now;
    std::shared_ptr<sdk::Client> old;
    if (down_since && config_.origins.size() > 1 &&
        now - *down_since > std::chrono::milliseconds(config_.failover_ms)) {
      lock.lock();
      origin_index_ = (origin_index_ + 1) % config_.origins.size();
      log::warn("edge upstream down, failing over", {{"to", config_.origins[origin_index_]}});
      old = std::move(client_);
      client_ = makeClient(origin_index_);
      lock.unlock();
      failovers_.inc();
      down_since.reset();
      // Every room resubscribes on the new upstream from its mirror's position.
      for (size_t w = 0; w < executors_.size(); ++w) executors_[w]->post([this, w] { resubscribeAll(w); });
    }
    if (old) {
      old->close();  // here, not on a worker: a close may wait for its handshake
      retired.emplace_back(now, std::move(old));
    }
    // A worker may hold a copy for the length of one call: destroy late, here.
    while (!retired.empty() && now - retired.front().first > std::chrono::seconds(10)) retired.pop_front();
    c.reset();
    lock.lock();
  }
  lock.unlock();
  retired.clear();
}

RelayBroker::RoomState& RelayBroker::roomState(size_t home, const std::string& room) {
  auto& shard = *shards_[home];
  auto it = shard.rooms.find(room);
  if (it != shard.rooms.end()) return it->second;
  RoomState st(policy_(room));
  st.worker_refs.assign(executors_.size(), 0);
  return shard.rooms.emplace(room, std::move(st)).first->second;
}

void RelayBroker::upstreamSubscribe(size_t home, const std::string& room, RoomState& st,
                                    std::optional<protocol::StreamPosition> from) {
  auto c = upstream();
  if (!c) return;
  const uint64_t gen = next_gen_.fetch_add(1);
  st.up_gen = gen;
  sdk::SubscriptionHandlers h;
  // On the SDK's thread: post, in order, into the room's home worker.
  h.on_publication = [this, home, room, gen](const sdk::Publication& p) {
    executors_[home]->post([this, home, room, gen, p] { onUpstreamPublication(home, room, gen, p); });
  };
  h.on_subscribed = [this, home, room, gen](const sdk::SubscribeResult& r) {
    executors_[home]->post([this, home, room, gen, r] { onUpstreamSubscribed(home, room, gen, r); });
  };
  h.on_error = [this, home, room, gen](const Error& e) {
    executors_[home]->post([this, home, room, gen, e] { onUpstreamError(home, room, gen, e); });
  };
  h.on_join = [this, home, room, gen](const sdk::PresenceClient& c) {
    executors_[home]->post([this, home, room, gen, c] { onUpstreamPresence(home, room, gen, true, c); });
  };
  h.on_leave = [this, home, room, gen](const sdk::PresenceClient& c) {
    executors_[home]->post([this, home, room, gen, c] { onUpstreamPresence(home, room, gen, false, c); });
  };
  st.up_ready = false;
  sdk::SubscribeOptions o;
  o.hold_until_at = false;  // relay at once; the end clients hold until `at`
  o.presence = st.policy.presence;  // joins and leaves, to fan out to local subscribers who asked
  if (from) o.recover = sdk::Position{from->epoch, from->offset};
  (void)c->subscribe(room, std::move(h), std::move(o));
}

void RelayBroker::resubscribeAll(size_t home) {
  for (auto& [room, st] : shards_[home]->rooms) {
    if (st.up_gen == 0 && st.subscribers == 0 && st.waiting.empty()) continue;
    std::optional<protocol::StreamPosition> from;
    if (st.mirror.started()) from = protocol::StreamPosition{st.mirror.epoch(), st.mirror.top()};
    else if (!st.waiting.empty() && st.waiting.front().req.recover) from = st.waiting.front().req.recover;
    upstreamSubscribe(home, room, st, std::move(from));
  }
}

void RelayBroker::subscribe(SubscribeRequest req, std::function<void(Result<sync::SubscribeSnapshot>)> done) {
  const size_t home = homeOf(req.room);
  executors_[home]->post([this, home, req = std::move(req), done = std::move(done)]() mutable {
    auto& st = roomState(home, req.room);
    st.worker_refs[req.worker]++;
    st.subscribers++;
    if (st.up_gen == 0) {
      // The room's first subscriber here: the upstream subscription starts
      // from its position, so the mirror covers what it missed.
      if (req.recover) st.mirror.recoverFrom(*req.recover);
      upstreamSubscribe(home, req.room, st, req.recover);
    }
    if (req.presence) {
      const auto& info = st.members[req.presence->session] = *req.presence;
      if (st.up_ready) relayPresence(req.room, true, info);
    }
    const std::string room = req.room;
    st.waiting.push_back({std::move(req), std::move(done), clock_.monoUs()});
    answerWaiting(home, room, st);
  });
}

void RelayBroker::answerWaiting(size_t home, const std::string& room, RoomState& st) {
  (void)home;
  (void)room;
  if (!st.mirror.caughtUp() || st.waiting.empty()) return;
  // Everything up to the mirror's top is in the snapshot; later publications
  // reach the worker after the answer (one FIFO queue per worker), as at the origin.
  for (auto& w : st.waiting) {
    auto snap = st.mirror.subscribe(w.req.recover);
    executors_[w.req.worker]->post(
        [done = std::move(w.done), snap = std::move(snap)]() mutable { done(std::move(snap)); });
  }
  st.waiting.clear();
}

void RelayBroker::onUpstreamSubscribed(size_t home, const std::string& room, uint64_t gen,
                                       const sdk::SubscribeResult& res) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end() || it->second.up_gen != gen) return;
  auto& st = it->second;
  drain(home, room);  // what came before belongs to the mirror's past
  const bool recovered = res.recovered.value_or(false);
  if (!recovered && st.mirror.started())
    log::info("edge room restarted from the origin",
              {{"room", room}, {"epoch", res.epoch}, {"reason", res.reason.empty() ? "none" : res.reason}});
  st.mirror.upstreamSubscribed(res.epoch, res.offset, recovered);
  answerWaiting(home, room, st);
  // Each subscribe reply may follow a new upstream connection, where nobody
  // of ours is listed: list them all (a listed one is a no-op at the origin).
  st.up_ready = true;
  for (const auto& [session, info] : st.members) relayPresence(room, true, info);
  st.delay_sent_us = 0;  // a new upstream connection knows nothing of it
  sendDelay(room, st);
}

void RelayBroker::reportDelay(const std::string& room, size_t worker, int64_t owd_us) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, worker, owd_us] {
    auto it = shards_[home]->rooms.find(room);
    if (it == shards_[home]->rooms.end()) return;
    auto& st = it->second;
    if (owd_us <= 0) st.delay_reports.erase(worker);
    else st.delay_reports[worker] = owd_us;
    sendDelay(room, st);
  });
}

void RelayBroker::sendDelay(const std::string& room, RoomState& st) {
  if (!st.up_ready) return;  // sent once the upstream subscription answers
  int64_t worst = 0;
  for (const auto& [_, v] : st.delay_reports) worst = std::max(worst, v);
  const bool moved = worst != st.delay_sent_us &&
                     (worst == 0 || st.delay_sent_us == 0 || std::abs(worst - st.delay_sent_us) >= 1000);
  if (!moved) return;
  auto c = upstream();
  if (!c) return;
  st.delay_sent_us = worst;
  c->reportDelay(room, worst, [room](Result<void> r) {
    if (!r) log::warn("edge: the origin refused a delay report", {{"room", room}, {"error", r.error().message}});
  });
}

void RelayBroker::onUpstreamPresence(size_t home, const std::string& room, uint64_t gen, bool join,
                                     const sdk::PresenceClient& who) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end() || it->second.up_gen != gen) return;
  auto& st = it->second;
  drain(home, room);  // publications that came before it go out before it
  Frame ev = std::make_shared<const std::string>(
      protocol::encodePresenceEvent(join, room, protocol::ClientInfo{who.session, who.user, who.client}));
  postToSubscribedWorkers(executors_, sinks_, st.worker_refs,
                          [room, ev](WorkerSink& sink) { sink.presenceEvent(room, ev); });
}

void RelayBroker::relayPresence(const std::string& room, bool join, const protocol::ClientInfo& info) {
  auto c = upstream();
  if (!c) return;
  c->relayPresence(room, join, sdk::PresenceClient{info.session, info.user, info.client}, [room](Result<void> r) {
    if (!r) log::warn("edge: the origin refused a presence change", {{"room", room}, {"error", r.error().message}});
  });
}

void RelayBroker::onUpstreamPublication(size_t home, const std::string& room, uint64_t gen,
                                        const sdk::Publication& pub) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end() || it->second.up_gen != gen) return;
  auto& st = it->second;
  if (pub.epoch != st.mirror.epoch()) {
    dropped_.inc();
    return;
  }
  // The origin's frame again, field for field: the same codec, the same
  // values; the SDK hands `data` back as Boost.JSON's compact serialisation,
  // which is what the origin's codec wrote.
  auto pf = protocol::encodePub(room, pub.epoch, pub.offset, pub.ts, pub.data, pub.at_us, pub.media_ts_us);
  sync::Publication p;
  p.offset = pub.offset;
  p.ts_us = pub.ts;
  p.data_pos = static_cast<uint32_t>(pf.data_pos);
  p.data_len = static_cast<uint32_t>(pf.data_len);
  p.frame = std::make_shared<const std::string>(std::move(pf.bytes));
  if (!st.mirror.append(p, clock_.wallUs())) {
    dropped_.inc();
    return;
  }
  relayed_.inc();
  st.batch.push_back(std::move(p));
  if (!st.drain_scheduled) {
    // Publications already queued on this worker join the batch.
    st.drain_scheduled = true;
    executors_[home]->post([this, home, room] { drain(home, room); });
  }
  answerWaiting(home, room, st);
}

void RelayBroker::drain(size_t home, const std::string& room) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end()) return;
  auto& st = it->second;
  st.drain_scheduled = false;
  if (st.batch.empty()) return;
  Publications shared = std::make_shared<const std::vector<sync::Publication>>(std::move(st.batch));
  st.batch.clear();
  postToSubscribedWorkers(executors_, sinks_, st.worker_refs,
                          [room, shared](WorkerSink& sink) { sink.deliver(room, shared); });
}

void RelayBroker::onUpstreamError(size_t home, const std::string& room, uint64_t gen, const Error& e) {
  auto it = shards_[home]->rooms.find(room);
  if (it == shards_[home]->rooms.end() || it->second.up_gen != gen) return;
  auto& st = it->second;
  log::warn("edge: the origin refused a room", {{"room", room}, {"code", std::to_string(e.code)}, {"error", e.message}});
  st.up_gen = 0;
  st.up_ready = false;  // the SDK dropped the room; the next local subscriber tries again
  for (auto& w : st.waiting) {
    st.worker_refs[w.req.worker]--;
    st.subscribers--;
    executors_[w.req.worker]->post([done = std::move(w.done), e] { done(e); });
  }
  st.waiting.clear();
}

void RelayBroker::unsubscribe(const std::string& room, size_t worker, const std::string& session) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, worker, session] {
    auto it = shards_[home]->rooms.find(room);
    if (it == shards_[home]->rooms.end()) return;
    auto& st = it->second;
    if (auto m = st.members.find(session); m != st.members.end()) {
      if (st.up_ready) relayPresence(room, false, m->second);
      st.members.erase(m);
    }
    if (st.worker_refs[worker] > 0) st.worker_refs[worker]--;
    if (st.subscribers > 0) st.subscribers--;
    if (st.subscribers == 0) st.idle_since_us = clock_.monoUs();
  });
}

void RelayBroker::tick(size_t worker) {
  auto& rooms = shards_[worker]->rooms;
  const int64_t mono = clock_.monoUs();
  const int64_t wall = clock_.wallUs();
  for (auto it = rooms.begin(); it != rooms.end();) {
    auto& [room, st] = *it;
    st.mirror.trim(wall);
    // Local subscribers the upstream has not answered in time.
    for (size_t i = 0; i < st.waiting.size();) {
      auto& w = st.waiting[i];
      if (mono - w.since_us < config_.subscribe_timeout_ms * 1000) {
        ++i;
        continue;
      }
      st.worker_refs[w.req.worker]--;
      st.subscribers--;
      executors_[w.req.worker]->post([done = std::move(w.done)] {
        done(makeError(code::kInternal, "the origin did not answer in time"));
      });
      st.waiting.erase(st.waiting.begin() + static_cast<std::ptrdiff_t>(i));
      if (st.subscribers == 0) st.idle_since_us = mono;
    }
    const int64_t linger = std::min(config_.linger_us, st.policy.idle_ttl_us);
    if (st.subscribers == 0 && st.waiting.empty() && !st.drain_scheduled && mono - st.idle_since_us > linger) {
      if (st.up_gen != 0)
        if (auto c = upstream()) (void)c->unsubscribe(room);
      it = rooms.erase(it);
    } else {
      ++it;
    }
  }
}

void RelayBroker::publish(PublishRequest req, std::function<void(Result<PublishResult>)> done) {
  auto c = upstream();
  if (!c) return done(makeError(code::kInternal, "no upstream (edge stopping)"));
  sdk::PublishOptions o;
  o.client_msg_id = req.client_msg_id;
  o.at_us = req.at_us;
  if (req.delay_us) o.delay_ms = *req.delay_us / 1000;
  o.media_ts_us = req.media_ts_us;
  o.relay = sdk::Relay{req.user, req.client};
  const size_t home = homeOf(req.room);
  // The ack goes through the room's home worker, behind the publication
  // itself (both come from the SDK's thread in the origin's order): a
  // publisher subscribed here sees its message before or with the ack, as at
  // the origin.
  c->publish(req.room, req.data_json, std::move(o),
             [this, home, room = req.room, worker = req.worker, done = std::move(done)](Result<sdk::PublishAck> r) mutable {
               executors_[home]->post([this, home, room, worker, done = std::move(done), r = std::move(r)]() mutable {
                 drain(home, room);
                 Result<PublishResult> out = r ? Result<PublishResult>(PublishResult{r->epoch, r->offset, r->ts, r->duplicate})
                                               : Result<PublishResult>(r.error());
                 executors_[worker]->post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
               });
             });
}

void RelayBroker::openWindow(WindowRequest req, std::function<void(Result<sync::WindowSpec>)> done) {
  auto c = upstream();
  if (!c) return done(makeError(code::kInternal, "no upstream (edge stopping)"));
  sdk::WindowSpec spec;
  spec.opens_at_us = req.opens_at_us;
  spec.closes_at_us = req.closes_at_us;
  if (req.duration_us) spec.duration_ms = *req.duration_us / 1000;
  spec.relay = sdk::Relay{req.opened_by, ""};
  c->openWindow(req.room, req.window, spec,
                [this, worker = req.worker, done = std::move(done)](Result<sdk::WindowInfo> r) mutable {
                  Result<sync::WindowSpec> out =
                      r ? Result<sync::WindowSpec>(sync::WindowSpec{r->window, r->opens_at, r->closes_at, r->settles_at})
                        : Result<sync::WindowSpec>(r.error());
                  executors_[worker]->post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
                });
}

void RelayBroker::act(ActionRequest req, std::function<void(Result<ActionResult>)> done) {
  auto c = upstream();
  if (!c) return done(makeError(code::kInternal, "no upstream (edge stopping)"));
  const auto& in = req.input;
  sdk::ActOptions o;
  o.action_id = in.action_id;
  o.stamp_us = in.stamp_us;  // the client's synced stamp, untouched
  o.relay = sdk::Relay{in.user, in.client, in.received_us, in.rtt_min_us, in.rtt_max_us, in.permitted};
  c->act(req.room, req.window, req.data_json, std::move(o),
         [this, worker = req.worker, done = std::move(done)](Result<sdk::ActionDecision> r) mutable {
           Result<ActionResult> out = makeError(0, "");
           if (!r) {
             out = r.error();
           } else {
             ActionResult a;
             auto& d = a.decision;
             d.accepted = r->accepted;
             d.reason = r->reason;
             d.duplicate = r->duplicate;
             d.stamp_us = r->stamp;
             d.received_us = r->received;
             d.gap_us = r->gap_us.value_or(r->received - r->stamp);
             d.expected_gap_us = r->expected_gap_us.value_or(-1);
             out = std::move(a);
           }
           executors_[worker]->post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
         });
}

void RelayBroker::presence(const std::string& room, size_t worker,
                           std::function<void(Result<std::vector<protocol::ClientInfo>>)> done) {
  auto c = upstream();
  if (!c) return done(makeError(code::kInternal, "no upstream (edge stopping)"));
  c->presence(room, [this, worker, done = std::move(done)](Result<sdk::PresenceResult> r) mutable {
    Result<std::vector<protocol::ClientInfo>> out = makeError(0, "");
    if (!r) {
      out = r.error();
    } else {
      std::vector<protocol::ClientInfo> list;
      for (auto& m : r->clients) list.push_back({m.session, m.user, m.client});
      out = std::move(list);
    }
    executors_[worker]->post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  });
}

void RelayBroker::presenceJoin(const std::string& room, protocol::ClientInfo info, const std::string&) {
  relayPresence(room, true, info);
}

void RelayBroker::presenceLeave(const std::string& room, const std::string& session, const std::string&) {
  relayPresence(room, false, protocol::ClientInfo{session, "", ""});
}

void RelayBroker::history(const std::string& room, uint64_t since, size_t limit, size_t worker,
                          std::function<void(Result<HistoryPage>)> done) {
  const size_t home = homeOf(room);
  executors_[home]->post([this, home, room, since, limit, worker, done = std::move(done)]() mutable {
    Result<HistoryPage> result = makeError(404, "no such room on this edge");
    auto it = shards_[home]->rooms.find(room);
    if (it != shards_[home]->rooms.end() && it->second.mirror.started()) {
      const auto& m = it->second.mirror;
      HistoryPage page;
      page.epoch = m.epoch();
      page.top = m.top();
      page.first_offset = m.history().firstOffset();
      page.publications = m.history().after(since, limit);
      result = std::move(page);
    }
    executors_[worker]->post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

void RelayBroker::rooms(size_t worker, std::function<void(std::vector<RoomInfo>)> done) {
  gatherFromShards<RoomInfo>(
      executors_, worker,
      [this](size_t home) {
        std::vector<RoomInfo> part;
        for (auto& [name, st] : shards_[home]->rooms)
          part.push_back(RoomInfo{name, st.mirror.epoch(), st.mirror.top(), st.mirror.history().size(), st.subscribers,
                                  st.members.size()});
        return part;
      },
      std::move(done));
}

}  // namespace tutti::broker
