#pragma once
// The link model: for one direction of an emulated link, decides when each
// chunk of bytes (a TCP read) or datagram that arrives at time t may leave.
// Pure and I/O-free: time comes from the caller (monotonic microseconds), so
// tests drive it with simulated time.
//
// A chunk goes through two stages, as on a real path:
//   1. the bottleneck: a FIFO queue served by a token bucket or a Mahimahi
//      trace (or by nothing: unlimited). It leaves the queue ("departs") when
//      its last byte has been served. The queue may be bounded in bytes.
//   2. propagation: a one-way base delay plus jitter drawn uniformly from
//      [-jitter, +jitter] (never below zero), from a seeded generator.
// Jitter never reorders: a chunk is released no earlier than the one before
// it (per stream for TCP, per link for datagrams that are not picked for
// reordering). Under a continuous stream this pushes the effective delay
// towards delay + jitter, which is what an order-keeping path does too.
//
// Datagram mode adds loss (at the ingress, so lost datagrams use no
// bandwidth), reordering (a picked datagram is held back by
// reorder_delay_us, so the ones after it overtake it) and duplication.
//
// Not thread-safe: one owner (the proxy's loop thread).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "tutti/netem/trace.h"

namespace tutti::netem {

// Conditions for one direction. Changing them while running: see
// LinkModel::reconfigure.
struct LinkConfig {
  // One-way propagation delay, µs. 0: the bottleneck alone sets the pace.
  int64_t delay_us = 0;
  // Each chunk's delay is delay_us + U[-jitter_us, +jitter_us], at least 0.
  int64_t jitter_us = 0;
  // Token bucket rate in bits per second; 0 = unlimited. Ignored when a
  // trace is set.
  int64_t rate_bps = 0;
  // Token bucket depth: one packet by default, a strict shaper, so a rate
  // shows from the first bytes instead of after a burst.
  int64_t burst_bytes = kPacketBytes;
  // A Mahimahi trace to serve the queue; replaces the token bucket.
  std::shared_ptr<const Trace> trace = nullptr;
  // Bottleneck queue limit in bytes; 0 = unbounded (Mahimahi's default). A
  // full queue drops datagrams (tail drop) and stalls TCP reading. Only a
  // bandwidth limit makes anything wait; keep it at least one packet.
  int64_t queue_bytes = 0;

  // Datagram mode only (the TCP proxy never loses, reorders or duplicates).
  double loss = 0;       // probability a datagram is lost
  double reorder = 0;    // probability a datagram is held back
  // How long a reordered datagram is held back: datagrams sent within this
  // time after it overtake it.
  int64_t reorder_delay_us = 10'000;
  double duplicate = 0;  // probability a datagram is delivered twice
};

// A small, portable generator (SplitMix64): the same seed gives the same
// conditions on every platform, unlike std::uniform_*_distribution.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [0, 1).
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [lo, hi], inclusive.
  int64_t uniformInt(int64_t lo, int64_t hi);

 private:
  uint64_t state_;
};

// Per TCP stream (one direction of one connection): keeps its byte order.
struct StreamState {
  int64_t last_release_us = INT64_MIN;
};

struct DatagramVerdict {
  enum class Fate { kDeliver, kLost, kQueueFull };
  Fate fate = Fate::kDeliver;
  int64_t release_us = 0;   // when to send it (kDeliver only)
  bool reordered = false;   // held back by reorder_delay_us
  bool duplicated = false;  // send a second copy at release_us, after the first
};

class LinkModel {
 public:
  // now_us starts the trace's clock and fills the token bucket.
  LinkModel(LinkConfig config, uint64_t seed, int64_t now_us);

  const LinkConfig& config() const { return config_; }

  // Applies to what is sent from now on; what is already scheduled keeps its
  // time, and order guarantees hold across the change. The bottleneck
  // restarts (full bucket, trace from its beginning) only if its rate,
  // burst or trace changed.
  void reconfigure(LinkConfig config, int64_t now_us);

  // TCP: `bytes` read from the source at now_us; returns when they may be
  // written to the destination. Never drops: the caller keeps the queue
  // bounded by reading at most roomBytes(). bytes == 0 (a FIN) uses no
  // bandwidth but keeps its place in the stream.
  int64_t sendStream(int64_t now_us, int64_t bytes, StreamState& stream);

  // UDP: a datagram of `bytes` arrived at now_us.
  DatagramVerdict sendDatagram(int64_t now_us, int64_t bytes);

  // Bytes waiting in the bottleneck queue at now_us.
  int64_t queuedBytes(int64_t now_us);
  // How many more bytes the queue takes at now_us (INT64_MAX if unbounded).
  int64_t roomBytes(int64_t now_us);
  // When the head of the queue departs (room grows), if the queue is not empty.
  std::optional<int64_t> nextDepartureUs(int64_t now_us);

 private:
  // Puts `bytes` through the bottleneck; returns their departure time.
  int64_t shape(int64_t now_us, int64_t bytes);
  int64_t shapeTokenBucket(int64_t start_us, int64_t bytes);
  int64_t shapeTrace(int64_t now_us, int64_t start_us, int64_t bytes);
  int64_t opportunityUs(int64_t k) const;
  int64_t firstOpportunityAtOrAfter(int64_t t_us) const;
  int64_t propagationUs();
  void resetShaper(int64_t now_us);
  void dropDeparted(int64_t now_us);

  LinkConfig config_;
  Rng rng_;

  // FIFO bottleneck: nothing departs before the chunk ahead of it.
  int64_t last_departure_us_ = INT64_MIN;
  struct Queued {
    int64_t departure_us;
    int64_t bytes;
  };
  std::deque<Queued> queue_;  // departure times non-decreasing
  int64_t queued_bytes_ = 0;

  // Token bucket state (bytes).
  double tokens_ = 0;
  int64_t tokens_at_us_ = 0;

  // Trace state: opportunity k happens at opportunityUs(k).
  int64_t trace_start_us_ = 0;
  int64_t next_opportunity_ = 0;  // first one not used yet
  int64_t left_bytes_ = 0;        // unused bytes of the last used opportunity...
  int64_t left_at_us_ = 0;        // ...which happened at this time

  // Datagrams not picked for reordering are released in order.
  int64_t last_in_order_release_us_ = INT64_MIN;
};

}  // namespace tutti::netem
