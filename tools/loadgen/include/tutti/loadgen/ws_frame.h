#pragma once
// The client side of RFC 6455 framing, as much as a load generator needs:
// masked frames out, unmasked frames in. Hand-written so that a thread can
// carry thousands of connections at a few hundred nanoseconds per message
// (a general WebSocket library costs microseconds per frame, which would
// measure the generator instead of the server).

#include <cstdint>
#include <string>
#include <string_view>

namespace tutti::loadgen {

enum class WsOpcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// Appends one masked frame (FIN set) carrying `payload` to `out`. `mask_key`
// is the 4-byte masking key (any value; a generator has no need for
// unpredictable keys).
void appendClientFrame(std::string& out, WsOpcode op, std::string_view payload, uint32_t mask_key);

// The HTTP/1.1 upgrade request for `host` and `target` (path and query).
std::string upgradeRequest(std::string_view host, std::string_view target);

// Incremental parser of server frames. Feed it bytes as they arrive; it
// calls on_message(opcode, payload) for each complete message (fragmented
// messages are joined; control frames are passed through as they come).
// Returns false (and sets error()) on a protocol violation: a masked server
// frame, a reserved opcode, an oversized control frame, a message above
// max_message bytes.
class WsParser {
 public:
  explicit WsParser(size_t max_message = 64u << 20) : max_message_(max_message) {}

  template <typename F>
  bool feed(const char* data, size_t n, F&& on_message);

  const std::string& error() const { return error_; }
  // Bytes held for an incomplete frame (for tests and buffer accounting).
  size_t pending() const { return buf_.size(); }

 private:
  // Parses one frame header at p (n bytes available). Returns the header
  // length, 0 if more bytes are needed, or -1 on a violation.
  int header(const unsigned char* p, size_t n, WsOpcode& op, bool& fin, uint64_t& len);

  size_t max_message_;
  std::string buf_;       // unconsumed bytes (a partial frame)
  std::string message_;   // a fragmented message being joined
  WsOpcode message_op_ = WsOpcode::kText;
  bool in_message_ = false;
  std::string error_;
};

template <typename F>
bool WsParser::feed(const char* data, size_t n, F&& on_message) {
  if (!error_.empty()) return false;
  // Parse straight from the input when nothing is pending (the common case:
  // a read ends at a frame boundary); otherwise append and parse the buffer.
  std::string_view in;
  if (buf_.empty()) {
    in = std::string_view(data, n);
  } else {
    buf_.append(data, n);
    in = buf_;
  }
  size_t pos = 0;
  while (pos < in.size()) {
    WsOpcode op;
    bool fin;
    uint64_t len;
    const int h = header(reinterpret_cast<const unsigned char*>(in.data() + pos), in.size() - pos, op, fin, len);
    if (h < 0) return false;
    if (h == 0 || in.size() - pos - static_cast<size_t>(h) < len) break;  // incomplete
    const std::string_view payload = in.substr(pos + static_cast<size_t>(h), static_cast<size_t>(len));
    pos += static_cast<size_t>(h) + static_cast<size_t>(len);
    if (static_cast<uint8_t>(op) >= 8) {
      on_message(op, payload);
      continue;
    }
    if (op == WsOpcode::kContinuation) {
      if (!in_message_) {
        error_ = "continuation frame without a message";
        return false;
      }
    } else if (in_message_) {
      error_ = "new message inside a fragmented one";
      return false;
    }
    if (fin && !in_message_) {
      on_message(op, payload);
      continue;
    }
    if (!in_message_) {
      in_message_ = true;
      message_op_ = op;
      message_.clear();
    }
    if (message_.size() + payload.size() > max_message_) {
      error_ = "message above the size limit";
      return false;
    }
    message_.append(payload);
    if (fin) {
      in_message_ = false;
      on_message(message_op_, std::string_view(message_));
    }
  }
  if (buf_.empty()) {
    buf_.assign(in.substr(pos));
  } else {
    buf_.erase(0, pos);
  }
  if (buf_.size() > max_message_ + 14) {
    error_ = "frame above the size limit";
    return false;
  }
  return true;
}

}  // namespace tutti::loadgen
