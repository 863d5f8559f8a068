#pragma once
// The SDK's side of docs/protocol.md: encodes commands and decodes replies and
// pushes. Pure functions on strings (Boost.JSON, no I/O), so they are unit
// tested on their own (sdk/cpp/test/codec_test.cc). Client uses them on its
// I/O thread; they are safe to call from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "tutti/core/result.h"
#include "tutti/sdk/types.h"

namespace tutti::sdk::codec {

// --- framing: a frame holds one or more JSON texts separated by '\n'.

// The non-empty lines of a frame (a trailing '\r' is not stripped: JSON
// allows none). Views point into `frame`.
std::vector<std::string_view> splitLines(std::string_view frame);

// Joins encoded commands into one frame.
std::string joinLines(const std::vector<std::string>& lines);

// --- commands. `id` 0 means "no reply wanted".

std::string encodeConnect(uint64_t id, std::string_view token, std::string_view name,
                          std::string_view client);
std::string encodeSubscribe(uint64_t id, std::string_view room,
                            const std::optional<Position>& recover, bool presence);
std::string encodeUnsubscribe(uint64_t id, std::string_view room);
// `data_json` must already be compact JSON (see compactJson): it is spliced in
// verbatim so a large payload is not parsed twice.
// `at_us` / `delay_ms`: scheduling (at most one is meant to be set; the
// server refuses both).
std::string encodePublish(uint64_t id, std::string_view room, std::string_view data_json,
                          std::string_view client_msg_id, std::optional<int64_t> at_us = std::nullopt,
                          std::optional<int64_t> delay_ms = std::nullopt,
                          std::optional<int64_t> media_ts_us = std::nullopt,
                          const std::optional<Relay>& relay = std::nullopt);
std::string encodePresence(uint64_t id, std::string_view room);
// An edge's client joining (join) or leaving a room's presence (edges only).
std::string encodePresenceRelay(uint64_t id, std::string_view room, bool join, const PresenceClient& who);
// An edge's one-way delay to its viewers of a room (edges only).
std::string encodeDelayReport(uint64_t id, std::string_view room, int64_t owd_us);
std::string encodePing(uint64_t id);

// The telemetry a `time` command carries: the client's current estimate.
struct TimeTelemetry {
  int64_t rtt_us = 0;
  int64_t offset_us = 0;
  int64_t uncertainty_us = 0;
};
// nullopt: no params (the estimate is not valid yet).
std::string encodeTime(uint64_t id, const std::optional<TimeTelemetry>& telemetry);
std::string encodeWindowOpen(uint64_t id, std::string_view room, std::string_view window, const WindowSpec& spec);
// `data_json` as for encodePublish (compact JSON, spliced verbatim).
std::string encodeAction(uint64_t id, std::string_view room, std::string_view window, int64_t stamp_us,
                         std::string_view data_json, std::string_view action_id,
                         const std::optional<Relay>& relay = std::nullopt);

// Parses any JSON text and re-serialises it compactly (so it holds no raw
// newline and can go into a frame). kInvalidArgument if it is not JSON.
Result<std::string> compactJson(std::string_view json_text);

// --- incoming

enum class Kind {
  kReply,        // {"id":N,"result":...} or {"id":N,"error":...}
  kPub,          // {"push":"pub",...}
  kJoin,         // {"push":"join",...}
  kLeave,        // {"push":"leave",...}
  kDisconnect,   // {"push":"disconnect","code":C,"reason":"..."}
  kUnknownPush,  // a push kind this SDK does not know: ignore (protocol.md "Versioning")
  kInvalid,      // not JSON, not an object, or a field of the wrong type
};

struct Incoming {
  Kind kind = Kind::kInvalid;
  // kReply
  uint64_t id = 0;
  std::optional<Error> error;  // set for an error reply
  boost::json::value result;   // the "result" of a successful reply
  // kPub
  Publication pub;
  // kJoin / kLeave
  std::string room;
  PresenceClient client;
  // kDisconnect
  CloseInfo disconnect;
  // kInvalid: what was wrong (for logs)
  std::string problem;
};

Incoming decodeLine(std::string_view line);

// Typed views of a successful reply's "result". Absent fields take their
// default; a field of the wrong type yields code::kBadRequest.
Result<ConnectInfo> decodeConnectResult(const boost::json::value& result);
Result<SubscribeResult> decodeSubscribeResult(const boost::json::value& result);
Result<PublishAck> decodePublishAck(const boost::json::value& result);
Result<PresenceResult> decodePresenceResult(const boost::json::value& result);
// The ping reply's server_time_us.
Result<int64_t> decodePingResult(const boost::json::value& result);
// The `time` reply: t1 (server read the command), t2 (server replied).
struct TimeReply {
  int64_t t1 = 0;
  int64_t t2 = 0;
};
// Both fields are required.
Result<TimeReply> decodeTimeResult(const boost::json::value& result);
Result<WindowInfo> decodeWindowInfo(const boost::json::value& result);
// `decision` is required ("accepted" or "refused"); `duplicate` is set by a
// `"duplicate": true` field or by reason "duplicate".
Result<ActionDecision> decodeActionDecision(const boost::json::value& result);

// --- stream bookkeeping

// What to do with a publication given the last position delivered in its room.
enum class Verdict {
  kDeliver,    // same epoch, offset == last + 1
  kDuplicate,  // same epoch, offset <= last: already delivered, drop it
  kGap,        // offset > last + 1, or another epoch: something was missed, recover
};
Verdict classify(const Position& last, std::string_view epoch, uint64_t offset);

}  // namespace tutti::sdk::codec
