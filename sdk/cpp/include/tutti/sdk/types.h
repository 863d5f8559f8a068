#pragma once
// Plain values the C++ SDK hands to applications. They mirror the objects of
// docs/protocol.md one to one; field names are the wire names.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tutti::sdk {

// SDK-side error codes, outside the server's ranges (100, 1000-1299) so an
// application can tell "the server said no" from "the SDK gave up".
inline constexpr int kTimeout = 9001;          // no reply within the request timeout
inline constexpr int kDisconnected = 9002;     // the client is closed for good (close(), or a
                                               // close code that forbids reconnecting)
inline constexpr int kInvalidArgument = 9003;  // rejected before sending (bad URL, data not JSON,
                                               // command larger than max_frame_bytes)

// A position in a room's stream: the last publication seen.
struct Position {
  std::string epoch;
  uint64_t offset = 0;
  bool operator==(const Position&) const = default;
};

// The "limits" object of the connect reply.
struct Limits {
  int64_t max_frame_bytes = 65536;
  int64_t max_batch = 100;
  int64_t max_rooms = 128;
  int64_t max_data_bytes = 60000;
  double publish_rate_per_s = 100;
  double publish_burst = 200;
  int64_t outgoing_buffer_bytes = 1048576;
  int64_t idle_timeout_ms = 30000;
};

// The connect reply.
struct ConnectInfo {
  std::string session;
  std::string user;  // "" when anonymous
  int64_t server_time_us = 0;
  std::string version;
  int protocol = 0;
  Limits limits;
};

// A "pub" push. `data` is the publication's JSON value as compact JSON text.
struct Publication {
  std::string room;
  std::string epoch;
  uint64_t offset = 0;
  int64_t ts = 0;  // server UTC microseconds when the room ordered it
  std::string data;
};

// The subscribe reply. `recovered` is set only when the subscribe carried
// `recover` (an automatic recovery after a reconnect or a gap, or one the
// application asked for); `reason` is set when recovered is false:
// "epoch_changed", "history_exhausted" or "offset_ahead".
struct SubscribeResult {
  std::string room;
  std::string epoch;
  uint64_t offset = 0;  // the room's top at subscribe time
  std::optional<bool> recovered;
  std::string reason;
  uint64_t replayed = 0;
};

struct PublishAck {
  std::string room;
  std::string epoch;
  uint64_t offset = 0;
  int64_t ts = 0;
  bool duplicate = false;  // this client_msg_id was already published: the original ack
};

struct PresenceClient {
  std::string session;
  std::string user;
  std::string client;
};

struct PresenceResult {
  std::string room;
  std::vector<PresenceClient> clients;
};

// Why a connection ended: the WebSocket close code and reason the server
// sent, or 1006 (RFC 6455 "abnormal closure") when the transport failed
// without a close frame.
struct CloseInfo {
  int code = 0;
  std::string reason;
};

}  // namespace tutti::sdk
