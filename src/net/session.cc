// The Asio side of the network layer: acceptor, HTTP/1.1 sessions (Beast)
// and WebSocket sessions (our framing, ws_frame.h). The only translation
// unit that includes Beast.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>
#include <future>
#include <memory>
#include <optional>

#include "tutti/core/clock.h"
#include "tutti/core/log.h"
#include "tutti/net/listener.h"
#include "tutti/net/ws_frame.h"

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

// The WebSocket protocol itself (RFC 6455) is Tutti's own (ws_frame.h), not
// Beast's: an idle connection then holds no read buffer, no pending read
// operation and no stream state, only a readiness wait on its socket. Reads
// go into one buffer per worker thread; a session keeps bytes only while a
// frame is incomplete.
class WsSession final : public std::enable_shared_from_this<WsSession>, public WsConnection {
 public:
  WsSession(tcp::socket socket, std::shared_ptr<WsHandler> handler, const TransportLimits& limits,
            const TransportMetrics& metrics)
      : ip_(remoteIpOf(socket)),
        socket_(std::move(socket)),
        handler_(std::move(handler)),
        limits_(limits),
        m_(metrics),
        connect_timer_(socket_.get_executor()),
        close_timer_(socket_.get_executor()),
        probe_timer_(socket_.get_executor()),
        flusher_(asio::use_service<FlushService>(asio::query(socket_.get_executor(), asio::execution::context))),
        parser_(static_cast<size_t>(limits.max_frame_bytes), WsParser::Role::kServer) {}

  // Answers the (validated) upgrade request with 101 and starts the session.
  // `early` holds bytes the client sent after its request.
  void run(std::string_view key, std::string early) {
    error_code ec;
    socket_.non_blocking(true, ec);  // reads are tried directly after a readiness wait
    ctrl_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    ctrl_ += websocketAccept(key);
    ctrl_ += "\r\nServer: tutti/" TUTTI_VERSION "\r\n\r\n";
    writing_ = true;
    close_timer_.expires_after(kHandshakeTimeout);
    close_timer_.async_wait([self = shared_from_this()](error_code e) {
      if (!e && !self->opened_) self->abort();
    });
    asio::async_write(socket_, asio::buffer(ctrl_), [self = shared_from_this(), early = std::move(early)](error_code e, size_t n) mutable {
      self->writing_ = false;
      self->close_timer_.cancel();
      self->m_.bytes_out->inc(n);
      if (e) return self->abort();
      self->onOpen(std::move(early));
    });
  }

  // --- WsConnection
  SendResult send(Frame frame, int64_t pub_ts_us) override {
    if (closing_ || finished_) {
      m_.dropped_frames->inc();
      return SendResult::kClosed;
    }
    const size_t size = frame->size() + 1;
    // Slow means the frames waiting behind a write the kernel has not taken
    // yet pass the limit. The write in flight does not count (its completion
    // may merely not have run yet), nor do frames that only wait for the
    // worker's next flush pass (a burst to a reader that keeps up), up to 4x
    // the limit.
    const auto limit = static_cast<size_t>(limits_.outgoing_buffer_bytes);
    const size_t waiting = queued_bytes_ - inflight_bytes_ + size;
    if (waiting > limit && (writing_ || waiting > 4 * limit)) {
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

  // From the flush pass.
  void flushed() {
    pump_scheduled_ = false;
    pump();
  }

 private:
  struct Item {
    Frame frame;
    int64_t pub_ts_us;
  };
  static constexpr auto kHandshakeTimeout = std::chrono::seconds(5);
  static constexpr size_t kHeaderRoom = 10;  // an unmasked frame header at most
  static constexpr size_t kReadBytes = 64 * 1024;

  // One read buffer per worker thread, shared by its sessions: a session
  // uses it only inside onReadable, and handlers never read synchronously.
  static char* scratch() {
    thread_local std::unique_ptr<char[]> buf(new char[kReadBytes]);
    return buf.get();
  }

  void onOpen(std::string early) {
    opened_ = true;
    last_rx_us_ = SystemClock::instance().monoUs();
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
    if (!early.empty() && !input(early.data(), early.size())) return;
    if (!finished_) waitRead();
  }

  void waitRead() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      self->onReadable(ec);
    });
  }

  void onReadable(error_code ec) {
    if (finished_) return;  // linger() owns the socket now
    if (ec) return finish(close_code_ ? close_code_ : kNoCloseFrame);
    char* buf = scratch();
    // A few reads per wakeup at most, so one busy sender cannot hold the worker.
    for (int i = 0; i < 4; ++i) {
      error_code rec;
      const size_t n = socket_.read_some(asio::buffer(buf, kReadBytes), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) break;
      if (rec) return finish(close_code_ ? close_code_ : kNoCloseFrame);  // EOF or reset
      last_rx_us_ = SystemClock::instance().monoUs();
      m_.bytes_in->inc(n);
      if (!input(buf, n) || finished_) return;
      if (n < kReadBytes) break;
    }
    if (!read_stopped_) waitRead();
  }

  // Parses received bytes. False when the peer broke the protocol (the
  // session is then failing and reads no more).
  bool input(char* data, size_t n) {
    const bool ok = parser_.feed(data, n, [this](WsOpcode op, std::string_view payload) { onMessage(op, payload); });
    if (ok) return true;
    fail(parser_.closeCode(), parser_.error());
    return false;
  }

  void onMessage(WsOpcode op, std::string_view payload) {
    if (peer_closed_ || read_stopped_) return;  // nothing counts after a close frame
    switch (op) {
      case WsOpcode::kText:
        m_.frames_in->inc();
        if (!validUtf8(payload)) return fail(1007, "text message is not UTF-8");
        if (!closing_) handler_->onText(payload);
        return;
      case WsOpcode::kBinary:
        m_.frames_in->inc();
        if (!closing_) handler_->onBinary(payload.size());
        return;
      case WsOpcode::kPing:
        // Only the latest ping needs its pong (RFC 6455, 5.5.3).
        pong_payload_.assign(payload);
        pong_due_ = true;
        return pump();
      case WsOpcode::kPong:
        if (payload.size() == 9 && payload[0] == 'T') {
          int64_t sent = 0;
          std::memcpy(&sent, payload.data() + 1, 8);
          const int64_t rtt = SystemClock::instance().monoUs() - sent;
          if (rtt >= 0 && rtt <= 60'000'000) recordRtt(rtt);
        }
        return;
      case WsOpcode::kClose:
        return onPeerClose(payload);
      case WsOpcode::kContinuation:
        return;  // the parser joins fragments; never seen here
    }
  }

  void onPeerClose(std::string_view payload) {
    peer_closed_ = true;
    int code = 1005;  // no status in the frame
    if (payload.size() == 1) return fail(1002, "close frame with a one-byte payload");
    if (payload.size() >= 2) code = (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]);
    if (close_sent_) return finish(close_code_ ? close_code_ : code);  // the handshake we began is complete
    if (!close_code_) close_code_ = code;
    // Answer with the peer's code; what is still queued is not wanted.
    beginClose(code == 1005 ? 1000 : code, {}, /*drop_queue=*/true);
  }

  // The peer broke the protocol: count it, stop reading, send the close
  // frame for `code` and end once it is out (RFC 6455, 7.1.7).
  void fail(int code, const std::string& why) {
    if (read_stopped_) return;
    read_stopped_ = true;
    if (code == 1009)
      m_.frames_too_large->inc();
    else
      m_.protocol_errors->inc();
    log::info("websocket protocol error", {{"ip", ip_}, {"code", std::to_string(code)}, {"error", why}});
    if (closing_) {
      // Already closing: nothing more will be read, so end once our close frame is out.
      if (close_sent_) finish(close_code_);
      return;
    }
    close_code_ = code;
    beginClose(code, why, /*drop_queue=*/true);
  }

  // Builds one WebSocket message from the queued frames (newline-separated)
  // in a reused buffer: one memcpy per frame, one contiguous write (a gather
  // list of thousands of small buffers costs far more on partial writes).
  // The frame header goes in front, in room left for it.
  void doWrite() {
    wbuf_.assign(kHeaderRoom, '\0');
    inflight_count_ = 0;
    int64_t oldest_pub = 0;
    const auto max_batch = static_cast<size_t>(limits_.max_batch_bytes);
    while (head_ < queue_.size() &&
           (inflight_count_ == 0 || wbuf_.size() - kHeaderRoom + queue_[head_].frame->size() + 1 <= max_batch)) {
      Item it = std::move(queue_[head_++]);
      if (inflight_count_ > 0) wbuf_ += '\n';
      wbuf_.append(*it.frame);
      if (it.pub_ts_us && (!oldest_pub || it.pub_ts_us < oldest_pub)) oldest_pub = it.pub_ts_us;
      ++inflight_count_;
    }
    compactQueue();
    const size_t payload = wbuf_.size() - kHeaderRoom;
    // send() counted size + 1 per frame: that is the message plus one.
    inflight_bytes_ = payload + 1;
    if (oldest_pub)
      m_.publish_to_write->observe(static_cast<double>(SystemClock::instance().wallUs() - oldest_pub) / 1e6);
    char h[kHeaderRoom];
    const size_t hl = encodeFrameHeader(h, WsOpcode::kText, payload);
    std::memcpy(wbuf_.data() + kHeaderRoom - hl, h, hl);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(wbuf_.data() + kHeaderRoom - hl, payload + hl),
                      [self = shared_from_this()](error_code ec, size_t n) { self->onWrite(ec, n); });
  }

  // Drops the frames already taken; an idle connection keeps no queue storage.
  void compactQueue() {
    if (head_ < queue_.size()) return;
    queue_.clear();
    head_ = 0;
    if (queue_.capacity() > 64) std::vector<Item>().swap(queue_);
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
    if (ec) return abort();
    // The next write waits for the worker's flush pass, so that what arrives
    // meanwhile joins it.
    if (head_ < queue_.size()) return schedulePump();
    pump();
  }

  void schedulePump() {
    if (pump_scheduled_ || finished_) return;
    pump_scheduled_ = true;
    flusher_.schedule(shared_from_this(), socket_.get_executor());
  }

  // Starts the next write if none is in flight: a pong owed to the peer, a
  // due RTT probe (both tiny, and their timing matters), then queued frames,
  // then a pending close.
  void pump() {
    if (writing_ || finished_ || close_sent_) return;
    if (pong_due_ && !close_pending_) {
      pong_due_ = false;
      ctrl_.clear();
      appendFrame(ctrl_, WsOpcode::kPong, pong_payload_);
      std::string().swap(pong_payload_);
      return writeControl();
    }
    if (probe_due_ && !close_pending_) {
      probe_due_ = false;
      char probe[9] = {'T'};
      const int64_t now = SystemClock::instance().monoUs();
      std::memcpy(probe + 1, &now, 8);
      ctrl_.clear();
      appendFrame(ctrl_, WsOpcode::kPing, std::string_view(probe, sizeof probe));
      return writeControl();
    }
    if (head_ < queue_.size()) return doWrite();
    if (close_pending_) sendClose();
  }

  void writeControl() {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(ctrl_), [self = shared_from_this()](error_code ec, size_t n) {
      self->writing_ = false;
      self->m_.bytes_out->inc(n);
      if (ec) return self->abort();
      self->pump();
    });
  }

  void armProbe(std::chrono::milliseconds after) {
    probe_timer_.expires_after(after);
    probe_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closing_ || self->finished_) return;
      // Nothing at all from the peer (not even the pong of our last probes)
      // for the idle timeout: the connection is dead.
      if (SystemClock::instance().monoUs() - self->last_rx_us_ > self->limits_.idle_timeout_ms * 1000)
        return self->abort();
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
    if (!close_code_) close_code_ = code;
    connect_timer_.cancel();
    if (drop_queue) {
      for (size_t i = head_; i < queue_.size(); ++i) queued_bytes_ -= queue_[i].frame->size() + 1;
      m_.dropped_frames->inc(queue_.size() - head_);
      head_ = queue_.size();
      compactQueue();
    }
    close_frame_code_ = code;
    close_reason_ = std::move(reason);
    close_pending_ = true;
    // A peer that does not read will never let the pending write finish:
    // cut the socket after a grace period so memory and the slot are freed.
    close_timer_.expires_after(kCloseGrace);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->finished_) self->abort();
    });
    pump();
  }

  void sendClose() {
    close_pending_ = false;
    ctrl_.clear();
    appendFrame(ctrl_, WsOpcode::kClose, closePayload(close_frame_code_, close_reason_));
    std::string().swap(close_reason_);
    writing_ = true;  // the close frame is a write: no other write may start
    asio::async_write(socket_, asio::buffer(ctrl_), [self = shared_from_this()](error_code ec, size_t n) {
      self->writing_ = false;
      self->close_sent_ = true;
      self->m_.bytes_out->inc(n);
      if (ec) return self->abort();
      // Done if the peer's close came first, or if we read no more (a
      // protocol failure); otherwise its close frame ends the session.
      if (self->peer_closed_ || self->read_stopped_) self->finish(self->close_code_);
    });
  }

  void cut() {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // Cuts the socket and ends the session at once.
  void abort() {
    cut();
    finish(close_code_ ? close_code_ : kNoCloseFrame);
  }

  void finish(int code) {
    if (finished_) return;
    finished_ = true;
    closing_ = true;
    connect_timer_.cancel();
    close_timer_.cancel();
    probe_timer_.cancel();
    head_ = 0;
    std::vector<Item>().swap(queue_);
    queued_bytes_ = 0;
    auto h = std::move(handler_);
    if (h) h->onClosed(code);
    if (socket_.is_open()) linger();
  }

  // Half-closes and reads what the peer still sends (e.g. the rest of an
  // oversized frame) for a moment before closing. Closing with unread data
  // makes the kernel send RST, and the peer may then lose the close frame
  // (1009) that was just sent.
  void linger() {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    close_timer_.expires_after(std::chrono::seconds(1));
    close_timer_.async_wait([self = shared_from_this()](error_code e) {
      if (!e) self->cut();
    });
    drain();
  }

  void drain() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      if (!ec) {
        error_code rec;
        self->socket_.read_some(asio::buffer(scratch(), kReadBytes), rec);
        if (!rec || rec == asio::error::would_block) return self->drain();
      }
      // EOF, an error, or the socket was cut: done.
      self->close_timer_.cancel();
      self->cut();
    });
  }

  std::string ip_;
  tcp::socket socket_;
  std::shared_ptr<WsHandler> handler_;
  TransportLimits limits_;
  TransportMetrics m_;
  asio::steady_timer connect_timer_;
  asio::steady_timer close_timer_;
  asio::steady_timer probe_timer_;
  FlushService& flusher_;  // of this session's worker (looked up once: use_service locks a registry)
  WsParser parser_;
  std::array<int64_t, 16> rtt_window_{};
  uint64_t rtt_count_ = 0;
  int64_t last_rx_us_ = 0;
  std::vector<Item> queue_;  // frames waiting; those before head_ are taken
  size_t head_ = 0;
  std::string wbuf_;          // the message being written, its header in front
  std::string ctrl_;          // the 101 answer, or a control frame being written
  std::string pong_payload_;  // of the latest ping, while its pong is owed
  std::string close_reason_;
  size_t inflight_count_ = 0;
  size_t queued_bytes_ = 0;
  size_t inflight_bytes_ = 0;
  int close_code_ = 0;        // what the handler is told at the end
  int close_frame_code_ = 0;  // what our close frame carries
  bool opened_ = false;
  bool writing_ = false;
  bool pump_scheduled_ = false;  // in the worker's flush list
  bool probe_due_ = false;
  bool pong_due_ = false;
  bool closing_ = false;
  bool close_pending_ = false;
  bool close_sent_ = false;
  bool peer_closed_ = false;
  bool read_stopped_ = false;  // after a protocol failure
  bool finished_ = false;
  bool authenticated_ = false;
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

// What is wrong with an upgrade request, as the answer to send (RFC 6455,
// 4.2.1), or nothing.
std::optional<HttpResponse> handshakeError(const http::request<http::string_body>& req) {
  auto refuse = [](int status, const char* why) {
    return HttpResponse{status, "application/json",
                        std::string(R"({"error":{"code":1000,"message":")") + why + "\"}}", {}};
  };
  if (req.method() != http::verb::get || req.version() < 11) return refuse(400, "a WebSocket upgrade is a GET over HTTP/1.1");
  if (req[http::field::sec_websocket_version] != "13") {
    auto r = refuse(426, "only WebSocket version 13 is spoken here");
    r.headers.emplace_back("Sec-WebSocket-Version", "13");
    return r;
  }
  const auto key = req[http::field::sec_websocket_key];
  // 16 random bytes in base64: 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  return std::nullopt;
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
      if (auto refused = handshakeError(req)) return write(std::move(*refused), false, req.version());
      HttpRequest hr = toHttpRequest(req, ip_);
      auto handler = handler_.upgrade(hr, worker_);
      if (!handler) {
        HttpResponse r{404, "application/json", R"({"error":{"code":1000,"message":"no WebSocket endpoint here; use /ws"}})", {}};
        return write(std::move(r), false, req.version());
      }
      stream_.expires_never();
      const auto early = buf_.cdata();
      auto ws = std::make_shared<WsSession>(stream_.release_socket(), std::move(handler), limits_, m_);
      ws->run(std::string(req[http::field::sec_websocket_key]),
              std::string(static_cast<const char*>(early.data()), early.size()));
      return;
    }
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    handler_.handle(toHttpRequest(req, ip_), worker_, [self = shared_from_this(), keep_alive, version](HttpResponse r) {
      self->write(std::move(r), keep_alive, version);
    });
  }

  void write(HttpResponse r, bool keep_alive, unsigned version) {
    if (r.stream) return writeStream(std::move(r), keep_alive, version);
    if (!r.pieces.empty()) return writePieces(std::move(r), keep_alive, version);
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

  // The head and the shared pieces in one gather write (one writev): the
  // bytes are not copied, and a cached part costs one system call.
  void writePieces(HttpResponse r, bool keep_alive, unsigned version) {
    uint64_t length = 0;
    for (const auto& p : r.pieces) length += p->size();
    const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
    auto head = std::make_shared<std::string>();
    head->reserve(192 + 64 * r.headers.size());
    *head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    *head += std::to_string(r.status);
    *head += ' ';
    head->append(reason.data(), reason.size());
    *head += "\r\nServer: tutti/" TUTTI_VERSION "\r\nContent-Type: ";
    *head += r.content_type;
    for (const auto& [k, v] : r.headers) {
      *head += "\r\n";
      *head += k;
      *head += ": ";
      *head += v;
    }
    *head += "\r\nContent-Length: ";
    *head += std::to_string(length);
    if (!keep_alive) *head += "\r\nConnection: close";
    else if (version == 10) *head += "\r\nConnection: keep-alive";
    *head += "\r\n\r\n";
    auto pieces = std::make_shared<std::vector<std::shared_ptr<const std::string>>>(std::move(r.pieces));
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(pieces->size() + 1);
    bufs.emplace_back(head->data(), head->size());
    for (const auto& p : *pieces) bufs.emplace_back(p->data(), p->size());
    asio::async_write(stream_, bufs, [self = shared_from_this(), head, pieces, keep_alive](error_code ec, size_t n) {
      self->m_.bytes_out->inc(n);
      if (ec || !keep_alive) return self->shutdown();
      self->doRead();
    });
  }

  // The head, then each piece as the stream gives it (chunked transfer
  // encoding, RFC 9112 7.1), then the last chunk.
  void writeStream(HttpResponse r, bool keep_alive, unsigned version) {
    auto res = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), version);
    res->set(http::field::server, "tutti/" TUTTI_VERSION);
    res->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->keep_alive(keep_alive);
    res->chunked(true);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr, body = std::move(r.stream), keep_alive](
                                               error_code ec, size_t n) {
      self->m_.bytes_out->inc(n);
      if (ec) return self->shutdown();
      self->nextPiece(body, keep_alive);
    });
  }

  void nextPiece(std::shared_ptr<BodyStream> body, bool keep_alive) {
    body->next([self = shared_from_this(), body, keep_alive](std::string piece, bool last) {
      auto out = std::make_shared<std::string>();
      if (!piece.empty()) {
        char size[20];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        *out = size;
        *out += piece;
        *out += "\r\n";
      }
      if (last) *out += "0\r\n\r\n";
      if (out->empty()) return self->shutdown();  // an empty piece that is not the last breaks the contract
      self->stream_.expires_after(std::chrono::seconds(30));
      asio::async_write(self->stream_, asio::buffer(*out), [self, out, body, keep_alive, last](error_code ec, size_t n) {
        self->m_.bytes_out->inc(n);
        if (ec) return self->shutdown();
        if (!last) return self->nextPiece(body, keep_alive);
        if (!keep_alive) return self->shutdown();
        self->doRead();
      });
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
