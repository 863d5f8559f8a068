// The only translation unit of the SDK that includes Asio and Beast (they cost
// ~18 s of compile time each): everything else talks to Client::Impl.

#include "tutti/sdk/client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "tutti/protocol/codes.h"
#include "tutti/sdk/backoff.h"
#include "tutti/sdk/codec.h"
#include "tutti/sync/clock_estimator.h"

namespace tutti::sdk {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

const char* stateName(State s) {
  switch (s) {
    case State::kIdle: return "idle";
    case State::kConnecting: return "connecting";
    case State::kConnected: return "connected";
    case State::kReconnectWait: return "reconnect_wait";
    case State::kClosed: return "closed";
  }
  return "?";
}

namespace {

// RFC 6455: 1005 "no status received", 1006 "abnormal closure" (never sent on
// the wire; used locally when the transport failed without a close frame).
constexpr int kCloseNoStatus = 1005;
constexpr int kCloseAbnormal = 1006;
// Largest incoming frame we accept: the server packs many pushes per frame.
constexpr size_t kReadMessageMax = 64 * 1024 * 1024;
constexpr auto kSweepPeriod = std::chrono::milliseconds(20);
// A hold timer never sleeps longer than this: the sync estimate may move
// meanwhile (the first exchanges after a connect), and the wake-up re-reads it.
constexpr int64_t kMaxHoldWaitUs = 50'000;
// Scheduled delivery: the last this-many microseconds before `at` are
// spent yielding instead of sleeping (a sleep wakes ~50-100 us late).
constexpr int64_t kYieldUs = 100;
// More `time` commands than this unanswered: the link is stalled, stop adding.
constexpr size_t kMaxTimeInFlight = 64;

struct ParsedUrl {
  std::string host;
  std::string port;
  std::string target;
};

Result<ParsedUrl> parseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme)
    return makeError(kInvalidArgument, "url must start with ws:// (wss:// is not supported yet)");
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  ParsedUrl out;
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  size_t colon = authority.rfind(':');
  if (authority.empty() || authority.front() == '[')
    return makeError(kInvalidArgument, "url: bad host (IPv6 literals are not supported yet)");
  if (colon == std::string_view::npos) {
    out.host = std::string(authority);
    out.port = "80";
  } else {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  }
  if (out.host.empty() || out.port.empty()) return makeError(kInvalidArgument, "url: bad host or port");
  return out;
}

std::string randomHex(size_t n) {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(n, '0');
  for (char& c : s) c = kHex[rng() & 15];
  return s;
}

template <typename T>
std::future<Result<T>> readyFuture(Result<T> r) {
  std::promise<Result<T>> p;
  p.set_value(std::move(r));
  return p.get_future();
}

// An encoded command waiting for the socket. `time_id` != 0 marks a `time`
// command: its t0 is stamped when the frame carrying it is handed to the
// socket, not when it was queued (a write in flight may hold it back).
struct OutCmd {
  OutCmd(std::string t, uint64_t id = 0) : text(std::move(t)), time_id(id) {}  // NOLINT: implicit on purpose
  std::string text;
  uint64_t time_id = 0;
};

// One WebSocket connection attempt and its life. Replaced (never reused) on
// reconnect; handlers hold a shared_ptr and ignore themselves once it is no
// longer Impl::conn_.
struct Conn {
  explicit Conn(asio::io_context& ioc) : ws(ioc) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer rbuf;
  std::deque<OutCmd> outq;  // encoded commands, one JSON text each
  std::string wbuf;              // the frame being written (one write in flight)
  bool writing = false;
  bool open = false;     // WebSocket handshake done
  bool closing = false;  // async_close started: no more writes
  SteadyClock::time_point deadline;  // of the attempt, until the connect reply
  std::optional<CloseInfo> disconnect_push;
};

// Where a call's answer goes: the future the caller holds, or a callback
// (Client's callback flavours; run on the I/O thread).
template <typename T>
struct Reply {
  Reply(std::promise<Result<T>> p) : promise(std::move(p)) {}          // NOLINT: implicit on purpose
  Reply(std::function<void(Result<T>)> f) : callback(std::move(f)) {}  // NOLINT
  void set_value(Result<T> r) {
    if (callback) callback(std::move(r));
    else promise.set_value(std::move(r));
  }
  std::promise<Result<T>> promise;
  std::function<void(Result<T>)> callback;
};

enum class OpType { kPublish, kPresence, kPing, kUnsubscribe, kWindowOpen, kAction, kPresenceRelay, kDelayReport };

// A call waiting for its reply. Kept across reconnects (and resent) until it
// is answered or times out, except unsubscribe, presence_relay and
// delay_report (a lost connection has undone them anyway).
struct Op {
  OpType type = OpType::kPing;
  std::string room;
  std::string data;  // publish, action: compact JSON
  std::string client_msg_id;
  std::optional<int64_t> at_us;     // publish
  std::optional<int64_t> delay_ms;  // publish
  std::optional<int64_t> media_ts_us;  // publish
  std::optional<Relay> relay;       // publish, action (window_open: in window_spec)
  std::string window;               // window_open, action
  WindowSpec window_spec;           // window_open
  std::string action_id;            // action
  int64_t stamp_us = 0;             // action: fixed at act(), the same on every resend
  bool join = true;                 // presence_relay
  int64_t owd_us = 0;               // delay_report
  PresenceClient who;               // presence_relay
  SteadyClock::time_point deadline;
  bool sent_before = false;
  uint64_t req_id = 0;  // id on the current connection; 0 = not sent on it
  std::variant<Reply<PublishAck>, Reply<PresenceResult>, Reply<int64_t>, Reply<void>, Reply<WindowInfo>,
               Reply<ActionDecision>>
      promise{Reply<int64_t>(std::promise<Result<int64_t>>())};

  void fail(const Error& e) {
    std::visit([&](auto& p) { p.set_value(e); }, promise);
  }
};

// A publication held until its `at`. `due_us` (server time) is its `at`, or
// later when an earlier held one is due later (order is kept); unscheduled
// publications behind held ones get their predecessor's due time.
struct Held {
  Publication pub;
  int64_t due_us = 0;
  bool arrived_late = false;  // `at` had passed when it arrived
};

struct Sub {
  SubscriptionHandlers handlers;
  bool presence = false;
  bool hold_until_at = true;
  std::deque<Held> held;  // in offset order
  // The last publication delivered (or the application's starting point);
  // nullopt until the first subscribe reply.
  std::optional<Position> pos;
  enum class Phase { kWaiting, kSubscribing, kLive } phase = Phase::kWaiting;
  uint64_t req_id = 0;
  bool sent_recover = false;
  std::optional<std::promise<Result<SubscribeResult>>> first;  // the subscribe() future
  SteadyClock::time_point first_deadline;
};

enum class InflightKind { kConnect, kOp, kSubscribe, kInternalUnsubscribe, kTime };
struct Inflight {
  InflightKind kind = InflightKind::kOp;
  uint64_t op_seq = 0;
  std::string room;
};

struct ConnectWaiter {
  std::promise<Result<ConnectInfo>> promise;
  SteadyClock::time_point deadline;
};

}  // namespace

// ---- EventLoop ----

struct EventLoop::State {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(ioc)};
  std::thread thread;
};

EventLoop::EventLoop() : state_(std::make_unique<State>()) {
  state_->thread = std::thread([s = state_.get()] {
#ifdef __linux__
    // Timers of this thread fire when due, not up to 50 us later (the
    // default slack Linux allows itself to batch wake-ups): scheduled
    // delivery is only as precise as its timer.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
    // A callback that throws must not take the thread (and every client on
    // it) down with it.
    for (;;) {
      try {
        s->ioc.run();
        break;
      } catch (...) {
      }
    }
  });
}

EventLoop::~EventLoop() {
  state_->work.reset();
  state_->ioc.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::shared_ptr<EventLoop> EventLoop::create() { return std::shared_ptr<EventLoop>(new EventLoop()); }

// ---- Client::Impl ----

class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  Impl(ClientOptions options, asio::io_context& ioc, std::thread::id io_thread)
      : destroyed_(),
        opts_(std::move(options)),
        ioc_(ioc),
        io_thread_(io_thread),
        resolver_(ioc_),
        reconnect_timer_(ioc_),
        sweep_timer_(ioc_),
        sync_timer_(ioc_),
        hold_timer_(ioc_),
        backoff_(opts_.backoff_min_ms, opts_.backoff_max_ms, std::random_device{}()),
        clock_(opts_.clock != nullptr ? *opts_.clock : SystemClock::instance()),
        estimator_(opts_.clock_estimator) {
    if (opts_.client_id.empty()) opts_.client_id = randomHex(16);
    if (opts_.candidates.empty()) {
      if (auto u = parseUrl(opts_.url)) {
        url_ = std::move(*u);
      } else {
        url_error_ = u.error();
      }
    }
    for (const auto& c : opts_.candidates) {
      auto u = parseUrl(c);
      if (!u) {
        url_error_ = u.error();
        break;
      }
      candidates_.push_back(std::move(*u));
    }
  }

  // The last step of ~Client, on the I/O thread, after close(): no user
  // callback runs after this, and every pending operation ends (its handler
  // still holds the Impl, and finds closing_ set).
  void detach(std::promise<void>* destroyed) {
    destroyed_.promise = destroyed;
    closing_ = true;
    opts_.on_state = nullptr;
    opts_.on_connected = nullptr;
    opts_.on_error = nullptr;
    opts_.token_provider = nullptr;
    subs_.clear();
    beast::error_code ignored;
    resolver_.cancel();
    reconnect_timer_.cancel();
    sweep_timer_.cancel();
    sync_timer_.cancel();
    hold_timer_.cancel();
    if (conn_) {
      beast::get_lowest_layer(conn_->ws).socket().close(ignored);
      conn_.reset();
    }
  }

  bool onIoThread() const { return std::this_thread::get_id() == io_thread_; }

  // Runs f on the I/O thread; the Impl stays alive until it has.
  template <typename F>
  void post(F&& f) {
    asio::post(ioc_, [self = shared_from_this(), f = std::forward<F>(f)]() mutable { f(); });
  }

  // ---- public calls (any thread) ----

  std::future<Result<ConnectInfo>> connect() {
    std::promise<Result<ConnectInfo>> p;
    auto f = p.get_future();
    post([this, p = std::move(p)]() mutable {
      if (closing_) return p.set_value(closedError());
      if (stateNow() == State::kConnected && info_) return p.set_value(*info_);
      connect_waiters_.push_back(
          {std::move(p), SteadyClock::now() + std::chrono::milliseconds(opts_.connect_timeout_ms)});
      startIfIdle();
    });
    return f;
  }

  std::future<Result<SubscribeResult>> subscribe(const std::string& room, SubscriptionHandlers h,
                                                 SubscribeOptions o) {
    std::promise<Result<SubscribeResult>> p;
    auto f = p.get_future();
    post([this, room, h = std::move(h), o = std::move(o), p = std::move(p)]() mutable {
      if (closing_) return p.set_value(closedError());
      if (subs_.count(room) != 0)
        return p.set_value(makeError(code::kAlreadySubscribed, "already subscribed to " + room));
      Sub s;
      s.handlers = std::move(h);
      s.presence = o.presence;
      s.hold_until_at = o.hold_until_at;
      s.pos = std::move(o.recover);
      s.first = std::move(p);
      s.first_deadline = SteadyClock::now() + std::chrono::milliseconds(opts_.request_timeout_ms);
      Sub& ref = subs_[room] = std::move(s);
      startIfIdle();
      if (connectedConn()) {
        sendSubscribe(room, ref);
        flush(conn_);
      }
    });
    return f;
  }

  std::future<Result<void>> unsubscribe(const std::string& room) {
    std::promise<Result<void>> p;
    auto f = p.get_future();
    post([this, room, p = std::move(p)]() mutable {
      auto it = subs_.find(room);
      if (it == subs_.end()) return p.set_value(makeError(code::kNotSubscribed, "not subscribed to " + room));
      if (it->second.first)
        it->second.first->set_value(makeError(code::kNotSubscribed, "unsubscribed before the reply"));
      subs_.erase(it);
      {
        std::lock_guard lock(mu_);
        positions_.erase(room);
      }
      if (!connectedConn()) return p.set_value(Result<void>());
      Op op;
      op.type = OpType::kUnsubscribe;
      op.room = room;
      op.promise = std::move(p);
      addOp(std::move(op));
    });
    return f;
  }

  std::future<Result<PublishAck>> publish(const std::string& room, std::string_view data_json,
                                          PublishOptions o) {
    std::promise<Result<PublishAck>> p;
    auto f = p.get_future();
    publish(room, data_json, std::move(o), Reply<PublishAck>(std::move(p)));
    return f;
  }

  void publish(const std::string& room, std::string_view data_json, PublishOptions o, Reply<PublishAck> p) {
    if (o.at_us && o.delay_ms)
      return p.set_value(makeError(kInvalidArgument, "publish: give at_us or delay_ms, not both"));
    auto data = codec::compactJson(data_json);  // on the caller's thread
    if (!data) return p.set_value(data.error());
    post([this, room, data = std::move(*data), o = std::move(o), p = std::move(p)]() mutable {
      if (closing_) return p.set_value(closedError());
      Op op;
      op.type = OpType::kPublish;
      op.room = room;
      op.data = std::move(data);
      op.client_msg_id = std::move(o.client_msg_id);
      op.at_us = o.at_us;
      op.delay_ms = o.delay_ms;
      op.media_ts_us = o.media_ts_us;
      op.relay = std::move(o.relay);
      if (op.client_msg_id.empty() && opts_.auto_client_msg_id)
        op.client_msg_id = opts_.client_id + "-" + std::to_string(next_msg_id_++);
      op.promise = std::move(p);
      addOp(std::move(op));
    });
  }

  std::future<Result<WindowInfo>> openWindow(const std::string& room, const std::string& window_id,
                                             WindowSpec spec) {
    std::promise<Result<WindowInfo>> p;
    auto f = p.get_future();
    openWindow(room, window_id, std::move(spec), Reply<WindowInfo>(std::move(p)));
    return f;
  }

  void openWindow(const std::string& room, const std::string& window_id, WindowSpec spec, Reply<WindowInfo> p) {
    Op op;
    op.type = OpType::kWindowOpen;
    op.room = room;
    op.window = window_id;
    op.window_spec = std::move(spec);
    op.promise = std::move(p);
    submit(std::move(op));
  }

  std::future<Result<ActionDecision>> act(const std::string& room, const std::string& window_id,
                                          std::string_view data_json, ActOptions o) {
    std::promise<Result<ActionDecision>> p;
    auto f = p.get_future();
    act(room, window_id, data_json, std::move(o), Reply<ActionDecision>(std::move(p)));
    return f;
  }

  void act(const std::string& room, const std::string& window_id, std::string_view data_json, ActOptions o,
           Reply<ActionDecision> p) {
    // The stamp is the moment of the call, on the caller's thread.
    const int64_t stamp = o.stamp_us ? *o.stamp_us : serverNow().time_us;
    auto data = codec::compactJson(data_json.empty() ? std::string_view("null") : data_json);
    if (!data) return p.set_value(data.error());
    post([this, room, window_id, stamp, data = std::move(*data), id = std::move(o.action_id),
          relay = std::move(o.relay), p = std::move(p)]() mutable {
      if (closing_) return p.set_value(closedError());
      Op op;
      op.type = OpType::kAction;
      op.room = room;
      op.window = window_id;
      op.data = std::move(data);
      op.stamp_us = stamp;
      op.relay = std::move(relay);
      op.action_id = std::move(id);
      if (op.action_id.empty()) op.action_id = opts_.client_id + "-a" + std::to_string(next_action_id_++);
      op.promise = std::move(p);
      addOp(std::move(op));
    });
  }

  ServerTime serverNow() const {
    const int64_t c = clock_.wallUs();
    std::lock_guard lock(clock_mu_);
    auto e = estimator_.estimate(c);
    if (!e.valid) return ServerTime{c, 0, false};
    return ServerTime{c + e.offset_us, e.uncertainty_us, true};
  }

  ClockStats syncStats() const {
    const int64_t c = clock_.wallUs();
    std::lock_guard lock(clock_mu_);
    auto e = estimator_.estimate(c);
    ClockStats st = clock_stats_;
    st.synced = e.valid;
    st.offset_us = e.offset_us;
    st.uncertainty_us = e.uncertainty_us;
    st.drift_ppm = e.drift_ppm;
    st.best_rtt_us = e.best_rtt_us;
    st.samples = e.samples;
    st.resets = estimator_.resets();
    return st;
  }

  std::future<Result<PresenceResult>> presence(const std::string& room) {
    std::promise<Result<PresenceResult>> p;
    auto f = p.get_future();
    presence(room, Reply<PresenceResult>(std::move(p)));
    return f;
  }

  // Queues a call on the I/O thread; it fails at once when the client is closing.
  void submit(Op op) {
    post([this, op = std::move(op)]() mutable {
      if (closing_) return op.fail(closedError());
      addOp(std::move(op));
    });
  }

  void presence(const std::string& room, Reply<PresenceResult> p) {
    Op op;
    op.type = OpType::kPresence;
    op.room = room;
    op.promise = std::move(p);
    submit(std::move(op));
  }

  void relayPresence(const std::string& room, bool join, PresenceClient who, Reply<void> p) {
    Op op;
    op.type = OpType::kPresenceRelay;
    op.room = room;
    op.join = join;
    op.who = std::move(who);
    op.promise = std::move(p);
    submit(std::move(op));
  }

  void reportDelay(const std::string& room, int64_t owd_us, Reply<void> p) {
    Op op;
    op.type = OpType::kDelayReport;
    op.room = room;
    op.owd_us = owd_us;
    op.promise = std::move(p);
    submit(std::move(op));
  }

  std::future<Result<int64_t>> ping() {
    std::promise<Result<int64_t>> p;
    auto f = p.get_future();
    Op op;
    op.type = OpType::kPing;
    op.promise = std::move(p);
    submit(std::move(op));
    return f;
  }

  void close() {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    post([this, done] { doClose(done); });
    if (onIoThread()) return;
    // Bounded: the close handshake has its own timeout (connect_timeout_ms).
    f.wait_for(std::chrono::milliseconds(opts_.connect_timeout_ms + 1000));
  }

  void testDropConnection() {
    post([this] {
      if (!conn_) return;
      beast::error_code ec;
      auto& sock = beast::get_lowest_layer(conn_->ws).socket();
      sock.set_option(asio::socket_base::linger(true, 0), ec);  // RST, no FIN, no close frame
      lost(conn_, CloseInfo{kCloseAbnormal, "dropped by testDropConnection"});
    });
  }

  State stateNow() const {
    std::lock_guard lock(mu_);
    return state_;
  }

  bool waitForState(State s, int64_t timeout_ms) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return state_ == s; });
  }

  CloseInfo lastClose() const {
    std::lock_guard lock(mu_);
    return last_close_;
  }

  std::optional<ConnectInfo> connectInfo() const {
    std::lock_guard lock(mu_);
    return info_;
  }

  std::optional<Position> position(const std::string& room) const {
    std::lock_guard lock(mu_);
    auto it = positions_.find(room);
    if (it == positions_.end()) return std::nullopt;
    return it->second;
  }

  Counters counters() const {
    Counters c;
    c.connects = connects_.load();
    c.reconnects = reconnects_.load();
    c.gaps_detected = gaps_.load();
    c.recoveries_ok = recoveries_ok_.load();
    c.recoveries_failed = recoveries_failed_.load();
    c.publications_received = received_.load();
    c.duplicates_dropped = duplicates_.load();
    c.publishes_resent = resent_.load();
    c.actions_resent = actions_resent_.load();
    c.scheduled_on_time = on_time_.load();
    c.scheduled_late = late_.load();
    return c;
  }

  const std::string& clientId() const { return opts_.client_id; }

 private:
  // ---- everything below runs on the I/O thread ----

  Error closedError() const {
    CloseInfo c = lastClose();
    std::string msg = "client closed";
    if (c.code != 0) msg += " (last close " + std::to_string(c.code) + " " + c.reason + ")";
    return makeError(kDisconnected, std::move(msg));
  }

  void setState(State s, const CloseInfo& close) {
    {
      std::lock_guard lock(mu_);
      state_ = s;
    }
    cv_.notify_all();
    if (opts_.on_state) opts_.on_state(StateChange{s, close});
  }

  Conn* connectedConn() {
    return conn_ && stateNow() == State::kConnected ? conn_.get() : nullptr;
  }

  void startIfIdle() {
    if (started_ || closing_) return;
    started_ = true;
    sweep();
    startAttempt();
  }

  void startAttempt() {
    if (closing_) return;
    if (url_error_) return terminal(CloseInfo{0, url_error_->message}, *url_error_);
    if (!candidates_.empty()) return probeCandidates();
    connectTo();
  }

  // The nearest candidate: GET /healthz to each at once; the first to
  // answer 200 has the lowest round trip (through the whole path, proxies
  // and the server included, where a TCP handshake may be answered early by
  // a middlebox). None answering within the probe time counts as a failed
  // attempt (backoff, then probe again).
  void probeCandidates() {
    setState(State::kConnecting, {});
    struct Probe {
      std::vector<std::unique_ptr<tcp::socket>> sockets;
      std::vector<std::array<char, 16>> heads;
      asio::steady_timer timer;
      bool decided = false;
      size_t pending = 0;
      explicit Probe(asio::io_context& io) : timer(io) {}
    };
    auto probe = std::make_shared<Probe>(ioc_);
    const uint64_t generation = ++probe_generation_;
    auto decide = [this, self = shared_from_this(), probe, generation](std::optional<size_t> winner) {
      if (probe->decided || generation != probe_generation_ || closing_) return;
      probe->decided = true;
      probe->timer.cancel();
      beast::error_code ignored;
      for (auto& sock : probe->sockets) sock->close(ignored);
      if (!winner) {
        auto c = std::make_shared<Conn>(ioc_);
        conn_ = c;
        return lost(c, CloseInfo{kCloseAbnormal, "no candidate answered"});
      }
      url_ = candidates_[*winner];
      connectTo();
    };
    auto failed = [probe, decide] {
      if (--probe->pending == 0) decide(std::nullopt);
    };
    probe->pending = candidates_.size();
    probe->heads.resize(candidates_.size());
    static const std::string kRequest = "GET /healthz HTTP/1.1\r\nHost: tutti\r\nConnection: close\r\n\r\n";
    for (size_t i = 0; i < candidates_.size(); ++i) {
      beast::error_code ec;
      const auto addr = asio::ip::make_address(candidates_[i].host, ec);
      const auto port = static_cast<uint16_t>(std::atoi(candidates_[i].port.c_str()));
      probe->sockets.push_back(std::make_unique<tcp::socket>(ioc_));
      if (ec) {
        --probe->pending;  // names are not resolved for probing: give IP candidates
        continue;
      }
      auto* sock = probe->sockets.back().get();
      sock->async_connect(tcp::endpoint(addr, port), [probe, decide, failed, sock, i](beast::error_code e) {
        if (e || probe->decided) return failed();
        asio::async_write(*sock, asio::buffer(kRequest), [probe, decide, failed, sock, i](beast::error_code e2, size_t) {
          if (e2 || probe->decided) return failed();
          asio::async_read(*sock, asio::buffer(probe->heads[i]), [probe, decide, failed, i](beast::error_code e3, size_t n) {
            const std::string_view head(probe->heads[i].data(), n);
            if (e3 || !head.starts_with("HTTP/1.1 200")) return failed();
            decide(i);
          });
        });
      });
    }
    if (probe->pending == 0) return decide(std::nullopt);
    probe->timer.expires_after(std::chrono::milliseconds(opts_.candidate_probe_ms));
    probe->timer.async_wait([decide](beast::error_code e) {
      if (!e) decide(std::nullopt);
    });
  }

  void connectTo() {
    setState(State::kConnecting, {});
    auto c = std::make_shared<Conn>(ioc_);
    c->deadline = SteadyClock::now() + std::chrono::milliseconds(opts_.connect_timeout_ms);
    conn_ = c;
    resolver_.async_resolve(url_.host, url_.port, [this, self = shared_from_this(), c](beast::error_code ec,
                                                           tcp::resolver::results_type results) {
      if (c != conn_) return;
      if (ec) return lost(c, CloseInfo{kCloseAbnormal, "resolve: " + ec.message()});
      beast::get_lowest_layer(c->ws).expires_after(std::chrono::milliseconds(opts_.connect_timeout_ms));
      beast::get_lowest_layer(c->ws).async_connect(
          results, [this, self = shared_from_this(), c](beast::error_code ec, const tcp::endpoint&) {
            if (c != conn_) return;
            if (ec) return lost(c, CloseInfo{kCloseAbnormal, "connect: " + ec.message()});
            onTcpConnected(c);
          });
    });
  }

  void onTcpConnected(const std::shared_ptr<Conn>& c) {
    beast::get_lowest_layer(c->ws).expires_never();
    beast::error_code ignored;
    beast::get_lowest_layer(c->ws).socket().set_option(tcp::no_delay(true), ignored);
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::milliseconds(opts_.connect_timeout_ms);  // also bounds close
    t.idle_timeout = websocket::stream_base::none();  // the server pings; ping() is ours
    t.keep_alive_pings = false;
    c->ws.set_option(t);
    c->ws.read_message_max(kReadMessageMax);
    c->ws.set_option(websocket::stream_base::decorator([name = opts_.name](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, name);
    }));
    c->ws.async_handshake(url_.host + ":" + url_.port, url_.target, [this, self = shared_from_this(), c](beast::error_code ec) {
      if (c != conn_) return;
      if (ec) return lost(c, CloseInfo{kCloseAbnormal, "handshake: " + ec.message()});
      c->open = true;
      readLoop(c);
      // The token provider runs here, once per attempt, on the I/O thread.
      std::string token = opts_.token_provider ? opts_.token_provider() : opts_.token;
      uint64_t id = next_req_id_++;
      inflight_[id] = Inflight{InflightKind::kConnect, 0, {}};
      c->outq.push_back(codec::encodeConnect(id, token, opts_.name, opts_.client_id));
      flush(c);
    });
  }

  void readLoop(const std::shared_ptr<Conn>& c) {
    c->ws.async_read(c->rbuf, [this, self = shared_from_this(), c](beast::error_code ec, size_t) {
      // t3 of any `time` reply in this frame: as soon as it has been read.
      const int64_t t3 = clock_.wallUs();
      if (c != conn_) return;
      if (ec) {
        CloseInfo ci;
        const websocket::close_reason& r = c->ws.reason();
        // A close frame that arrived counts even if the teardown after it failed.
        if (ec == websocket::error::closed || r.code != websocket::close_code::none) {
          ci.code = r.code == websocket::close_code::none ? kCloseNoStatus : static_cast<int>(r.code);
          ci.reason = std::string(r.reason.data(), r.reason.size());
        } else if (c->disconnect_push) {
          ci = *c->disconnect_push;  // the server said why, then the transport ended
        } else {
          ci = CloseInfo{kCloseAbnormal, ec.message()};
        }
        return lost(c, ci);
      }
      auto data = c->rbuf.cdata();
      onFrame(c, std::string_view(static_cast<const char*>(data.data()), data.size()), t3);
      c->rbuf.consume(c->rbuf.size());
      if (c == conn_) readLoop(c);
    });
  }

  void flush(const std::shared_ptr<Conn>& c) {
    if (c->writing || c->closing || !c->open || c->outq.empty()) return;
    // Pack queued commands into one frame, within the server's limits.
    const bool connected = stateNow() == State::kConnected;
    const size_t max_batch = connected ? static_cast<size_t>(std::max<int64_t>(1, limits_.max_batch)) : 1;
    const size_t max_bytes = static_cast<size_t>(std::max<int64_t>(1024, limits_.max_frame_bytes));
    c->wbuf.clear();
    size_t n = 0;
    time_ids_.clear();
    while (!c->outq.empty() && n < max_batch) {
      const OutCmd& cmd = c->outq.front();
      if (n > 0 && c->wbuf.size() + 1 + cmd.text.size() > max_bytes) break;
      if (n > 0) c->wbuf += '\n';
      c->wbuf += cmd.text;
      if (cmd.time_id != 0) time_ids_.push_back(cmd.time_id);
      c->outq.pop_front();
      ++n;
    }
    c->writing = true;
    c->ws.text(true);
    if (!time_ids_.empty()) {
      // t0 as late as possible: Asio tries the send at once, in async_write.
      const int64_t t0 = clock_.wallUs();
      for (uint64_t id : time_ids_) time_t0_[id] = t0;
    }
    c->ws.async_write(asio::buffer(c->wbuf), [this, self = shared_from_this(), c](beast::error_code ec, size_t) {
      c->writing = false;
      if (c != conn_) return;
      if (ec) return lost(c, CloseInfo{kCloseAbnormal, "write: " + ec.message()});
      flush(c);
    });
  }

  void onFrame(const std::shared_ptr<Conn>& c, std::string_view frame, int64_t t3) {
    for (std::string_view line : codec::splitLines(frame)) {
      if (c != conn_) return;
      codec::Incoming in = codec::decodeLine(line);
      switch (in.kind) {
        case codec::Kind::kReply: onReply(c, in, t3); break;
        case codec::Kind::kPub: onPub(in.pub); break;
        case codec::Kind::kJoin:
        case codec::Kind::kLeave: {
          auto it = subs_.find(in.room);
          if (it == subs_.end()) break;
          auto& h = in.kind == codec::Kind::kJoin ? it->second.handlers.on_join : it->second.handlers.on_leave;
          if (h) h(in.client);
          break;
        }
        case codec::Kind::kDisconnect: c->disconnect_push = in.disconnect; break;
        case codec::Kind::kUnknownPush: break;  // a newer server: ignore
        case codec::Kind::kInvalid:
          if (opts_.on_error) opts_.on_error(makeError(code::kBadRequest, "bad line from server: " + in.problem));
          break;
      }
    }
  }

  void onReply(const std::shared_ptr<Conn>& c, codec::Incoming& in, int64_t t3) {
    if (in.id == 0) {
      if (in.error && opts_.on_error) opts_.on_error(*in.error);
      return;
    }
    auto it = inflight_.find(in.id);
    if (it == inflight_.end()) return;
    Inflight f = std::move(it->second);
    inflight_.erase(it);
    switch (f.kind) {
      case InflightKind::kConnect: {
        if (in.error) {
          // The server closes next (4003 / 4004); lost() decides about reconnecting.
          connect_error_ = *in.error;
          if (opts_.on_error) opts_.on_error(*in.error);
          resolveConnectWaiters(*in.error);
          return;
        }
        auto info = codec::decodeConnectResult(in.result);
        if (!info) {
          if (opts_.on_error) opts_.on_error(info.error());
          return lost(c, CloseInfo{kCloseAbnormal, "bad connect reply"});
        }
        return onConnected(c, std::move(*info));
      }
      case InflightKind::kOp: return onOpReply(f.op_seq, in);
      case InflightKind::kSubscribe: return onSubscribeReply(f.room, in);
      case InflightKind::kInternalUnsubscribe: return;  // 1201 is fine too
      case InflightKind::kTime: return onTimeReply(in, t3);
    }
  }

  void onConnected(const std::shared_ptr<Conn>& c, ConnectInfo info) {
    limits_ = info.limits;
    {
      std::lock_guard lock(mu_);
      info_ = info;
    }
    if (connects_.fetch_add(1) > 0) reconnects_.fetch_add(1);
    backoff_.reset();
    connect_error_.reset();
    setState(State::kConnected, {});
    resolveConnectWaiters(info);
    if (opts_.on_connected) opts_.on_connected(info);
    if (c != conn_) return;  // a callback closed or dropped it
    for (auto& [room, s] : subs_)
      if (s.phase == Sub::Phase::kWaiting) sendSubscribe(room, s);
    for (auto it = ops_.begin(); it != ops_.end();) {
      if (it->second.req_id == 0 && !sendOp(it->first, it->second)) {
        it = ops_.erase(it);
      } else {
        ++it;
      }
    }
    flush(c);
    startSync();
  }

  // ---- clock sync ----

  void startSync() {
    if (!opts_.clock_sync) return;
    const auto now = SteadyClock::now();
    sync_burst_until_ = now + std::chrono::milliseconds(opts_.sync_burst_ms);
    if (!sync_settle_until_) sync_settle_until_ = now + std::chrono::milliseconds(opts_.sync_settle_ms);
    syncTick();
  }

  void syncTick() {
    if (closing_ || !connectedConn()) return;
    sendTime();
    const auto now = SteadyClock::now();
    const int64_t next_ms = now < sync_burst_until_      ? opts_.sync_burst_interval_ms
                            : now < *sync_settle_until_ ? opts_.sync_settle_interval_ms
                                                        : opts_.sync_interval_ms;
    sync_timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(1, next_ms)));
    sync_timer_.async_wait([this, self = shared_from_this(), c = conn_](beast::error_code ec) {
      if (!ec && c == conn_) syncTick();
    });
  }

  void sendTime() {
    if (time_t0_.size() >= kMaxTimeInFlight) return;
    std::optional<codec::TimeTelemetry> tel;
    {
      std::lock_guard lock(clock_mu_);
      auto e = estimator_.estimate(clock_.wallUs());
      if (e.valid) tel = codec::TimeTelemetry{e.best_rtt_us, e.offset_us, e.uncertainty_us};
      ++clock_stats_.requests;
    }
    uint64_t id = next_req_id_++;
    inflight_[id] = Inflight{InflightKind::kTime, 0, {}};
    time_t0_[id] = 0;  // stamped by flush()
    conn_->outq.push_back(OutCmd(codec::encodeTime(id, tel), id));
    flush(conn_);
  }

  void onTimeReply(const codec::Incoming& in, int64_t t3) {
    auto it = time_t0_.find(in.id);
    if (it == time_t0_.end()) return;
    const int64_t t0 = it->second;
    time_t0_.erase(it);
    if (in.error && in.error->code == code::kUnknownMethod) {
      sync_timer_.cancel();  // a server without `time`: no sync on this connection
      return;
    }
    if (in.error || t0 == 0) return;
    auto r = codec::decodeTimeResult(in.result);
    if (!r) return;
    {
      std::lock_guard lock(clock_mu_);
      if (estimator_.addSample(t0, r->t1, r->t2, t3)) {
        ++clock_stats_.replies;
        clock_stats_.last_rtt_us = (t3 - t0) - (r->t2 - r->t1);
      } else {
        ++clock_stats_.refused;
      }
    }
    // The estimate moved: held publications may be due at another moment.
    if (nextDue() != INT64_MAX) armHoldTimer();
  }

  // Server time now (the client clock while unsynced). I/O thread or any.
  int64_t serverNowUs() const { return serverNow().time_us; }

  // ---- scheduled delivery ----

  void emit(Sub& s, const Publication& pub) {
    received_.fetch_add(1);
    if (pub.at_us) (pub.late_us > 0 ? late_ : on_time_).fetch_add(1);
    if (s.handlers.on_publication) s.handlers.on_publication(pub);
  }

  // A publication in order (offset == last + 1): deliver now or hold it.
  void deliverOrHold(Sub& s, Publication pub) {
    const int64_t now = serverNowUs();
    const bool arrived_late = pub.at_us && now >= *pub.at_us;
    if (!s.hold_until_at || (s.held.empty() && (!pub.at_us || arrived_late))) {
      if (arrived_late) pub.late_us = std::max<int64_t>(1, now - *pub.at_us);
      return emit(s, pub);
    }
    int64_t due = pub.at_us.value_or(INT64_MIN);
    if (!s.held.empty()) due = std::max(due, s.held.back().due_us);
    s.held.push_back(Held{std::move(pub), due, arrived_late});
    armHoldTimer();
  }

  // The earliest due time of a held head; INT64_MAX if nothing is held.
  int64_t nextDue() const {
    int64_t due = INT64_MAX;
    for (const auto& [room, s] : subs_)
      if (!s.held.empty()) due = std::min(due, s.held.front().due_us);
    return due;
  }

  void armHoldTimer() {
    const int64_t due = nextDue();
    const uint64_t gen = ++hold_gen_;
    if (due == INT64_MAX) {
      hold_timer_.cancel();
      return;
    }
    int64_t wait_us = due - serverNowUs() - opts_.delivery_spin_us;
    if (wait_us <= 0) {
      post([this, gen] {
        if (gen == hold_gen_) releaseDue();
      });
      return;
    }
    hold_timer_.expires_after(std::chrono::microseconds(std::min(wait_us, kMaxHoldWaitUs)));
    hold_timer_.async_wait([this, self = shared_from_this(), gen](beast::error_code ec) {
      if (!ec && gen == hold_gen_) releaseDue();
    });
  }

  void releaseDue() {
    if (closing_) return;
    int64_t due = nextDue();
    if (due == INT64_MAX) return;
    int64_t now = serverNowUs();
    if (due - now > opts_.delivery_spin_us) return armHoldTimer();  // woke early, or the estimate moved
    // The last stretch, at most delivery_spin_us: short sleeps while more
    // than kYieldUs remain (so many clients spinning at once still leave the
    // CPU to each other's wake-ups), then yield until the synced clock
    // reaches `due`.
    while (now < due) {
      if (due - now > 2 * kYieldUs) {
        std::this_thread::sleep_for(std::chrono::microseconds(due - now - kYieldUs));
      } else {
        std::this_thread::yield();
      }
      now = serverNowUs();
    }
    // Release every head that is due, room by room, in order. Callbacks may
    // call the Client, but its methods only post: subs_ does not change here.
    for (auto& [room, s] : subs_) {
      while (!s.held.empty() && s.held.front().due_us <= now) {
        Held h = std::move(s.held.front());
        s.held.pop_front();
        // On time unless it came too late, or waited behind a later one.
        if (h.pub.at_us && (h.arrived_late || h.due_us > *h.pub.at_us))
          h.pub.late_us = std::max<int64_t>(1, serverNowUs() - *h.pub.at_us);
        emit(s, h.pub);
      }
    }
    armHoldTimer();
  }

  void resolveConnectWaiters(const Result<ConnectInfo>& r) {
    for (auto& w : connect_waiters_) w.promise.set_value(r);
    connect_waiters_.clear();
  }

  void sendSubscribe(const std::string& room, Sub& s) {
    uint64_t id = next_req_id_++;
    s.req_id = id;
    s.phase = Sub::Phase::kSubscribing;
    s.sent_recover = s.pos.has_value();
    inflight_[id] = Inflight{InflightKind::kSubscribe, 0, room};
    conn_->outq.push_back(codec::encodeSubscribe(id, room, s.pos, s.presence));
  }

  void addOp(Op op) {
    op.deadline = SteadyClock::now() + std::chrono::milliseconds(opts_.request_timeout_ms);
    uint64_t seq = next_op_seq_++;
    auto [it, inserted] = ops_.emplace(seq, std::move(op));
    startIfIdle();
    if (connectedConn()) {
      if (!sendOp(seq, it->second)) ops_.erase(it);
      flush(conn_);
    }
  }

  // Queues an op on the current connection; false if it was failed instead.
  bool sendOp(uint64_t seq, Op& op) {
    uint64_t id = next_req_id_++;
    std::string text;
    switch (op.type) {
      case OpType::kPublish:
        text = codec::encodePublish(id, op.room, op.data, op.client_msg_id, op.at_us, op.delay_ms, op.media_ts_us,
                                    op.relay);
        break;
      case OpType::kPresence: text = codec::encodePresence(id, op.room); break;
      case OpType::kPresenceRelay: text = codec::encodePresenceRelay(id, op.room, op.join, op.who); break;
      case OpType::kDelayReport: text = codec::encodeDelayReport(id, op.room, op.owd_us); break;
      case OpType::kPing: text = codec::encodePing(id); break;
      case OpType::kUnsubscribe: text = codec::encodeUnsubscribe(id, op.room); break;
      case OpType::kWindowOpen: text = codec::encodeWindowOpen(id, op.room, op.window, op.window_spec); break;
      case OpType::kAction:
        text = codec::encodeAction(id, op.room, op.window, op.stamp_us, op.data, op.action_id, op.relay);
        break;
    }
    if (static_cast<int64_t>(text.size()) > limits_.max_frame_bytes) {
      // The server would close the socket (1009) and a resend would loop.
      op.fail(makeError(kInvalidArgument, "command of " + std::to_string(text.size()) +
                                              " bytes is above max_frame_bytes"));
      return false;
    }
    if (op.sent_before && op.type == OpType::kPublish) resent_.fetch_add(1);
    if (op.sent_before && (op.type == OpType::kAction || op.type == OpType::kWindowOpen)) actions_resent_.fetch_add(1);
    op.sent_before = true;
    op.req_id = id;
    inflight_[id] = Inflight{InflightKind::kOp, seq, {}};
    conn_->outq.push_back(std::move(text));
    return true;
  }

  void onOpReply(uint64_t seq, const codec::Incoming& in) {
    auto it = ops_.find(seq);
    if (it == ops_.end() || it->second.req_id != in.id) return;  // timed out meanwhile
    Op op = std::move(it->second);
    ops_.erase(it);
    if (in.error) return op.fail(*in.error);
    switch (op.type) {
      case OpType::kPublish:
        std::get<Reply<PublishAck>>(op.promise).set_value(codec::decodePublishAck(in.result));
        break;
      case OpType::kPresence:
        std::get<Reply<PresenceResult>>(op.promise)
            .set_value(codec::decodePresenceResult(in.result));
        break;
      case OpType::kPing:
        std::get<Reply<int64_t>>(op.promise).set_value(codec::decodePingResult(in.result));
        break;
      case OpType::kUnsubscribe:
      case OpType::kPresenceRelay:
      case OpType::kDelayReport:
        std::get<Reply<void>>(op.promise).set_value(Result<void>());
        break;
      case OpType::kWindowOpen:
        std::get<Reply<WindowInfo>>(op.promise).set_value(codec::decodeWindowInfo(in.result));
        break;
      case OpType::kAction:
        std::get<Reply<ActionDecision>>(op.promise)
            .set_value(codec::decodeActionDecision(in.result));
        break;
    }
  }

  void onSubscribeReply(const std::string& room, const codec::Incoming& in) {
    auto it = subs_.find(room);
    if (it == subs_.end() || it->second.req_id != in.id) return;  // unsubscribed meanwhile
    Sub& s = it->second;
    Result<SubscribeResult> r = in.error ? Result<SubscribeResult>(*in.error)
                                         : codec::decodeSubscribeResult(in.result);
    if (!r) {
      // Refused (or nonsense): the room is dropped from this client.
      Sub gone = std::move(s);
      subs_.erase(it);
      {
        std::lock_guard lock(mu_);
        positions_.erase(room);
      }
      // Handler first: when the future resolves, the handler has run.
      if (gone.handlers.on_error) gone.handlers.on_error(r.error());
      if (gone.first) gone.first->set_value(r.error());
      return;
    }
    SubscribeResult res = std::move(*r);
    if (s.sent_recover) {
      if (!res.recovered) {
        res.recovered = false;  // a server that ignores `recover`
        if (res.reason.empty()) res.reason = "not_supported";
      }
      if (*res.recovered) {
        recoveries_ok_.fetch_add(1);
        s.pos->epoch = res.epoch;  // replay continues at pos.offset + 1
      } else {
        recoveries_failed_.fetch_add(1);
        s.pos = Position{res.epoch, res.offset};
      }
    } else {
      s.pos = Position{res.epoch, res.offset};
    }
    s.phase = Sub::Phase::kLive;
    {
      std::lock_guard lock(mu_);
      positions_[room] = *s.pos;
    }
    auto first = std::move(s.first);
    s.first.reset();
    if (s.handlers.on_subscribed) s.handlers.on_subscribed(res);  // may unsubscribe: `s` is not used after
    if (first) first->set_value(res);
  }

  void onPub(Publication& pub) {
    auto it = subs_.find(pub.room);
    if (it == subs_.end()) return;
    Sub& s = it->second;
    // While (re)subscribing, publications of the old subscription are
    // dropped: the recovery replays them from s.pos.
    if (s.phase != Sub::Phase::kLive || !s.pos) return;
    switch (codec::classify(*s.pos, pub.epoch, pub.offset)) {
      case codec::Verdict::kDeliver:
        s.pos->offset = pub.offset;
        {
          std::lock_guard lock(mu_);
          positions_[pub.room] = *s.pos;
        }
        deliverOrHold(s, std::move(pub));
        break;
      case codec::Verdict::kDuplicate:
        duplicates_.fetch_add(1);
        break;
      case codec::Verdict::kGap:
        gaps_.fetch_add(1);
        if (connectedConn()) {
          uint64_t id = next_req_id_++;
          inflight_[id] = Inflight{InflightKind::kInternalUnsubscribe, 0, pub.room};
          conn_->outq.push_back(codec::encodeUnsubscribe(id, pub.room));
          sendSubscribe(pub.room, s);
          flush(conn_);
        }
        break;
    }
  }

  // The connection `c` ended (or an attempt failed): decide what comes next.
  // `c` by value: callers may pass conn_ itself, which this resets.
  void lost(std::shared_ptr<Conn> c, const CloseInfo& ci) {
    if (c != conn_) return;
    conn_.reset();
    resolver_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(c->ws).socket().close(ignored);
    if (c->open) {
      std::lock_guard lock(mu_);
      last_close_ = ci;
    }
    inflight_.clear();
    time_t0_.clear();
    sync_timer_.cancel();
    for (auto it = ops_.begin(); it != ops_.end();) {
      // A lost connection has unsubscribed everything, and undone what an
      // edge listed or reported through it (the edge does both again after
      // it resubscribes).
      if (it->second.type == OpType::kUnsubscribe || it->second.type == OpType::kPresenceRelay ||
          it->second.type == OpType::kDelayReport) {
        std::get<Reply<void>>(it->second.promise).set_value(Result<void>());
        it = ops_.erase(it);
      } else {
        it->second.req_id = 0;
        ++it;
      }
    }
    for (auto& [room, s] : subs_) {
      s.phase = Sub::Phase::kWaiting;
      s.req_id = 0;
    }
    if (closing_) return terminal(ci, closedError());
    bool retry = opts_.reconnect;
    if (c->open && !code::shouldReconnect(ci.code)) retry = false;
    if (ci.code == code::kCloseTokenExpired && !opts_.token_provider) retry = false;
    if (!retry) {
      Error e = connect_error_ ? *connect_error_ : closedError();
      return terminal(ci, e);
    }
    setState(State::kReconnectWait, ci);
    reconnect_timer_.expires_after(std::chrono::milliseconds(backoff_.nextDelayMs()));
    reconnect_timer_.async_wait([this, self = shared_from_this()](beast::error_code ec) {
      if (!ec && !closing_) startAttempt();
    });
  }

  // Closed for good: everything pending fails with `e`.
  void terminal(const CloseInfo& ci, const Error& e) {
    closing_ = true;
    reconnect_timer_.cancel();
    sweep_timer_.cancel();
    sync_timer_.cancel();
    hold_timer_.cancel();
    resolver_.cancel();
    if (conn_) {
      beast::error_code ignored;
      beast::get_lowest_layer(conn_->ws).socket().close(ignored);
      conn_.reset();
    }
    if (stateNow() != State::kClosed) setState(State::kClosed, ci);
    resolveConnectWaiters(e);
    for (auto& [seq, op] : ops_) op.fail(e);
    ops_.clear();
    for (auto& [room, s] : subs_)
      if (s.first) s.first->set_value(e);
    subs_.clear();
    inflight_.clear();
    time_t0_.clear();
  }

  void doClose(const std::shared_ptr<std::promise<void>>& done) {
    if (closing_) {
      done->set_value();
      return;
    }
    closing_ = true;
    reconnect_timer_.cancel();
    resolver_.cancel();
    auto c = conn_;
    if (c && c->open && !c->closing) {
      c->closing = true;
      c->ws.async_close(websocket::close_code::normal, [this, self = shared_from_this(), c, done](beast::error_code) {
        CloseInfo ci{code::kCloseNormal, "client close"};
        {
          std::lock_guard lock(mu_);
          last_close_ = ci;
        }
        terminal(ci, makeError(kDisconnected, "client closed"));
        done->set_value();
      });
      return;
    }
    terminal(CloseInfo{code::kCloseNormal, "client close"}, makeError(kDisconnected, "client closed"));
    done->set_value();
  }

  void sweep() {
    auto now = SteadyClock::now();
    for (auto it = ops_.begin(); it != ops_.end();) {
      if (it->second.deadline <= now) {
        it->second.fail(makeError(kTimeout, "no reply within " + std::to_string(opts_.request_timeout_ms) + " ms"));
        it = ops_.erase(it);  // a late reply finds no op and is ignored
      } else {
        ++it;
      }
    }
    for (auto& [room, s] : subs_) {
      if (s.first && s.first_deadline <= now) {
        s.first->set_value(makeError(kTimeout, "no subscribe reply yet (still trying)"));
        s.first.reset();
      }
    }
    for (auto it = connect_waiters_.begin(); it != connect_waiters_.end();) {
      if (it->deadline <= now) {
        it->promise.set_value(makeError(kTimeout, "not connected yet (still trying)"));
        it = connect_waiters_.erase(it);
      } else {
        ++it;
      }
    }
    if (conn_ && stateNow() == State::kConnecting && conn_->deadline <= now)
      lost(conn_, CloseInfo{kCloseAbnormal, "connect timeout"});
    if (closing_) return;
    sweep_timer_.expires_after(kSweepPeriod);
    sweep_timer_.async_wait([this, self = shared_from_this()](beast::error_code ec) {
      if (!ec) sweep();
    });
  }

  // First member, so destroyed last: tells ~Client that the Impl is gone
  // entirely (its timers and socket too), once detach() has set it.
  struct Destroyed {
    std::promise<void>* promise = nullptr;
    ~Destroyed() {
      if (promise != nullptr) promise->set_value();
    }
  } destroyed_;
  ClientOptions opts_;
  ParsedUrl url_;                       // where the current or next attempt goes
  std::vector<ParsedUrl> candidates_;   // ClientOptions::candidates
  uint64_t probe_generation_ = 0;
  std::optional<Error> url_error_;
  asio::io_context& ioc_;          // of the EventLoop the Client runs on
  const std::thread::id io_thread_;  // ... and its thread
  tcp::resolver resolver_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer sweep_timer_;
  asio::steady_timer sync_timer_;
  asio::steady_timer hold_timer_;
  Backoff backoff_;
  const Clock& clock_;

  // I/O thread only.
  std::shared_ptr<Conn> conn_;
  bool started_ = false;
  bool closing_ = false;
  uint64_t next_req_id_ = 1;
  uint64_t next_op_seq_ = 1;
  uint64_t next_msg_id_ = 1;
  uint64_t next_action_id_ = 1;
  // Clock sync: t0 of each `time` command in flight (0 until its frame is
  // written), by request id; burst phase end; scratch list for flush().
  std::unordered_map<uint64_t, int64_t> time_t0_;
  SteadyClock::time_point sync_burst_until_;
  std::optional<SteadyClock::time_point> sync_settle_until_;  // set at the first connection
  std::vector<uint64_t> time_ids_;
  // Scheduled delivery: generation of the hold timer's current arming
  // (older wake-ups are ignored). Held publications live in their Sub, and
  // go with it (unsubscribe, refusal, close).
  uint64_t hold_gen_ = 0;
  std::map<uint64_t, Op> ops_;  // by call order, so resends keep it
  std::map<std::string, Sub> subs_;
  std::unordered_map<uint64_t, Inflight> inflight_;  // by request id, current connection
  std::vector<ConnectWaiter> connect_waiters_;
  std::optional<Error> connect_error_;
  Limits limits_;

  // Read from any thread.
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  State state_ = State::kIdle;
  CloseInfo last_close_;
  std::optional<ConnectInfo> info_;
  std::map<std::string, Position> positions_;
  std::atomic<uint64_t> connects_{0}, reconnects_{0}, gaps_{0}, recoveries_ok_{0}, recoveries_failed_{0},
      received_{0}, duplicates_{0}, resent_{0}, actions_resent_{0}, on_time_{0}, late_{0};
  // The estimator and its counters: written on the I/O thread, read by
  // serverNow() / syncStats() from any thread.
  mutable std::mutex clock_mu_;
  sync::ClockEstimator estimator_;
  ClockStats clock_stats_;
};

Client::Client(ClientOptions options) : loop_(options.loop ? std::move(options.loop) : EventLoop::create()) {
  impl_ = std::make_shared<Impl>(std::move(options), loop_->state_->ioc, loop_->state_->thread.get_id());
}

Client::~Client() {
  impl_->close();
  // Hand the Impl to its I/O thread and wait until the last operation that
  // held it has ended: then nothing of this Client touches the loop, which
  // may go on serving other clients (or is stopped below if it was ours).
  std::promise<void> destroyed;
  auto gone = destroyed.get_future();
  asio::post(loop_->state_->ioc, [impl = std::move(impl_), &destroyed]() mutable {
    impl->detach(&destroyed);
    impl.reset();
  });
  gone.wait();
  loop_.reset();
}
std::future<Result<ConnectInfo>> Client::connect() { return impl_->connect(); }
std::future<Result<SubscribeResult>> Client::subscribe(const std::string& room, SubscriptionHandlers handlers,
                                                       SubscribeOptions options) {
  return impl_->subscribe(room, std::move(handlers), std::move(options));
}
std::future<Result<void>> Client::unsubscribe(const std::string& room) { return impl_->unsubscribe(room); }
std::future<Result<PublishAck>> Client::publish(const std::string& room, std::string_view data_json,
                                                std::string client_msg_id) {
  PublishOptions o;
  o.client_msg_id = std::move(client_msg_id);
  return impl_->publish(room, data_json, std::move(o));
}
std::future<Result<PublishAck>> Client::publish(const std::string& room, std::string_view data_json,
                                                PublishOptions options) {
  return impl_->publish(room, data_json, std::move(options));
}
std::future<Result<WindowInfo>> Client::openWindow(const std::string& room, const std::string& window_id,
                                                   WindowSpec spec) {
  return impl_->openWindow(room, window_id, spec);
}
std::future<Result<ActionDecision>> Client::act(const std::string& room, const std::string& window_id,
                                                std::string_view data_json, ActOptions options) {
  return impl_->act(room, window_id, data_json, std::move(options));
}
ServerTime Client::serverNow() const { return impl_->serverNow(); }
ClockStats Client::syncStats() const { return impl_->syncStats(); }
std::future<Result<PresenceResult>> Client::presence(const std::string& room) { return impl_->presence(room); }
void Client::publish(const std::string& room, std::string_view data_json, PublishOptions options,
                     std::function<void(Result<PublishAck>)> done) {
  impl_->publish(room, data_json, std::move(options), std::move(done));
}
void Client::openWindow(const std::string& room, const std::string& window_id, WindowSpec spec,
                        std::function<void(Result<WindowInfo>)> done) {
  impl_->openWindow(room, window_id, std::move(spec), std::move(done));
}
void Client::act(const std::string& room, const std::string& window_id, std::string_view data_json,
                 ActOptions options, std::function<void(Result<ActionDecision>)> done) {
  impl_->act(room, window_id, data_json, std::move(options), std::move(done));
}
void Client::presence(const std::string& room, std::function<void(Result<PresenceResult>)> done) {
  impl_->presence(room, std::move(done));
}
void Client::relayPresence(const std::string& room, bool join, PresenceClient who,
                           std::function<void(Result<void>)> done) {
  impl_->relayPresence(room, join, std::move(who), std::move(done));
}
void Client::reportDelay(const std::string& room, int64_t owd_us, std::function<void(Result<void>)> done) {
  impl_->reportDelay(room, owd_us, std::move(done));
}
std::future<Result<int64_t>> Client::ping() { return impl_->ping(); }
void Client::close() { impl_->close(); }
State Client::state() const { return impl_->stateNow(); }
bool Client::waitForState(State s, int64_t timeout_ms) const { return impl_->waitForState(s, timeout_ms); }
CloseInfo Client::lastClose() const { return impl_->lastClose(); }
std::optional<ConnectInfo> Client::connectInfo() const { return impl_->connectInfo(); }
std::optional<Position> Client::position(const std::string& room) const { return impl_->position(room); }
Counters Client::counters() const { return impl_->counters(); }
const std::string& Client::clientId() const { return impl_->clientId(); }
void Client::testDropConnection() { impl_->testDropConnection(); }

}  // namespace tutti::sdk
