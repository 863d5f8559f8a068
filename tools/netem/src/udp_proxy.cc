// The UDP side of the link emulator. The listen socket receives from clients
// and sends back to them; each client (by address) gets its own upstream
// socket connected to the target, so the target's replies map back to it.
// Datagrams wait in one time-ordered queue with one timer. Everything runs on
// the proxy's loop thread.

#include <atomic>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <mutex>
#include <queue>
#include <vector>

#include "loop.h"
#include "tutti/core/log.h"
#include "tutti/netem/proxy.h"

namespace tutti::netem {

namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using boost::system::error_code;

// The largest UDP payload.
constexpr size_t kMaxDatagram = 65536;

class UdpProxy final : public Proxy {
 public:
  UdpProxy(ProxyConfig config, const Clock& clock)
      : config_(std::move(config)),
        clock_(clock),
        listen_(loop_.context()),
        release_timer_(loop_.context()),
        sweep_timer_(loop_.context()),
        up_(config_.up, config_.seed, clock.monoUs()),
        down_(config_.down, config_.seed ^ 0x5deece66dULL, clock.monoUs()) {}

  ~UdpProxy() override { stop(); }

  Result<void> open() {
    auto target = resolve<udp>(loop_.context(), config_.target_host, config_.target_port);
    if (!target) return target.error();
    target_ = target->front();
    auto listen = resolve<udp>(loop_.context(), config_.listen_host, config_.listen_port);
    if (!listen) return listen.error();
    const udp::endpoint ep = listen->front();
    error_code ec;
    listen_.open(ep.protocol(), ec);
    if (!ec) listen_.bind(ep, ec);
    // Sends happen on the loop thread and must never block it: a full socket
    // buffer drops the datagram, as a full NIC queue would.
    if (!ec) listen_.non_blocking(true, ec);
    if (ec) {
      return makeError(code::kInternal, "cannot listen on " + config_.listen_host + ":" +
                                            std::to_string(config_.listen_port) + " (udp): " + ec.message());
    }
    port_ = listen_.local_endpoint().port();
    receiveFromClients();
    armSweep();
    loop_.start();
    return {};
  }

  uint16_t port() const override { return port_; }

  void reconfigure(const LinkConfig& up, const LinkConfig& down) override {
    std::lock_guard lock(control_mu_);
    if (stopped_) return;
    loop_.call([&] {
      const int64_t now = clock_.monoUs();
      up_.reconfigure(up, now);
      down_.reconfigure(down, now);
    });
  }

  void cut() override {
    std::lock_guard lock(control_mu_);
    if (stopped_) return;
    loop_.call([&] {
      pending_ = {};
      for (auto& [ep, s] : sessions_) s->close();
      sessions_.clear();
      open_.store(0, std::memory_order_relaxed);
      log::info("netem cut", {});
    });
  }

  ProxyStats stats() const override {
    ProxyStats s;
    s.connections = clients_.load(std::memory_order_relaxed);
    s.open_connections = open_.load(std::memory_order_relaxed);
    s.bytes_up = bytes_up_.load(std::memory_order_relaxed);
    s.bytes_down = bytes_down_.load(std::memory_order_relaxed);
    s.datagrams_up = datagrams_up_.load(std::memory_order_relaxed);
    s.datagrams_down = datagrams_down_.load(std::memory_order_relaxed);
    s.lost = lost_.load(std::memory_order_relaxed);
    s.queue_drops = queue_drops_.load(std::memory_order_relaxed);
    s.reordered = reordered_.load(std::memory_order_relaxed);
    s.duplicated = duplicated_.load(std::memory_order_relaxed);
    return s;
  }

  void stop() override {
    std::lock_guard lock(control_mu_);
    if (stopped_) return;
    stopped_ = true;
    loop_.call([&] {
      stopping_ = true;
      error_code ignored;
      listen_.close(ignored);
      release_timer_.cancel();
      sweep_timer_.cancel();
      pending_ = {};
      for (auto& [ep, s] : sessions_) s->close();
      sessions_.clear();
    });
    loop_.join();
  }

 private:
  // One client: its address and the socket that talks to the target for it.
  // Shared with the receive operation and the datagrams queued for it.
  struct Session {
    Session(asio::io_context& ioc, udp::endpoint c) : client(std::move(c)), upstream(ioc) {}
    void close() {
      closed = true;
      error_code ignored;
      upstream.close(ignored);
    }
    udp::endpoint client;
    udp::socket upstream;
    int64_t last_active_us = 0;
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(kMaxDatagram);
    bool closed = false;
  };

  struct Queued {
    int64_t release_us;
    uint64_t seq;  // ties keep arrival order
    bool up;
    std::shared_ptr<Session> session;
    std::string payload;
  };
  struct Later {
    bool operator()(const Queued& a, const Queued& b) const {
      return a.release_us != b.release_us ? a.release_us > b.release_us : a.seq > b.seq;
    }
  };

  void receiveFromClients() {
    listen_.async_receive_from(asio::buffer(listen_buf_.get(), kMaxDatagram), sender_,
                               [this](error_code ec, size_t n) {
                                 if (stopping_ || ec == asio::error::operation_aborted) return;
                                 if (!ec) onClientDatagram(n);
                                 // Other errors (e.g. ICMP port unreachable reported
                                 // on the socket) concern one datagram: go on.
                                 receiveFromClients();
                               });
  }

  void onClientDatagram(size_t n) {
    const int64_t now = clock_.monoUs();
    auto session = sessionFor(sender_, now);
    if (!session) {
      queue_drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    session->last_active_us = now;
    admit(true, session, std::string(listen_buf_.get(), n), now);
  }

  std::shared_ptr<Session> sessionFor(const udp::endpoint& client, int64_t now) {
    auto it = sessions_.find(client);
    if (it != sessions_.end()) return it->second;
    if (static_cast<int64_t>(sessions_.size()) >= config_.udp_max_clients) return nullptr;
    auto s = std::make_shared<Session>(loop_.context(), client);
    error_code ec;
    s->upstream.open(target_.protocol(), ec);
    if (!ec) s->upstream.connect(target_, ec);
    if (!ec) s->upstream.non_blocking(true, ec);
    if (ec) {
      log::warn("netem udp upstream socket failed", {{"error", ec.message()}});
      return nullptr;
    }
    s->last_active_us = now;
    sessions_.emplace(client, s);
    clients_.fetch_add(1, std::memory_order_relaxed);
    open_.store(sessions_.size(), std::memory_order_relaxed);
    receiveFromTarget(s);
    return s;
  }

  void receiveFromTarget(const std::shared_ptr<Session>& s) {
    s->upstream.async_receive(asio::buffer(s->buf.get(), kMaxDatagram), [this, s](error_code ec, size_t n) {
      if (stopping_ || s->closed || ec == asio::error::operation_aborted) return;
      if (!ec) {
        const int64_t now = clock_.monoUs();
        s->last_active_us = now;
        admit(false, s, std::string(s->buf.get(), n), now);
      }
      // Connection refused (nobody at the target yet) and the like: go on.
      receiveFromTarget(s);
    });
  }

  void admit(bool up, const std::shared_ptr<Session>& s, std::string payload, int64_t now) {
    LinkModel& model = up ? up_ : down_;
    const DatagramVerdict v = model.sendDatagram(now, static_cast<int64_t>(payload.size()));
    switch (v.fate) {
      case DatagramVerdict::Fate::kLost:
        lost_.fetch_add(1, std::memory_order_relaxed);
        return;
      case DatagramVerdict::Fate::kQueueFull:
        queue_drops_.fetch_add(1, std::memory_order_relaxed);
        return;
      case DatagramVerdict::Fate::kDeliver:
        break;
    }
    if (v.reordered) reordered_.fetch_add(1, std::memory_order_relaxed);
    if (v.duplicated) {
      duplicated_.fetch_add(1, std::memory_order_relaxed);
      pending_.push({v.release_us, next_seq_++, up, s, payload});
    }
    pending_.push({v.release_us, next_seq_++, up, s, std::move(payload)});
    armRelease();
  }

  void armRelease() {
    if (pending_.empty()) return;
    const int64_t at = pending_.top().release_us;
    if (at >= armed_at_us_) return;  // the timer already fires early enough
    armed_at_us_ = at;
    // Re-arming cancels the previous wait; its handler sees operation_aborted.
    release_timer_.expires_at(deadlineFor(at, clock_.monoUs()));
    release_timer_.async_wait([this](error_code ec) {
      if (ec || stopping_) return;
      armed_at_us_ = INT64_MAX;
      releaseDue();
    });
  }

  void releaseDue() {
    const int64_t now = clock_.monoUs();
    while (!pending_.empty() && pending_.top().release_us <= now) {
      const Queued& q = pending_.top();
      if (!q.session->closed) send(q);
      pending_.pop();
    }
    armRelease();
  }

  void send(const Queued& q) {
    error_code ec;
    if (q.up) {
      q.session->upstream.send(asio::buffer(q.payload), 0, ec);
    } else {
      listen_.send_to(asio::buffer(q.payload), q.session->client, 0, ec);
    }
    if (ec) {
      queue_drops_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    (q.up ? bytes_up_ : bytes_down_).fetch_add(q.payload.size(), std::memory_order_relaxed);
    (q.up ? datagrams_up_ : datagrams_down_).fetch_add(1, std::memory_order_relaxed);
  }

  // Forgets clients that have been silent for udp_idle_timeout_ms.
  void armSweep() {
    const int64_t period_ms = std::clamp<int64_t>(config_.udp_idle_timeout_ms / 4, 10, 1000);
    sweep_timer_.expires_after(std::chrono::milliseconds(period_ms));
    sweep_timer_.async_wait([this](error_code ec) {
      if (ec || stopping_) return;
      const int64_t now = clock_.monoUs();
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (now - it->second->last_active_us > config_.udp_idle_timeout_ms * 1000) {
          it->second->close();
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
      open_.store(sessions_.size(), std::memory_order_relaxed);
      armSweep();
    });
  }

  const ProxyConfig config_;
  const Clock& clock_;
  Loop loop_;  // before everything that uses its io_context: destroyed last
  udp::socket listen_;
  asio::steady_timer release_timer_;
  asio::steady_timer sweep_timer_;
  udp::endpoint target_;
  uint16_t port_ = 0;

  // Loop thread only.
  LinkModel up_;
  LinkModel down_;
  std::unique_ptr<char[]> listen_buf_ = std::make_unique<char[]>(kMaxDatagram);
  udp::endpoint sender_;
  std::map<udp::endpoint, std::shared_ptr<Session>> sessions_;
  std::priority_queue<Queued, std::vector<Queued>, Later> pending_;
  uint64_t next_seq_ = 0;
  int64_t armed_at_us_ = INT64_MAX;
  bool stopping_ = false;

  std::atomic<uint64_t> clients_{0}, open_{0}, bytes_up_{0}, bytes_down_{0}, datagrams_up_{0},
      datagrams_down_{0}, lost_{0}, queue_drops_{0}, reordered_{0}, duplicated_{0};

  // Serialises the public control methods.
  std::mutex control_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Proxy>> Proxy::startUdp(ProxyConfig config, const Clock& clock) {
  auto proxy = std::make_unique<UdpProxy>(std::move(config), clock);
  auto opened = proxy->open();
  if (!opened) return opened.error();
  return std::unique_ptr<Proxy>(std::move(proxy));
}

}  // namespace tutti::netem
