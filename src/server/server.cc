#include "tutti/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "demo_table.h"
#include "api.h"
#include "connection.h"
#include "context.h"
#include "hub.h"
#include "tutti/auth/jwt.h"
#include "tutti/broker/embedded_broker.h"
#include "tutti/broker/relay_broker.h"
#include "tutti/core/log.h"
#include "tutti/core/loopback_port.h"
#include "tutti/edge/http_edge.h"
#include "tutti/media/camera.h"
#include "tutti/media/ingest.h"
#include "tutti/media/origin.h"
#include "tutti/media/rtmp_ingest.h"
#include "tutti/auth/permissions.h"
#include "tutti/net/listener.h"
#include "tutti/net/worker.h"
#include "tutti/protocol/codes.h"

namespace tutti::server {

ServerMetrics::ServerMetrics(metrics::Registry& r)
    : registry(r),
      connections(r.gauge("tutti_connections", "Open WebSocket connections")),
      connections_total(r.counter("tutti_connections_total", "WebSocket connections accepted")),
      messages_in(r.counter("tutti_messages_in_total", "Publications accepted (WebSocket and HTTP API)")),
      commands(r.counter("tutti_commands_total", "Client commands decoded")),
      protocol_closes(r.counter("tutti_protocol_error_closes_total", "Connections closed for repeated protocol errors")),
      limit_ip(r.counter("tutti_limit_refusals_total", "Requests refused by a limit", {{"limit", "connections_per_ip"}})),
      limit_rate(r.counter("tutti_limit_refusals_total", "Requests refused by a limit", {{"limit", "publish_rate"}})),
      limit_rooms(r.counter("tutti_limit_refusals_total", "Requests refused by a limit", {{"limit", "rooms_per_connection"}})),
      limit_data(r.counter("tutti_limit_refusals_total", "Requests refused by a limit", {{"limit", "data_size"}})),
      limit_batch(r.counter("tutti_limit_refusals_total", "Requests refused by a limit", {{"limit", "batch"}})),
      kicked(r.counter("tutti_kicked_total", "Connections closed by the HTTP API")),
      time_requests(r.counter("tutti_time_requests_total", "Clock-sync exchanges answered")),
      client_rtt(r.histogram("tutti_client_rtt_seconds", "Round trips measured by the server's WebSocket probes",
                             metrics::latencyBucketsSeconds())),
      client_owd(r.histogram("tutti_client_one_way_seconds", "One-way delay estimates (min recent rtt / 2), per probe",
                             metrics::latencyBucketsSeconds())),
      client_sync_uncertainty(r.histogram("tutti_client_sync_uncertainty_seconds",
                                          "Clock-sync uncertainty reported by clients", metrics::latencyBucketsSeconds())) {}

metrics::Counter& ServerMetrics::decision(bool accepted, const std::string& reason) {
  return registry.counter("tutti_window_decisions_total", "Fair-window decisions",
                          {{"decision", accepted ? "accepted" : "refused"}, {"reason", accepted ? "" : reason}});
}

metrics::Counter& ServerMetrics::errorFor(int code) {
  return registry.counter("tutti_errors_total", "Error replies sent, by code", {{"code", std::to_string(code)}});
}

metrics::Counter& ServerMetrics::authFailure(int code) {
  return registry.counter("tutti_auth_failures_total", "Refused connects, by reason",
                          {{"reason", std::string(auth::failureReason(code))}});
}

void ServerContext::toMediaTimeline(const std::string& room, const broker::PublishResult& r, int64_t media_ts_us,
                                    const std::string& data_json) const {
  media::MediaEvent ev;
  ev.id = room + "/" + r.epoch + "/" + std::to_string(r.offset);  // never reused: offsets are per epoch
  ev.media_ts_us = media_ts_us;
  ev.class_name = "tutti.room";
  ev.data = data_json;
  if (auto added = origin->addEvent(config.ruleFor(room).media_stream, ev); !added)
    log::warn("media event not placed", {{"room", room}, {"error", added.error().message}});
}

namespace {

class WorkerExecutor final : public broker::Executor {
 public:
  explicit WorkerExecutor(net::Worker& w) : w_(w) {}
  void post(std::function<void()> fn) override { w_.post(std::move(fn)); }
  void postAfter(int64_t delay_us, std::function<void()> fn) override { w_.postAfter(delay_us, std::move(fn)); }

 private:
  net::Worker& w_;
};

Result<std::pair<std::string, uint16_t>> splitHostPort(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return makeError(1002, "server.listen must be host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return makeError(1002, "server.listen has a bad port");
  }
  if (port < 0 || port > 65535) return makeError(1002, "server.listen has a bad port");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

sync::RoomPolicy policyOf(const RoomRule& r) {
  sync::RoomPolicy p;
  p.history_size = static_cast<size_t>(r.history_size);
  p.history_ttl_us = r.history_ttl_s * 1'000'000;
  p.presence = r.presence;
  p.clients_may_publish = r.publish == "clients";
  p.dedup_window_us = r.dedup_window_s * 1'000'000;
  p.dedup_max_entries = static_cast<size_t>(r.dedup_max_entries);
  p.idle_ttl_us = r.idle_ttl_s * 1'000'000;
  p.delivery = r.delivery == "delay" ? sync::Delivery::kDelay
               : r.delivery == "at" ? sync::Delivery::kAt
                                    : sync::Delivery::kImmediate;
  p.delay_us = r.delay_ms * 1000;
  p.delay_adaptive = r.delay_adaptive;
  p.delay_min_us = r.delay_min_ms * 1000;
  p.delay_max_us = r.delay_max_ms * 1000;
  p.delay_margin_us = r.delay_margin_ms * 1000;
  p.fairness.tolerance_us = r.window_tolerance_ms * 1000;
  p.fairness.grace_us = r.window_grace_ms * 1000;
  return p;
}

class ServerImpl final : public Server, public net::HttpHandler {
 public:
  // An edge's clock is its origin's (docs/edge.md): every server time it
  // reports (time, ts of connect replies, action receipts) is origin time.
  explicit ServerImpl(ServerConfig config)
      : edge_role_(config.server.role == "edge"),
        ctx_(std::move(config), edge_role_ ? static_cast<const Clock&>(origin_clock_) : SystemClock::instance()),
        api_(ctx_) {}

  ~ServerImpl() override { shutdown(); }

  Result<void> init() {
    auto& cfg = ctx_.config;
    ctx_.metrics = std::make_unique<ServerMetrics>(ctx_.registry);
    ctx_.started_us = ctx_.clock.wallUs();

    // Token verifier: needed whenever tokens may be presented.
    const auto alg = auth::parseAlg(cfg.auth.algorithm);
    auth::VerifierConfig vc;
    vc.alg = *alg;
    vc.leeway_s = cfg.auth.leeway_s;
    vc.secret = cfg.auth.secret;
    if (!cfg.auth.public_key_file.empty()) {
      std::ifstream in(cfg.auth.public_key_file);
      if (!in) return makeError(1002, "cannot read auth.public_key_file " + cfg.auth.public_key_file);
      std::stringstream ss;
      ss << in.rdbuf();
      vc.public_key_pem = ss.str();
    }
    const bool has_key = (*alg == auth::Alg::kHS256) ? !vc.secret.empty() : !vc.public_key_pem.empty();
    if (has_key) {
      auto v = auth::JwtVerifier::create(vc);
      if (!v) return makeError(1002, "auth: " + v.error().message);
      ctx_.verifier = std::move(v.value());
    } else if (!cfg.auth.anonymous) {
      return makeError(1002, "auth: anonymous is off but no secret/public_key_file is configured");
    }

    size_t n = cfg.server.workers > 0 ? static_cast<size_t>(cfg.server.workers)
                                      : std::max(1u, std::thread::hardware_concurrency());
    for (size_t i = 0; i < n; ++i) {
      workers_.push_back(std::make_unique<net::Worker>(i));
      hubs_.push_back(std::make_unique<WorkerHub>(i));
      executors_.push_back(std::make_unique<WorkerExecutor>(*workers_.back()));
      ctx_.hubs.push_back(hubs_.back().get());
      ctx_.executors.push_back(executors_.back().get());
    }
    std::vector<broker::Executor*> ex;
    std::vector<broker::WorkerSink*> sinks;
    for (size_t i = 0; i < n; ++i) {
      ex.push_back(executors_[i].get());
      sinks.push_back(hubs_[i].get());
    }
    if (!cfg.server.audit_log.empty()) {
      auto a = sync::AuditLog::open(cfg.server.audit_log);
      if (!a) return a.error();
      audit_ = std::move(a.value());
      log::info("audit log", {{"path", cfg.server.audit_log}, {"lines", std::to_string(audit_->lastSeq())},
                              {"last_hash", audit_->lastHash()}});
    }
    auto* cfgp = &ctx_.config;
    broker::PolicyFn policy = [cfgp](const std::string& room) { return policyOf(cfgp->ruleFor(room)); };
    if (edge_role_) {
      // Rooms relayed from the origins (docs/edge.md, "Rooms at the edge").
      if (cfg.edge.origins.empty()) return makeError(1002, "edge.origins: an edge needs at least one origin");
      broker::RelayConfig rc;
      rc.origins = cfg.edge.origins;
      rc.failover_ms = cfg.edge.failover_ms;
      rc.token_provider = upstreamTokenProvider();
      auto relay = std::make_unique<broker::RelayBroker>(rc, ex, sinks, policy, origin_clock_, ctx_.registry);
      relay_ = relay.get();
      ctx_.broker = std::move(relay);
    } else {
      ctx_.broker = std::make_unique<broker::EmbeddedBroker>(ex, sinks, policy, ctx_.clock, audit_.get());
    }
    ctx_.registry.gauge("tutti_workers", "Worker threads").set(static_cast<int64_t>(n));
    auto& rooms_gauge = ctx_.registry.gauge("tutti_rooms", "Rooms held by this node");
    for (size_t i = 0; i < n; ++i) {
      workers_[i]->every(1000, [this, i, &rooms_gauge] {
        ctx_.broker->tick(i);
        const int64_t now_s = ctx_.clock.wallUs() / 1'000'000;
        std::vector<Connection*> all(ctx_.hubs[i]->connections().begin(), ctx_.hubs[i]->connections().end());
        for (Connection* c : all) c->checkTokenExpiry(now_s);
        reportDelays(i);
        if (i == 0) ctx_.broker->rooms(0, [&rooms_gauge](std::vector<broker::RoomInfo> r) {
          rooms_gauge.set(static_cast<int64_t>(r.size()));
        });
      });
      workers_[i]->start();
    }

    // Before the listener: requests may reach the origin from the first one on.
    if (cfg.server.role == "edge") {
      if (auto e = startEdge(); !e) return e;
    } else if (auto m = startMedia(); !m) {
      return m;
    }
    if (!cfg.demo.table.empty()) {
      demo_ = std::make_unique<DemoTable>(ctx_, cfg.demo);
      demo_->start();
    }

    auto hp = splitHostPort(cfg.server.listen);
    if (!hp) return hp.error();
    net::TransportLimits lim;
    lim.max_frame_bytes = cfg.limits.max_frame_bytes;
    lim.max_body_bytes = cfg.limits.max_frame_bytes;
    lim.outgoing_buffer_bytes = cfg.limits.outgoing_buffer_bytes;
    lim.idle_timeout_ms = cfg.limits.idle_timeout_ms;
    lim.connect_timeout_ms = cfg.limits.connect_timeout_ms;
    lim.rtt_probe_interval_ms = cfg.server.rtt_probe_interval_ms;
    auto& r = ctx_.registry;
    net::TransportMetrics tm{
        &r.counter("tutti_bytes_in_total", "Bytes received on WebSocket connections"),
        &r.counter("tutti_bytes_out_total", "Bytes sent (WebSocket and HTTP)"),
        &r.counter("tutti_frames_in_total", "WebSocket frames received"),
        &r.counter("tutti_ws_writes_total", "WebSocket writes (each carries one or more messages)"),
        &r.counter("tutti_messages_out_total", "Messages written to WebSocket clients (replies and pushes)"),
        &r.counter("tutti_slow_consumers_total", "Connections cut because their outgoing queue passed the limit"),
        &r.counter("tutti_frames_too_large_total", "Incoming frames above max_frame_bytes (closed with 1009)"),
        &r.counter("tutti_drops_total", "Frames dropped because their connection was closing"),
        &r.counter("tutti_connect_timeouts_total", "Connections closed for not sending connect in time"),
        &r.counter("tutti_ws_protocol_errors_total",
                   "WebSocket connections failed for breaking RFC 6455 (closed with 1002, or 1007 for bad UTF-8)"),
        &r.histogram("tutti_publish_to_write_seconds",
                     "From a publication's sequencing to the start of its socket write (oldest in each write)",
                     metrics::latencyBucketsSeconds()),
        &r.counter("tutti_http_bad_requests_total",
                   "HTTP requests that could not be read (answered 400, 413, 431, 501 or 505, then closed)"),
        &r.counter("tutti_http_timeouts_total",
                   "HTTP connections closed because a request or an answer's write passed its deadline"),
    };
    std::vector<net::Worker*> ws;
    for (auto& w : workers_) ws.push_back(w.get());
    auto l = net::Listener::start(hp->first, hp->second, ws, *this, lim, tm);
    if (!l) return l.error();
    listener_ = std::move(l.value());
    return {};
  }

  // The edge's HTTP side (docs/edge.md): /hls/ from the origins.
  Result<void> startEdge() {
    const auto& e = ctx_.config.edge;
    if (!ctx_.config.media.ingests.empty() || ctx_.config.media.camera || !ctx_.config.media.rtmp_listen.empty())
      return makeError(1002, "an edge has no media ingest: move [media] to an origin");
    edge::EdgeConfig ec;
    for (const auto& o : e.origins) {
      auto hp = splitHostPort(o);
      if (!hp) return makeError(1002, "edge.origins: " + hp.error().message);
      ec.origins.push_back({hp->first, hp->second});
    }
    if (ec.origins.empty()) return makeError(1002, "edge.origins: an edge needs at least one origin");
    for (const auto& p : e.parents) {
      auto hp = splitHostPort(p);
      if (!hp) return makeError(1002, "edge.parents: " + hp.error().message);
      ec.parents.push_back({hp->first, hp->second});
    }
    ec.cache.capacity_bytes = e.cache_mb << 20;
    ec.cache.max_object_bytes = e.max_object_mb << 20;
    ec.probe_interval_ms = e.probe_interval_ms;
    ec.coalescer.max_flights = static_cast<size_t>(e.max_fetches);
    ec.probe_timeout_ms = std::max<int64_t>(50, e.probe_interval_ms * 8 / 10);
    std::vector<net::Worker*> ws;
    for (auto& w : workers_) ws.push_back(w.get());
    auto edge = edge::HttpEdge::create(ec, ws, ctx_.clock, ctx_.registry);
    if (!edge) return makeError(1002, "edge: " + edge.error().message);
    edge_ = std::move(*edge);
    ctx_.edge = edge_.get();
    edge_->start();
    relay_->start();
    log::info("edge", {{"origins", std::to_string(ec.origins.size())}, {"parents", std::to_string(ec.parents.size())},
                       {"cache_mb", std::to_string(e.cache_mb)}});
    return {};
  }

  // The token the edge presents to its origin for the rooms it relays.
  std::function<std::string()> upstreamTokenProvider() const {
    const auto& cfg = ctx_.config;
    if (!cfg.edge.token.empty()) return [t = cfg.edge.token] { return t; };
    if (cfg.auth.algorithm == "HS256" && !cfg.auth.secret.empty()) {
      return [secret = cfg.auth.secret] {
        auth::Claims c;
        c.sub = "edge";
        c.exp = SystemClock::instance().wallUs() / 1'000'000 + 3600;
        c.subscribe = c.publish = c.windows = {"*"};
        c.edge = true;
        auto t = auth::sign(c, auth::Alg::kHS256, secret);
        return t ? t.value() : std::string();
      };
    }
    log::warn("edge: no [edge] token and no HS256 secret: rooms are relayed anonymously, publishes and actions "
              "will be refused by the origin");
    return [] { return std::string(); };
  }

  // The origin, its ingests and the synthetic camera (docs/media.md).
  Result<void> startMedia() {
    const auto& m = ctx_.config.media;
    if (m.ingests.empty() && !m.camera && m.rtmp_listen.empty()) return {};
    media::OriginConfig oc;
    oc.pipeline.segment_us = m.segment_ms * 1000;
    oc.pipeline.part_us = m.part_ms * 1000;
    oc.pipeline.chunk_us = m.chunk_ms * 1000;
    oc.pipeline.passthrough = m.passthrough;
    oc.pipeline.passthrough_kbps = m.passthrough_kbps;
    oc.playlist.target_duration_s = static_cast<int>(m.segment_ms / 1000);
    oc.playlist.part_target_s = static_cast<double>(m.part_ms) / 1000;
    origin_ = std::make_unique<media::Origin>(
        oc, ctx_.clock, [this](size_t w, std::function<void()> fn) { workers_[w]->post(std::move(fn)); }, ctx_.registry);
    ctx_.origin = origin_.get();
    std::vector<IngestConfig> ingests = m.ingests;
    std::string camera_target;
    if (m.camera) {
      const uint16_t port = freeLoopbackPort(SOCK_STREAM);  // the ingest binds it a moment later
      if (port == 0) return makeError(1002, "media: no free port for the synthetic camera's ingest");
      ingests.push_back({"demo", "tcp://127.0.0.1:" + std::to_string(port) + "?listen=1", ""});
      camera_target = "tcp://127.0.0.1:" + std::to_string(port);
    }
    for (const auto& in : ingests) {
      media::PipelineConfig pc = oc.pipeline;
      pc.timeline = (in.timeline.empty() ? m.timeline : in.timeline) == "source" ? media::PipelineConfig::Timeline::kSource
                                                                                  : media::PipelineConfig::Timeline::kArrival;
      ingests_.push_back(std::make_unique<media::TsIngest>(in.url, pc, origin_->sinkFor(in.stream), ctx_.clock));
      ingests_.back()->start();
      log::info("media ingest", {{"stream", in.stream}, {"url", in.url}});
    }
    if (!m.rtmp_listen.empty()) {
      auto hp = splitHostPort(m.rtmp_listen);
      if (!hp) return makeError(1002, "media.rtmp_listen: " + hp.error().message);
      media::RtmpIngest::Options ro;
      ro.host = hp->first;
      ro.port = hp->second;
      rtmp_ = std::make_unique<media::RtmpIngest>(
          ro, oc.pipeline, [this](std::string_view app, std::string_view key) { return rtmpStream(key); },
          [this](const std::string& stream) -> media::PackageSink& { return origin_->sinkFor(stream); }, ctx_.clock,
          ctx_.registry);
      if (auto r = rtmp_->start(); !r) return r;
      log::info("media rtmp ingest", {{"listen", hp->first + ":" + std::to_string(rtmp_->port())}});
    }
    if (m.camera) {
      media::CameraConfig cc;
      cc.target = camera_target;
      cc.size = m.camera_size;
      cc.fps = m.camera_fps;
      cc.gop_frames = m.camera_fps * 2;
      cc.stamp_wall_clock = m.timeline == "source";
      camera_ = std::make_unique<media::SyntheticCamera>(cc);
      camera_->start();
    }
    return {};
  }

  // The stream an RTMP key publishes: a configured key, or
  // "<stream>?token=<JWT>" whose publish claim allows "media:<stream>".
  std::optional<std::string> rtmpStream(std::string_view key) const {
    for (const auto& k : ctx_.config.media.rtmp_keys)
      if (k.key == key) return k.stream;
    const auto q = key.find("?token=");
    if (q == std::string_view::npos || !ctx_.verifier) return std::nullopt;
    const std::string stream(key.substr(0, q));
    auto claims = ctx_.verifier->verify(key.substr(q + 7), ctx_.clock.wallUs() / 1'000'000);
    if (!claims || stream.empty() || !auth::allowed(claims->publish, "media:" + stream)) return std::nullopt;
    return stream;
  }

  uint16_t port() const override { return listener_->port(); }

  void shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    ctx_.draining = true;
    if (demo_) demo_->stop();
    if (edge_) edge_->stop();
    if (camera_) camera_->stop();
    for (auto& in : ingests_) in->stop();
    if (rtmp_) rtmp_->stop();
    if (listener_) listener_->stop();
    for (size_t w = 0; w < workers_.size(); ++w)
      workers_[w]->post([this, w] {
        std::vector<Connection*> all(ctx_.hubs[w]->connections().begin(), ctx_.hubs[w]->connections().end());
        for (Connection* c : all) c->closeWith(code::kCloseShutdown, "server shutdown");
      });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx_.config.server.shutdown_grace_ms);
    while (ctx_.metrics && ctx_.metrics->connections.value() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // The upstream's callbacks post to the workers: end them first.
    if (relay_) relay_->stop();
    for (auto& w : workers_) w->stop();
    log::info("stopped", {{"open_connections", std::to_string(ctx_.metrics ? ctx_.metrics->connections.value() : 0)}});
  }

  // Adaptive-delay rooms: tell each room's home this worker's percentile of
  // its subscribers' one-way delays.
  void reportDelays(size_t w) {
    for (const auto& [room, pctl] : ctx_.hubs[w]->delayPercentiles([this](const std::string& r) -> double {
           const auto& rule = ctx_.config.ruleFor(r);
           return rule.delivery == "delay" && rule.delay_adaptive ? rule.delay_percentile : -1;
         }))
      ctx_.broker->reportDelay(room, w, pctl);
  }

  // net::HttpHandler
  void handle(net::HttpRequest req, size_t worker, net::HttpReply reply) override {
    if (origin_ && media::Origin::handles(req.path)) return origin_->handle(req, worker, std::move(reply));
    if (edge_ && edge::HttpEdge::handles(req.path)) return edge_->handle(req, worker, std::move(reply));
    api_.handle(std::move(req), worker, std::move(reply));
  }

  std::shared_ptr<net::WsHandler> upgrade(const net::HttpRequest& req, size_t worker) override {
    if (req.path != "/ws") return nullptr;
    return std::make_shared<Connection>(ctx_, *ctx_.hubs[worker]);
  }

 private:
  broker::OriginClock origin_clock_;  // role "edge": ctx_.clock (before ctx_, which refers to it)
  const bool edge_role_;
  ServerContext ctx_;
  Api api_;
  std::vector<std::unique_ptr<net::Worker>> workers_;
  std::vector<std::unique_ptr<WorkerHub>> hubs_;
  std::vector<std::unique_ptr<WorkerExecutor>> executors_;
  std::unique_ptr<net::Listener> listener_;
  std::unique_ptr<sync::AuditLog> audit_;
  std::unique_ptr<DemoTable> demo_;
  std::unique_ptr<edge::HttpEdge> edge_;  // role "edge"
  broker::RelayBroker* relay_ = nullptr;  // role "edge": ctx_.broker
  // Destroyed in reverse: the camera, then the ingests (they feed the
  // origin's sinks), then the origin.
  std::unique_ptr<media::Origin> origin_;
  std::vector<std::unique_ptr<media::TsIngest>> ingests_;
  std::unique_ptr<media::RtmpIngest> rtmp_;
  std::unique_ptr<media::SyntheticCamera> camera_;
  bool shut_down_ = false;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(ServerConfig config) {
  auto s = std::make_unique<ServerImpl>(std::move(config));
  if (auto r = s->init(); !r) return r.error();
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace tutti::server
