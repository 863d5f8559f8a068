#include "connection.h"

#include <cstdio>
#include <random>

#include "tutti/auth/permissions.h"
#include "tutti/core/log.h"
#include "tutti/protocol/codes.h"

namespace tutti::server {
namespace {

std::string randomId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

void appendField(std::string& s, const char* key, std::string_view str) {
  s += '"';
  s += key;
  s += "\":";
  protocol::appendJsonString(s, str);
}

void appendField(std::string& s, const char* key, int64_t v) {
  s += '"';
  s += key;
  s += "\":";
  s += std::to_string(v);
}

}  // namespace

Connection::Connection(ServerContext& ctx, WorkerHub& hub)
    : ctx_(ctx),
      hub_(hub),
      publish_bucket_(ctx.config.limits.publish_rate_per_s, ctx.config.limits.publish_burst, ctx.clock.monoUs()) {}

Connection::~Connection() = default;

void Connection::onOpen(net::WsConnection& conn) {
  conn_ = &conn;
  session_ = randomId();
  hub_.addConnection(this);
  ctx_.metrics->connections.add(1);
  ctx_.metrics->connections_total.inc();
  if (ctx_.draining.load()) {
    closeWith(code::kCloseShutdown, "server shutdown");
    return;
  }
  if (!ctx_.ip_limiter.acquire(conn.remoteIp())) {
    ctx_.metrics->limit_ip.inc();
    log::info("connection refused: too many from this address", {{"ip", conn.remoteIp()}});
    closeWith(code::kCloseLimitExceeded, "too many connections from this address");
    return;
  }
  counted_ip_ = true;
}

void Connection::onClosed(int code) {
  for (auto& [room, sub] : subs_) {
    if (sub.active) hub_.removeSubscriber(room, this);
    ctx_.broker->unsubscribe(room, hub_.index(), sub.in_presence ? session_ : std::string());
  }
  subs_.clear();
  for (const auto& [room, session] : relayed_presence_) ctx_.broker->presenceLeave(room, session, session_);
  relayed_presence_.clear();
  hub_.removeConnection(this);
  if (counted_ip_ && conn_) ctx_.ip_limiter.release(conn_->remoteIp());
  counted_ip_ = false;
  ctx_.metrics->connections.add(-1);
  conn_ = nullptr;
  log::debug("connection closed", {{"session", session_}, {"code", std::to_string(code)}});
}

void Connection::checkTokenExpiry(int64_t now_s) {
  if (token_exp_s_ != 0 && now_s >= token_exp_s_ && conn_) {
    ctx_.metrics->authFailure(code::kTokenExpired).inc();
    token_exp_s_ = 0;
    closeWith(code::kCloseTokenExpired, "token expired");
  }
}

void Connection::closeWith(int code, const std::string& reason) {
  if (!conn_) return;
  send(protocol::encodeDisconnect(code, reason));
  conn_->close(code, reason);
}

void Connection::send(std::string bytes) {
  if (conn_) conn_->send(std::make_shared<const std::string>(std::move(bytes)));
}

void Connection::reply(uint64_t id, std::string_view result_json) {
  if (id != 0) send(protocol::encodeResult(id, result_json));
}

void Connection::replyError(uint64_t id, const Error& e) {
  ctx_.metrics->errorFor(e.code).inc();
  send(protocol::encodeError(id, e));
}

void Connection::protocolError(uint64_t id, const Error& e) {
  replyError(id, e);
  if (++protocol_errors_ > ctx_.config.limits.max_protocol_errors && conn_) {
    ctx_.metrics->protocol_closes.inc();
    closeWith(code::kCloseProtocolError, "too many protocol errors");
  }
}

void Connection::deliverPublication(Subscription& sub, const sync::Publication& p) {
  // Offsets reach a worker in order and exactly once; this guard keeps the
  // replay/live seam exact even if that ever changed.
  if (p.offset <= sub.last_offset || !conn_) return;
  sub.last_offset = p.offset;
  conn_->send(p.frame, p.ts_us);
}

void Connection::deliverFrame(const broker::Frame& frame) {
  if (conn_) conn_->send(frame);
}

void Connection::onBinary(size_t) {
  protocolError(0, makeError(code::kBadRequest, "binary frames are not supported; send JSON text"));
}

void Connection::onRtt(int64_t rtt_us) {
  ctx_.metrics->client_rtt.observe(static_cast<double>(rtt_us) / 1e6);
  if (int64_t owd = owdUs(); owd >= 0) ctx_.metrics->client_owd.observe(static_cast<double>(owd) / 1e6);
}

net::RttStats Connection::rtt() const { return conn_ ? conn_->rtt() : net::RttStats{}; }

int64_t Connection::owdUs() const {
  const auto r = rtt();
  return r.min_us < 0 ? -1 : r.min_us / 2;
}

void Connection::onText(std::string_view frame) {
  frame_received_us_ = ctx_.clock.wallUs();
  auto items = protocol::decodeFrame(frame, static_cast<size_t>(ctx_.config.limits.max_batch));
  for (auto& d : items) {
    if (!conn_) return;
    if (!d.command) {
      if (d.command.error().code == code::kBatchTooLarge) ctx_.metrics->limit_batch.inc();
      protocolError(d.id, d.command.error());
      continue;
    }
    ctx_.metrics->commands.inc();
    handle(d.command.value());
  }
}

void Connection::handle(protocol::Command& cmd) {
  using protocol::Method;
  if (cmd.method == Method::kConnect) return onConnect(cmd.id, std::get<protocol::ConnectParams>(cmd.params));
  if (!connected_) return protocolError(cmd.id, makeError(code::kNotConnected, "send connect first"));
  protocol_errors_ = 0;
  switch (cmd.method) {
    case Method::kSubscribe: return onSubscribe(cmd.id, std::get<protocol::SubscribeParams>(cmd.params));
    case Method::kUnsubscribe: return onUnsubscribe(cmd.id, std::get<protocol::RoomParams>(cmd.params).room);
    case Method::kPublish: return onPublish(cmd.id, std::get<protocol::PublishParams>(cmd.params));
    case Method::kPresence: return onPresence(cmd.id, std::get<protocol::RoomParams>(cmd.params).room);
    case Method::kTime: return onTime(cmd.id, std::get<protocol::TimeParams>(cmd.params));
    case Method::kWindowOpen: return onWindowOpen(cmd.id, std::get<protocol::WindowOpenParams>(cmd.params));
    case Method::kAction: return onAction(cmd.id, std::get<protocol::ActionParams>(cmd.params));
    case Method::kPresenceRelay: return onPresenceRelay(cmd.id, std::get<protocol::PresenceRelayParams>(cmd.params));
    case Method::kDelayReport: return onDelayReport(cmd.id, std::get<protocol::DelayReportParams>(cmd.params));
    case Method::kPing: {
      std::string r = "{";
      appendField(r, "server_time_us", ctx_.clock.wallUs());
      r += '}';
      return reply(cmd.id, r);
    }
    case Method::kConnect: break;
  }
}

void Connection::onConnect(uint64_t id, protocol::ConnectParams& p) {
  if (connected_) return protocolError(id, makeError(code::kAlreadyConnected, "already connected"));
  const auto& auth = ctx_.config.auth;
  if (p.token.empty()) {
    if (!auth.anonymous) {
      ctx_.metrics->authFailure(code::kAnonymousRefused).inc();
      replyError(id, makeError(code::kAnonymousRefused, "a token is required"));
      return closeWith(code::kCloseBadToken, "token required");
    }
    anonymous_ = true;
    may_subscribe_ = auth.anonymous_subscribe;
    may_publish_ = auth.anonymous_publish;
    may_open_windows_ = auth.anonymous_windows;
  } else {
    if (!ctx_.verifier) {
      ctx_.metrics->authFailure(code::kTokenBadSignature).inc();
      replyError(id, makeError(code::kTokenBadSignature, "this server has no token key configured"));
      return closeWith(code::kCloseBadToken, "bad token");
    }
    auto claims = ctx_.verifier->verify(p.token, ctx_.clock.wallUs() / 1'000'000);
    if (!claims) {
      const int c = claims.error().code;
      ctx_.metrics->authFailure(c).inc();
      replyError(id, claims.error());
      log::info("token refused", {{"reason", std::string(auth::failureReason(c))}, {"ip", conn_->remoteIp()}});
      return c == code::kTokenExpired ? closeWith(code::kCloseTokenExpired, "token expired")
                                      : closeWith(code::kCloseBadToken, "bad token");
    }
    anonymous_ = false;
    is_edge_ = claims->edge;
    token_exp_s_ = claims->exp + auth.leeway_s;
    user_ = claims->sub;
    may_subscribe_ = std::move(claims->subscribe);
    may_publish_ = std::move(claims->publish);
    may_open_windows_ = std::move(claims->windows);
  }
  client_ = p.client.empty() ? session_ : p.client;
  connected_ = true;
  conn_->authenticated();

  const auto& l = ctx_.config.limits;
  std::string r = "{";
  appendField(r, "session", session_);
  r += ',';
  appendField(r, "user", user_);
  r += ',';
  appendField(r, "client", client_);
  r += ',';
  appendField(r, "server_time_us", ctx_.clock.wallUs());
  r += ',';
  appendField(r, "version", TUTTI_VERSION);
  r += ",\"protocol\":" + std::to_string(protocol::kVersion);
  r += ",\"limits\":{";
  appendField(r, "max_frame_bytes", l.max_frame_bytes);
  r += ',';
  appendField(r, "max_batch", l.max_batch);
  r += ',';
  appendField(r, "max_rooms", l.max_rooms_per_connection);
  r += ',';
  appendField(r, "max_data_bytes", l.max_data_bytes);
  char rate[96];
  std::snprintf(rate, sizeof rate, ",\"publish_rate_per_s\":%.6g,\"publish_burst\":%.6g", l.publish_rate_per_s,
                l.publish_burst);
  r += rate;
  r += ',';
  appendField(r, "outgoing_buffer_bytes", l.outgoing_buffer_bytes);
  r += ',';
  appendField(r, "idle_timeout_ms", l.idle_timeout_ms);
  r += "}}";
  reply(id, r);
}

bool Connection::mayAccess(const std::string& room, bool publish) const {
  return auth::allowed(publish ? may_publish_ : may_subscribe_, room);
}

void Connection::onSubscribe(uint64_t id, protocol::SubscribeParams& p) {
  if (!mayAccess(p.room, false)) return replyError(id, makeError(code::kPermissionDenied, "not allowed to subscribe to " + p.room));
  if (subs_.count(p.room)) return replyError(id, makeError(code::kAlreadySubscribed, "already subscribed to " + p.room));
  if (!is_edge_ && static_cast<int64_t>(subs_.size()) >= ctx_.config.limits.max_rooms_per_connection) {
    ctx_.metrics->limit_rooms.inc();
    return replyError(id, makeError(code::kTooManyRooms, "too many rooms on this connection (limit " +
                                                             std::to_string(ctx_.config.limits.max_rooms_per_connection) + ")"));
  }
  const auto& rule = ctx_.config.ruleFor(p.room);
  // An edge asks for presence pushes on every room it relays: where presence
  // is off it simply gets none. It is never listed itself: its clients are
  // (presence_relay).
  if (p.presence && !rule.presence && !is_edge_)
    return replyError(id, makeError(code::kPresenceDisabled, "presence is off for " + p.room));

  auto& sub = subs_[p.room];
  sub.generation = next_generation_++;
  sub.presence_events = p.presence && rule.presence;
  sub.in_presence = rule.presence && !is_edge_;

  broker::SubscribeRequest req;
  req.room = p.room;
  req.worker = hub_.index();
  req.recover = std::move(p.recover);
  if (sub.in_presence) req.presence = protocol::ClientInfo{session_, user_, client_};
  ctx_.broker->subscribe(std::move(req), [weak = weak_from_this(), id, room = p.room,
                                          gen = sub.generation](Result<sync::SubscribeSnapshot> snap) mutable {
    auto self = weak.lock();
    if (!self) return;  // gone: onClosed already balanced the broker's count
    if (!snap) return self->subscribeFailed(id, room, gen, snap.error());
    self->subscribed(id, room, gen, std::move(snap.value()));
  });
}

// The broker could not subscribe (an edge whose origin refused or did not
// answer): nothing was counted there, so the room is simply forgotten.
void Connection::subscribeFailed(uint64_t id, const std::string& room, uint64_t generation, const Error& e) {
  auto it = subs_.find(room);
  if (it == subs_.end() || it->second.generation != generation) return;
  subs_.erase(it);
  replyError(id, e);
}

void Connection::subscribed(uint64_t id, const std::string& room, uint64_t generation, sync::SubscribeSnapshot snap) {
  auto it = subs_.find(room);
  if (it == subs_.end() || it->second.generation != generation || !conn_) return;  // unsubscribed meanwhile
  auto& sub = it->second;
  std::string r = "{";
  appendField(r, "room", room);
  r += ',';
  appendField(r, "epoch", snap.epoch);
  r += ',';
  appendField(r, "offset", static_cast<int64_t>(snap.top));
  if (snap.recovery_requested) {
    r += snap.recovered ? ",\"recovered\":true" : ",\"recovered\":false";
    if (!snap.recovered) {
      r += ',';
      appendField(r, "reason", snap.reason);
    }
    r += ',';
    appendField(r, "replayed", static_cast<int64_t>(snap.replay.size()));
  }
  r += '}';
  reply(id, r);
  for (const auto& p : snap.replay)
    if (conn_) conn_->send(p.frame, 0);
  sub.last_offset = snap.top;
  sub.active = true;
  hub_.addSubscriber(room, this, &sub);
}

void Connection::onUnsubscribe(uint64_t id, const std::string& room) {
  auto it = subs_.find(room);
  if (it == subs_.end()) return replyError(id, makeError(code::kNotSubscribed, "not subscribed to " + room));
  if (it->second.active) hub_.removeSubscriber(room, this);
  ctx_.broker->unsubscribe(room, hub_.index(), it->second.in_presence ? session_ : std::string());
  subs_.erase(it);
  reply(id, "{}");
}

void Connection::onPublish(uint64_t id, protocol::PublishParams& p) {
  const auto& rule = ctx_.config.ruleFor(p.room);
  if (rule.publish == "server")
    return replyError(id, makeError(code::kPublishNotAllowed, "clients may not publish to " + p.room));
  if (!mayAccess(p.room, true)) return replyError(id, makeError(code::kPermissionDenied, "not allowed to publish to " + p.room));
  if (static_cast<int64_t>(p.data_json.size()) > ctx_.config.limits.max_data_bytes) {
    ctx_.metrics->limit_data.inc();
    return replyError(id, makeError(code::kDataTooLarge, "data above max_data_bytes"));
  }
  if (p.relay && !is_edge_)
    return replyError(id, makeError(code::kPermissionDenied, "relay is for connections with an edge token"));
  if (!is_edge_ && !publish_bucket_.tryTake(ctx_.clock.monoUs())) {
    ctx_.metrics->limit_rate.inc();
    return replyError(id, makeError(code::kRateLimited, "publish rate limit exceeded"));
  }
  ctx_.metrics->messages_in.inc();
  broker::PublishRequest req;
  req.room = p.room;
  req.worker = hub_.index();
  req.data_json = std::move(p.data_json);
  req.at_us = p.at_us;
  if (p.delay_ms) req.delay_us = *p.delay_ms * 1000;
  req.media_ts_us = p.media_ts_us;
  // A publication pinned to a frame of the room's media stream is also an
  // event on that stream's timeline, once it has its offset.
  std::string event_data;
  if (p.media_ts_us && ctx_.pinsMedia(p.room)) event_data = req.data_json;
  // A relayed publish is de-duplicated as its end user's own, so a retry
  // through another edge (or directly) is still recognised.
  req.user = p.relay ? p.relay->user : user_;
  req.client = p.relay ? p.relay->client : client_;
  req.client_msg_id = p.client_msg_id;
  if (!p.client_msg_id.empty()) req.dedup_key = "c\x1f" + req.user + "\x1f" + req.client + "\x1f" + p.client_msg_id;
  ctx_.broker->publish(std::move(req), [weak = weak_from_this(), id, room = p.room, media_ts = p.media_ts_us,
                                        event_data = std::move(event_data)](Result<broker::PublishResult> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r) return self->replyError(id, r.error());
    if (!event_data.empty() && !r->duplicate) self->ctx_.toMediaTimeline(room, *r, *media_ts, event_data);
    std::string s = "{";
    appendField(s, "room", room);
    s += ',';
    appendField(s, "epoch", r->epoch);
    s += ',';
    appendField(s, "offset", static_cast<int64_t>(r->offset));
    s += ',';
    appendField(s, "ts", r->ts_us);
    if (r->duplicate) s += ",\"duplicate\":true";
    s += '}';
    self->reply(id, s);
  });
}

// An edge's client joined or left a room at the edge (docs/edge.md). The
// edge announces its clients again after each (re)subscription, so a join of
// a listed session is expected and changes nothing.
void Connection::onPresenceRelay(uint64_t id, protocol::PresenceRelayParams& p) {
  if (!is_edge_) return replyError(id, makeError(code::kPermissionDenied, "presence_relay is for connections with an edge token"));
  if (!ctx_.config.ruleFor(p.room).presence)
    return replyError(id, makeError(code::kPresenceDisabled, "presence is off for " + p.room));
  auto key = std::make_pair(p.room, p.client.session);
  if (p.join) {
    if (relayed_presence_.insert(key).second) ctx_.broker->presenceJoin(p.room, std::move(p.client), session_);
  } else if (relayed_presence_.erase(key)) {
    ctx_.broker->presenceLeave(p.room, p.client.session, session_);
  }
  reply(id, "{}");
}

// An edge's viewers of a room are this much further (a high percentile of
// their one-way delays to the edge): adaptive-delay rooms count the edge's
// subscription as that plus the edge's own one-way delay (docs/edge.md).
void Connection::onDelayReport(uint64_t id, const protocol::DelayReportParams& p) {
  if (!is_edge_) return replyError(id, makeError(code::kPermissionDenied, "delay_report is for connections with an edge token"));
  auto it = subs_.find(p.room);
  if (it == subs_.end()) return replyError(id, makeError(code::kNotSubscribed, "not subscribed to " + p.room));
  it->second.downstream_owd_us = p.owd_us;
  reply(id, "{}");
}

void Connection::onPresence(uint64_t id, const std::string& room) {
  if (!ctx_.config.ruleFor(room).presence)
    return replyError(id, makeError(code::kPresenceDisabled, "presence is off for " + room));
  if (!subs_.count(room)) return replyError(id, makeError(code::kNotSubscribed, "not subscribed to " + room));
  ctx_.broker->presence(room, hub_.index(),
                        [weak = weak_from_this(), id, room](Result<std::vector<protocol::ClientInfo>> r) {
                          auto self = weak.lock();
                          if (!self) return;
                          if (!r) return self->replyError(id, r.error());
                          std::string s = "{";
                          appendField(s, "room", room);
                          s += ",\"clients\":[";
                          for (size_t i = 0; i < r->size(); ++i) {
                            if (i) s += ',';
                            s += protocol::encodeClientInfo((*r)[i]);
                          }
                          s += "]}";
                          self->reply(id, s);
                        });
}

}  // namespace tutti::server

namespace tutti::server {

void Connection::onTime(uint64_t id, const protocol::TimeParams& p) {
  ctx_.metrics->time_requests.inc();
  if (p.rtt_us) telemetry_.rtt_us = *p.rtt_us;
  if (p.offset_us) telemetry_.offset_us = *p.offset_us;
  if (p.uncertainty_us) {
    telemetry_.uncertainty_us = *p.uncertainty_us;
    if (*p.uncertainty_us >= 0) ctx_.metrics->client_sync_uncertainty.observe(static_cast<double>(*p.uncertainty_us) / 1e6);
  }
  // t1: when the frame was read; t2: now, as late as we can stamp it before
  // the reply is queued (it is written at once unless a write is in flight).
  std::string r = "{";
  appendField(r, "t1", frame_received_us_);
  r += ',';
  appendField(r, "t2", ctx_.clock.wallUs());
  r += '}';
  reply(id, r);
}

void Connection::onWindowOpen(uint64_t id, protocol::WindowOpenParams& p) {
  if (!auth::allowed(may_open_windows_, p.room))
    return replyError(id, makeError(code::kPermissionDenied, "not allowed to open windows in " + p.room));
  if (p.relay && !is_edge_)
    return replyError(id, makeError(code::kPermissionDenied, "relay is for connections with an edge token"));
  broker::WindowRequest req;
  req.room = p.room;
  req.window = p.window;
  req.opens_at_us = p.opens_at_us;
  req.closes_at_us = p.closes_at_us;
  if (p.duration_ms) req.duration_us = *p.duration_ms * 1000;
  req.worker = hub_.index();
  req.opened_by = p.relay ? p.relay->user : anonymous_ ? "anonymous:" + session_ : user_;
  ctx_.broker->openWindow(std::move(req), [weak = weak_from_this(), id, room = p.room](Result<sync::WindowSpec> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r) return self->replyError(id, r.error());
    std::string s = "{";
    appendField(s, "room", room);
    s += ',';
    appendField(s, "window", r->id);
    s += ',';
    appendField(s, "opens_at", r->opens_at_us);
    s += ',';
    appendField(s, "closes_at", r->closes_at_us);
    s += ',';
    appendField(s, "settles_at", r->settles_at_us);
    s += '}';
    self->reply(id, s);
  });
}

void Connection::onAction(uint64_t id, protocol::ActionParams& p) {
  if (static_cast<int64_t>(p.data_json.size()) > ctx_.config.limits.max_data_bytes) {
    ctx_.metrics->limit_data.inc();
    return replyError(id, makeError(code::kDataTooLarge, "data above max_data_bytes"));
  }
  if (p.relay && !is_edge_)
    return replyError(id, makeError(code::kPermissionDenied, "relay is for connections with an edge token"));
  // Actions share the publish budget: a flood of bets is a flood of publishes.
  if (!is_edge_ && !publish_bucket_.tryTake(ctx_.clock.monoUs())) {
    ctx_.metrics->limit_rate.inc();
    return replyError(id, makeError(code::kRateLimited, "action rate limit exceeded"));
  }
  broker::ActionRequest req;
  req.room = p.room;
  req.window = p.window;
  req.worker = hub_.index();
  req.data_json = std::move(p.data_json);
  auto& in = req.input;
  in.user = anonymous_ ? "anonymous:" + session_ : user_;
  in.client = client_;
  in.action_id = p.action_id;
  in.stamp_us = p.stamp_us;
  in.received_us = frame_received_us_;
  const auto r = rtt();
  in.rtt_min_us = r.min_us;
  in.rtt_max_us = r.max_us;
  in.permitted = mayAccess(p.room, true);
  if (p.relay) {
    // Forwarded by an edge: judged as the end user at the edge, by the edge's
    // read time (origin time, as the edge's synced clock tells it) and the
    // edge's own probes of that client's round trip (docs/edge.md).
    in.user = p.relay->user;
    in.client = p.relay->client;
    // Never later than this node read it: an edge clock running fast cannot
    // make an action look older than it is here.
    if (p.relay->received_us) in.received_us = std::min(*p.relay->received_us, frame_received_us_);
    in.rtt_min_us = p.relay->rtt_min_us;
    in.rtt_max_us = p.relay->rtt_max_us;
    in.permitted = in.permitted && p.relay->permitted;
  }
  ctx_.broker->act(std::move(req), [weak = weak_from_this(), id, room = p.room, window = p.window,
                                    action_id = p.action_id](Result<broker::ActionResult> res) {
    auto self = weak.lock();
    if (!self) return;
    if (!res) return self->replyError(id, res.error());
    const auto& d = res->decision;
    if (!d.duplicate) self->ctx_.metrics->decision(d.accepted, d.reason).inc();
    std::string s = "{";
    appendField(s, "room", room);
    s += ',';
    appendField(s, "window", window);
    s += ',';
    appendField(s, "action_id", action_id);
    s += d.accepted ? ",\"decision\":\"accepted\"" : ",\"decision\":\"refused\"";
    if (!d.accepted) {
      s += ',';
      appendField(s, "reason", d.reason);
    }
    if (d.duplicate) s += ",\"duplicate\":true";
    s += ',';
    appendField(s, "stamp", d.stamp_us);
    s += ',';
    appendField(s, "received", d.received_us);
    s += ',';
    appendField(s, "gap", d.gap_us);
    s += ',';
    appendField(s, "expected_gap", d.expected_gap_us);
    s += '}';
    self->reply(id, s);
  });
}

}  // namespace tutti::server
