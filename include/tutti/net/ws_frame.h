#pragma once
// RFC 6455 framing, both roles, without Asio or Beast: the server's
// WebSocket sessions and the load generator's client connections share it.
// Hand-written because a general WebSocket library costs microseconds and
// kilobytes per connection (a pending read op, a read buffer and the stream
// state even while idle); this costs a few hundred nanoseconds per message
// and nothing while a connection has no partial frame.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tutti::net {

enum class WsOpcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// The largest frame header: 2 bytes, 8 of extended length, 4 of mask.
constexpr size_t kWsMaxHeader = 14;

// Writes the header of an unmasked final frame of `n` payload bytes into
// `out` (at least 10 bytes); returns its length.
size_t encodeFrameHeader(char* out, WsOpcode op, uint64_t n);

// Appends one unmasked final frame (what a server sends).
void appendFrame(std::string& out, WsOpcode op, std::string_view payload);

// Appends one masked final frame (what a client sends). `mask_key` is the
// 4-byte masking key (any value; a load generator has no need for
// unpredictable keys).
void appendClientFrame(std::string& out, WsOpcode op, std::string_view payload, uint32_t mask_key);

// A close frame's payload: the code (network order) and a reason cut to fit
// the 125 bytes a control frame may carry.
std::string closePayload(int code, std::string_view reason);

// The HTTP/1.1 upgrade request for `host` and `target` (path and query).
std::string upgradeRequest(std::string_view host, std::string_view target);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key:
// base64(SHA-1(key + the RFC's GUID)).
std::string websocketAccept(std::string_view key);

// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing
// above U+10FFFF), as text messages must be.
bool validUtf8(std::string_view s);

// Incremental frame parser. Feed it bytes as they arrive; it calls
// on_message(opcode, payload) for each complete message (fragmented
// messages are joined; control frames are passed through as they come,
// even between the fragments of a message). The server role requires
// masked frames and unmasks them in place; the client role refuses masked
// ones. Returns false on a violation; error() says what and closeCode()
// which close code answers it (1002 protocol error, 1009 too big).
class WsParser {
 public:
  enum class Role { kServer, kClient };
  explicit WsParser(size_t max_message = 64u << 20, Role role = Role::kClient) : max_message_(max_message), role_(role) {}

  template <typename F>
  bool feed(char* data, size_t n, F&& on_message);

  const std::string& error() const { return error_; }
  int closeCode() const { return close_code_; }
  // Bytes held for an incomplete frame (for tests and buffer accounting).
  size_t pending() const { return buf_.size(); }

 private:
  // Parses one frame header at p (n bytes available). Returns the header
  // length, 0 if more bytes are needed, or -1 on a violation. `mask` gets
  // the masking key (server role).
  int header(const unsigned char* p, size_t n, WsOpcode& op, bool& fin, uint64_t& len, uint32_t& mask);
  bool fail(std::string why, int code) {
    error_ = std::move(why);
    close_code_ = code;
    return false;
  }
  int reject(std::string why, int code) {
    fail(std::move(why), code);
    return -1;
  }

  size_t max_message_;
  Role role_;
  std::string buf_;      // unconsumed bytes (a partial frame)
  std::string message_;  // a fragmented message being joined
  WsOpcode message_op_ = WsOpcode::kText;
  bool in_message_ = false;
  std::string error_;
  int close_code_ = 0;
};

// XORs `n` bytes at p with the 4-byte key, starting at key offset 0.
void unmask(char* p, size_t n, uint32_t key);

template <typename F>
bool WsParser::feed(char* data, size_t n, F&& on_message) {
  if (!error_.empty()) return false;
  // Parse straight from the input when nothing is pending (the common case:
  // a read ends at a frame boundary); otherwise append and parse the buffer.
  char* in;
  size_t size;
  const bool direct = buf_.empty();
  if (direct) {
    in = data;
    size = n;
  } else {
    buf_.append(data, n);
    in = buf_.data();
    size = buf_.size();
  }
  size_t pos = 0;
  while (pos < size) {
    WsOpcode op;
    bool fin;
    uint64_t len;
    uint32_t mask = 0;
    const int h = header(reinterpret_cast<const unsigned char*>(in + pos), size - pos, op, fin, len, mask);
    if (h < 0) return false;
    if (h == 0 || size - pos - static_cast<size_t>(h) < len) break;  // incomplete
    char* payload_at = in + pos + h;
    const auto plen = static_cast<size_t>(len);
    if (role_ == Role::kServer) unmask(payload_at, plen, mask);
    const std::string_view payload(payload_at, plen);
    pos += static_cast<size_t>(h) + plen;
    if (static_cast<uint8_t>(op) >= 8) {
      on_message(op, payload);
      continue;
    }
    if (op == WsOpcode::kContinuation) {
      if (!in_message_) return fail("continuation frame without a message", 1002);
    } else if (in_message_) {
      return fail("new message inside a fragmented one", 1002);
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
    if (message_.size() + payload.size() > max_message_) return fail("message above the size limit", 1009);
    message_.append(payload);
    if (fin) {
      in_message_ = false;
      on_message(message_op_, std::string_view(message_));
      std::string().swap(message_);
    }
  }
  if (direct) {
    buf_.assign(in + pos, size - pos);
  } else {
    buf_.erase(0, pos);
    if (buf_.empty()) std::string().swap(buf_);  // an idle connection holds nothing
  }
  if (buf_.size() > max_message_ + kWsMaxHeader) return fail("frame above the size limit", 1009);
  return true;
}

}  // namespace tutti::net
