#pragma once
// What the network layer offers the server, without Beast or Asio in sight:
// a WebSocket connection to send frames on, the handler interfaces the
// server implements, and plain HTTP request/response values. The Beast side
// is src/net/; keeping it behind these types keeps it in two translation units.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tutti/core/metrics.h"
#include "tutti/core/shared_file.h"

namespace tutti::net {

using Frame = std::shared_ptr<const std::string>;

// Backpressure in the return type (uWS): a send is queued, refused because
// the connection is closing, or it pushed the queue past the limit and the
// connection is being cut as a slow consumer.
enum class SendResult { kQueued, kClosed, kSlowConsumer };

// Round trips measured by the transport itself: WebSocket pings carrying a
// timestamp, answered by the client's WebSocket stack (browsers do it
// natively), so no application code on the client is trusted or needed.
struct RttStats {
  int64_t last_us = -1;  // -1: no sample yet
  int64_t min_us = -1;   // over the recent window (last 16 samples)
  int64_t max_us = -1;   // over the recent window
  uint64_t samples = 0;
};

// One WebSocket connection. Thread: only the worker that owns it.
// Valid until its handler's onClosed() returns.
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // Queues a frame; queued frames leave together as one WebSocket message
  // (newline-separated) with one write in flight. pub_ts_us: the sequencing
  // time of a publication (for the publish-to-write histogram), 0 otherwise.
  virtual SendResult send(Frame frame, int64_t pub_ts_us = 0) = 0;
  // Sends what is in flight, then a close frame with code; cuts the socket
  // if the peer does not take it in time.
  virtual void close(int code, std::string reason) = 0;
  // Stops the connect timeout (the handler accepted a `connect`).
  virtual void authenticated() = 0;
  virtual const std::string& remoteIp() const = 0;
  virtual size_t queuedBytes() const = 0;
  virtual RttStats rtt() const = 0;
};

// The server's logic for one connection. Thread: the owning worker.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual void onOpen(WsConnection& conn) = 0;
  virtual void onText(std::string_view frame) = 0;
  virtual void onBinary(size_t bytes) = 0;
  // A new round-trip sample (see RttStats).
  virtual void onRtt(int64_t rtt_us) {}
  // Called once; the WsConnection is gone afterwards.
  virtual void onClosed(int code) = 0;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as received
  std::string path;
  std::string query;   // without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_ip;

  std::string_view header(std::string_view name) const;
  // Value of a query parameter (percent-decoded), "" when absent.
  std::string queryParam(std::string_view key) const;
};

// A response body that arrives in pieces, sent with chunked transfer
// encoding as it grows (an LL-HLS part still being packaged). Once the head
// is out and after each piece is written, the session calls next(); the
// stream answers through `sink` exactly once, on the same worker, now or
// later; `last` ends the body.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  using Sink = std::function<void(std::string piece, bool last)>;
  virtual void next(Sink sink) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Fields already in wire form, each as "\r\nName: value", written before
  // `headers` (a cached answer's fields, formatted once and shared).
  std::shared_ptr<const std::string> fields = nullptr;
  // When set, the body comes from here, chunked (and `body` is not sent).
  std::shared_ptr<BodyStream> stream = nullptr;
  // When not empty, the body is these immutable byte strings in order, sent
  // as they are, without a copy (and `body` is not sent): media held in
  // memory, shared by every response that carries it.
  std::vector<std::shared_ptr<const std::string>> pieces = {};
  // When set (and `pieces` empty), the body is this file's bytes, sent by
  // the kernel from the file (sendfile), not copied from user memory.
  std::shared_ptr<const SharedFile> file = nullptr;
};

using HttpReply = std::function<void(HttpResponse)>;

// Thread: called on the worker that accepted the socket.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Calls reply exactly once, on the same worker, now or later.
  // worker: the index of the worker this runs on.
  virtual void handle(HttpRequest req, size_t worker, HttpReply reply) = 0;
  // A handler for a WebSocket upgrade of `req` (path /ws), or nullptr to refuse it with 404.
  virtual std::shared_ptr<WsHandler> upgrade(const HttpRequest& req, size_t worker) = 0;
};

struct TransportLimits {
  int64_t max_frame_bytes = 64 * 1024;
  int64_t max_body_bytes = 1024 * 1024;
  int64_t outgoing_buffer_bytes = 1024 * 1024;
  int64_t idle_timeout_ms = 30000;
  int64_t connect_timeout_ms = 10000;
  // Upper bound of one outgoing WebSocket message built from queued frames.
  int64_t max_batch_bytes = 256 * 1024;
  // Round-trip probes: first after 200 ms, then every rtt_probe_interval_ms.
  int64_t rtt_probe_interval_ms = 2000;
};

// Counters the transport updates; created by the server from its registry.
struct TransportMetrics {
  metrics::Counter* bytes_in;
  metrics::Counter* bytes_out;
  metrics::Counter* frames_in;
  metrics::Counter* ws_writes;
  metrics::Counter* messages_out;
  metrics::Counter* slow_consumers;
  metrics::Counter* frames_too_large;
  metrics::Counter* dropped_frames;
  metrics::Counter* connect_timeouts;
  metrics::Counter* protocol_errors;
  metrics::Histogram* publish_to_write;
  metrics::Counter* http_errors = nullptr;    // HTTP requests refused as unreadable (400, 413, 431, 501, 505)
  metrics::Counter* http_timeouts = nullptr;  // HTTP connections closed at their deadline
};

}  // namespace tutti::net
