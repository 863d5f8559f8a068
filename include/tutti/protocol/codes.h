#pragma once
// Stable numeric error codes and WebSocket close codes. docs/protocol.md is
// the definition; this header and sdk/js mirror it. Never renumber.

namespace tutti::code {

// --- request errors (in replies: {"id":N,"error":{"code":C,"message":"..."}})
inline constexpr int kInternal = 100;           // server bug; retry may help
inline constexpr int kBadRequest = 1000;        // frame is not valid JSON / not a command object
inline constexpr int kUnknownMethod = 1001;     // "method" not known
inline constexpr int kInvalidParams = 1002;     // params missing or of the wrong type
inline constexpr int kNotConnected = 1004;      // command before a successful connect
inline constexpr int kAlreadyConnected = 1005;  // second connect on one socket
inline constexpr int kBatchTooLarge = 1006;     // more commands in one frame than allowed

// --- auth (connect refused; each also closes the socket with kCloseBadToken
//     or kCloseTokenExpired)
inline constexpr int kTokenMalformed = 1101;     // not three base64url parts, bad JSON, bad claim types
inline constexpr int kTokenAlgNone = 1102;       // alg "none" is always refused
inline constexpr int kTokenAlgMismatch = 1103;   // alg is not the one configured
inline constexpr int kTokenBadSignature = 1104;  // signature does not verify
inline constexpr int kTokenExpired = 1105;       // now >= exp (+ leeway)
inline constexpr int kTokenNotYetValid = 1106;   // now < nbf (- leeway), or iat in the future
inline constexpr int kAnonymousRefused = 1107;   // no token and anonymous access is off
inline constexpr int kPermissionDenied = 1108;   // the token/config does not allow this room action
inline constexpr int kTokenMissingClaim = 1109;  // sub or exp absent

// --- rooms
inline constexpr int kNotSubscribed = 1201;
inline constexpr int kAlreadySubscribed = 1202;
inline constexpr int kTooManyRooms = 1203;       // rooms per connection limit
inline constexpr int kPublishNotAllowed = 1204;  // room policy forbids client publishes
inline constexpr int kRateLimited = 1205;        // publish rate per connection exceeded
inline constexpr int kBadRoomName = 1206;        // empty, too long, or bad characters
inline constexpr int kPresenceDisabled = 1207;   // room prefix has presence off
inline constexpr int kDataTooLarge = 1208;       // publication data above max_data_bytes

// --- fair windows
inline constexpr int kWindowExists = 1301;       // window id already used in this room
inline constexpr int kBadWindowTimes = 1302;     // closes before opening, in the past, or too long

// --- WebSocket close codes (RFC 6455 private range 4000-4999, plus 1009)
inline constexpr int kCloseNormal = 1000;
inline constexpr int kCloseMessageTooBig = 1009;   // frame above max_frame_bytes (RFC 6455)
inline constexpr int kCloseShutdown = 4001;        // server is shutting down: reconnect elsewhere/later
inline constexpr int kCloseProtocolError = 4002;   // repeated protocol errors; do not retry blindly
inline constexpr int kCloseBadToken = 4003;        // token refused: do not reconnect with the same token
inline constexpr int kCloseTokenExpired = 4004;    // get a fresh token, then reconnect
inline constexpr int kCloseSlowConsumer = 4005;    // outgoing queue above the limit: reconnect and recover
inline constexpr int kCloseLimitExceeded = 4006;   // connections per IP (or another hard limit)
inline constexpr int kCloseConnectTimeout = 4008;  // no connect command in time
inline constexpr int kCloseKicked = 4009;          // disconnected by the server API: do not reconnect

// Whether an SDK should reconnect after this close code.
inline constexpr bool shouldReconnect(int close_code) {
  return !(close_code == kCloseBadToken || close_code == kCloseKicked ||
           close_code == kCloseProtocolError);
}

}  // namespace tutti::code
