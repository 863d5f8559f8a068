#pragma once
// Request collapsing (nginx proxy_cache_lock, Varnish's waiting list): the
// first caller to ask for a key that is not cached becomes the leader and
// fetches it upstream; callers that ask for the same key meanwhile wait
// behind it, and when the fetch completes every waiter (the leader's own
// callback included) gets the same answer: the same shared response, or the
// same error. So N viewers missing one object cost one upstream request, and
// N viewers blocked on the same future LL-HLS part or playlist cost one
// upstream blocking request.
//
// Bounds, so that a flood cannot pin memory nor reach the upstream: waiters
// per key and in total, and flights (keys fetched at once). Past any of
// them, join() answers kBusy at once and keeps nothing; the server
// turns that into 503. A fetch that never completes is bounded by a deadline
// (fetch_timeout_us after the leader joined, on Clock::monoUs()): the owner
// calls expire() from a timer, at nextDeadlineUs() or periodically, and the
// waiters of a late flight get code::kFetchTimeout. A completion that comes
// after that is ignored (complete() returns 0): the ticket names its flight,
// so it cannot answer a newer flight of the same key.
//
// Thread: single-threaded. The edge owns one per worker (each worker
// collapsing its own viewers) or guards a shared one with its own lock.
// Callbacks run inside complete() / expire(), on the caller's thread, after
// the flight was removed: a callback may call join() (a retry starts a new
// flight), cancel() or complete() on this coalescer.
//
// T is what waiters share, e.g. std::shared_ptr<const CachedResponse>: it is
// handed to every callback by const reference, never copied per waiter.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/core/result.h"
#include "tutti/edge/codes.h"

namespace tutti::edge {

struct CoalescerConfig {
  // Waiters behind one key. 10,000 is far above the viewers one edge worker
  // serves for one rendition, and bounds what one hot key can hold.
  size_t max_waiters_per_key = 10'000;
  // Waiters across keys: the origin's own cap on held requests (docs/media.md).
  size_t max_waiters = 20'000;
  // Flights, i.e. distinct keys fetched upstream at once: a flood of
  // distinct keys (cache busting) cannot become as many upstream requests.
  // A live stream needs a few per rendition (a blocking playlist, a hinted
  // part, a segment), so 1,000 leaves room for a hundred streams.
  size_t max_flights = 1'000;
  // A flight's deadline. Above the origin's blocking timeout (3 target
  // durations, 6 s with 2 s segments), so that a blocking playlist request is
  // answered by the origin (200 or 503), not cut short by the edge.
  int64_t fetch_timeout_us = 10'000'000;
};

// Heterogeneous lookup: find(string_view) without building a string.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <typename T>
class Coalescer {
 public:
  using Callback = std::function<void(const Result<T>&)>;
  enum class Role : uint8_t {
    kLeader,    // fetch upstream now, then call complete(key, ticket.flight, result)
    kFollower,  // wait: the callback runs when the leader's fetch completes
    kBusy,      // refused (a bound is reached); the callback was dropped: answer 503
  };
  struct Ticket {
    Role role = Role::kBusy;
    uint64_t flight = 0;  // 0 for kBusy
    uint64_t waiter = 0;  // for cancel(); 0 for kBusy
  };

  // kBadConfig unless every bound is > 0, max_waiters_per_key <= max_waiters
  // and fetch_timeout_us > 0.
  static Result<Coalescer> create(CoalescerConfig config, const Clock& clock, metrics::Registry& registry) {
    if (config.max_waiters == 0 || config.max_waiters_per_key == 0 || config.max_flights == 0 ||
        config.max_waiters_per_key > config.max_waiters || config.fetch_timeout_us <= 0) {
      return makeError(code::kBadConfig, "coalescer: bounds must be > 0, per key <= total, timeout > 0");
    }
    return Coalescer(config, clock, registry);
  }

  // Queues cb behind the flight for key, starting one if there is none. cb
  // may be null: a flight nobody waits on (a background refresh within
  // stale-while-revalidate); it counts against the bounds like a waiter.
  Ticket join(std::string_view key, Callback cb) {
    auto it = flights_.find(key);
    if (waiters_ >= config_.max_waiters ||
        (it != flights_.end() && it->second.live >= config_.max_waiters_per_key) ||
        (it == flights_.end() && flights_.size() >= config_.max_flights)) {
      busy_->inc();
      return {};
    }
    Role role = Role::kFollower;
    if (it == flights_.end()) {
      role = Role::kLeader;
      const uint64_t id = ++last_id_;
      it = flights_.emplace(std::string(key), Flight{id, clock_->monoUs() + config_.fetch_timeout_us, {}, 0}).first;
      order_.emplace(id, it->first);
      leaders_->inc();
    } else {
      coalesced_->inc();
    }
    Flight& f = it->second;
    const uint64_t waiter = ++last_id_;
    f.waiters.emplace_back(waiter, std::move(cb));
    ++f.live;
    ++waiters_;
    return {role, f.id, waiter};
  }

  // Answers every waiter of the flight with result and ends it. Returns the
  // callbacks run; 0 when the flight is over already (expired), whose result
  // then goes nowhere (the caller may still store it in the cache).
  size_t complete(std::string_view key, uint64_t flight, const Result<T>& result) {
    auto it = flights_.find(key);
    if (it == flights_.end() || it->second.id != flight) return 0;
    return finish(it, result);
  }

  // Removes one waiter (a viewer that went away). The flight goes on, even
  // with no waiter left: the leader still completes it (and caches the
  // answer). False when the waiter is unknown or already answered.
  bool cancel(std::string_view key, const Ticket& ticket) {
    auto it = flights_.find(key);
    if (ticket.role == Role::kBusy || it == flights_.end() || it->second.id != ticket.flight) return false;
    auto& ws = it->second.waiters;  // sorted by waiter id
    auto w = std::lower_bound(ws.begin(), ws.end(), ticket.waiter,
                              [](const auto& entry, uint64_t id) { return entry.first < id; });
    if (w == ws.end() || w->first != ticket.waiter || !w->second) return false;
    w->second = nullptr;
    --it->second.live;
    --waiters_;
    return true;
  }

  // Ends, with code::kFetchTimeout, every flight whose deadline has come.
  // Returns the flights ended.
  size_t expire() {
    const int64_t now = clock_->monoUs();
    size_t ended = 0;
    // Deadlines are start + one fixed timeout on a monotonic clock, so flight
    // ids (given in start order) are in deadline order: only the front is due.
    while (!order_.empty()) {
      auto it = flights_.find(order_.begin()->second);
      if (it->second.deadline_us > now) break;
      timeouts_->inc();
      finish(it, Result<T>(makeError(code::kFetchTimeout, "upstream fetch passed its deadline")));
      ++ended;
    }
    return ended;
  }

  // When expire() next has work; none when nothing is in flight.
  std::optional<int64_t> nextDeadlineUs() const {
    if (order_.empty()) return std::nullopt;
    return flights_.find(order_.begin()->second)->second.deadline_us;
  }

  size_t flights() const { return flights_.size(); }
  size_t waiters() const { return waiters_; }
  size_t waiters(std::string_view key) const {
    auto it = flights_.find(key);
    return it == flights_.end() ? 0 : it->second.live;
  }
  const CoalescerConfig& config() const { return config_; }

 private:
  struct Flight {
    uint64_t id = 0;
    int64_t deadline_us = 0;
    std::vector<std::pair<uint64_t, Callback>> waiters;  // by waiter id; null = cancelled
    size_t live = 0;                                      // waiters not cancelled
  };
  using Map = std::unordered_map<std::string, Flight, KeyHash, std::equal_to<>>;

  Coalescer(CoalescerConfig config, const Clock& clock, metrics::Registry& registry)
      : config_(config), clock_(&clock) {
    leaders_ = &registry.counter("tutti_edge_upstream_fetches_total", "Flights started: one upstream request each");
    coalesced_ = &registry.counter("tutti_edge_coalesced_requests_total", "Requests that waited behind another's fetch");
    busy_ = &registry.counter("tutti_edge_coalescer_busy_total", "Requests refused because too many were waiting");
    timeouts_ = &registry.counter("tutti_edge_fetch_timeouts_total", "Upstream fetches that passed their deadline");
  }

  size_t finish(typename Map::iterator it, const Result<T>& result) {
    // Out of the maps first: a callback may start a new flight for this key.
    Flight f = std::move(it->second);
    order_.erase(f.id);
    flights_.erase(it);
    waiters_ -= f.live;
    size_t called = 0;
    for (auto& [id, cb] : f.waiters) {
      if (!cb) continue;
      cb(result);
      ++called;
    }
    return called;
  }

  CoalescerConfig config_;
  const Clock* clock_;
  Map flights_;
  std::map<uint64_t, std::string> order_;  // flight id -> key, oldest (earliest deadline) first
  size_t waiters_ = 0;
  uint64_t last_id_ = 0;
  metrics::Counter* leaders_ = nullptr;
  metrics::Counter* coalesced_ = nullptr;
  metrics::Counter* busy_ = nullptr;
  metrics::Counter* timeouts_ = nullptr;
};

}  // namespace tutti::edge
