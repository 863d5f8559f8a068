#pragma once
// Accepts TCP connections and hands each to a worker (round robin), where it
// is served as HTTP/1.1 keep-alive and upgraded to WebSocket at /ws.

#include <memory>
#include <string>
#include <vector>

#include "tutti/core/result.h"
#include "tutti/net/transport.h"
#include "tutti/net/worker.h"

namespace tutti::net {

class Listener {
 public:
  // Binds host:port (port 0 = any free port). The acceptor runs on workers[0].
  static Result<std::unique_ptr<Listener>> start(const std::string& host, uint16_t port,
                                                 std::vector<Worker*> workers, HttpHandler& handler,
                                                 TransportLimits limits, TransportMetrics metrics);
  virtual ~Listener() = default;
  virtual uint16_t port() const = 0;
  // Stops accepting new connections (thread-safe).
  virtual void stop() = 0;
};

}  // namespace tutti::net
