#pragma once
// The server's side of the wire protocol (docs/protocol.md): decoding client
// frames into commands and encoding replies and pushes. No I/O, no Beast, so
// it is unit-tested and fuzzed on its own. Thread-safe (pure functions).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::protocol {

inline constexpr int kVersion = 1;

enum class Method {
  kConnect, kSubscribe, kUnsubscribe, kPublish, kPresence, kPing, kTime, kWindowOpen, kAction, kPresenceRelay,
  kDelayReport
};

struct ConnectParams {
  std::string token;   // empty = anonymous
  std::string name;    // SDK name/version, informative
  std::string client;  // stable client instance id chosen by the SDK
};

struct ClientInfo {
  std::string session;
  std::string user;
  std::string client;
};

struct StreamPosition {
  std::string epoch;
  uint64_t offset = 0;
};

struct SubscribeParams {
  std::string room;
  std::optional<StreamPosition> recover;
  bool presence = false;  // opt in to join/leave pushes
};

struct RoomParams {
  std::string room;
};

// What an edge adds to a command it forwards for one of its clients
// (docs/edge.md, "Rooms at the edge"). Honoured only on a connection whose
// token carries `edge: true`; anyone else gets 1108.
struct RelayParams {
  std::string user;    // the end user, as the edge verified them ("" = anonymous)
  std::string client;  // the end user's client id
  std::optional<int64_t> received_us;  // action: when the edge read it (origin time)
  int64_t rtt_min_us = -1;  // action: the edge's own probes of the client (-1 = none yet)
  int64_t rtt_max_us = -1;
  bool permitted = true;    // action: the client's token allows publishing in the room
};

struct PublishParams {
  std::string room;
  std::string data_json;  // the `data` value, re-serialised compactly
  std::string client_msg_id;
  std::optional<int64_t> at_us;     // show at this server time
  std::optional<int64_t> delay_ms;  // show this long after ordering
  std::optional<int64_t> media_ts_us;  // belongs to the video frame captured at this time (docs/media.md)
  std::optional<RelayParams> relay;
};

// The client's clock-sync telemetry riding on a `time` command (all optional).
struct TimeParams {
  std::optional<int64_t> rtt_us;
  std::optional<int64_t> offset_us;
  std::optional<int64_t> uncertainty_us;
};

struct WindowOpenParams {
  std::string room;
  std::string window;
  std::optional<int64_t> opens_at_us;
  std::optional<int64_t> closes_at_us;
  std::optional<int64_t> duration_ms;
  std::optional<RelayParams> relay;
};

struct ActionParams {
  std::string room;
  std::string window;
  int64_t stamp_us = 0;  // the client's synced server time when it acted
  std::string data_json;
  std::string action_id;
  std::optional<RelayParams> relay;
};

// An edge's client joining or leaving a room's presence (docs/edge.md,
// "Presence across edges"). Edge tokens only (1108 otherwise).
struct PresenceRelayParams {
  std::string room;
  bool join = true;  // "event": "join" | "leave"
  ClientInfo client;
};

// An edge's one-way delay to its viewers of a room, beyond its own link
// (docs/edge.md, "Adaptive delay through edges"). Edge tokens only.
struct DelayReportParams {
  std::string room;
  int64_t owd_us = 0;  // 0: none to report
};

using Params = std::variant<std::monostate, ConnectParams, SubscribeParams, RoomParams, PublishParams, TimeParams,
                            WindowOpenParams, ActionParams, PresenceRelayParams, DelayReportParams>;

struct Command {
  uint64_t id = 0;
  Method method = Method::kPing;
  Params params;
};

// One decoded line of a frame: a command, or an error to send back with `id`
// (0 when the id itself could not be read).
struct Decoded {
  uint64_t id = 0;
  Result<Command> command = Error{};
};

// Splits a text frame on '\n' and decodes each non-empty line. A frame with
// more than max_batch commands decodes to one kBatchTooLarge error.
std::vector<Decoded> decodeFrame(std::string_view frame, size_t max_batch);

// Room names: 1-200 bytes of [A-Za-z0-9_:.\-@/=].
bool validRoomName(std::string_view room);

// Appends s as a JSON string literal (quotes included).
void appendJsonString(std::string& out, std::string_view s);

// {"id":N,"result":<result_json>}
std::string encodeResult(uint64_t id, std::string_view result_json);
// {"id":N,"error":{"code":C,"message":"..."}}
std::string encodeError(uint64_t id, const Error& error);

// {"push":"pub","room":..,"epoch":..,"offset":..,"ts":..[,"at":..][,"media_ts":..],"data":<data_json>}
// data_pos/data_len (optional out) locate data_json inside the result, so
// history can hand out the data without keeping a second copy.
struct PubFrame {
  std::string bytes;
  size_t data_pos = 0;
  size_t data_len = 0;
};
PubFrame encodePub(std::string_view room, std::string_view epoch, uint64_t offset, int64_t ts_us,
                   std::string_view data_json, std::optional<int64_t> at_us = std::nullopt,
                   std::optional<int64_t> media_ts_us = std::nullopt);

// Window ids: 1-64 bytes of the room-name alphabet.
bool validWindowId(std::string_view id);

std::string encodeClientInfo(const ClientInfo& info);
// {"push":"join"|"leave","room":..,"client":{...}}
std::string encodePresenceEvent(bool join, std::string_view room, const ClientInfo& info);
// {"push":"disconnect","code":C,"reason":".."}
std::string encodeDisconnect(int code, std::string_view reason);

}  // namespace tutti::protocol
