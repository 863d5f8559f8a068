#pragma once
// The link emulator's proxies: listen on an address, forward to a target, and
// put every byte (TCP) or datagram (UDP) through a LinkModel per direction.
// "up" is client -> target, "down" is target -> client. The two models are
// shared by all connections of a proxy, as one link is shared by the flows
// crossing it: they compete for its bandwidth and its queue.
//
// Threads: each proxy runs one io_context on its own thread; everything
// about connections happens there. The public methods are thread-safe and
// synchronous (they return once the loop has done the work), but must not be
// called from the proxy's own thread (no user code runs there anyway).

#include <cstdint>
#include <memory>
#include <string>

#include "tutti/core/clock.h"
#include "tutti/core/result.h"
#include "tutti/netem/link_model.h"

namespace tutti::netem {

struct ProxyConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: any free port; Proxy::port() tells which
  std::string target_host = "127.0.0.1";
  uint16_t target_port = 0;
  LinkConfig up;    // client -> target
  LinkConfig down;  // target -> client
  // Seeds the jitter/loss/reorder generators (down uses a derived seed), so a
  // run's conditions can be replayed.
  uint64_t seed = 1;
  // TCP: bytes read from one side and not yet written to the other, per
  // connection and direction. Bounds memory whatever the link or a slow
  // reader; reading from the source stops above it (backpressure).
  int64_t max_buffered_bytes = 4 << 20;
  // UDP: a client silent for this long is forgotten (its upstream socket
  // closed), so memory stays bounded under address churn.
  int64_t udp_idle_timeout_ms = 60'000;
  // UDP: at most this many clients at once; datagrams from more are dropped.
  int64_t udp_max_clients = 4096;
};

// Counters since start. Read with Proxy::stats(); each field is a snapshot.
struct ProxyStats {
  uint64_t connections = 0;       // TCP connections accepted / UDP clients seen
  uint64_t open_connections = 0;  // TCP connections / UDP clients now
  uint64_t bytes_up = 0;          // written to the target
  uint64_t bytes_down = 0;        // written to clients
  uint64_t datagrams_up = 0;      // UDP: datagrams sent to the target
  uint64_t datagrams_down = 0;    // UDP: datagrams sent to clients
  uint64_t lost = 0;              // UDP: dropped by the loss probability
  uint64_t queue_drops = 0;       // UDP: dropped by a full queue (or a full socket)
  uint64_t reordered = 0;         // UDP: held back to be overtaken
  uint64_t duplicated = 0;        // UDP: sent twice
};

class Proxy {
 public:
  // Binds the listen address and starts the proxy's thread. The clock is
  // read for "now" (monoUs) and must advance in real time: the proxy's
  // timers are real. It must outlive the proxy.
  static Result<std::unique_ptr<Proxy>> startTcp(ProxyConfig config,
                                                 const Clock& clock = SystemClock::instance());
  static Result<std::unique_ptr<Proxy>> startUdp(ProxyConfig config,
                                                 const Clock& clock = SystemClock::instance());

  // Stops (see stop()).
  virtual ~Proxy() = default;

  // The bound listen port.
  virtual uint16_t port() const = 0;
  // New conditions for what is sent from now on; data already scheduled
  // keeps its time and TCP streams keep their order (see
  // LinkModel::reconfigure).
  virtual void reconfigure(const LinkConfig& up, const LinkConfig& down) = 0;
  // TCP: resets every open connection on both sides (RST), as a broken path
  // would, for reconnect tests; new connections are accepted as before.
  // UDP: forgets every client and drops the datagrams in flight.
  virtual void cut() = 0;
  virtual ProxyStats stats() const = 0;
  // Stops accepting, closes every connection and joins the thread. Idempotent.
  virtual void stop() = 0;
};

}  // namespace tutti::netem
