#pragma once
// What every connection of one server shares. Immutable after start except
// for the atomics and the limiter (which locks; control path only).

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tutti/auth/jwt.h"
#include "tutti/broker/broker.h"
#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/server/config.h"

namespace tutti::server {

class WorkerHub;
}  // namespace tutti::server
namespace tutti::media {
class Origin;
}  // namespace tutti::media
namespace tutti::edge {
class HttpEdge;
}  // namespace tutti::edge
namespace tutti::server {

// Connections per source address. Thread-safe; touched only at connect and close.
class IpLimiter {
 public:
  explicit IpLimiter(int64_t max_per_ip) : max_(max_per_ip) {}
  bool acquire(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto& n = counts_[ip];
    if (n >= max_) return false;
    ++n;
    return true;
  }
  void release(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto it = counts_.find(ip);
    if (it != counts_.end() && --it->second <= 0) counts_.erase(it);
  }

 private:
  int64_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> counts_;
};

struct ServerMetrics {
  explicit ServerMetrics(metrics::Registry& r);
  metrics::Registry& registry;
  metrics::Gauge& connections;
  metrics::Counter& connections_total;
  metrics::Counter& messages_in;
  metrics::Counter& commands;
  metrics::Counter& protocol_closes;
  metrics::Counter& limit_ip;
  metrics::Counter& limit_rate;
  metrics::Counter& limit_rooms;
  metrics::Counter& limit_data;
  metrics::Counter& limit_batch;
  metrics::Counter& kicked;
  metrics::Counter& time_requests;
  metrics::Histogram& client_rtt;
  metrics::Histogram& client_owd;
  metrics::Histogram& client_sync_uncertainty;
  metrics::Counter& decision(bool accepted, const std::string& reason);
  metrics::Counter& errorFor(int code);
  metrics::Counter& authFailure(int code);
};

struct ServerContext {
  ServerConfig config;
  const Clock& clock;
  metrics::Registry registry;
  std::unique_ptr<ServerMetrics> metrics;
  std::shared_ptr<const auth::JwtVerifier> verifier;  // null when no token config
  std::unique_ptr<broker::Broker> broker;
  std::vector<WorkerHub*> hubs;
  std::vector<broker::Executor*> executors;  // executors[i] runs on worker i
  void post(size_t worker, std::function<void()> fn) { executors[worker]->post(std::move(fn)); }
  // Whether publications of `room` carrying media_ts go on a media timeline.
  bool pinsMedia(const std::string& room) const { return origin && !config.ruleFor(room).media_stream.empty(); }
  // Places a sequenced publication that carries media_ts on its room's media
  // stream (an event: EXT-X-DATERANGE + emsg, docs/media.md). Any thread.
  void toMediaTimeline(const std::string& room, const broker::PublishResult& r, int64_t media_ts_us,
                       const std::string& data_json) const;
  IpLimiter ip_limiter;
  // The media origin, when [media] configures one (set before the listener
  // serves requests; never changes after).
  media::Origin* origin = nullptr;
  // The edge's HTTP side, in role "edge" (same lifetime rule).
  edge::HttpEdge* edge = nullptr;
  std::atomic<bool> draining{false};
  int64_t started_us = 0;

  ServerContext(ServerConfig c, const Clock& clk)
      : config(std::move(c)), clock(clk), ip_limiter(config.limits.max_connections_per_ip) {}
};

}  // namespace tutti::server
