#include "tutti/server/config.h"

#include "tutti/protocol/codec.h"

#include <fstream>
#include <set>
#include <sstream>

// Header-only with exceptions off: errors come back as values, and the
// packaged library (built with exceptions) is not needed.
#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace tutti::server {

std::string defaultWebRoot() { return TUTTI_WEB_ROOT; }

namespace {

Error configError(const toml::node& n, const std::string& key, const std::string& what) {
  return makeError(1002, "config: " + key + " (line " + std::to_string(n.source().begin.line) + "): " + what);
}

// Maps one TOML table onto struct fields, refusing unknown keys and wrong types.
class TableReader {
 public:
  TableReader(const toml::table& t, std::string prefix) : t_(t), prefix_(std::move(prefix)) {}

  TableReader& get(const char* key, std::string& out) {
    if (auto* n = find(key)) {
      if (auto v = n->value<std::string>()) out = *v;
      else fail(*n, key, "expected a string");
    }
    return *this;
  }
  TableReader& get(const char* key, int64_t& out) {
    if (auto* n = find(key)) {
      if (auto v = n->value<int64_t>(); v && n->is_integer()) out = *v;
      else fail(*n, key, "expected an integer");
    }
    return *this;
  }
  TableReader& get(const char* key, int& out) {
    int64_t v = out;
    get(key, v);
    out = static_cast<int>(v);
    return *this;
  }
  TableReader& get(const char* key, double& out) {
    if (auto* n = find(key)) {
      if (n->is_number()) out = *n->value<double>();
      else fail(*n, key, "expected a number");
    }
    return *this;
  }
  TableReader& get(const char* key, bool& out) {
    if (auto* n = find(key)) {
      if (auto v = n->value<bool>()) out = *v;
      else fail(*n, key, "expected true or false");
    }
    return *this;
  }
  TableReader& get(const char* key, std::vector<std::string>& out) {
    if (auto* n = find(key)) {
      auto* arr = n->as_array();
      if (!arr) { fail(*n, key, "expected an array of strings"); return *this; }
      out.clear();
      for (auto& e : *arr) {
        if (auto v = e.value<std::string>()) out.push_back(*v);
        else { fail(e, key, "expected an array of strings"); break; }
      }
    }
    return *this;
  }
  // An array of tables under `key` ([[section.key]]), each read by `fill`.
  template <typename F>
  TableReader& tables(const char* key, F&& fill) {
    auto* n = find(key);
    if (!n) return *this;
    auto* arr = n->as_array();
    if (!arr) {
      fail(*n, key, "expected an array of tables");
      return *this;
    }
    for (auto& e : *arr) {
      auto* t = e.as_table();
      if (!t) {
        fail(e, key, "expected a table");
        break;
      }
      TableReader inner(*t, prefix_ + key + ".");
      fill(inner);
      if (auto ie = inner.finish()) {
        if (!error_) error_ = ie;
        break;
      }
    }
    return *this;
  }
  // Marks the table as wrong about `key` (a value each get() accepted but
  // that makes no sense with the others).
  void refuse(const char* key, const std::string& what) {
    if (!error_) error_ = configError(t_, prefix_ + key, what);
  }
  // Call after all get()s: unknown keys are errors.
  std::optional<Error> finish() {
    if (!error_)
      for (auto& [k, v] : t_)
        if (!seen_.count(std::string(k.str()))) {
          fail(v, std::string(k.str()), "unknown key");
          break;
        }
    return error_;
  }

 private:
  const toml::node* find(const char* key) {
    seen_.insert(key);
    return t_.get(key);
  }
  void fail(const toml::node& n, const std::string& key, const std::string& what) {
    if (!error_) error_ = configError(n, prefix_ + key, what);
  }
  const toml::table& t_;
  std::string prefix_;
  std::set<std::string> seen_;
  std::optional<Error> error_;
};

}  // namespace

const RoomRule& ServerConfig::ruleFor(std::string_view room) const {
  const RoomRule* best = nullptr;
  for (const auto& r : rooms)
    if (room.substr(0, r.prefix.size()) == r.prefix && (!best || r.prefix.size() > best->prefix.size())) best = &r;
  static const RoomRule kDefault;
  return best ? *best : kDefault;
}

Result<ServerConfig> parseConfig(std::string_view text) {
  auto parsed = toml::parse(text);
  if (!parsed) {
    const auto& e = parsed.error();
    return makeError(1002, "config: line " + std::to_string(e.source().begin.line) + ": " +
                               std::string(e.description()));
  }
  const toml::table& root = parsed.table();
  ServerConfig c;
  std::optional<Error> err;
  auto section = [&](const char* name, auto&& fill) {
    if (err) return;
    auto* n = root.get(name);
    if (!n) return;
    auto* t = n->as_table();
    if (!t) { err = configError(*n, name, "expected a table"); return; }
    TableReader r(*t, std::string(name) + ".");
    fill(r);
    if (auto e = r.finish()) err = e;
  };
  section("server", [&](TableReader& r) {
    r.get("listen", c.server.listen).get("workers", c.server.workers).get("log_level", c.server.log_level)
        .get("api_key", c.server.api_key).get("shutdown_grace_ms", c.server.shutdown_grace_ms)
        .get("audit_log", c.server.audit_log).get("rtt_probe_interval_ms", c.server.rtt_probe_interval_ms)
        .get("role", c.server.role);
    if (c.server.role != "origin" && c.server.role != "edge") r.refuse("role", "must be \"origin\" or \"edge\"");
  });
  section("limits", [&](TableReader& r) {
    auto& l = c.limits;
    r.get("max_frame_bytes", l.max_frame_bytes).get("max_batch", l.max_batch)
        .get("max_rooms_per_connection", l.max_rooms_per_connection).get("max_data_bytes", l.max_data_bytes)
        .get("publish_rate_per_s", l.publish_rate_per_s).get("publish_burst", l.publish_burst)
        .get("max_connections_per_ip", l.max_connections_per_ip)
        .get("outgoing_buffer_bytes", l.outgoing_buffer_bytes).get("connect_timeout_ms", l.connect_timeout_ms)
        .get("idle_timeout_ms", l.idle_timeout_ms).get("max_protocol_errors", l.max_protocol_errors);
  });
  section("auth", [&](TableReader& r) {
    auto& a = c.auth;
    r.get("anonymous", a.anonymous).get("anonymous_subscribe", a.anonymous_subscribe)
        .get("anonymous_publish", a.anonymous_publish).get("anonymous_windows", a.anonymous_windows)
        .get("algorithm", a.algorithm).get("secret", a.secret)
        .get("public_key_file", a.public_key_file).get("leeway_s", a.leeway_s);
  });
  section("media", [&](TableReader& r) {
    auto& m = c.media;
    r.get("camera", m.camera).get("camera_size", m.camera_size).get("camera_fps", m.camera_fps)
        .get("segment_ms", m.segment_ms).get("part_ms", m.part_ms).get("chunk_ms", m.chunk_ms)
        .get("rtmp_listen", m.rtmp_listen).get("timeline", m.timeline)
        .get("passthrough", m.passthrough).get("passthrough_kbps", m.passthrough_kbps);
    if (m.passthrough_kbps <= 0) r.refuse("passthrough_kbps", "must be positive");
    if (m.timeline != "arrival" && m.timeline != "source") r.refuse("timeline", "must be \"arrival\" or \"source\"");
    r.tables("rtmp_keys", [&](TableReader& t) {
      StreamKeyConfig k;
      t.get("key", k.key).get("stream", k.stream);
      if (k.key.empty() || k.stream.empty()) t.refuse("key", "each [[media.rtmp_keys]] needs key and stream");
      m.rtmp_keys.push_back(k);
    });
    r.tables("ingest", [&](TableReader& t) {
      IngestConfig in;
      t.get("stream", in.stream).get("url", in.url).get("timeline", in.timeline);
      if (!in.timeline.empty() && in.timeline != "arrival" && in.timeline != "source")
        t.refuse("timeline", "must be \"arrival\" or \"source\"");
      if (in.stream.empty() || in.url.empty()) t.refuse("stream", "each [[media.ingest]] needs stream and url");
      m.ingests.push_back(in);
    });
  });
  section("web", [&](TableReader& r) { r.get("root", c.web.root); });
  section("edge", [&](TableReader& r) {
    auto& e = c.edge;
    r.get("origins", e.origins).get("parents", e.parents).get("cache_mb", e.cache_mb).get("max_object_mb", e.max_object_mb)
        .get("probe_interval_ms", e.probe_interval_ms).get("token", e.token).get("failover_ms", e.failover_ms)
        .get("max_fetches", e.max_fetches);
    if (e.max_fetches < 1) r.refuse("max_fetches", "must be at least 1");
    if (e.failover_ms < 100) r.refuse("failover_ms", "must be at least 100");
    if (e.cache_mb < 1 || e.max_object_mb < 1 || e.max_object_mb > e.cache_mb || e.probe_interval_ms < 50)
      r.refuse("cache_mb", "cache_mb >= max_object_mb >= 1, probe_interval_ms >= 50");
  });
  section("directory", [&](TableReader& r) {
    r.tables("edges", [&](TableReader& t) {
      DirectoryEdge e;
      t.get("url", e.url).get("region", e.region);
      if (e.url.rfind("ws://", 0) != 0 && e.url.rfind("wss://", 0) != 0)
        t.refuse("url", "each [[directory.edges]] needs a ws:// or wss:// url");
      c.directory.edges.push_back(e);
    });
  });
  section("demo", [&](TableReader& r) {
    auto& d = c.demo;
    r.get("table", d.table).get("stream", d.stream).get("betting_ms", d.betting_ms).get("pause_ms", d.pause_ms);
    if (d.betting_ms < 100 || d.pause_ms < 0) r.refuse("betting_ms", "betting_ms must be at least 100, pause_ms not negative");
    if (!d.table.empty() && !protocol::validRoomName(d.table)) r.refuse("table", "not a valid room name");
  });
  if (!err) {
    if (auto* n = root.get("rooms")) {
      auto* arr = n->as_array();
      if (!arr) err = configError(*n, "rooms", "expected an array of tables ([[rooms]])");
      else
        for (auto& e : *arr) {
          auto* t = e.as_table();
          if (!t) { err = configError(e, "rooms", "expected a table"); break; }
          RoomRule rule;
          TableReader r(*t, "rooms.");
          r.get("prefix", rule.prefix).get("history_size", rule.history_size).get("history_ttl_s", rule.history_ttl_s)
              .get("presence", rule.presence).get("publish", rule.publish).get("dedup_window_s", rule.dedup_window_s)
              .get("dedup_max_entries", rule.dedup_max_entries).get("idle_ttl_s", rule.idle_ttl_s)
              .get("delivery", rule.delivery).get("delay_ms", rule.delay_ms).get("delay_adaptive", rule.delay_adaptive)
              .get("delay_min_ms", rule.delay_min_ms).get("delay_max_ms", rule.delay_max_ms)
              .get("delay_margin_ms", rule.delay_margin_ms).get("delay_percentile", rule.delay_percentile)
              .get("window_tolerance_ms", rule.window_tolerance_ms).get("window_grace_ms", rule.window_grace_ms)
              .get("media_stream", rule.media_stream);
          if (auto re = r.finish()) { err = re; break; }
          if (rule.publish != "clients" && rule.publish != "server") {
            err = configError(*t, "rooms.publish", "must be \"clients\" or \"server\"");
            break;
          }
          if (rule.delivery != "immediate" && rule.delivery != "at" && rule.delivery != "delay") {
            err = configError(*t, "rooms.delivery", "must be \"immediate\", \"at\" or \"delay\"");
            break;
          }
          if (rule.delay_ms < 0 || rule.delay_min_ms < 0 || rule.delay_max_ms < rule.delay_min_ms ||
              rule.delay_percentile <= 0 || rule.delay_percentile > 100 || rule.window_tolerance_ms < 0 ||
              rule.window_grace_ms < 0) {
            err = configError(*t, "rooms.delay_ms", "delay / window settings out of range");
            break;
          }
          if (rule.history_size < 0 || rule.history_ttl_s < 0) {
            err = configError(*t, "rooms.history_size", "must not be negative");
            break;
          }
          // A rule for an existing prefix replaces it (the built-in "" default included).
          bool replaced = false;
          for (auto& existing : c.rooms)
            if (existing.prefix == rule.prefix) { existing = rule; replaced = true; }
          if (!replaced) c.rooms.push_back(rule);
        }
    }
  }
  if (!err)
    for (auto& [k, v] : root)
      if (k != "server" && k != "limits" && k != "auth" && k != "media" && k != "web" && k != "demo" && k != "edge" && k != "directory" && k != "rooms") {
        err = configError(v, std::string(k.str()), "unknown section");
        break;
      }
  if (err) return *err;

  auto& l = c.limits;
  if (l.max_frame_bytes < 256 || l.max_batch < 1 || l.max_rooms_per_connection < 1 || l.max_data_bytes < 1 ||
      l.publish_rate_per_s <= 0 || l.publish_burst < 1 || l.max_connections_per_ip < 1 ||
      l.outgoing_buffer_bytes < 1024 || l.connect_timeout_ms < 1 || l.idle_timeout_ms < 100 ||
      c.server.rtt_probe_interval_ms < 10)
    return makeError(1002, "config: a [limits] value is out of range (see docs/configuration.md)");
  if (c.server.workers < 0) return makeError(1002, "config: server.workers must be >= 0");
  const auto& m = c.media;
  if (m.part_ms < 50 || m.segment_ms < 1000 || m.segment_ms % 1000 != 0 || m.part_ms > m.segment_ms ||
      m.camera_fps < 1 || m.camera_fps > 120 || m.chunk_ms < 0 || m.chunk_ms > m.part_ms)
    return makeError(1002, "config: [media] segment_ms must be whole seconds, part_ms 50..segment_ms, camera_fps 1..120, chunk_ms 0..part_ms");
  if (c.auth.algorithm != "HS256" && c.auth.algorithm != "RS256" && c.auth.algorithm != "ES256")
    return makeError(1002, "config: auth.algorithm must be HS256, RS256 or ES256");
  return c;
}

Result<ServerConfig> loadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return makeError(1002, "config: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parseConfig(ss.str());
}

}  // namespace tutti::server
