#pragma once
// The edge's HTTP side (docs/edge.md): LL-HLS from the origins, cached and
// collapsed. A request for /hls/... is answered from the cache when it can
// be; otherwise it waits behind one upstream fetch per key (the coalescer),
// to the upstream the key hashes to among the healthy ones (the ring), with
// one retry on the next. With parents (a tier of edges in front of the
// origins), the key's parent comes first, the next healthy parent second,
// the origins last: every parent caches its share of the keys, and a crowd
// at many edges still costs the origin one request. When every upstream
// fails, what the cache may still serve (stale-if-error) is served.
// Upstreams are probed for health (GET /healthz) on a timer; the state is in
// /metrics (tutti_edge_origin_up{origin}, tutti_edge_parent_up{parent}) and
// in status(). Requests upstream carry CDN-Loop (RFC 8586) with this edge's
// id; a request that already went through this edge is refused with 508.
//
// Threads: handle() on any worker; the cache, the coalescer and the health
// state sit behind one lock held for lookups and bookkeeping only, never
// across I/O. Upstream fetches run on the worker that asked (one
// net::HttpFetcher per worker); answers are posted to each waiter's worker.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/core/result.h"
#include "tutti/edge/cache.h"
#include "tutti/edge/coalescer.h"
#include "tutti/edge/health.h"
#include "tutti/net/transport.h"

namespace tutti::net {
class Worker;
}

namespace tutti::edge {

struct Upstream {
  std::string host;  // an IP address
  uint16_t port = 0;
  std::string name() const { return host + ":" + std::to_string(port); }
};

struct EdgeConfig {
  std::vector<Upstream> origins;
  std::vector<Upstream> parents;  // other edges, asked before the origins
  // This edge in CDN-Loop (RFC 8586): a token; empty = "tutti-" and random hex.
  std::string id;
  CacheConfig cache;
  CoalescerConfig coalescer;
  HealthConfig health;
  // Health probes: one GET /healthz per origin this often, each bounded by
  // probe_timeout_ms (a hung origin counts as down).
  int64_t probe_interval_ms = 1000;
  int64_t probe_timeout_ms = 800;
};

class HttpEdge {
 public:
  static Result<std::unique_ptr<HttpEdge>> create(EdgeConfig config, std::vector<net::Worker*> workers,
                                                  const Clock& clock, metrics::Registry& registry);
  ~HttpEdge();
  HttpEdge(const HttpEdge&) = delete;
  HttpEdge& operator=(const HttpEdge&) = delete;

  static bool handles(std::string_view path) { return path.starts_with("/hls/"); }
  // Calls reply on `worker`, now or later.
  void handle(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  // Starts the health probes and the coalescer's deadline timer (on worker 0).
  void start();
  // No new probe or timer after this; in-flight fetches finish or fail.
  void stop();
  // {"id", "origins":[{"origin","up","since_us"}], "parents":[{"parent","up","since_us"}],
  //  "cache":{"bytes","objects"}, "in_flight"} as JSON.
  std::string statusJson();

 private:
  struct Impl;
  explicit HttpEdge(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tutti::edge
