#pragma once
// The C++ client of docs/protocol.md: one WebSocket connection to a Tutti
// server, kept alive across failures, with rooms that survive reconnects
// without gap or duplicate.
//
// Threads. A Client runs on one I/O thread (an Asio io_context running a
// Beast WebSocket client): its own, or an EventLoop shared with other
// Clients (ClientOptions::loop). Every public method is thread-safe: it posts its work to
// that thread and returns at once (request/response calls return a
// std::future). Every callback (handlers, listeners) runs ON THE I/O THREAD:
// keep them short, never block in them, and never wait on a future of this
// Client from inside one (the reply could only arrive through the thread you
// are blocking). Calling the Client's methods from a callback is fine.
//
// Reconnects. When the connection drops, the client reconnects with
// exponential backoff and jitter (see Backoff) unless the close code says not
// to (tutti::code::shouldReconnect; 4004 "token expired" only with a
// token_provider). After each reconnect it resubscribes every room with
// `recover` from the last publication delivered, and resends the publishes
// not yet acknowledged with their client_msg_id, so the server recognises
// them (every publish gets an SDK-generated client_msg_id unless the caller
// gives one or turns auto_client_msg_id off).
//
// Delivery. Per room, publications reach on_publication exactly once and in
// offset order: duplicates (offset <= last) are dropped; a jump (offset >
// last + 1, or a new epoch) triggers a recovery (unsubscribe + subscribe with
// `recover`), whose outcome is reported through on_subscribed (recovered
// true, or false with a reason: then the application must reload its state).
//
// Clock sync. While connected, the client exchanges `time` commands with the
// server (a burst after each connect, then a steady cadence) and feeds a
// tutti::sync::ClockEstimator, kept across reconnects. serverNow() reads the
// server's clock from any thread, with an honest uncertainty.
//
// Scheduled delivery. A publication with `at` is held and handed to
// on_publication when serverNow() reaches `at` (or at once, flagged late, if
// it arrives after). Offset order still holds: a publication never overtakes
// an earlier one that is held, it waits behind it.

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "tutti/core/clock.h"
#include "tutti/core/result.h"
#include "tutti/sdk/types.h"
#include "tutti/sync/clock_estimator.h"

namespace tutti::sdk {

enum class State {
  kIdle,           // constructed, start()/connect() not called yet
  kConnecting,     // TCP + WebSocket handshake + connect command in progress
  kConnected,      // connect reply received; commands flow
  kReconnectWait,  // connection lost; waiting for the backoff delay
  kClosed,         // for good: close() was called or the server said not to come back
};
const char* stateName(State s);

struct StateChange {
  State state = State::kIdle;
  // For transitions out of kConnected (and out of a kConnecting attempt the
  // server closed): why the connection ended.
  CloseInfo close;
};

// The I/O thread a Client runs on. By default every Client has its own; an
// application that hosts many clients in one process (a bot farm, a load
// test, a server relaying for its users) can share one thread among them
// with ClientOptions::loop: far fewer threads, and callbacks due at the same
// instant run back to back on one thread instead of waiting for the
// scheduler to wake hundreds of threads. A slow callback then delays every
// client on that loop. The loop lives as long as any Client or holder of
// the pointer.
class EventLoop {
 public:
  static std::shared_ptr<EventLoop> create();
  // Stops and joins the thread (the last owner; never on the thread itself).
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

 private:
  EventLoop();
  friend class Client;
  struct State;
  std::unique_ptr<State> state_;
};

struct ClientOptions {
  // The I/O thread to run on; nullptr = a thread of this Client's own.
  std::shared_ptr<EventLoop> loop;

  // ws://HOST:PORT/PATH (wss:// is not supported yet).
  std::string url;
  // Endpoints to choose from, as ws:// URLs: the edges of a region (an
  // origin's GET /api/directory lists them). When not empty, `url` is not
  // used: before each connection attempt the SDK measures the round trip of
  // GET /healthz to every candidate (at most candidate_probe_ms; IP
  // addresses only) and connects to the first that answers 200, the nearest
  // healthy one; so when its edge fails, the next attempt moves to the next
  // nearest, and rooms recover there.
  std::vector<std::string> candidates;
  int64_t candidate_probe_ms = 1000;
  // Token for the connect command; empty = anonymous. If token_provider is
  // set it is called (on the I/O thread) before every connection attempt and
  // its result is used instead.
  std::string token;
  std::function<std::string()> token_provider;
  std::string name = "tutti-cpp-sdk/0.1.0";
  // Stable client instance id (publish de-duplication is keyed on it); empty
  // = a random 16-hex-digit id, kept for the Client's lifetime.
  std::string client_id;

  // Reconnect backoff bounds (see Backoff).
  int64_t backoff_min_ms = 100;
  int64_t backoff_max_ms = 5000;
  bool reconnect = true;
  // One connection attempt (TCP, WebSocket handshake, connect reply).
  int64_t connect_timeout_ms = 5000;
  // Deadline of publish / presence / ping / unsubscribe futures, and of the
  // first reply of subscribe. Counted from the call, across reconnects.
  int64_t request_timeout_ms = 5000;
  // Give every publish without a client_msg_id one of its own ("<client_id>-<n>")
  // so a resend after a reconnect cannot publish it twice.
  bool auto_client_msg_id = true;

  // The client's clock: its wallUs() stamps the `time` exchanges and is what
  // serverNow() corrects. nullptr = tutti::SystemClock. Tests inject one with
  // an offset or a drift (OffsetDriftClock in tutti/sdk/test_clock.h). Must
  // outlive the Client; read from any thread.
  const Clock* clock = nullptr;
  // Clock sync over `time` (docs/protocol.md), in three phases:
  //  - burst: every sync_burst_interval_ms for sync_burst_ms after each
  //    connect (finds the fastest round trips of the new path quickly);
  //  - settling: every sync_settle_interval_ms until sync_settle_ms after the
  //    Client's first connection (enough tight samples over a long enough
  //    span to measure the clock's drift, even on a jittery link);
  //  - steady: every sync_interval_ms (keeps the estimator's window full;
  //    ~2 exchanges/s of ~100 bytes each way).
  bool clock_sync = true;
  int64_t sync_burst_interval_ms = 20;
  int64_t sync_burst_ms = 3000;
  int64_t sync_settle_interval_ms = 50;
  int64_t sync_settle_ms = 30000;
  int64_t sync_interval_ms = 500;
  sync::ClockEstimatorConfig clock_estimator;
  // Scheduled delivery: timers wake this long before `at`, and the I/O
  // thread yields in a loop for the rest, so a callback runs within tens of
  // microseconds of `at` instead of the timer's slack (~0.1 ms, more under
  // load). 0 = timers only (no spinning: for many clients on few cores).
  int64_t delivery_spin_us = 300;

  // Listeners (on the I/O thread).
  std::function<void(const StateChange&)> on_state;
  std::function<void(const ConnectInfo&)> on_connected;
  // Errors not tied to a call: error replies with id 0, connect refusals,
  // malformed server lines.
  std::function<void(const Error&)> on_error;
};

struct SubscriptionHandlers {
  std::function<void(const Publication&)> on_publication;
  // Every subscribe reply: the first, and each automatic resubscribe (after a
  // reconnect or a gap) with its recovery outcome.
  std::function<void(const SubscribeResult&)> on_subscribed;
  // Presence events; only with SubscribeOptions::presence.
  std::function<void(const PresenceClient&)> on_join;
  std::function<void(const PresenceClient&)> on_leave;
  // The server refused the subscription (also on a resubscribe); the room is
  // then dropped from this client.
  std::function<void(const Error&)> on_error;
};

struct SubscribeOptions {
  bool presence = false;
  // Start from this position (the application kept it from an earlier
  // session): the first subscribe carries `recover`.
  std::optional<Position> recover = std::nullopt;
  // Hold publications that carry `at` until serverNow() reaches it (see the
  // class comment). false: deliver on arrival, with at_us set (late_us only
  // when it arrived after `at`).
  bool hold_until_at = true;
};

// Monotonic counters, for tests and dashboards.
struct Counters {
  uint64_t connects = 0;             // successful connect replies
  uint64_t reconnects = 0;           // successful connects after the first
  uint64_t gaps_detected = 0;        // jumps on a live stream that triggered a recovery
  uint64_t recoveries_ok = 0;        // subscribe replies with recovered: true
  uint64_t recoveries_failed = 0;    // ... with recovered: false
  uint64_t publications_received = 0;  // delivered to on_publication
  uint64_t duplicates_dropped = 0;
  uint64_t publishes_resent = 0;     // publishes sent again after a reconnect
  uint64_t actions_resent = 0;       // actions (and window_open) sent again after a reconnect
  uint64_t scheduled_on_time = 0;    // publications with `at` delivered at `at`
  uint64_t scheduled_late = 0;       // ... delivered late (late_us > 0)
};

class Client {
 public:
  explicit Client(ClientOptions options);
  // Closes (as close()); once it returns no callback of this Client runs.
  // Joins the I/O thread if it was the Client's own. Must not run on the I/O
  // thread (do not destroy a Client from a callback of a Client on the same
  // loop).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting (idempotent). The future resolves with the first
  // successful connect reply, with the server's error if it refuses the
  // connect command (e.g. 1104 bad signature), or with kTimeout after
  // connect_timeout_ms (the client keeps trying in the background).
  std::future<Result<ConnectInfo>> connect();

  // Subscribes `room` (sent now, or as soon as connected). The future resolves
  // with the first subscribe reply or error, after on_subscribed / on_error
  // has run for it (kTimeout after request_timeout_ms;
  // the subscription then stays registered and keeps being retried). Error
  // code::kAlreadySubscribed if this client already has the room.
  std::future<Result<SubscribeResult>> subscribe(const std::string& room,
                                                 SubscriptionHandlers handlers,
                                                 SubscribeOptions options = {});
  std::future<Result<void>> unsubscribe(const std::string& room);

  // `data_json`: any JSON text (re-serialised compactly). Resent after a
  // reconnect until acknowledged or timed out (see the class comment).
  std::future<Result<PublishAck>> publish(const std::string& room, std::string_view data_json,
                                          std::string client_msg_id = {});
  // The same with scheduling: {.at_us = serverNow().time_us + 1'000'000}.
  std::future<Result<PublishAck>> publish(const std::string& room, std::string_view data_json,
                                          PublishOptions options);

  // Opens a fair action window (needs the `windows` permission). Resent after
  // a reconnect like a publish: if the first attempt had reached the server,
  // the resend is answered 1301 (window id already used).
  std::future<Result<WindowInfo>> openWindow(const std::string& room, const std::string& window_id,
                                             WindowSpec spec);
  // Acts in a window, stamped with the synced server time of this call
  // (before the first `time` exchange that is the client clock, which the
  // server may well judge implausible: wait for serverNow().synced). The
  // future carries the server's decision (refusals included); errors are for
  // failures to get one (bad params, rate limit, timeout). Resent after a
  // reconnect with the same action_id and stamp: the server answers with its
  // first decision, flagged duplicate (see ActionDecision::duplicate).
  std::future<Result<ActionDecision>> act(const std::string& room, const std::string& window_id,
                                          std::string_view data_json, ActOptions options = {});

  // Callback flavours of publish, openWindow, act and presence, for a host
  // that must not block on futures (an edge relaying for its own clients,
  // docs/edge.md). `done` runs once, on the I/O thread (keep it short: post
  // the result to where it belongs).
  void publish(const std::string& room, std::string_view data_json, PublishOptions options,
               std::function<void(Result<PublishAck>)> done);
  void openWindow(const std::string& room, const std::string& window_id, WindowSpec spec,
                  std::function<void(Result<WindowInfo>)> done);
  void act(const std::string& room, const std::string& window_id, std::string_view data_json, ActOptions options,
           std::function<void(Result<ActionDecision>)> done);
  void presence(const std::string& room, std::function<void(Result<PresenceResult>)> done);
  // Edges only (a token with `edge: true`): lists one of the edge's own
  // clients in the room's presence at the origin (join) or unlists it.
  void relayPresence(const std::string& room, bool join, PresenceClient who, std::function<void(Result<void>)> done);
  // Edges only: the one-way delay from the edge to its viewers of the room
  // (a high percentile, us; 0 = none), for the origin's adaptive delay.
  void reportDelay(const std::string& room, int64_t owd_us, std::function<void(Result<void>)> done);

  // The server's clock now, from the client clock and the sync estimate. Any
  // thread; cheap (a mutex and a few multiplications).
  ServerTime serverNow() const;
  ClockStats syncStats() const;
  std::future<Result<PresenceResult>> presence(const std::string& room);
  // Application-level round trip; the value is the server's time (UTC us).
  std::future<Result<int64_t>> ping();

  // Clean close (code 1000), no reconnect; pending calls fail with
  // kDisconnected. Blocks until the close handshake ends (at most about a
  // second) unless called on the I/O thread. Idempotent.
  void close();

  State state() const;
  // Blocks until state() == s or timeout; true if reached.
  bool waitForState(State s, int64_t timeout_ms) const;
  // The close code and reason of the last connection that ended (0 if none yet).
  CloseInfo lastClose() const;
  // The latest connect reply (nullopt before the first).
  std::optional<ConnectInfo> connectInfo() const;
  // Last position delivered in a room (nullopt if unknown / not subscribed).
  std::optional<Position> position(const std::string& room) const;
  Counters counters() const;
  const std::string& clientId() const;

  // Test hook: drops the TCP connection abruptly (RST, no close frame), as a
  // network failure would. The client then reconnects and recovers.
  void testDropConnection();

 private:
  class Impl;
  std::shared_ptr<EventLoop> loop_;
  std::shared_ptr<Impl> impl_;  // shared with its pending I/O operations
};

}  // namespace tutti::sdk
