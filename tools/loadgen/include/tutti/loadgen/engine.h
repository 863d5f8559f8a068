#pragma once
// The load generator's engine: many WebSocket connections per thread,
// subscribers and publishers of rooms, paced publishing, and per-step
// figures (deliveries, loss, reordering, latency, CPU).
//
// Threads: `threads` I/O threads, each an io_context with its connections;
// a subscriber's read path touches only its thread's counters (merged when
// a step ends). Reads go through one buffer per thread (a connection waits
// for readability and then reads), so idle connections cost no buffer.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tutti/core/result.h"
#include "tutti/loadgen/histogram.h"
#include "tutti/loadgen/protocol.h"

namespace tutti::loadgen {

struct EngineOptions {
  Protocol protocol = Protocol::kTutti;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int threads = 1;
  // Local addresses to connect from, round robin (127.0.0.2, ...: each has
  // its own ~28,000 ephemeral ports). Empty: the kernel's choice.
  std::vector<std::string> sources;
  size_t body_bytes = 100;
  // Connections opened at once while connecting many (a connect storm is
  // bounded by this, and by the server's accept backlog).
  int connect_concurrency = 256;
};

struct StepResult {
  double asked_deliveries_per_s = 0;
  double published_per_s = 0;
  double deliveries_per_s = 0;
  uint64_t published = 0;
  uint64_t delivered = 0;
  uint64_t expected = 0;   // published x subscribers of each room
  uint64_t lost = 0;       // expected - delivered after the drain (>= 0)
  uint64_t reordered = 0;  // deliveries with a sequence below one already seen
  uint64_t server_errors = 0;
  uint64_t disconnected = 0;  // subscribers whose connection ended during the step
  double seconds = 0;         // first publish to last delivery
  int64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0;
  double gen_cpu_s = 0;
  double server_cpu_s = -1;  // -1: no server pid given
  bool publisher_throttled = false;  // the publishers' sockets backed up: the server stopped reading
  std::string last_error;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Opens `n` subscribers of `room` (and, with `publisher`, one publishing
  // connection for it). Returns when all are open and subscribed, or an
  // error after timeout_ms (with how many made it).
  Result<void> addRoom(uint32_t room, int subscribers, bool publisher, int64_t timeout_ms);
  // Opens `n` connections that only connect (and subscribe to room 0 when
  // `subscribe`): the idle-memory and connect-storm scenarios. Returns the
  // seconds it took.
  Result<double> addIdle(int n, bool subscribe, int64_t timeout_ms);

  // Publishes into every room with a publisher, `per_room_per_s` messages a
  // second each, for `seconds`; then waits until deliveries stop (at most
  // drain_ms) and reports. `server_pid` > 0: its CPU time is read from /proc.
  StepResult step(double per_room_per_s, double seconds, int64_t drain_ms, int server_pid);

  size_t connections() const;
  int subscribers() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads /proc/PID: CPU seconds used (user + system), resident bytes.
double processCpuSeconds(int pid);
int64_t processRssBytes(int pid);
double selfCpuSeconds();

}  // namespace tutti::loadgen
