#include "api.h"

#include <boost/json.hpp>
#include <memory>

#include "connection.h"
#include "tutti/core/base64.h"
#include "tutti/edge/http_edge.h"
#include "tutti/media/origin.h"
#include "tutti/protocol/codes.h"

namespace tutti::server {
namespace json = boost::json;
namespace {

net::HttpResponse jsonResponse(int status, const json::value& v) {
  return net::HttpResponse{status, "application/json", json::serialize(v), {}};
}

net::HttpResponse errorResponse(int status, int code, std::string message) {
  return jsonResponse(status, json::object{{"error", json::object{{"code", code}, {"message", message}}}});
}

bool parseUint(const std::string& s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// Reads an optional integer member; false when present with another type.
bool optInt(const json::object& o, const char* key, std::optional<int64_t>& out) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_int64()) out = v->get_int64();
  else if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) out = static_cast<int64_t>(v->get_uint64());
  else return false;
  return true;
}
}  // namespace

void Api::handle(net::HttpRequest req, size_t worker, net::HttpReply reply) {
  auto counted = [this, reply = std::move(reply)](net::HttpResponse r) {
    ctx_.registry.counter("tutti_api_requests_total", "HTTP requests by status", {{"status", std::to_string(r.status)}}).inc();
    reply(std::move(r));
  };
  const auto& path = req.path;
  // Any page may ask (the SDKs time it to pick the nearest edge).
  if (path == "/healthz") return counted({200, "text/plain", "ok\n", {{"Access-Control-Allow-Origin", "*"}, {"Cache-Control", "no-store"}}});
  if (path == "/readyz")
    return counted(ctx_.draining.load() ? net::HttpResponse{503, "text/plain", "draining\n", {}}
                                        : net::HttpResponse{200, "text/plain", "ready\n", {}});
  if (path == "/metrics") return counted({200, "text/plain; version=0.0.4", ctx_.registry.render(), {}});
  const bool admin = path == "/admin" || path.rfind("/admin/", 0) == 0;
  if (path.rfind("/api/", 0) != 0) {
    if (req.method != "GET") return counted(errorResponse(405, code::kBadRequest, "use GET"));
    // The admin pages show what the API shows: behind the same key.
    if (admin) {
      if (ctx_.config.server.api_key.empty())
        return counted(errorResponse(403, code::kPermissionDenied, "admin pages disabled: set server.api_key"));
      if (!authorised(req)) {
        auto r = errorResponse(401, code::kPermissionDenied, "the admin pages need the API key as the password");
        r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"tutti admin\", charset=\"UTF-8\"");
        return counted(std::move(r));
      }
    }
    if (auto page = pages_.get(path)) return counted(std::move(*page));
    if (path == "/")
      return counted({200, "text/plain", "tutti " TUTTI_VERSION ": WebSocket at /ws, API at /api (docs/api.md); "
                                         "no web pages built (node web/build.mjs)\n", {}});
    return counted(errorResponse(404, code::kBadRequest, "no such path"));
  }

  // Public: clients ask it where their region's edges are (docs/edge.md).
  if (path == "/api/directory" && req.method == "GET") return counted(directory(req));

  if (ctx_.config.server.api_key.empty())
    return counted(errorResponse(403, code::kPermissionDenied, "HTTP API disabled: set server.api_key"));
  if (!authorised(req)) return counted(errorResponse(401, code::kPermissionDenied, "missing or wrong API key"));

  const bool post = req.method == "POST";
  const bool get = req.method == "GET";
  if (path == "/api/publish") return post ? publish(req, worker, counted) : counted(errorResponse(405, code::kBadRequest, "use POST"));
  if (path == "/api/disconnect") return post ? disconnect(req, worker, counted) : counted(errorResponse(405, code::kBadRequest, "use POST"));
  if (path == "/api/windows") return post ? openWindow(req, worker, counted) : counted(errorResponse(405, code::kBadRequest, "use POST"));
  if (path == "/api/media/events") return post ? mediaEvent(req, counted) : counted(errorResponse(405, code::kBadRequest, "use POST"));
  if (!get) return counted(errorResponse(405, code::kBadRequest, "use GET"));
  if (path == "/api/history") return history(req, worker, counted);
  if (path == "/api/presence") return presence(req, worker, counted);
  if (path == "/api/rooms") return rooms(worker, counted);
  if (path == "/api/stats") return stats(worker, counted);
  if (path == "/api/latency") return latency(req, worker, counted);
  if (path == "/api/media/streams") return mediaStreams(counted);
  if (path == "/api/edge") {
    if (!ctx_.edge) return counted(errorResponse(404, code::kBadRequest, "not an edge (server.role)"));
    return counted({200, "application/json", ctx_.edge->statusJson(), {}});
  }
  return counted(errorResponse(404, code::kBadRequest, "no such API path"));
}

// The key as X-API-Key, "Authorization: apikey <key>", or the password of
// HTTP Basic (any user name: what a browser sends for the admin pages).
bool Api::authorised(const net::HttpRequest& req) const {
  const auto& key = ctx_.config.server.api_key;
  std::string_view given = req.header("x-api-key");
  std::optional<std::string> basic;
  if (given.empty()) {
    auto authz = req.header("authorization");
    if (authz.rfind("apikey ", 0) == 0) given = authz.substr(7);
    else if (authz.rfind("Basic ", 0) == 0 && (basic = base64Decode(authz.substr(6))))
      if (const auto colon = basic->find(':'); colon != std::string::npos) given = std::string_view(*basic).substr(colon + 1);
  }
  // Length-independent comparison so the key does not leak through timing.
  bool ok = given.size() == key.size();
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(key[i] ^ (i < given.size() ? given[i] : 0));
  return ok && diff == 0 && !key.empty();
}

net::HttpResponse Api::directory(const net::HttpRequest& req) const {
  const std::string region = req.queryParam("region");
  json::array edges;
  for (const auto& e : ctx_.config.directory.edges)
    if (region.empty() || e.region.empty() || e.region == region)
      edges.push_back(json::object{{"url", e.url}, {"region", e.region}});
  auto r = jsonResponse(200, json::object{{"edges", std::move(edges)}});
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  r.headers.emplace_back("Cache-Control", "public, max-age=10");
  return r;
}

void Api::mediaStreams(net::HttpReply reply) {
  json::array streams;
  if (ctx_.origin)
    for (const auto& s : ctx_.origin->streams()) {
      json::array rends;
      for (const auto& t : s.renditions) {
        json::object r{{"name", t.name}, {"kind", t.kind == media::TrackKind::kVideo ? "video" : "audio"},
                       {"codecs", t.codecs}, {"bandwidth", t.bandwidth_bps}};
        if (t.kind == media::TrackKind::kVideo) {
          r["width"] = t.width;
          r["height"] = t.height;
          r["frame_rate"] = t.frame_rate;
        }
        rends.push_back(std::move(r));
      }
      json::object o{{"stream", s.name}, {"renditions", std::move(rends)}};
      if (s.last_msn) o["msn"] = *s.last_msn;
      if (s.newest_capture_us) o["newest_capture_us"] = *s.newest_capture_us;
      streams.push_back(std::move(o));
    }
  reply(jsonResponse(200, json::object{{"streams", std::move(streams)}}));
}

void Api::publish(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec || !body.is_object()) return reply(errorResponse(400, code::kBadRequest, "body must be a JSON object"));
  auto& o = body.get_object();
  auto* room = o.if_contains("room");
  auto* data = o.if_contains("data");
  if (!room || !room->is_string() || !data) return reply(errorResponse(400, code::kInvalidParams, "need room (string) and data"));
  std::string r(room->get_string());
  if (!protocol::validRoomName(r)) return reply(errorResponse(400, code::kBadRoomName, "bad room name"));
  broker::PublishRequest pr;
  pr.room = r;
  pr.worker = worker;
  pr.data_json = json::serialize(*data);
  if (static_cast<int64_t>(pr.data_json.size()) > ctx_.config.limits.max_data_bytes)
    return reply(errorResponse(400, code::kDataTooLarge, "data above max_data_bytes"));
  if (auto* id = o.if_contains("client_msg_id")) {
    if (!id->is_string()) return reply(errorResponse(400, code::kInvalidParams, "client_msg_id must be a string"));
    pr.dedup_key = "api\x1f" + std::string(id->get_string());
  }
  std::optional<int64_t> media_ts;
  if (!optInt(o, "media_ts", media_ts) || (media_ts && *media_ts < 0))
    return reply(errorResponse(400, code::kInvalidParams, "media_ts must be a capture time (UTC us)"));
  pr.media_ts_us = media_ts;
  std::string event_data;
  if (media_ts && ctx_.pinsMedia(r)) event_data = pr.data_json;
  ctx_.metrics->messages_in.inc();
  ctx_.broker->publish(std::move(pr), [this, reply, r, media_ts, event_data = std::move(event_data)](Result<broker::PublishResult> res) {
    if (!res) return reply(errorResponse(500, res.error().code, res.error().message));
    if (!event_data.empty() && !res->duplicate) ctx_.toMediaTimeline(r, *res, *media_ts, event_data);
    json::object out{{"room", r}, {"epoch", res->epoch}, {"offset", res->offset}, {"ts", res->ts_us}};
    if (res->duplicate) out["duplicate"] = true;
    reply(jsonResponse(200, out));
  });
}

void Api::history(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  const std::string room = req.queryParam("room");
  if (!protocol::validRoomName(room)) return reply(errorResponse(400, code::kBadRoomName, "bad or missing room"));
  uint64_t since = 0, limit = 100;
  if (auto s = req.queryParam("since"); !s.empty() && !parseUint(s, since))
    return reply(errorResponse(400, code::kInvalidParams, "since must be an unsigned integer"));
  if (auto l = req.queryParam("limit"); !l.empty() && (!parseUint(l, limit) || limit == 0))
    return reply(errorResponse(400, code::kInvalidParams, "limit must be a positive integer"));
  if (limit > 1000) limit = 1000;
  ctx_.broker->history(room, since, limit, worker, [reply, room](Result<broker::HistoryPage> page) {
    if (!page) return reply(errorResponse(404, code::kBadRequest, "no such room"));
    json::array pubs;
    for (const auto& p : page->publications) {
      // The stored frame is the wire push: its scheduling and media fields
      // come along (docs/protocol.md), so the API shows what subscribers got.
      boost::system::error_code ec;
      json::value push = json::parse(*p.frame, ec);
      json::object out{{"offset", p.offset}, {"ts", p.ts_us}};
      if (push.is_object())
        for (const char* k : {"at", "media_ts"})
          if (auto* v = push.get_object().if_contains(k)) out[k] = *v;
      out["data"] = json::parse(p.data(), ec);
      pubs.push_back(std::move(out));
    }
    reply(jsonResponse(200, json::object{{"room", room}, {"epoch", page->epoch}, {"offset", page->top},
                                         {"first_offset", page->first_offset}, {"publications", std::move(pubs)}}));
  });
}

void Api::presence(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  const std::string room = req.queryParam("room");
  if (!protocol::validRoomName(room)) return reply(errorResponse(400, code::kBadRoomName, "bad or missing room"));
  ctx_.broker->presence(room, worker, [reply, room](Result<std::vector<protocol::ClientInfo>> r) {
    json::array clients;
    if (r)
      for (const auto& c : *r) clients.push_back(json::object{{"session", c.session}, {"user", c.user}, {"client", c.client}});
    reply(jsonResponse(200, json::object{{"room", room}, {"clients", std::move(clients)}}));
  });
}

void Api::rooms(size_t worker, net::HttpReply reply) {
  ctx_.broker->rooms(worker, [reply](std::vector<broker::RoomInfo> rooms) {
    json::array out;
    for (const auto& r : rooms)
      out.push_back(json::object{{"room", r.room}, {"epoch", r.epoch}, {"offset", r.top}, {"history", r.history},
                                 {"subscribers", r.subscribers}, {"presence", r.presence}});
    reply(jsonResponse(200, json::object{{"rooms", std::move(out)}}));
  });
}

void Api::stats(size_t worker, net::HttpReply reply) {
  ctx_.broker->rooms(worker, [this, reply](std::vector<broker::RoomInfo> rooms) {
    auto& r = ctx_.registry;
    reply(jsonResponse(200, json::object{
                                {"connections", ctx_.metrics->connections.value()},
                                {"rooms", rooms.size()},
                                {"messages_in", ctx_.metrics->messages_in.value()},
                                {"messages_out", r.valueOf("tutti_messages_out_total")},
                                {"workers", ctx_.hubs.size()},
                                {"uptime_s", (ctx_.clock.wallUs() - ctx_.started_us) / 1'000'000},
                            }));
  });
}

void Api::openWindow(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec || !body.is_object()) return reply(errorResponse(400, code::kBadRequest, "body must be a JSON object"));
  auto& o = body.get_object();
  auto* room = o.if_contains("room");
  auto* window = o.if_contains("window");
  if (!room || !room->is_string() || !window || !window->is_string())
    return reply(errorResponse(400, code::kInvalidParams, "need room and window (strings)"));
  broker::WindowRequest wr;
  wr.room = std::string(room->get_string());
  wr.window = std::string(window->get_string());
  if (!protocol::validRoomName(wr.room)) return reply(errorResponse(400, code::kBadRoomName, "bad room name"));
  if (!protocol::validWindowId(wr.window)) return reply(errorResponse(400, code::kInvalidParams, "bad window id"));
  std::optional<int64_t> duration_ms;
  if (!optInt(o, "opens_at", wr.opens_at_us) || !optInt(o, "closes_at", wr.closes_at_us) || !optInt(o, "duration_ms", duration_ms))
    return reply(errorResponse(400, code::kInvalidParams, "opens_at, closes_at and duration_ms must be integers"));
  if (!wr.closes_at_us && !duration_ms) return reply(errorResponse(400, code::kInvalidParams, "give closes_at or duration_ms"));
  if (duration_ms) wr.duration_us = *duration_ms * 1000;
  wr.worker = worker;
  wr.opened_by = "api";
  ctx_.broker->openWindow(std::move(wr), [reply](Result<sync::WindowSpec> r) {
    if (!r) return reply(errorResponse(r.error().code == code::kWindowExists ? 409 : 400, r.error().code, r.error().message));
    reply(jsonResponse(200, json::object{{"window", r->id}, {"opens_at", r->opens_at_us}, {"closes_at", r->closes_at_us},
                                         {"settles_at", r->settles_at_us}}));
  });
}

void Api::mediaEvent(const net::HttpRequest& req, net::HttpReply reply) {
  if (!ctx_.origin) return reply(errorResponse(404, code::kBadRequest, "no media origin here ([media] in the config)"));
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec || !body.is_object()) return reply(errorResponse(400, code::kBadRequest, "body must be a JSON object"));
  auto& o = body.get_object();
  auto* stream = o.if_contains("stream");
  auto* id = o.if_contains("id");
  if (!stream || !stream->is_string() || !id || !id->is_string())
    return reply(errorResponse(400, code::kInvalidParams, "need stream and id (strings)"));
  media::MediaEvent ev;
  ev.id = std::string(id->get_string());
  std::optional<int64_t> media_ts, duration_ms;
  if (!optInt(o, "media_ts", media_ts) || !optInt(o, "duration_ms", duration_ms) || !media_ts)
    return reply(errorResponse(400, code::kInvalidParams, "media_ts (capture time, UTC us) must be an integer; duration_ms too"));
  ev.media_ts_us = *media_ts;
  if (duration_ms) ev.duration_us = *duration_ms * 1000;
  if (auto* c = o.if_contains("class"); c && c->is_string()) ev.class_name = std::string(c->get_string());
  if (auto* d = o.if_contains("data")) ev.data = json::serialize(*d);
  auto r = ctx_.origin->addEvent(std::string(stream->get_string()), ev);
  if (!r) return reply(errorResponse(400, r.error().code, r.error().message));
  reply(jsonResponse(200, json::object{{"stream", stream->get_string()}, {"id", ev.id}, {"media_ts", ev.media_ts_us}}));
}

void Api::latency(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  const std::string room = req.queryParam("room");
  if (!protocol::validRoomName(room)) return reply(errorResponse(400, code::kBadRoomName, "bad or missing room"));
  struct Gather {
    size_t remaining;
    json::array clients;
    net::HttpReply reply;
    std::string room;
  };
  auto g = std::make_shared<Gather>(Gather{ctx_.hubs.size(), {}, std::move(reply), room});
  for (size_t w = 0; w < ctx_.hubs.size(); ++w) {
    ctx_.post(w, [this, w, worker, g, room] {
      json::array part;
      for (Connection* c : ctx_.hubs[w]->subscribersOf(room)) {
        const auto r = c->rtt();
        const auto& t = c->syncTelemetry();
        part.push_back(json::object{{"session", c->session()}, {"user", c->user()}, {"rtt_us", r.last_us},
                                    {"rtt_min_us", r.min_us}, {"rtt_max_us", r.max_us}, {"one_way_us", c->owdUs()},
                                    {"client_rtt_us", t.rtt_us}, {"client_offset_us", t.offset_us},
                                    {"sync_uncertainty_us", t.uncertainty_us}});
      }
      ctx_.post(worker, [g, part = std::move(part)]() mutable {
        for (auto& p : part) g->clients.push_back(std::move(p));
        if (--g->remaining == 0) g->reply(jsonResponse(200, json::object{{"room", g->room}, {"clients", std::move(g->clients)}}));
      });
    });
  }
}

void Api::disconnect(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec || !body.is_object()) return reply(errorResponse(400, code::kBadRequest, "body must be a JSON object"));
  std::string user, session;
  if (auto* u = body.get_object().if_contains("user"); u && u->is_string()) user = std::string(u->get_string());
  if (auto* s = body.get_object().if_contains("session"); s && s->is_string()) session = std::string(s->get_string());
  if (user.empty() && session.empty()) return reply(errorResponse(400, code::kInvalidParams, "need user or session"));

  // Every worker closes its matching connections; answer once all counted.
  struct Gather {
    size_t remaining;
    int64_t count = 0;
    net::HttpReply reply;
  };
  auto g = std::make_shared<Gather>(Gather{ctx_.hubs.size(), 0, std::move(reply)});
  auto* origin = ctx_.hubs[worker];
  (void)origin;
  for (size_t w = 0; w < ctx_.hubs.size(); ++w) {
    ctx_.post(w, [this, w, worker, g, user, session] {
      int64_t n = 0;
      std::vector<Connection*> matched;
      for (Connection* c : ctx_.hubs[w]->connections())
        if ((!user.empty() && c->user() == user) || (!session.empty() && c->session() == session)) matched.push_back(c);
      for (Connection* c : matched) {
        c->closeWith(code::kCloseKicked, "disconnected by the server");
        ++n;
      }
      ctx_.metrics->kicked.inc(static_cast<uint64_t>(n));
      ctx_.post(worker, [g, n] {
        g->count += n;
        if (--g->remaining == 0) g->reply(jsonResponse(200, json::object{{"disconnected", g->count}}));
      });
    });
  }
}

}  // namespace tutti::server
