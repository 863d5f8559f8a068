#pragma once
// The server's configuration: plain structs whose fields carry their default
// and the reason for it. The TOML file maps onto them one to one
// ([server] -> ServerConfig::server, [[rooms]] -> ServerConfig::rooms, ...);
// docs/configuration.md lists every field. Unknown keys are an error, so a
// typo never silently falls back to a default.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::server {

struct ListenConfig {
  // Loopback by default: a server reachable from outside should be a decision.
  std::string listen = "127.0.0.1:8080";
  // 0 = one worker per core (std::thread::hardware_concurrency()).
  int workers = 0;
  std::string log_level = "info";
  // Key for the server-to-server HTTP API (header X-API-Key). Empty = API disabled:
  // no accidental unauthenticated publish endpoint.
  std::string api_key;
  // After SIGTERM: time to let clients receive the close frame before exit.
  int64_t shutdown_grace_ms = 2000;
  // Fair-window decisions, sealed in a SHA-256 chain (`tutti audit verify`).
  // Relative paths are relative to the working directory; "" = no audit log.
  std::string audit_log = "tutti-audit.jsonl";
  // Round-trip probes (WebSocket pings) per connection, for fairness and telemetry.
  int64_t rtt_probe_interval_ms = 2000;
  // "origin": rooms and the media origin here. "edge": /hls/ comes from the
  // [edge] origins, cached and collapsed (docs/edge.md).
  std::string role = "origin";
};

struct LimitsConfig {
  // Incoming WebSocket frame size; 64 KiB covers chat and game messages, and
  // bounds the memory one reader can make us allocate.
  int64_t max_frame_bytes = 64 * 1024;
  // Commands per incoming frame (a batch).
  int64_t max_batch = 100;
  int64_t max_rooms_per_connection = 128;
  // Publication data size, kept below max_frame_bytes so the envelope fits.
  int64_t max_data_bytes = 60000;
  // Token bucket per connection: sustained rate and burst.
  double publish_rate_per_s = 100;
  double publish_burst = 200;
  // Per source address; load tests spread over 127.0.0.x.
  int64_t max_connections_per_ip = 1000;
  // Outgoing bytes queued for one connection before it is cut as a slow
  // consumer (close 4005); 1 MiB as Centrifugo: bounds server memory per reader.
  int64_t outgoing_buffer_bytes = 1024 * 1024;
  int64_t connect_timeout_ms = 10000;
  // No frame at all (data or pong) for this long closes the socket; pings
  // are sent after half of it.
  int64_t idle_timeout_ms = 30000;
  // Consecutive bad frames (invalid JSON, unknown method) tolerated before close 4002.
  int64_t max_protocol_errors = 20;
};

struct AuthConfig {
  // Anonymous connections (no token). On by default so the all-in-one demo
  // works on a bare machine; production configs turn it off.
  bool anonymous = true;
  std::vector<std::string> anonymous_subscribe = {"*"};
  std::vector<std::string> anonymous_publish = {"*"};
  // Rooms where anonymous clients may open fair windows (none: a game backend
  // or an authorised dealer opens them).
  std::vector<std::string> anonymous_windows = {};
  // HS256 | RS256 | ES256. Tokens with any other alg are refused.
  std::string algorithm = "HS256";
  std::string secret;           // HS256
  std::string public_key_file;  // RS256 / ES256, PEM
  // Clock skew tolerated on exp / nbf / iat.
  int64_t leeway_s = 5;
};

// Per room-name prefix; the longest matching prefix wins. The entry with
// prefix "" is the default for every room.
struct RoomRule {
  std::string prefix;
  // History kept for recovery: last N messages and a maximum age.
  int64_t history_size = 1000;
  int64_t history_ttl_s = 300;
  bool presence = true;
  // "clients": clients whose permissions allow it may publish; "server": only
  // the HTTP API publishes (e.g. a dealer's results room).
  std::string publish = "clients";
  // client_msg_id de-duplication window (Centrifugo keeps 5 minutes) and its
  // bound in entries per room.
  int64_t dedup_window_s = 300;
  int64_t dedup_max_entries = 10000;
  // A room with no subscribers and no message for this long is dropped (its
  // next incarnation has a new epoch).
  int64_t idle_ttl_s = 600;

  // Delivery policy (docs/sync.md): "immediate", "at" (scheduled; at = ts
  // unless the publisher gives one) or "delay" (at = ts + delay).
  std::string delivery = "immediate";
  int64_t delay_ms = 500;
  // Adaptive delay: just above the high percentile of subscribers' one-way
  // delays (plus margin), within [delay_min_ms, delay_max_ms].
  bool delay_adaptive = false;
  int64_t delay_min_ms = 50;
  int64_t delay_max_ms = 3000;
  int64_t delay_margin_ms = 30;
  double delay_percentile = 99;

  // Fair windows: allowed deviation of (receive - stamp) from the client's
  // measured one-way delay, before its jitter is added; and the grace after
  // the close during which late-arriving actions are still judged (the
  // largest one-way delay we serve).
  int64_t window_tolerance_ms = 25;
  int64_t window_grace_ms = 1000;
  // The media stream this room's events belong to: a publication carrying
  // media_ts also becomes an event on that stream's timeline (an
  // EXT-X-DATERANGE and an emsg, docs/media.md). "" = none.
  std::string media_stream;
};

// [[media.ingest]]: an MPEG-TS ingest publishing one stream.
struct IngestConfig {
  std::string stream;  // in URLs: /hls/<stream>/master.m3u8
  // A libavformat URL: tcp://127.0.0.1:9000?listen=1, udp://127.0.0.1:9001,
  // srt://127.0.0.1:9002?mode=listener. Bind to loopback unless publishers
  // come from elsewhere: there is no stream key on these yet.
  std::string url;
  // "arrival" or "source" (docs/media.md "One timeline"); "" = [media] timeline.
  std::string timeline;
};

// [[media.rtmp_keys]]: an RTMP stream key and the stream it publishes.
struct StreamKeyConfig {
  std::string key;
  std::string stream;
};

// [media]: the origin (docs/media.md).
struct MediaConfig {
  std::vector<IngestConfig> ingests;
  // RTMP ingest, "host:port" ("" = off). A publisher's key is either one of
  // rtmp_keys, or "<stream>?token=<JWT>" with a token (verified like a
  // connection token) whose publish claim allows "media:<stream>".
  std::string rtmp_listen;
  std::vector<StreamKeyConfig> rtmp_keys;
  // The synthetic camera: the ffmpeg CLI (test pattern, tone, burned-in wall
  // clock and frame number) pushing MPEG-TS into stream "demo" over loopback
  // TCP. On when `tutti serve` runs without a config file, so that the demo
  // has live video on a bare machine.
  bool camera = false;
  std::string camera_size = "1280x720";
  int camera_fps = 30;
  // Segments of 2 s with a key frame on each boundary; parts of 200 ms
  // (PART-HOLD-BACK 0.6 s).
  int64_t segment_ms = 2000;
  int64_t part_ms = 200;
  // CMAF chunks within a part, sent as they are made to a request for the
  // part being written; 0 = whole parts only.
  int64_t chunk_ms = 100;
  // Capture times of MPEG-TS ingests (and the camera): "arrival" (the
  // origin's clock when the stream arrives) or "source" (the source stamps
  // its wall clock into its timestamps: origins fed the same source publish
  // identical playlists). docs/media.md "One timeline".
  std::string timeline = "arrival";
  // The source's own H.264 as one more rendition, "source" (copied, not
  // re-encoded; docs/media.md "Ladder"), declaring this BANDWIDTH.
  bool passthrough = false;
  int passthrough_kbps = 3000;
};

// The source tree's web/dist (where web/build.mjs writes the pages), so a
// built checkout serves its own pages.
std::string defaultWebRoot();

// [web]: the pages (docs/web.md): the demo at /, the admin dashboard at
// /admin (HTTP Basic, the password is server.api_key).
struct WebConfig {
  // Directory of the built pages; "" = no pages.
  std::string root = defaultWebRoot();
};

// [demo]: a demo table, the live game the demo page shows. Rounds of a fair
// betting window, then a result pinned to the video frame of its moment.
struct DemoConfig {
  // The room it plays in; "" = off. `tutti serve` without a config plays in
  // "table:1".
  std::string table;
  // The stream whose frames the results belong to (their media_ts).
  std::string stream = "demo";
  // A round: betting_ms of open window, the room's grace, the result, then
  // pause_ms before the next round; long enough to place a bet by hand.
  int64_t betting_ms = 10000;
  int64_t pause_ms = 5000;
};

// [edge]: what an edge serves from where (docs/edge.md).
struct EdgeSectionConfig {
  // Origins as "ip:port"; keys are spread over them by consistent hashing,
  // with failover to the next healthy one.
  std::vector<std::string> origins;
  // Parent edges as "ip:port" (a tier): media is asked of the key's parent
  // (consistent hashing over the healthy ones) before the origins. Rooms are
  // relayed from the origins.
  std::vector<std::string> parents;
  // Memory for cached objects, and the largest one kept (above: passed through).
  int64_t cache_mb = 256;
  int64_t max_object_mb = 16;
  // Health probes (GET /healthz) per origin.
  int64_t probe_interval_ms = 1000;
  // Distinct objects fetched upstream at once; past it a miss is a 503 at
  // once (a cache-busting flood does not reach the origins).
  int64_t max_fetches = 1000;
  // Rooms (docs/edge.md, "Rooms at the edge"): the token the edge presents
  // to its origin, with `edge: true` and room permissions for everything it
  // relays. Empty: with an HS256 [auth] secret the edge signs its own (sub
  // "edge", every room, one hour, renewed on each connection); otherwise it
  // connects anonymously and cannot forward publishes or actions.
  std::string token;
  // The rooms' upstream down this long: move to the next origin.
  int64_t failover_ms = 3000;
};

// [[directory.edges]]: an edge the directory lists (GET /api/directory):
// clients of its region measure their round trip to each and pick the
// nearest (ClientOptions::candidates in the SDKs).
struct DirectoryEdge {
  std::string url;     // ws://HOST:PORT/ws, as clients reach it
  std::string region;  // e.g. "eu-west"; "" = any
};

struct DirectoryConfig {
  std::vector<DirectoryEdge> edges;
};

struct ServerConfig {
  ListenConfig server;
  LimitsConfig limits;
  AuthConfig auth;
  MediaConfig media;
  WebConfig web;
  DemoConfig demo;
  EdgeSectionConfig edge;
  DirectoryConfig directory;
  std::vector<RoomRule> rooms = {RoomRule{}};

  // The rule for a room name: longest prefix match (there is always the "" rule).
  const RoomRule& ruleFor(std::string_view room) const;
};

// Parses TOML text; errors name the key and line.
Result<ServerConfig> parseConfig(std::string_view toml_text);
Result<ServerConfig> loadConfig(const std::string& path);

}  // namespace tutti::server
