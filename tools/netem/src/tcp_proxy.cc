// The TCP side of the link emulator. Each accepted client gets a Connection
// with two Pumps (up: client -> target, down: target -> client). A pump reads
// from its source, asks the direction's LinkModel when each packet-sized
// segment may leave, and writes the segments that are due, one write in
// flight per socket. Everything runs on the proxy's loop thread.

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "loop.h"
#include "tutti/core/log.h"
#include "tutti/netem/proxy.h"

namespace tutti::netem {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// One read takes at most this much; small enough that a thousand
// connections cost little memory, large enough for loopback throughput.
constexpr size_t kReadBytes = 16 * 1024;
// Segments gathered into one write at most.
constexpr size_t kMaxGather = 64;

struct TcpCounters {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> bytes_up{0};
  std::atomic<uint64_t> bytes_down{0};
};

// What the connections of one proxy share. Owned by the proxy, used on its
// loop thread only (the counters are also read by stats()).
struct TcpLink {
  const Clock& clock;
  LinkModel up;
  LinkModel down;
  int64_t max_buffered_bytes;
  TcpCounters counters;
};

class ConnectionListener {
 public:
  virtual ~ConnectionListener() = default;
  virtual void onConnectionClosed(uint64_t id) = 0;
};

// One proxied TCP connection. Loop thread only. Shared ownership only for
// the lifetime of Asio operations; the proxy's map keeps it while open.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(uint64_t id, tcp::socket client, TcpLink& link, ConnectionListener& listener)
      : id_(id),
        client_(std::move(client)),
        upstream_(client_.get_executor()),
        link_(link),
        listener_(listener),
        up_(client_, upstream_, link.up, link.counters.bytes_up),
        down_(upstream_, client_, link.down, link.counters.bytes_down) {}

  void start(const std::vector<tcp::endpoint>& target) {
    auto self = shared_from_this();
    asio::async_connect(upstream_, target, [self](error_code ec, const tcp::endpoint&) {
      if (self->closed_) return;
      if (ec) {
        log::debug("netem upstream connect failed", {{"conn", std::to_string(self->id_)}, {"error", ec.message()}});
        self->abort();  // the client sees a reset, as if the target refused
        return;
      }
      // Latency is what this tool is about: no Nagle on either side.
      error_code ignored;
      self->client_.set_option(tcp::no_delay(true), ignored);
      self->upstream_.set_option(tcp::no_delay(true), ignored);
      self->read(self->up_);
      self->read(self->down_);
    });
  }

  // Resets both sides (SO_LINGER 0 then close sends RST).
  void abort() { shutdownSockets(true); }
  // Closes both sides plainly.
  void close() { shutdownSockets(false); }

 private:
  struct Segment {
    int64_t release_us;
    std::string bytes;
    bool fin;  // the source's end of stream: shut down sending to the destination
  };

  // One direction of the connection.
  struct Pump {
    Pump(tcp::socket& from_socket, tcp::socket& to_socket, LinkModel& link_model, std::atomic<uint64_t>& out)
        : from(from_socket),
          to(to_socket),
          model(link_model),
          delivered(out),
          write_timer(from_socket.get_executor()),
          stall_timer(from_socket.get_executor()) {}
    tcp::socket& from;
    tcp::socket& to;
    LinkModel& model;
    std::atomic<uint64_t>& delivered;
    StreamState stream;
    std::deque<Segment> pending;  // release times non-decreasing (StreamState)
    int64_t buffered = 0;         // data bytes in pending
    size_t writing_segments = 0;  // segments of the write in flight (0: none)
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(kReadBytes);
    asio::steady_timer write_timer;  // until the head of pending is due
    asio::steady_timer stall_timer;  // until the link's queue has room
    bool reading = false;
    bool write_timer_armed = false;
    bool stall_timer_armed = false;
    bool eof = false;       // the source has shut down its sending side
    bool fin_sent = false;  // ...and that has reached the destination
  };

  void read(Pump& p) {
    if (closed_ || p.reading || p.eof) return;
    const int64_t now = link_.clock.monoUs();
    int64_t room = std::min<int64_t>(kReadBytes, link_.max_buffered_bytes - p.buffered);
    const int64_t link_room = p.model.roomBytes(now);
    if (room <= 0) return;  // resumed when a write completes
    if (link_room <= 0) {
      // The link's queue is full: backpressure on the source until the head
      // of the queue departs (it may belong to another connection).
      auto at = p.model.nextDepartureUs(now);
      if (at && !p.stall_timer_armed) {
        p.stall_timer_armed = true;
        p.stall_timer.expires_at(deadlineFor(*at, now));
        p.stall_timer.async_wait([self = shared_from_this(), &p](error_code ec) {
          p.stall_timer_armed = false;
          if (!ec) self->read(p);
        });
      }
      return;
    }
    room = std::min(room, link_room);
    p.reading = true;
    p.from.async_read_some(asio::buffer(p.buf.get(), static_cast<size_t>(room)),
                           [self = shared_from_this(), &p](error_code ec, size_t n) { self->onRead(p, ec, n); });
  }

  void onRead(Pump& p, error_code ec, size_t n) {
    p.reading = false;
    if (closed_) return;
    const int64_t now = link_.clock.monoUs();
    if (ec == asio::error::eof) {
      // Half-close travels the link like data: after every byte before it.
      p.eof = true;
      p.pending.push_back({p.model.sendStream(now, 0, p.stream), {}, true});
      write(p);
      return;
    }
    if (ec) {
      // A reset or error on one side resets the other: errors propagate.
      log::debug("netem read failed", {{"conn", std::to_string(id_)}, {"error", ec.message()}});
      abort();
      return;
    }
    // Packet-sized segments, so a rate limit lets data trickle through as
    // packets would instead of releasing a whole read at once.
    for (size_t off = 0; off < n; off += kPacketBytes) {
      const size_t len = std::min<size_t>(kPacketBytes, n - off);
      p.pending.push_back({p.model.sendStream(now, static_cast<int64_t>(len), p.stream),
                           std::string(p.buf.get() + off, len), false});
    }
    p.buffered += static_cast<int64_t>(n);
    write(p);
    read(p);
  }

  void write(Pump& p) {
    if (closed_ || p.writing_segments > 0 || p.fin_sent || p.pending.empty()) return;
    const int64_t now = link_.clock.monoUs();
    const Segment& head = p.pending.front();
    if (head.release_us > now) {
      if (!p.write_timer_armed) {
        p.write_timer_armed = true;
        p.write_timer.expires_at(deadlineFor(head.release_us, now));
        p.write_timer.async_wait([self = shared_from_this(), &p](error_code ec) {
          p.write_timer_armed = false;
          if (!ec) self->write(p);
        });
      }
      return;
    }
    if (head.fin) {
      p.pending.pop_front();
      p.fin_sent = true;
      error_code ignored;
      p.to.shutdown(tcp::socket::shutdown_send, ignored);
      if (up_.fin_sent && down_.fin_sent) close();  // both sides done: a clean end
      return;
    }
    std::vector<asio::const_buffer> buffers;
    for (const Segment& s : p.pending) {
      if (s.fin || s.release_us > now || buffers.size() == kMaxGather) break;
      buffers.push_back(asio::buffer(s.bytes));
    }
    p.writing_segments = buffers.size();
    // The deque's elements stay put while more are appended at the back.
    asio::async_write(p.to, buffers,
                      [self = shared_from_this(), &p](error_code ec, size_t n) { self->onWritten(p, ec, n); });
  }

  void onWritten(Pump& p, error_code ec, size_t n) {
    const size_t done = p.writing_segments;
    p.writing_segments = 0;
    if (closed_) return;
    if (ec) {
      log::debug("netem write failed", {{"conn", std::to_string(id_)}, {"error", ec.message()}});
      abort();
      return;
    }
    for (size_t i = 0; i < done; ++i) p.pending.pop_front();
    p.buffered -= static_cast<int64_t>(n);
    p.delivered.fetch_add(n, std::memory_order_relaxed);
    write(p);
    read(p);
  }

  void shutdownSockets(bool reset) {
    if (closed_) return;
    closed_ = true;
    auto self = shared_from_this();  // the listener may drop the last owner
    error_code ignored;
    for (tcp::socket* s : {&client_, &upstream_}) {
      if (!s->is_open()) continue;
      if (reset) s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
    for (Pump* p : {&up_, &down_}) {
      p->write_timer.cancel();
      p->stall_timer.cancel();
    }
    listener_.onConnectionClosed(id_);
  }

  const uint64_t id_;
  tcp::socket client_;
  tcp::socket upstream_;
  TcpLink& link_;
  ConnectionListener& listener_;
  Pump up_;
  Pump down_;
  bool closed_ = false;
};

class TcpProxy final : public Proxy, public ConnectionListener {
 public:
  TcpProxy(ProxyConfig config, const Clock& clock)
      : config_(std::move(config)),
        acceptor_(loop_.context()),
        retry_timer_(loop_.context()),
        link_{clock, LinkModel(config_.up, config_.seed, clock.monoUs()),
              LinkModel(config_.down, config_.seed ^ 0x5deece66dULL, clock.monoUs()), config_.max_buffered_bytes,
              {}} {}

  ~TcpProxy() override { stop(); }

  // Resolves, binds and starts the loop. Calling thread, before anything else.
  Result<void> open() {
    auto target = resolve<tcp>(loop_.context(), config_.target_host, config_.target_port);
    if (!target) return target.error();
    target_ = std::move(*target);
    auto listen = resolve<tcp>(loop_.context(), config_.listen_host, config_.listen_port);
    if (!listen) return listen.error();
    const tcp::endpoint ep = listen->front();
    error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return makeError(code::kInternal, "cannot listen on " + config_.listen_host + ":" +
                                            std::to_string(config_.listen_port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    accept();
    loop_.start();
    return {};
  }

  uint16_t port() const override { return port_; }

  void reconfigure(const LinkConfig& up, const LinkConfig& down) override {
    std::lock_guard lock(control_mu_);
    if (stopped_) return;
    loop_.call([&] {
      const int64_t now = link_.clock.monoUs();
      link_.up.reconfigure(up, now);
      link_.down.reconfigure(down, now);
    });
  }

  void cut() override {
    std::lock_guard lock(control_mu_);
    if (stopped_) return;
    loop_.call([&] {
      for (auto& c : snapshot()) c->abort();
      log::info("netem cut", {});
    });
  }

  ProxyStats stats() const override {
    ProxyStats s;
    s.connections = link_.counters.connections.load(std::memory_order_relaxed);
    s.open_connections = link_.counters.open.load(std::memory_order_relaxed);
    s.bytes_up = link_.counters.bytes_up.load(std::memory_order_relaxed);
    s.bytes_down = link_.counters.bytes_down.load(std::memory_order_relaxed);
    return s;
  }

  void stop() override {
    std::lock_guard lock(control_mu_);
    if (stopped_) return;
    stopped_ = true;
    loop_.call([&] {
      stopping_ = true;
      error_code ignored;
      acceptor_.close(ignored);
      retry_timer_.cancel();
      for (auto& c : snapshot()) c->close();
    });
    // Every socket is closed and every timer cancelled: the loop runs out of
    // work once their handlers have run.
    loop_.join();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      if (stopping_ || ec == asio::error::operation_aborted) return;
      if (ec) {
        // E.g. out of file descriptors: back off instead of spinning.
        log::warn("netem accept failed", {{"error", ec.message()}});
        retry_timer_.expires_after(std::chrono::milliseconds(100));
        retry_timer_.async_wait([this](error_code e) {
          if (!e && !stopping_) accept();
        });
        return;
      }
      const uint64_t id = next_id_++;
      auto c = std::make_shared<Connection>(id, std::move(socket), link_, *this);
      connections_.emplace(id, c);
      link_.counters.connections.fetch_add(1, std::memory_order_relaxed);
      link_.counters.open.store(connections_.size(), std::memory_order_relaxed);
      c->start(target_);
      accept();
    });
  }

  void onConnectionClosed(uint64_t id) override {
    connections_.erase(id);
    link_.counters.open.store(connections_.size(), std::memory_order_relaxed);
  }

  // Closing a connection removes it from the map: iterate over a copy.
  std::vector<std::shared_ptr<Connection>> snapshot() const {
    std::vector<std::shared_ptr<Connection>> out;
    out.reserve(connections_.size());
    for (const auto& [id, c] : connections_) out.push_back(c);
    return out;
  }

  const ProxyConfig config_;
  Loop loop_;  // before everything that uses its io_context: destroyed last
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  TcpLink link_;
  std::vector<tcp::endpoint> target_;
  uint16_t port_ = 0;
  // Loop thread only.
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  // Serialises the public control methods.
  std::mutex control_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Proxy>> Proxy::startTcp(ProxyConfig config, const Clock& clock) {
  auto proxy = std::make_unique<TcpProxy>(std::move(config), clock);
  auto opened = proxy->open();
  if (!opened) return opened.error();
  return std::unique_ptr<Proxy>(std::move(proxy));
}

}  // namespace tutti::netem
