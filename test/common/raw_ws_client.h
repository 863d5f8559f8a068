#pragma once
// A blocking WebSocket client that sends whatever it is told (invalid JSON,
// binary frames, oversized frames) and reads frames with a timeout, reporting
// the close code when the server closes. For protocol-abuse and slow-consumer
// tests; normal clients use tutti::sdk::Client.
//
// Blocking calls run a private io_context on the calling thread: one thread
// uses a RawWsClient at a time. Between calls nothing runs, so a client that
// is not read from really does not read its socket (a slow consumer).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "tutti/core/result.h"

namespace tutti::test {

struct WsEvent {
  enum class Kind { kText, kBinary, kClosed, kTimeout, kError };
  Kind kind = Kind::kTimeout;
  std::string data;       // kText / kBinary: the frame (or line, for readLine)
  int close_code = 0;     // kClosed: the server's close code (1005 if none given)
  std::string close_reason;
  std::string error;      // kError: transport error (e.g. reset without close frame)
};

class RawWsClient {
 public:
  struct Options {
    std::string target = "/ws";
    // SO_RCVBUF before connecting, 0 = system default. A small one makes a
    // non-reading client fill up (and the server notice) sooner.
    int receive_buffer_bytes = 0;
    int64_t timeout_ms = 5000;  // connect + handshake
  };

  RawWsClient();
  ~RawWsClient();
  RawWsClient(const RawWsClient&) = delete;
  RawWsClient& operator=(const RawWsClient&) = delete;

  Result<void> connect(uint16_t port, Options options);
  Result<void> connect(uint16_t port) { return connect(port, Options{}); }

  Result<void> sendText(std::string_view text, int64_t timeout_ms = 5000);
  Result<void> sendBinary(std::string_view bytes, int64_t timeout_ms = 5000);

  // The next frame, or kClosed / kError once the connection ended (repeated
  // on every later call), or kTimeout.
  WsEvent readFrame(int64_t timeout_ms);
  // Like readFrame, but text frames are split on '\n': one JSON line at a time.
  WsEvent readLine(int64_t timeout_ms);
  // The next JSON object line for which pred is true (other lines are
  // skipped); nullopt on timeout or close.
  std::optional<boost::json::object> readJsonUntil(
      const std::function<bool(const boost::json::object&)>& pred, int64_t timeout_ms);
  // The reply with this id (or nullopt).
  std::optional<boost::json::object> readReply(uint64_t id, int64_t timeout_ms = 5000);
  // Reads and discards everything until the connection ends; the kClosed /
  // kError event, or kTimeout.
  WsEvent waitClosed(int64_t timeout_ms);

  // Sends {"id":id,"method":"connect","params":{token?}} and returns the reply.
  std::optional<boost::json::object> connectCommand(std::string_view token = {}, uint64_t id = 1,
                                                    int64_t timeout_ms = 5000);

  // Clean close with `code` (waits briefly for the server's answer).
  void close(int code = 1000);
  bool ended() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tutti::test
