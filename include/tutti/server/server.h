#pragma once
// The `tutti serve` process: workers, the broker, the listener and the HTTP
// API, wired from a ServerConfig. Thread: construct, run and shut down from
// one control thread (main); everything else happens on the workers.

#include <cstdint>
#include <memory>

#include "tutti/core/result.h"
#include "tutti/server/config.h"

namespace tutti::server {

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(ServerConfig config);
  virtual ~Server() = default;

  virtual uint16_t port() const = 0;
  // Orderly shutdown: readyz turns 503, stop accepting, close every client
  // with 4001 after what is queued for it, wait up to shutdown_grace_ms,
  // stop the workers. Idempotent.
  virtual void shutdown() = 0;
};

}  // namespace tutti::server
