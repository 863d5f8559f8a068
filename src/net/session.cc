// The Asio side of the network layer: acceptor, HTTP/1.1 sessions (requests
// read with http_parser.h, answers written as gather writes) and WebSocket
// sessions (our framing, ws_frame.h).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <sys/sendfile.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <vector>
#include <future>
#include <memory>
#include <optional>
#include <span>

#include "tutti/core/clock.h"
#include "tutti/core/log.h"
#include "tutti/net/http_parser.h"
#include "tutti/net/listener.h"
#include "tutti/net/ws_frame.h"

namespace tutti::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr int kNoCloseFrame = 1006;  // RFC 6455: closed without a close frame
constexpr auto kCloseGrace = std::chrono::seconds(3);

std::string remoteIpOf(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("unknown") : ep.address().to_string();
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
std::optional<HttpResponse> handshakeError(const HttpRequest& req, unsigned version) {
  auto refuse = [](int status, const char* why) {
    return HttpResponse{status, "application/json",
                        std::string(R"({"error":{"code":1000,"message":")") + why + "\"}}", {}};
  };
  if (req.method != "GET" || version < 11) return refuse(400, "a WebSocket upgrade is a GET over HTTP/1.1");
  if (req.header("sec-websocket-version") != "13") {
    auto r = refuse(426, "only WebSocket version 13 is spoken here");
    r.headers.emplace_back("Sec-WebSocket-Version", "13");
    return r;
  }
  const auto key = req.header("sec-websocket-key");
  // 16 random bytes in base64: 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// HTTP/1.1 keep-alive, one request at a time (pipelined ones wait in the
// buffer). Thread: its worker only.
//
// Per request on a kept-alive connection: one read (Asio tries it at once,
// then waits for readiness), the parse, the handler, one gather write of
// the head and the body's shared pieces. No timer operation: one deadline
// timer per connection wakes when the deadline it was set for passes, and
// re-arms for the current one, which each request just moves forward.
class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, HttpHandler& handler, size_t worker, const TransportLimits& limits,
              const TransportMetrics& metrics)
      : ip_(remoteIpOf(socket)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        handler_(handler),
        worker_(worker),
        limits_(limits),
        m_(metrics),
        parser_({kMaxHeadBytes, static_cast<size_t>(limits.max_body_bytes)}) {}

  void run() {
    setDeadline(kIdle);
    watch();
    readMore();
  }

 private:
  static constexpr size_t kMaxHeadBytes = 16 * 1024;
  static constexpr size_t kFirstBuffer = 4096;
  // A request (head and body) must arrive within this of the previous
  // answer (or of the connection); each write must finish within kWrite.
  static constexpr auto kIdle = std::chrono::seconds(60);
  static constexpr auto kWrite = std::chrono::seconds(30);

  void setDeadline(std::chrono::steady_clock::duration d) { deadline_ = std::chrono::steady_clock::now() + d; }

  void watch() {
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->done_) return;
      if (std::chrono::steady_clock::now() < self->deadline_) return self->watch();
      if (self->m_.http_timeouts) self->m_.http_timeouts->inc();
      self->done_ = true;
      error_code ig;
      self->socket_.close(ig);  // the pending read or write ends with an error
    });
  }

  void end() {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
  }

  void readMore() {
    if (done_) return;
    if (len_ == cap_) {
      const size_t limit = kMaxHeadBytes + 2 * static_cast<size_t>(limits_.max_body_bytes) + 64 * 1024 + 1;
      const size_t cap = std::min(limit, std::max(kFirstBuffer, cap_ * 2));
      if (cap <= cap_) return fail(413, "request too large");  // the parser refuses sooner; a guard
      auto grown = std::make_unique<char[]>(cap);
      if (len_) std::memcpy(grown.get(), buf_.get(), len_);
      buf_ = std::move(grown);
      cap_ = cap;
    }
    socket_.async_read_some(asio::buffer(buf_.get() + len_, cap_ - len_),
                            [self = shared_from_this()](error_code ec, size_t n) { self->onRead(ec, n); });
  }

  void onRead(error_code ec, size_t n) {
    if (done_) return;
    if (ec) return end();
    len_ += n;
    process();
  }

  // Acts on what is buffered: a whole request is handled, an incomplete one
  // read further, a broken one answered with its status and the connection closed.
  void process() {
    const auto st = parser_.parse(std::string_view(buf_.get(), len_));
    if (st == HttpRequestParser::Status::kError) {
      if (m_.http_errors) m_.http_errors->inc();
      return fail(parser_.errorStatus(), parser_.error());
    }
    if (st == HttpRequestParser::Status::kIncomplete) {
      // RFC 9110 10.1.1: a client that asked waits for "100 Continue" before the body.
      if (parser_.headComplete() && parser_.expectsContinue() && !continued_) {
        continued_ = true;
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                          [self = shared_from_this()](error_code e, size_t) {
                            if (e) return self->end();
                            self->readMore();
                          });
        return;
      }
      return readMore();
    }
    HttpRequest req = std::move(parser_.request());
    req.remote_ip = ip_;
    const bool keep_alive = parser_.keepAlive();
    const unsigned version = parser_.version();
    const bool upgrade = parser_.websocketUpgrade();
    // The bytes after this request: the next one (pipelined), or a WebSocket's first frames.
    const size_t used = parser_.consumed();
    len_ -= used;
    if (len_) std::memmove(buf_.get(), buf_.get() + used, len_);
    parser_.clear();
    continued_ = false;
    head_only_ = req.method == "HEAD";
    if (upgrade) return startWebSocket(std::move(req), version);
    handler_.handle(std::move(req), worker_, [self = shared_from_this(), keep_alive, version](HttpResponse r) {
      self->write(std::move(r), keep_alive, version);
    });
  }

  void startWebSocket(HttpRequest req, unsigned version) {
    if (auto refused = handshakeError(req, version)) return write(std::move(*refused), false, version);
    auto handler = handler_.upgrade(req, worker_);
    if (!handler) {
      HttpResponse r{404, "application/json", R"({"error":{"code":1000,"message":"no WebSocket endpoint here; use /ws"}})", {}};
      return write(std::move(r), false, version);
    }
    done_ = true;
    timer_.cancel();
    auto ws = std::make_shared<WsSession>(std::move(socket_), std::move(handler), limits_, m_);
    ws->run(req.header("sec-websocket-key"), std::string(buf_.get(), len_));
  }

  // A request that cannot be read on: its status, then the connection ends.
  void fail(int status, const std::string& why) {
    std::string body = R"({"error":{"code":1000,"message":")";
    for (char c : why) body += (c == '"' || c == '\\') ? ' ' : c;
    body += "\"}}";
    head_only_ = false;
    write(HttpResponse{status, "application/json", std::move(body), {}}, false, 11);
  }

  // How the body's end is known.
  enum class Framing { kLength, kChunked, kNone };

  // The status line and the fields, ending with the blank line, into head_.
  void buildHead(const HttpResponse& r, bool keep_alive, unsigned version, Framing framing, uint64_t length) {
    head_.clear();
    head_ += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    char num[24];
    head_.append(num, static_cast<size_t>(std::to_chars(num, num + sizeof num, r.status).ptr - num));
    head_ += ' ';
    head_ += httpReason(r.status);
    head_ += "\r\nServer: tutti/" TUTTI_VERSION "\r\nContent-Type: ";
    head_ += r.content_type;
    if (r.fields) head_ += *r.fields;
    for (const auto& [k, v] : r.headers) {
      head_ += "\r\n";
      head_ += k;
      head_ += ": ";
      head_ += v;
    }
    if (framing == Framing::kLength) {
      head_ += "\r\nContent-Length: ";
      head_.append(num, static_cast<size_t>(std::to_chars(num, num + sizeof num, length).ptr - num));
    } else if (framing == Framing::kChunked) {
      head_ += "\r\nTransfer-Encoding: chunked";
    }
    if (!keep_alive) head_ += "\r\nConnection: close";
    else if (version == 10) head_ += "\r\nConnection: keep-alive";
    head_ += "\r\n\r\n";
  }

  // The head and the body (or its shared pieces) in one gather write: the
  // pieces are not copied, and an answer costs one system call.
  void write(HttpResponse r, bool keep_alive, unsigned version) {
    if (done_) return;
    if (r.stream) return writeStream(std::move(r), keep_alive, version);
    // No body, nor its length, in these (RFC 9110 6.4.1).
    const bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    uint64_t length = r.body.size();
    if (!r.pieces.empty()) {
      length = 0;
      for (const auto& p : r.pieces) length += p->size();
    } else if (r.file) {
      length = r.file->size();
    }
    buildHead(r, keep_alive, version, no_body ? Framing::kNone : Framing::kLength, length);
    if (r.file && r.pieces.empty() && !no_body && !head_only_ && length > 0) {
      file_ = std::move(r.file);
      return writeFile(keep_alive);
    }
    bufs_.clear();
    bufs_.emplace_back(head_.data(), head_.size());
    if (!no_body && !head_only_) {
      if (!r.pieces.empty()) {
        pieces_ = std::move(r.pieces);
        for (const auto& p : pieces_)
          if (!p->empty()) bufs_.emplace_back(p->data(), p->size());
      } else if (!r.body.empty()) {
        body_ = std::move(r.body);
        bufs_.emplace_back(body_.data(), body_.size());
      }
    }
    setDeadline(kWrite);
    asio::async_write(socket_, std::span<const asio::const_buffer>(bufs_),
                      [self = shared_from_this(), keep_alive](error_code ec, size_t n) { self->onWritten(ec, n, keep_alive); });
  }

  // The head (MSG_MORE: it leaves with the body), then the file by
  // sendfile: its pages go to the socket without a copy from user memory.
  void writeFile(bool keep_alive) {
    setDeadline(kWrite);
    file_sent_ = 0;
    socket_.async_send(asio::buffer(head_), static_cast<asio::socket_base::message_flags>(MSG_MORE),
                       [self = shared_from_this(), keep_alive](error_code ec, size_t n) {
                         if (ec || self->done_) return self->onWritten(ec ? ec : asio::error::operation_aborted, n, keep_alive);
                         self->m_.bytes_out->inc(n);
                         if (n == self->head_.size()) return self->sendFile(keep_alive);
                         // A partial head (a full socket buffer): the rest, then the file.
                         asio::async_write(self->socket_, asio::buffer(self->head_.data() + n, self->head_.size() - n),
                                           [self, keep_alive](error_code e, size_t rest) {
                                             if (e || self->done_) return self->onWritten(e ? e : asio::error::operation_aborted, rest, keep_alive);
                                             self->m_.bytes_out->inc(rest);
                                             self->sendFile(keep_alive);
                                           });
                       });
  }

  // The socket is in non-blocking mode already (Asio sets it for its first
  // asynchronous operation, the read of the request).
  void sendFile(bool keep_alive) {
    const uint64_t size = file_->size();
    while (file_sent_ < size) {
      off_t off = static_cast<off_t>(file_sent_);
      const ssize_t n = ::sendfile(socket_.native_handle(), file_->fd(), &off, size - file_sent_);
      if (n > 0) {
        file_sent_ += static_cast<uint64_t>(n);
        m_.bytes_out->inc(static_cast<uint64_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        socket_.async_wait(tcp::socket::wait_write, [self = shared_from_this(), keep_alive](error_code ec) {
          if (ec || self->done_) return self->onWritten(ec ? ec : asio::error::operation_aborted, 0, keep_alive);
          self->sendFile(keep_alive);
        });
        return;
      }
      // An error, or the file ended early: the answer cannot be completed.
      return onWritten(n < 0 ? error_code(errno, boost::system::system_category()) : asio::error::eof, 0, keep_alive);
    }
    onWritten({}, 0, keep_alive);
  }

  void onWritten(error_code ec, size_t n, bool keep_alive) {
    m_.bytes_out->inc(n);
    // Shared media is not held longer than its write.
    file_.reset();
    pieces_.clear();
    body_.clear();
    if (body_.capacity() > 64 * 1024) std::string().swap(body_);
    if (ec || !keep_alive || done_) return end();
    next();
  }

  // The next request: one already buffered (pipelined) at once, else a read.
  void next() {
    setDeadline(kIdle);
    if (len_ > 0) return process();
    readMore();
  }

  // The head, then each piece as the stream gives it (chunked transfer
  // encoding, RFC 9112 7.1), then the last chunk. An HTTP/1.0 client knows
  // no chunks (RFC 9112 6.1): it gets the bytes as they are, and the end of
  // the connection ends the body.
  void writeStream(HttpResponse r, bool keep_alive, unsigned version) {
    const bool chunked = version >= 11;
    if (!chunked) keep_alive = false;
    buildHead(r, keep_alive, version, chunked ? Framing::kChunked : Framing::kNone, 0);
    auto body = std::move(r.stream);
    setDeadline(kWrite);
    asio::async_write(socket_, asio::buffer(head_), [self = shared_from_this(), body, keep_alive, chunked](error_code ec, size_t n) {
      self->m_.bytes_out->inc(n);
      if (ec || self->done_) return self->end();
      if (self->head_only_) return self->finishStream(keep_alive);
      self->nextPiece(body, keep_alive, chunked);
    });
  }

  void finishStream(bool keep_alive) {
    if (!keep_alive) return end();
    next();
  }

  void nextPiece(std::shared_ptr<BodyStream> body, bool keep_alive, bool chunked) {
    body->next([self = shared_from_this(), body, keep_alive, chunked](std::string piece, bool last) {
      if (self->done_) return;
      auto out = std::make_shared<std::string>();
      if (!chunked) {
        *out = std::move(piece);
        if (out->empty()) return self->end();  // the last piece empty (its end closes the body), or a broken contract
      } else {
        if (!piece.empty()) {
          char size[20];
          std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
          *out = size;
          *out += piece;
          *out += "\r\n";
        }
        if (last) *out += "0\r\n\r\n";
        if (out->empty()) return self->end();  // an empty piece that is not the last breaks the contract
      }
      self->setDeadline(kWrite);
      asio::async_write(self->socket_, asio::buffer(*out), [self, out, body, keep_alive, chunked, last](error_code ec, size_t n) {
        self->m_.bytes_out->inc(n);
        if (ec || self->done_) return self->end();
        if (!last) return self->nextPiece(body, keep_alive, chunked);
        self->finishStream(keep_alive);
      });
    });
  }

  std::string ip_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_{};
  HttpHandler& handler_;
  size_t worker_;
  TransportLimits limits_;
  TransportMetrics m_;
  HttpRequestParser parser_;
  std::unique_ptr<char[]> buf_;  // received bytes not yet taken by a request
  size_t len_ = 0;
  size_t cap_ = 0;
  std::string head_;                                   // the answer's head, while it is written
  std::string body_;                                   // its body, when not shared pieces
  std::vector<std::shared_ptr<const std::string>> pieces_;  // or its pieces
  std::shared_ptr<const SharedFile> file_;                   // or its file
  uint64_t file_sent_ = 0;
  std::vector<asio::const_buffer> bufs_;
  bool continued_ = false;  // "100 Continue" sent for this request
  bool head_only_ = false;  // a HEAD request: no body in the answer
  bool done_ = false;
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
