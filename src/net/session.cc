// The Beast side of the network layer: acceptor, HTTP/1.1 sessions and
// WebSocket sessions. The only translation unit that includes Beast.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <array>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <optional>

#include "tutti/core/clock.h"
#include "tutti/core/log.h"
#include "tutti/net/listener.h"

namespace tutti::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr int kNoCloseFrame = 1006;  // RFC 6455: closed without a close frame
constexpr auto kCloseGrace = std::chrono::seconds(3);

std::string remoteIpOf(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("unknown") : ep.address().to_string();
}

HttpRequest toHttpRequest(const http::request<http::string_body>& req, std::string ip) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  const auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& f : req) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  r.body = req.body();
  r.remote_ip = std::move(ip);
  return r;
}

// ---------------------------------------------------------------------------
// One WebSocket connection. Thread: its worker only. Kept alive by its
// pending operations (shared_from_this); the handler is told once, in
// finish(), that the connection is gone.
class WsSession;

// Writes go out in flush passes, one per worker (io_context), not at once.
// A session that gets a frame while no write of its own is in flight joins
// the worker's dirty list, and one posted handler then starts a write for
// every dirty session. Everything queued for a connection while the worker
// was busy with other events (more publications, other reads, the previous
// round of write completions) leaves in that one write: under load the
// frames per write grow with the load, and the syscalls per delivery fall,
// as they must (about 4 us per send on loopback, FACTS.md). A pass starts
// no sooner than the previous one took after its end: the worker spends at
// least half its time reading and routing, so a busy publisher's frames are
// read in bulk instead of one per pass. When the worker is idle a pass takes
// microseconds and the next runs at once.
class FlushService : public asio::execution_context::service {
 public:
  using key_type = FlushService;
  static inline asio::execution_context::id id;
  explicit FlushService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
  void shutdown() override {
    dirty_.clear();
    timer_.reset();
  }

  void schedule(std::shared_ptr<WsSession> s, const asio::any_io_executor& ex);

 private:
  void run();
  std::vector<std::shared_ptr<WsSession>> dirty_, running_;
  bool posted_ = false;
  std::chrono::steady_clock::time_point last_end_{};
  std::chrono::steady_clock::duration last_took_{};
  std::unique_ptr<asio::steady_timer> timer_;
};

class WsSession final : public std::enable_shared_from_this<WsSession>, public WsConnection {
 public:
  WsSession(tcp::socket socket, std::shared_ptr<WsHandler> handler, const TransportLimits& limits,
            const TransportMetrics& metrics)
      : ip_(remoteIpOf(socket)),
        ws_(std::move(socket)),
        handler_(std::move(handler)),
        limits_(limits),
        m_(metrics),
        connect_timer_(ws_.get_executor()),
        close_timer_(ws_.get_executor()),
        probe_timer_(ws_.get_executor()),
        flusher_(asio::use_service<FlushService>(asio::query(ws_.get_executor(), asio::execution::context))) {}

  void run(http::request<http::string_body> req) {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = std::chrono::milliseconds(limits_.idle_timeout_ms);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(static_cast<size_t>(limits_.max_frame_bytes));
    ws_.auto_fragment(false);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "tutti/" TUTTI_VERSION); }));
    // Pongs answering our RTT probes carry 'T' + the 8-byte monotonic send time.
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
      if (kind != websocket::frame_type::pong || payload.size() != 9 || payload[0] != 'T') return;
      int64_t sent = 0;
      std::memcpy(&sent, payload.data() + 1, 8);
      const int64_t rtt = SystemClock::instance().monoUs() - sent;
      if (rtt < 0 || rtt > 60'000'000) return;
      recordRtt(rtt);
    });
    ws_.async_accept(req, [self = shared_from_this()](error_code ec) { self->onAccept(ec); });
  }

  // --- WsConnection
  SendResult send(Frame frame, int64_t pub_ts_us) override {
    if (closing_ || finished_) {
      m_.dropped_frames->inc();
      return SendResult::kClosed;
    }
    const size_t size = frame->size() + 1;
    // Slow means the kernel has not taken our last write yet: frames that
    // merely wait for the worker's next flush pass do not count against the
    // reader (a burst to a reader that keeps up), up to 4x the limit.
    const auto limit = static_cast<size_t>(limits_.outgoing_buffer_bytes);
    if (queued_bytes_ + size > limit && (writing_ || queued_bytes_ + size > 4 * limit)) {
      m_.slow_consumers->inc();
      log::info("slow consumer cut", {{"ip", ip_}, {"queued_bytes", std::to_string(queued_bytes_)}});
      beginClose(4005, "slow consumer", /*drop_queue=*/true);
      return SendResult::kSlowConsumer;
    }
    queue_.push_back(Item{std::move(frame), pub_ts_us});
    queued_bytes_ += size;
    if (!writing_) schedulePump();
    return SendResult::kQueued;
  }

  void close(int code, std::string reason) override { beginClose(code, std::move(reason), false); }

  void authenticated() override {
    authenticated_ = true;
    connect_timer_.cancel();
  }

  const std::string& remoteIp() const override { return ip_; }
  size_t queuedBytes() const override { return queued_bytes_; }

  RttStats rtt() const override {
    RttStats s;
    s.samples = rtt_count_;
    if (rtt_count_ == 0) return s;
    s.last_us = rtt_window_[(rtt_count_ - 1) % rtt_window_.size()];
    const size_t n = std::min<size_t>(rtt_count_, rtt_window_.size());
    s.min_us = s.max_us = rtt_window_[0];
    for (size_t i = 0; i < n; ++i) {
      s.min_us = std::min(s.min_us, rtt_window_[i]);
      s.max_us = std::max(s.max_us, rtt_window_[i]);
    }
    return s;
  }

 private:
  struct Item {
    Frame frame;
    int64_t pub_ts_us;
  };

  void onAccept(error_code ec) {
    if (ec) return finish(kNoCloseFrame);
    handler_->onOpen(*this);
    armProbe(std::chrono::milliseconds(200));
    if (!closing_ && !authenticated_) {
      connect_timer_.expires_after(std::chrono::milliseconds(limits_.connect_timeout_ms));
      connect_timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->authenticated_ || self->closing_) return;
        self->m_.connect_timeouts->inc();
        self->beginClose(4008, "connect timeout", false);
      });
    }
    doRead();
  }

  void doRead() {
    ws_.async_read(rbuf_, [self = shared_from_this()](error_code ec, size_t n) { self->onRead(ec, n); });
  }

  void onRead(error_code ec, size_t n) {
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        // Beast has already sent close 1009 (message too big).
        m_.frames_too_large->inc();
        close_code_ = 1009;
      } else if (ec == websocket::error::closed) {
        if (!close_code_) close_code_ = ws_.reason().code;
      }
      return finish(close_code_ ? close_code_ : kNoCloseFrame);
    }
    m_.frames_in->inc();
    m_.bytes_in->inc(n);
    if (!closing_) {
      const auto data = rbuf_.cdata();
      if (ws_.got_text())
        handler_->onText(std::string_view(static_cast<const char*>(data.data()), data.size()));
      else
        handler_->onBinary(data.size());
    }
    rbuf_.consume(rbuf_.size());
    if (finished_) return;
    doRead();  // keeps reading while closing, to receive the peer's close frame
  }

  // Coalesces queued frames into one contiguous WebSocket message. A gather
  // list of thousands of small buffers made Beast re-walk the sequence on
  // every partial write (75% of CPU in a profile); one memcpy per frame into
  // a reused buffer is far cheaper and frees the frames at once.
  void doWrite() {
    wbuf_.clear();
    inflight_count_ = 0;
    int64_t oldest_pub = 0;
    while (!queue_.empty() && (inflight_count_ == 0 || wbuf_.size() + queue_.front().frame->size() + 1 <=
                                                             static_cast<size_t>(limits_.max_batch_bytes))) {
      Item it = std::move(queue_.front());
      queue_.pop_front();
      if (inflight_count_ > 0) wbuf_ += '\n';
      wbuf_.append(*it.frame);
      if (it.pub_ts_us && (!oldest_pub || it.pub_ts_us < oldest_pub)) oldest_pub = it.pub_ts_us;
      ++inflight_count_;
    }
    // send() counted size + 1 per frame: that is the message plus one.
    inflight_bytes_ = wbuf_.size() + 1;
    if (oldest_pub)
      m_.publish_to_write->observe(static_cast<double>(SystemClock::instance().wallUs() - oldest_pub) / 1e6);
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(wbuf_), [self = shared_from_this()](error_code ec, size_t n) { self->onWrite(ec, n); });
  }

  void onWrite(error_code ec, size_t n) {
    writing_ = false;
    queued_bytes_ -= std::min(queued_bytes_, inflight_bytes_);
    m_.ws_writes->inc();
    m_.messages_out->inc(inflight_count_);
    m_.bytes_out->inc(n);
    inflight_count_ = 0;
    inflight_bytes_ = 0;
    // Idle connections should not keep a large write buffer.
    if (wbuf_.capacity() > 64 * 1024) std::string().swap(wbuf_);
    if (ec) return cut();
    // The next write waits for the worker's flush pass, so that what arrives
    // meanwhile joins it.
    if (!queue_.empty()) return schedulePump();
    pump();
  }

 public:
  // From the flush pass.
  void flushed() {
    pump_scheduled_ = false;
    pump();
  }

 private:
  void schedulePump() {
    if (pump_scheduled_ || finished_) return;
    pump_scheduled_ = true;
    flusher_.schedule(shared_from_this(), ws_.get_executor());
  }

  // Starts the next write if none is in flight: a due RTT probe first (it is
  // tiny and its timing matters), then queued frames, then a pending close.
  void pump() {
    if (writing_ || finished_) return;
    if (probe_due_ && !close_pending_) {
      probe_due_ = false;
      writing_ = true;
      probe_payload_[0] = 'T';
      const int64_t now = SystemClock::instance().monoUs();
      std::memcpy(probe_payload_.data() + 1, &now, 8);
      ws_.async_ping(websocket::ping_data(beast::string_view(probe_payload_.data(), probe_payload_.size())),
                     [self = shared_from_this()](error_code ec) {
                       self->writing_ = false;
                       if (ec) return self->cut();
                       self->pump();
                     });
      return;
    }
    if (!queue_.empty()) return doWrite();
    if (close_pending_) sendClose();
  }

  void armProbe(std::chrono::milliseconds after) {
    probe_timer_.expires_after(after);
    probe_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closing_ || self->finished_) return;
      self->probe_due_ = true;
      self->pump();
      self->armProbe(std::chrono::milliseconds(self->limits_.rtt_probe_interval_ms));
    });
  }

  void recordRtt(int64_t rtt_us) {
    rtt_window_[rtt_count_ % rtt_window_.size()] = rtt_us;
    ++rtt_count_;
    if (handler_) handler_->onRtt(rtt_us);
  }

  void beginClose(int code, std::string reason, bool drop_queue) {
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    connect_timer_.cancel();
    if (drop_queue) {
      for (auto& it : queue_) queued_bytes_ -= it.frame->size() + 1;
      m_.dropped_frames->inc(queue_.size());
      queue_.clear();
    }
    if (reason.size() > 120) reason.resize(120);
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    close_pending_ = true;
    // A peer that does not read will never let the pending write finish:
    // cut the socket after a grace period so memory and the slot are freed.
    close_timer_.expires_after(kCloseGrace);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->finished_) self->cut();
    });
    pump();
  }

  void sendClose() {
    close_pending_ = false;
    writing_ = true;  // the close frame is a write: no other write may start
    ws_.async_close(close_reason_, [self = shared_from_this()](error_code) {
      // The read loop ends with websocket::error::closed (or an error) and calls finish().
      self->cut();
    });
  }

  void cut() {
    error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).close();
  }

  void finish(int code) {
    if (finished_) return;
    finished_ = true;
    closing_ = true;
    connect_timer_.cancel();
    close_timer_.cancel();
    probe_timer_.cancel();
    queue_.clear();
    queued_bytes_ = 0;
    auto h = std::move(handler_);
    if (h) h->onClosed(code);
    linger();
  }

  // Half-closes and reads what the peer still sends (e.g. the rest of an
  // oversized frame) for a moment before closing. Closing with unread data
  // makes the kernel send RST, and the peer may then lose the close frame
  // (1009) that was just sent.
  void linger() {
    error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_send, ec);
    close_timer_.expires_after(std::chrono::seconds(1));
    close_timer_.async_wait([self = shared_from_this()](error_code e) {
      if (!e) self->cut();
    });
    drain();
  }

  void drain() {
    if (!drain_buf_) drain_buf_ = std::make_unique<std::array<char, 4096>>();
    beast::get_lowest_layer(ws_).socket().async_read_some(
        asio::buffer(*drain_buf_), [self = shared_from_this()](error_code ec, size_t) {
          if (ec) {
            self->close_timer_.cancel();
            return self->cut();
          }
          self->drain();
        });
  }

  std::string ip_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer rbuf_;
  std::shared_ptr<WsHandler> handler_;
  TransportLimits limits_;
  TransportMetrics m_;
  asio::steady_timer connect_timer_;
  asio::steady_timer close_timer_;
  asio::steady_timer probe_timer_;
  FlushService& flusher_;  // of this session's worker (looked up once: use_service locks a registry)
  std::array<char, 9> probe_payload_{};
  bool probe_due_ = false;
  std::array<int64_t, 16> rtt_window_{};
  uint64_t rtt_count_ = 0;
  std::deque<Item> queue_;
  std::string wbuf_;  // the message being written
  // Only for the lingering close: allocated then, so that the ~16,000 idle
  // connections a server holds do not carry 4 KiB each.
  std::unique_ptr<std::array<char, 4096>> drain_buf_;
  size_t inflight_count_ = 0;
  size_t queued_bytes_ = 0;
  size_t inflight_bytes_ = 0;
  bool writing_ = false;
  bool pump_scheduled_ = false;  // in the worker's flush list
  bool closing_ = false;
  bool close_pending_ = false;
  bool finished_ = false;
  bool authenticated_ = false;
  int close_code_ = 0;
  websocket::close_reason close_reason_;
};

// ---------------------------------------------------------------------------
// HTTP/1.1 keep-alive, one request at a time. Thread: its worker only.
void FlushService::schedule(std::shared_ptr<WsSession> s, const asio::any_io_executor& ex) {
  dirty_.push_back(std::move(s));
  if (posted_) return;
  posted_ = true;
  const auto wait = last_end_ + last_took_ - std::chrono::steady_clock::now();
  if (wait <= std::chrono::steady_clock::duration::zero()) {
    asio::post(ex, [this] { run(); });
    return;
  }
  if (!timer_) timer_ = std::make_unique<asio::steady_timer>(ex);
  timer_->expires_after(wait);
  timer_->async_wait([this](error_code ec) {
    if (!ec) run();
  });
}

void FlushService::run() {
  const auto start = std::chrono::steady_clock::now();
  posted_ = false;
  running_.swap(dirty_);
  for (auto& s : running_) s->flushed();
  running_.clear();
  last_end_ = std::chrono::steady_clock::now();
  last_took_ = last_end_ - start;
}

class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, HttpHandler& handler, size_t worker, const TransportLimits& limits,
              const TransportMetrics& metrics)
      : ip_(remoteIpOf(socket)), stream_(std::move(socket)), handler_(handler), worker_(worker), limits_(limits), m_(metrics) {}

  void run() { doRead(); }

 private:
  void doRead() {
    parser_.emplace();
    parser_->body_limit(static_cast<uint64_t>(limits_.max_body_bytes));
    parser_->header_limit(16 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buf_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(error_code ec) {
    if (ec == http::error::body_limit) {
      HttpResponse r{413, "application/json", R"({"error":{"code":1000,"message":"body too large"}})", {}};
      return write(std::move(r), false, 11);
    }
    if (ec) return shutdown();
    auto req = parser_->release();
    if (websocket::is_upgrade(req)) {
      HttpRequest hr = toHttpRequest(req, ip_);
      auto handler = handler_.upgrade(hr, worker_);
      if (!handler) {
        HttpResponse r{404, "application/json", R"({"error":{"code":1000,"message":"no WebSocket endpoint here; use /ws"}})", {}};
        return write(std::move(r), false, req.version());
      }
      stream_.expires_never();
      std::make_shared<WsSession>(stream_.release_socket(), std::move(handler), limits_, m_)->run(std::move(req));
      return;
    }
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    handler_.handle(toHttpRequest(req, ip_), worker_, [self = shared_from_this(), keep_alive, version](HttpResponse r) {
      self->write(std::move(r), keep_alive, version);
    });
  }

  void write(HttpResponse r, bool keep_alive, unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
    res->set(http::field::server, "tutti/" TUTTI_VERSION);
    res->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](error_code ec, size_t n) {
      self->m_.bytes_out->inc(n);
      if (ec || !keep_alive) return self->shutdown();
      self->doRead();
    });
  }

  void shutdown() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  std::string ip_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpHandler& handler_;
  size_t worker_;
  TransportLimits limits_;
  TransportMetrics m_;
};

// ---------------------------------------------------------------------------
class ListenerImpl final : public Listener {
 public:
  ListenerImpl(std::vector<Worker*> workers, HttpHandler& handler, TransportLimits limits, TransportMetrics metrics)
      : workers_(std::move(workers)), handler_(handler), limits_(limits), m_(metrics),
        acceptor_(workers_[0]->context()),
        retry_(workers_[0]->context()) {}

  Result<void> bind(const std::string& host, uint16_t port) {
    error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return makeError(1002, "bad listen address " + host);
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return makeError(1002, "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    asio::post(acceptor_.get_executor(), [this] { doAccept(); });
    return {};
  }

  uint16_t port() const override { return port_; }

  void stop() override {
    std::promise<void> done;
    auto f = done.get_future();
    asio::post(acceptor_.get_executor(), [this, &done] {
      stopped_ = true;
      error_code ec;
      acceptor_.close(ec);
      retry_.cancel();
      done.set_value();
    });
    f.wait();
  }

 private:
  void doAccept() {
    if (stopped_) return;
    const size_t w = next_++ % workers_.size();
    acceptor_.async_accept(workers_[w]->context(), [this, w](error_code ec, tcp::socket socket) {
      if (stopped_) return;
      if (ec) {
        // EMFILE and friends: keep serving the connections we have, and
        // retry a little later instead of spinning.
        log::warn("accept failed", {{"error", ec.message()}});
        retry_.expires_after(std::chrono::milliseconds(50));
        retry_.async_wait([this](error_code e) {
          if (!e) doAccept();
        });
        return;
      } else {
        error_code ig;
        socket.set_option(tcp::no_delay(true), ig);
        asio::post(workers_[w]->context(), [this, w, s = std::move(socket)]() mutable {
          std::make_shared<HttpSession>(std::move(s), handler_, w, limits_, m_)->run();
        });
      }
      doAccept();
    });
  }

  std::vector<Worker*> workers_;
  HttpHandler& handler_;
  TransportLimits limits_;
  TransportMetrics m_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  uint16_t port_ = 0;
  size_t next_ = 0;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Listener>> Listener::start(const std::string& host, uint16_t port, std::vector<Worker*> workers,
                                                  HttpHandler& handler, TransportLimits limits,
                                                  TransportMetrics metrics) {
  auto l = std::make_unique<ListenerImpl>(std::move(workers), handler, limits, metrics);
  if (auto r = l->bind(host, port); !r) return r.error();
  return std::unique_ptr<Listener>(std::move(l));
}

}  // namespace tutti::net
