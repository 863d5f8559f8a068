#pragma once
// What the load generator says to each server, and how it reads what comes
// back. Three protocols:
//   tutti  Tutti's own (docs/protocol.md): newline-delimited JSON commands,
//          `pub` pushes; many per WebSocket frame.
//   nats   NATS's text protocol over WebSocket (nats-server's websocket
//          listener): CONNECT, SUB, PUB out; INFO, MSG, PING in (answered).
//   plain  a JSON broadcast server (bench/peers/node-ws): the room is in the
//          URL, every message a client sends goes to the others in the room.
//
// Every published message carries a body of the generator's own,
// "<room>:<seq>:<send_ns>:" padded with 'x' to the asked size, so every
// protocol measures the same bytes and every delivery tells its room,
// sequence (loss, reordering) and send time (latency).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tutti::loadgen {

enum class Protocol { kTutti, kNats, kPlain };
std::optional<Protocol> parseProtocol(std::string_view name);
const char* protocolName(Protocol p);

struct Body {
  uint32_t room = 0;
  uint64_t seq = 0;
  int64_t send_ns = 0;
};
// Appends the body (ASCII digits, ':' and 'x': valid inside a JSON string).
void appendBody(std::string& out, const Body& b, size_t size);
std::optional<Body> parseBody(std::string_view s);

// The room's name in each protocol ("bench.7" for NATS subjects).
std::string roomName(Protocol p, uint32_t room);
// The WebSocket request target to connect to for `room`.
std::string targetFor(Protocol p, uint32_t room);

// WebSocket payloads to send once the connection is open, to subscribe to
// `room` (empty: nothing to send). `subscribe` false: connect only (idle
// connections, publishers).
std::string openPayload(Protocol p, uint32_t room, bool subscribe);

// Appends one publish of `body` into `room` to `batch`, the payload of the
// frame being built (Tutti and NATS carry many per frame; plain one per
// frame: call it on an empty batch). Tutti publishes carry id 0 (no ack:
// errors still come back), as NATS's PUB without verbose mode.
void appendPublish(Protocol p, std::string& batch, uint32_t room, std::string_view body);
bool batchesPublishes(Protocol p);

// What arrived, parsed. Feed every received WebSocket message payload; it
// calls on_body for each delivered publication and on_reply for each
// protocol-level line to answer (NATS PING -> "PONG\r\n"). Errors from the
// server (Tutti error replies, NATS -ERR, a `disconnect` push) are counted.
class Reader {
 public:
  explicit Reader(Protocol p) : p_(p) {}
  template <typename OnBody, typename OnReply>
  void feed(std::string_view payload, OnBody&& on_body, OnReply&& on_reply);
  uint64_t serverErrors() const { return errors_; }
  uint64_t unparsed() const { return unparsed_; }
  const std::string& lastError() const { return last_error_; }

 private:
  void noteError(std::string_view line);
  template <typename OnBody, typename OnReply>
  void feedNats(std::string_view payload, OnBody&& on_body, OnReply&& on_reply);

  Protocol p_;
  std::string nats_buf_;  // NATS: bytes of an incomplete line or message
  uint64_t errors_ = 0;
  uint64_t unparsed_ = 0;
  std::string last_error_;
};

// ---- inline: the per-message path ----

template <typename OnBody, typename OnReply>
void Reader::feed(std::string_view payload, OnBody&& on_body, OnReply&& on_reply) {
  if (p_ == Protocol::kPlain) {
    if (auto b = parseBody(payload)) {
      on_body(*b);
    } else {
      ++unparsed_;
    }
    return;
  }
  if (p_ == Protocol::kNats) return feedNats(payload, on_body, on_reply);
  // Tutti: lines; publications are `{"push":"pub",...,"data":"<body>"}`.
  size_t pos = 0;
  while (pos < payload.size()) {
    size_t nl = payload.find('\n', pos);
    if (nl == std::string_view::npos) nl = payload.size();
    const std::string_view line = payload.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    if (line.starts_with("{\"push\":\"pub\"")) {
      // Forward: "data" follows a short envelope, while the body behind it
      // is padding a backward search would crawl through.
      const size_t d = line.find(",\"data\":\"", 13);
      std::optional<Body> b;
      if (d != std::string_view::npos) b = parseBody(line.substr(d + 9));
      if (b) {
        on_body(*b);
      } else {
        ++unparsed_;
      }
    } else if (line.find("\"error\":") != std::string_view::npos || line.starts_with("{\"push\":\"disconnect\"")) {
      noteError(line);
    }
  }
}

template <typename OnBody, typename OnReply>
void Reader::feedNats(std::string_view payload, OnBody&& on_body, OnReply&& on_reply) {
  std::string_view in = payload;
  if (!nats_buf_.empty()) {
    nats_buf_.append(payload);
    in = nats_buf_;
  }
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    const std::string_view line = in.substr(pos, eol - pos);
    if (line.starts_with("MSG ")) {
      // MSG <subject> <sid> [reply-to] <#bytes>
      const size_t sp = line.rfind(' ');
      uint64_t n = 0;
      for (char c : line.substr(sp + 1)) n = n * 10 + static_cast<uint64_t>(c - '0');
      if (in.size() - (eol + 2) < n + 2) break;  // the payload is not all here yet
      if (auto b = parseBody(in.substr(eol + 2, n))) {
        on_body(*b);
      } else {
        ++unparsed_;
      }
      pos = eol + 2 + n + 2;
      continue;
    }
    if (line == "PING") {
      on_reply(std::string_view("PONG\r\n"));
    } else if (line.starts_with("-ERR")) {
      noteError(line);
    }
    pos = eol + 2;
  }
  if (nats_buf_.empty()) {
    nats_buf_.assign(in.substr(pos));
  } else {
    nats_buf_.erase(0, pos);
  }
}

}  // namespace tutti::loadgen
