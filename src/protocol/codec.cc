#include "tutti/protocol/codec.h"

#include <boost/json.hpp>

#include "tutti/protocol/codes.h"

namespace tutti::protocol {
namespace json = boost::json;
namespace {

Error invalid(std::string msg) { return makeError(code::kInvalidParams, std::move(msg)); }

// Reads an optional string member; false when present with another type.
bool optString(const json::object& o, std::string_view key, std::string& out) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) return false;
  out.assign(v->get_string().data(), v->get_string().size());
  return true;
}

Result<std::string> requireRoom(const json::object& p) {
  auto* v = p.if_contains("room");
  if (!v || !v->is_string()) return invalid("params.room must be a string");
  std::string room(v->get_string().data(), v->get_string().size());
  if (!validRoomName(room)) return makeError(code::kBadRoomName, "bad room name");
  return room;
}

// Reads an optional integer member (JSON integer, or a double with an integral value).
bool optInt(const json::object& o, std::string_view key, std::optional<int64_t>& out) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (v->is_int64()) { out = v->get_int64(); return true; }
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) { out = static_cast<int64_t>(v->get_uint64()); return true; }
  if (v->is_double()) {
    const double d = v->get_double();
    if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<int64_t>(d))) { out = static_cast<int64_t>(d); return true; }
  }
  return false;
}

Result<std::string> requireWindow(const json::object& p) {
  auto* v = p.if_contains("window");
  if (!v || !v->is_string()) return invalid("params.window must be a string");
  std::string w(v->get_string().data(), v->get_string().size());
  if (!validWindowId(w)) return invalid("bad window id");
  return w;
}

bool readUint(const json::value& v, uint64_t& out) {
  if (v.is_uint64()) { out = v.get_uint64(); return true; }
  if (v.is_int64() && v.get_int64() >= 0) { out = static_cast<uint64_t>(v.get_int64()); return true; }
  return false;
}

// params.relay (edges only; the connection checks who may send it).
Result<std::optional<RelayParams>> optRelay(const json::object& p) {
  auto* v = p.if_contains("relay");
  if (!v || v->is_null()) return std::optional<RelayParams>();
  if (!v->is_object()) return invalid("relay must be an object");
  const auto& o = v->get_object();
  RelayParams r;
  std::optional<int64_t> rmin, rmax;
  if (!optString(o, "user", r.user) || !optString(o, "client", r.client) || r.user.size() > 256 ||
      r.client.size() > 128 || !optInt(o, "received", r.received_us) || !optInt(o, "rtt_min_us", rmin) ||
      !optInt(o, "rtt_max_us", rmax))
    return invalid("relay: user, client (strings), received, rtt_min_us, rtt_max_us (integers)");
  r.rtt_min_us = rmin.value_or(-1);
  r.rtt_max_us = rmax.value_or(-1);
  if (auto* pm = o.if_contains("permitted"); pm && !pm->is_null()) {
    if (!pm->is_bool()) return invalid("relay: permitted must be a boolean");
    r.permitted = pm->get_bool();
  }
  return std::optional<RelayParams>(std::move(r));
}

Result<Command> decodeObject(const json::object& o, uint64_t id) {
  Command cmd;
  cmd.id = id;
  auto* m = o.if_contains("method");
  if (!m || !m->is_string()) return makeError(code::kBadRequest, "command needs a string \"method\"");
  const std::string_view method(m->get_string().data(), m->get_string().size());

  static const json::object kEmpty;
  const json::object* params = &kEmpty;
  if (auto* p = o.if_contains("params"); p && !p->is_null()) {
    if (!p->is_object()) return invalid("params must be an object");
    params = &p->get_object();
  }

  if (method == "connect") {
    cmd.method = Method::kConnect;
    ConnectParams cp;
    if (!optString(*params, "token", cp.token) || !optString(*params, "name", cp.name) ||
        !optString(*params, "client", cp.client))
      return invalid("connect: token, name and client must be strings");
    if (cp.client.size() > 128 || cp.name.size() > 128) return invalid("connect: client/name too long");
    cmd.params = std::move(cp);
  } else if (method == "subscribe") {
    cmd.method = Method::kSubscribe;
    SubscribeParams sp;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    sp.room = std::move(*room);
    if (auto* r = params->if_contains("recover"); r && !r->is_null()) {
      if (!r->is_object()) return invalid("subscribe: recover must be an object");
      StreamPosition pos;
      auto* e = r->get_object().if_contains("epoch");
      auto* off = r->get_object().if_contains("offset");
      if (!e || !e->is_string() || !off || !readUint(*off, pos.offset))
        return invalid("subscribe: recover needs epoch (string) and offset (unsigned)");
      pos.epoch.assign(e->get_string().data(), e->get_string().size());
      sp.recover = std::move(pos);
    }
    if (auto* pr = params->if_contains("presence"); pr && !pr->is_null()) {
      if (!pr->is_bool()) return invalid("subscribe: presence must be a boolean");
      sp.presence = pr->get_bool();
    }
    cmd.params = std::move(sp);
  } else if (method == "unsubscribe" || method == "presence") {
    cmd.method = method == "unsubscribe" ? Method::kUnsubscribe : Method::kPresence;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    cmd.params = RoomParams{std::move(*room)};
  } else if (method == "publish") {
    cmd.method = Method::kPublish;
    PublishParams pp;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    pp.room = std::move(*room);
    auto* d = params->if_contains("data");
    if (!d) return invalid("publish: params.data is required");
    pp.data_json = json::serialize(*d);
    if (!optString(*params, "client_msg_id", pp.client_msg_id) || pp.client_msg_id.size() > 128)
      return invalid("publish: client_msg_id must be a string of at most 128 bytes");
    if (!optInt(*params, "at", pp.at_us) || !optInt(*params, "delay_ms", pp.delay_ms))
      return invalid("publish: at and delay_ms must be integers");
    if (pp.at_us && pp.delay_ms) return invalid("publish: give at or delay_ms, not both");
    if (!optInt(*params, "media_ts", pp.media_ts_us) || (pp.media_ts_us && *pp.media_ts_us < 0))
      return invalid("publish: media_ts must be a capture time (UTC microseconds)");
    if (pp.delay_ms && (*pp.delay_ms < 0 || *pp.delay_ms > 3'600'000)) return invalid("publish: delay_ms out of range");
    auto relay = optRelay(*params);
    if (!relay) return relay.error();
    pp.relay = std::move(*relay);
    cmd.params = std::move(pp);
  } else if (method == "ping") {
    cmd.method = Method::kPing;
  } else if (method == "time") {
    cmd.method = Method::kTime;
    TimeParams tp;
    if (!optInt(*params, "rtt_us", tp.rtt_us) || !optInt(*params, "offset_us", tp.offset_us) ||
        !optInt(*params, "uncertainty_us", tp.uncertainty_us))
      return invalid("time: rtt_us, offset_us and uncertainty_us must be integers");
    cmd.params = tp;
  } else if (method == "window_open") {
    cmd.method = Method::kWindowOpen;
    WindowOpenParams wp;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    wp.room = std::move(*room);
    auto w = requireWindow(*params);
    if (!w) return w.error();
    wp.window = std::move(*w);
    if (!optInt(*params, "opens_at", wp.opens_at_us) || !optInt(*params, "closes_at", wp.closes_at_us) ||
        !optInt(*params, "duration_ms", wp.duration_ms))
      return invalid("window_open: opens_at, closes_at and duration_ms must be integers");
    if (!wp.closes_at_us && !wp.duration_ms) return invalid("window_open: give closes_at or duration_ms");
    auto relay = optRelay(*params);
    if (!relay) return relay.error();
    wp.relay = std::move(*relay);
    cmd.params = std::move(wp);
  } else if (method == "action") {
    cmd.method = Method::kAction;
    ActionParams ap;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    ap.room = std::move(*room);
    auto w = requireWindow(*params);
    if (!w) return w.error();
    ap.window = std::move(*w);
    std::optional<int64_t> ts;
    if (!optInt(*params, "ts", ts) || !ts) return invalid("action: ts (the synced stamp, us) is required");
    ap.stamp_us = *ts;
    if (auto* d = params->if_contains("data")) ap.data_json = json::serialize(*d);
    else ap.data_json = "null";
    if (!optString(*params, "action_id", ap.action_id) || ap.action_id.empty() || ap.action_id.size() > 128)
      return invalid("action: action_id must be a non-empty string of at most 128 bytes");
    auto relay = optRelay(*params);
    if (!relay) return relay.error();
    ap.relay = std::move(*relay);
    cmd.params = std::move(ap);
  } else if (method == "delay_report") {
    cmd.method = Method::kDelayReport;
    DelayReportParams dr;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    dr.room = std::move(*room);
    std::optional<int64_t> owd;
    if (!optInt(*params, "owd_us", owd) || !owd || *owd < 0 || *owd > 60'000'000)
      return invalid("delay_report: owd_us must be an integer from 0 to 60000000");
    dr.owd_us = *owd;
    cmd.params = std::move(dr);
  } else if (method == "presence_relay") {
    cmd.method = Method::kPresenceRelay;
    PresenceRelayParams pr;
    auto room = requireRoom(*params);
    if (!room) return room.error();
    pr.room = std::move(*room);
    std::string event;
    if (!optString(*params, "event", event) || (event != "join" && event != "leave"))
      return invalid("presence_relay: event must be \"join\" or \"leave\"");
    pr.join = event == "join";
    auto* c = params->if_contains("client");
    if (!c || !c->is_object()) return invalid("presence_relay: client must be an object");
    const auto& co = c->get_object();
    auto& ci = pr.client;
    if (!optString(co, "session", ci.session) || !optString(co, "user", ci.user) || !optString(co, "client", ci.client) ||
        ci.session.empty() || ci.session.size() > 128 || ci.user.size() > 256 || ci.client.size() > 128)
      return invalid("presence_relay: client needs a session (1-128 bytes), user and client (strings)");
    cmd.params = std::move(pr);
  } else {
    return makeError(code::kUnknownMethod, "unknown method");
  }
  return cmd;
}

Decoded decodeLine(std::string_view line) {
  Decoded d;
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 32;
  json::value v = json::parse(line, ec, {}, opts);
  if (ec) { d.command = makeError(code::kBadRequest, "invalid JSON: " + ec.message()); return d; }
  if (!v.is_object()) { d.command = makeError(code::kBadRequest, "a command must be a JSON object"); return d; }
  const auto& o = v.get_object();
  if (auto* id = o.if_contains("id"); id && !id->is_null()) {
    if (!readUint(*id, d.id)) { d.command = makeError(code::kBadRequest, "id must be an unsigned integer"); return d; }
  }
  d.command = decodeObject(o, d.id);
  return d;
}

}  // namespace

std::vector<Decoded> decodeFrame(std::string_view frame, size_t max_batch) {
  std::vector<Decoded> out;
  size_t lines = 0;
  for (size_t pos = 0; pos <= frame.size();) {
    size_t nl = frame.find('\n', pos);
    if (nl == std::string_view::npos) nl = frame.size();
    std::string_view line = frame.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    if (++lines > max_batch) {
      out.clear();
      out.push_back(Decoded{0, makeError(code::kBatchTooLarge, "too many commands in one frame")});
      return out;
    }
    out.push_back(decodeLine(line));
  }
  if (out.empty()) out.push_back(Decoded{0, makeError(code::kBadRequest, "empty frame")});
  return out;
}

bool validRoomName(std::string_view room) {
  if (room.empty() || room.size() > 200) return false;
  for (unsigned char c : room) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == ':' || c == '.' || c == '-' || c == '@' || c == '/' || c == '=';
    if (!ok) return false;
  }
  return true;
}

bool validWindowId(std::string_view id) { return id.size() <= 64 && validRoomName(id); }

void appendJsonString(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) { out += "\\u00"; out += kHex[c >> 4]; out += kHex[c & 15]; }
        else out += static_cast<char>(c);
    }
  }
  out += '"';
}

std::string encodeResult(uint64_t id, std::string_view result_json) {
  std::string s;
  s.reserve(24 + result_json.size());
  s += "{\"id\":";
  s += std::to_string(id);
  s += ",\"result\":";
  s.append(result_json);
  s += '}';
  return s;
}

std::string encodeError(uint64_t id, const Error& error) {
  std::string s = "{\"id\":" + std::to_string(id) + ",\"error\":{\"code\":" + std::to_string(error.code) + ",\"message\":";
  appendJsonString(s, error.message);
  s += "}}";
  return s;
}

PubFrame encodePub(std::string_view room, std::string_view epoch, uint64_t offset, int64_t ts_us,
                   std::string_view data_json, std::optional<int64_t> at_us, std::optional<int64_t> media_ts_us) {
  PubFrame f;
  f.bytes.reserve(80 + room.size() + data_json.size());
  f.bytes += "{\"push\":\"pub\",\"room\":";
  appendJsonString(f.bytes, room);
  f.bytes += ",\"epoch\":";
  appendJsonString(f.bytes, epoch);
  f.bytes += ",\"offset\":";
  f.bytes += std::to_string(offset);
  f.bytes += ",\"ts\":";
  f.bytes += std::to_string(ts_us);
  if (at_us) {
    f.bytes += ",\"at\":";
    f.bytes += std::to_string(*at_us);
  }
  if (media_ts_us) {
    f.bytes += ",\"media_ts\":";
    f.bytes += std::to_string(*media_ts_us);
  }
  f.bytes += ",\"data\":";
  f.data_pos = f.bytes.size();
  f.data_len = data_json.size();
  f.bytes.append(data_json);
  f.bytes += '}';
  return f;
}

std::string encodeClientInfo(const ClientInfo& info) {
  std::string s = "{\"session\":";
  appendJsonString(s, info.session);
  s += ",\"user\":";
  appendJsonString(s, info.user);
  s += ",\"client\":";
  appendJsonString(s, info.client);
  s += '}';
  return s;
}

std::string encodePresenceEvent(bool join, std::string_view room, const ClientInfo& info) {
  std::string s = join ? "{\"push\":\"join\",\"room\":" : "{\"push\":\"leave\",\"room\":";
  appendJsonString(s, room);
  s += ",\"client\":";
  s += encodeClientInfo(info);
  s += '}';
  return s;
}

std::string encodeDisconnect(int code, std::string_view reason) {
  std::string s = "{\"push\":\"disconnect\",\"code\":" + std::to_string(code) + ",\"reason\":";
  appendJsonString(s, reason);
  s += '}';
  return s;
}

}  // namespace tutti::protocol
