#include "tutti/sdk/codec.h"

#include <boost/json.hpp>

#include "tutti/protocol/codes.h"

namespace json = boost::json;

namespace tutti::sdk::codec {

std::vector<std::string_view> splitLines(std::string_view frame) {
  std::vector<std::string_view> lines;
  while (!frame.empty()) {
    size_t nl = frame.find('\n');
    std::string_view line = frame.substr(0, nl);
    if (!line.empty()) lines.push_back(line);
    if (nl == std::string_view::npos) break;
    frame.remove_prefix(nl + 1);
  }
  return lines;
}

std::string joinLines(const std::vector<std::string>& lines) {
  size_t n = 0;
  for (const auto& l : lines) n += l.size() + 1;
  std::string out;
  out.reserve(n);
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

namespace {

std::string command(uint64_t id, std::string_view method, json::object params) {
  json::object o;
  if (id != 0) o["id"] = id;
  o["method"] = method;
  if (!params.empty()) o["params"] = std::move(params);
  return json::serialize(o);
}

// Field accessors that tolerate absence (returning the default) but report a
// wrong type through `bad`.
const json::value* field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

std::string str(const json::object& o, std::string_view key, bool& bad) {
  const json::value* v = field(o, key);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_string()) {
    bad = true;
    return {};
  }
  return std::string(v->get_string());
}

int64_t i64(const json::object& o, std::string_view key, bool& bad) {
  const json::value* v = field(o, key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  bad = true;
  return 0;
}

uint64_t u64(const json::object& o, std::string_view key, bool& bad) {
  const json::value* v = field(o, key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<uint64_t>(v->get_int64());
  bad = true;
  return 0;
}

double dbl(const json::object& o, std::string_view key, double dflt, bool& bad) {
  const json::value* v = field(o, key);
  if (v == nullptr) return dflt;
  if (v->is_number()) return v->to_number<double>();
  bad = true;
  return dflt;
}

bool boolean(const json::object& o, std::string_view key, bool& bad) {
  const json::value* v = field(o, key);
  if (v == nullptr) return false;
  if (!v->is_bool()) {
    bad = true;
    return false;
  }
  return v->get_bool();
}

Error malformed(std::string_view what) {
  return makeError(code::kBadRequest, "malformed " + std::string(what) + " from server");
}

PresenceClient presenceClient(const json::object& o, bool& bad) {
  return PresenceClient{str(o, "session", bad), str(o, "user", bad), str(o, "client", bad)};
}

}  // namespace

std::string encodeConnect(uint64_t id, std::string_view token, std::string_view name,
                          std::string_view client) {
  json::object p;
  if (!token.empty()) p["token"] = token;
  if (!name.empty()) p["name"] = name;
  if (!client.empty()) p["client"] = client;
  return command(id, "connect", std::move(p));
}

std::string encodeSubscribe(uint64_t id, std::string_view room,
                            const std::optional<Position>& recover, bool presence) {
  json::object p;
  p["room"] = room;
  if (recover) {
    json::object r;
    r["epoch"] = recover->epoch;
    r["offset"] = recover->offset;
    p["recover"] = std::move(r);
  }
  if (presence) p["presence"] = true;
  return command(id, "subscribe", std::move(p));
}

std::string encodeUnsubscribe(uint64_t id, std::string_view room) {
  json::object p;
  p["room"] = room;
  return command(id, "unsubscribe", std::move(p));
}

namespace {
json::object relayObject(const Relay& r) {
  json::object o;
  o["user"] = r.user;
  o["client"] = r.client;
  if (r.received_us) o["received"] = *r.received_us;
  if (r.rtt_min_us >= 0) o["rtt_min_us"] = r.rtt_min_us;
  if (r.rtt_max_us >= 0) o["rtt_max_us"] = r.rtt_max_us;
  if (!r.permitted) o["permitted"] = false;
  return o;
}
}  // namespace

std::string encodePublish(uint64_t id, std::string_view room, std::string_view data_json,
                          std::string_view client_msg_id, std::optional<int64_t> at_us,
                          std::optional<int64_t> delay_ms, std::optional<int64_t> media_ts_us,
                          const std::optional<Relay>& relay) {
  // Built by hand around the already-compact data so a large payload is
  // copied once and never re-parsed.
  std::string out;
  out.reserve(data_json.size() + room.size() + client_msg_id.size() + 96);
  out += "{";
  if (id != 0) {
    out += "\"id\":";
    out += std::to_string(id);
    out += ",";
  }
  out += "\"method\":\"publish\",\"params\":{\"room\":";
  out += json::serialize(json::string(room));
  out += ",\"data\":";
  out += data_json.empty() ? std::string_view("null") : data_json;
  if (!client_msg_id.empty()) {
    out += ",\"client_msg_id\":";
    out += json::serialize(json::string(client_msg_id));
  }
  if (at_us) {
    out += ",\"at\":";
    out += std::to_string(*at_us);
  }
  if (delay_ms) {
    out += ",\"delay_ms\":";
    out += std::to_string(*delay_ms);
  }
  if (media_ts_us) {
    out += ",\"media_ts\":";
    out += std::to_string(*media_ts_us);
  }
  if (relay) {
    out += ",\"relay\":";
    out += json::serialize(relayObject(*relay));
  }
  out += "}}";
  return out;
}

std::string encodePresence(uint64_t id, std::string_view room) {
  json::object p;
  p["room"] = room;
  return command(id, "presence", std::move(p));
}

std::string encodePresenceRelay(uint64_t id, std::string_view room, bool join, const PresenceClient& who) {
  json::object p;
  p["room"] = room;
  p["event"] = join ? "join" : "leave";
  p["client"] = json::object{{"session", who.session}, {"user", who.user}, {"client", who.client}};
  return command(id, "presence_relay", std::move(p));
}

std::string encodeDelayReport(uint64_t id, std::string_view room, int64_t owd_us) {
  json::object p;
  p["room"] = room;
  p["owd_us"] = owd_us;
  return command(id, "delay_report", std::move(p));
}

std::string encodePing(uint64_t id) { return command(id, "ping", {}); }

std::string encodeTime(uint64_t id, const std::optional<TimeTelemetry>& telemetry) {
  json::object p;
  if (telemetry) {
    p["rtt_us"] = telemetry->rtt_us;
    p["offset_us"] = telemetry->offset_us;
    p["uncertainty_us"] = telemetry->uncertainty_us;
  }
  return command(id, "time", std::move(p));
}

std::string encodeWindowOpen(uint64_t id, std::string_view room, std::string_view window, const WindowSpec& spec) {
  json::object p;
  p["room"] = room;
  p["window"] = window;
  if (spec.opens_at_us) p["opens_at"] = *spec.opens_at_us;
  if (spec.closes_at_us) p["closes_at"] = *spec.closes_at_us;
  if (spec.duration_ms) p["duration_ms"] = *spec.duration_ms;
  if (spec.relay) p["relay"] = relayObject(*spec.relay);
  return command(id, "window_open", std::move(p));
}

std::string encodeAction(uint64_t id, std::string_view room, std::string_view window, int64_t stamp_us,
                         std::string_view data_json, std::string_view action_id, const std::optional<Relay>& relay) {
  // By hand around the compact data, as encodePublish.
  std::string out;
  out.reserve(data_json.size() + room.size() + window.size() + action_id.size() + 128);
  out += "{";
  if (id != 0) {
    out += "\"id\":";
    out += std::to_string(id);
    out += ",";
  }
  out += "\"method\":\"action\",\"params\":{\"room\":";
  out += json::serialize(json::string(room));
  out += ",\"window\":";
  out += json::serialize(json::string(window));
  out += ",\"ts\":";
  out += std::to_string(stamp_us);
  out += ",\"data\":";
  out += data_json.empty() ? std::string_view("null") : data_json;
  out += ",\"action_id\":";
  out += json::serialize(json::string(action_id));
  if (relay) {
    out += ",\"relay\":";
    out += json::serialize(relayObject(*relay));
  }
  out += "}}";
  return out;
}

Result<std::string> compactJson(std::string_view json_text) {
  boost::system::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (ec) return makeError(kInvalidArgument, "data is not JSON: " + ec.message());
  return json::serialize(v);
}

Incoming decodeLine(std::string_view line) {
  Incoming in;
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) {
    in.problem = "not JSON: " + ec.message();
    return in;
  }
  if (!v.is_object()) {
    in.problem = "not an object";
    return in;
  }
  json::object& o = v.as_object();
  bool bad = false;
  if (const json::value* push = field(o, "push")) {
    if (!push->is_string()) {
      in.problem = "push is not a string";
      return in;
    }
    std::string_view kind = push->get_string();
    if (kind == "pub") {
      in.pub.room = str(o, "room", bad);
      in.pub.epoch = str(o, "epoch", bad);
      in.pub.offset = u64(o, "offset", bad);
      in.pub.ts = i64(o, "ts", bad);
      if (const json::value* at = field(o, "at"); at != nullptr && !at->is_null()) in.pub.at_us = i64(o, "at", bad);
      if (const json::value* m = field(o, "media_ts"); m != nullptr && !m->is_null()) in.pub.media_ts_us = i64(o, "media_ts", bad);
      const json::value* data = field(o, "data");
      in.pub.data = data == nullptr ? "null" : json::serialize(*data);
      if (bad || in.pub.room.empty() || field(o, "offset") == nullptr) {
        in.problem = "bad pub";
        return in;
      }
      in.kind = Kind::kPub;
    } else if (kind == "join" || kind == "leave") {
      in.room = str(o, "room", bad);
      const json::value* c = field(o, "client");
      if (c != nullptr && c->is_object()) in.client = presenceClient(c->get_object(), bad);
      if (bad || c == nullptr || !c->is_object()) {
        in.problem = "bad presence push";
        return in;
      }
      in.kind = kind == "join" ? Kind::kJoin : Kind::kLeave;
    } else if (kind == "disconnect") {
      in.disconnect.code = static_cast<int>(i64(o, "code", bad));
      in.disconnect.reason = str(o, "reason", bad);
      if (bad) {
        in.problem = "bad disconnect push";
        return in;
      }
      in.kind = Kind::kDisconnect;
    } else {
      in.kind = Kind::kUnknownPush;
    }
    return in;
  }
  in.id = u64(o, "id", bad);
  if (bad) {
    in.problem = "bad id";
    return in;
  }
  if (const json::value* err = field(o, "error")) {
    if (!err->is_object()) {
      in.problem = "error is not an object";
      return in;
    }
    const json::object& eo = err->get_object();
    Error e{static_cast<int>(i64(eo, "code", bad)), str(eo, "message", bad)};
    if (bad) {
      in.problem = "bad error object";
      return in;
    }
    in.error = std::move(e);
    in.kind = Kind::kReply;
    return in;
  }
  if (const json::value* res = field(o, "result")) {
    in.result = *res;
    in.kind = Kind::kReply;
    return in;
  }
  in.problem = "neither push, result nor error";
  return in;
}

Result<ConnectInfo> decodeConnectResult(const json::value& result) {
  if (!result.is_object()) return malformed("connect result");
  const json::object& o = result.get_object();
  bool bad = false;
  ConnectInfo c;
  c.session = str(o, "session", bad);
  c.user = str(o, "user", bad);
  c.server_time_us = i64(o, "server_time_us", bad);
  c.version = str(o, "version", bad);
  c.protocol = static_cast<int>(i64(o, "protocol", bad));
  if (const json::value* l = field(o, "limits"); l != nullptr && l->is_object()) {
    const json::object& lo = l->get_object();
    Limits d;
    auto intOr = [&](std::string_view key, int64_t dflt) {
      return field(lo, key) == nullptr ? dflt : i64(lo, key, bad);
    };
    c.limits.max_frame_bytes = intOr("max_frame_bytes", d.max_frame_bytes);
    c.limits.max_batch = intOr("max_batch", d.max_batch);
    c.limits.max_rooms = intOr("max_rooms", d.max_rooms);
    c.limits.max_data_bytes = intOr("max_data_bytes", d.max_data_bytes);
    c.limits.publish_rate_per_s = dbl(lo, "publish_rate_per_s", d.publish_rate_per_s, bad);
    c.limits.publish_burst = dbl(lo, "publish_burst", d.publish_burst, bad);
    c.limits.outgoing_buffer_bytes = intOr("outgoing_buffer_bytes", d.outgoing_buffer_bytes);
    c.limits.idle_timeout_ms = intOr("idle_timeout_ms", d.idle_timeout_ms);
  }
  if (bad) return malformed("connect result");
  return c;
}

Result<SubscribeResult> decodeSubscribeResult(const json::value& result) {
  if (!result.is_object()) return malformed("subscribe result");
  const json::object& o = result.get_object();
  bool bad = false;
  SubscribeResult r;
  r.room = str(o, "room", bad);
  r.epoch = str(o, "epoch", bad);
  r.offset = u64(o, "offset", bad);
  if (field(o, "recovered") != nullptr) r.recovered = boolean(o, "recovered", bad);
  r.reason = str(o, "reason", bad);
  r.replayed = u64(o, "replayed", bad);
  if (bad) return malformed("subscribe result");
  return r;
}

Result<PublishAck> decodePublishAck(const json::value& result) {
  if (!result.is_object()) return malformed("publish ack");
  const json::object& o = result.get_object();
  bool bad = false;
  PublishAck a;
  a.room = str(o, "room", bad);
  a.epoch = str(o, "epoch", bad);
  a.offset = u64(o, "offset", bad);
  a.ts = i64(o, "ts", bad);
  a.duplicate = boolean(o, "duplicate", bad);
  if (bad) return malformed("publish ack");
  return a;
}

Result<PresenceResult> decodePresenceResult(const json::value& result) {
  if (!result.is_object()) return malformed("presence result");
  const json::object& o = result.get_object();
  bool bad = false;
  PresenceResult p;
  p.room = str(o, "room", bad);
  if (const json::value* cs = field(o, "clients")) {
    if (!cs->is_array()) return malformed("presence result");
    for (const json::value& c : cs->get_array()) {
      if (!c.is_object()) return malformed("presence result");
      p.clients.push_back(presenceClient(c.get_object(), bad));
    }
  }
  if (bad) return malformed("presence result");
  return p;
}

Result<int64_t> decodePingResult(const json::value& result) {
  if (!result.is_object()) return malformed("ping result");
  bool bad = false;
  int64_t t = i64(result.get_object(), "server_time_us", bad);
  if (bad) return malformed("ping result");
  return t;
}

Result<TimeReply> decodeTimeResult(const json::value& result) {
  if (!result.is_object()) return malformed("time result");
  const json::object& o = result.get_object();
  bool bad = false;
  TimeReply t;
  t.t1 = i64(o, "t1", bad);
  t.t2 = i64(o, "t2", bad);
  if (bad || field(o, "t1") == nullptr || field(o, "t2") == nullptr) return malformed("time result");
  return t;
}

Result<WindowInfo> decodeWindowInfo(const json::value& result) {
  if (!result.is_object()) return malformed("window_open result");
  const json::object& o = result.get_object();
  bool bad = false;
  WindowInfo w;
  w.room = str(o, "room", bad);
  w.window = str(o, "window", bad);
  w.opens_at = i64(o, "opens_at", bad);
  w.closes_at = i64(o, "closes_at", bad);
  w.settles_at = i64(o, "settles_at", bad);
  if (bad) return malformed("window_open result");
  return w;
}

Result<ActionDecision> decodeActionDecision(const json::value& result) {
  if (!result.is_object()) return malformed("action result");
  const json::object& o = result.get_object();
  bool bad = false;
  ActionDecision d;
  d.room = str(o, "room", bad);
  d.window = str(o, "window", bad);
  d.action_id = str(o, "action_id", bad);
  std::string decision = str(o, "decision", bad);
  d.reason = str(o, "reason", bad);
  d.duplicate = boolean(o, "duplicate", bad) || d.reason == "duplicate";
  d.stamp = i64(o, "stamp", bad);
  d.received = i64(o, "received", bad);
  if (field(o, "gap") != nullptr) d.gap_us = i64(o, "gap", bad);
  if (field(o, "expected_gap") != nullptr) d.expected_gap_us = i64(o, "expected_gap", bad);
  if (bad || (decision != "accepted" && decision != "refused")) return malformed("action result");
  d.accepted = decision == "accepted";
  return d;
}

Verdict classify(const Position& last, std::string_view epoch, uint64_t offset) {
  if (epoch != last.epoch) return Verdict::kGap;
  if (offset <= last.offset) return Verdict::kDuplicate;
  if (offset == last.offset + 1) return Verdict::kDeliver;
  return Verdict::kGap;
}

}  // namespace tutti::sdk::codec
