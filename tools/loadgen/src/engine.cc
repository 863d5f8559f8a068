// The only translation unit of the load generator with Asio.
#include "tutti/loadgen/engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "tutti/net/ws_frame.h"

namespace tutti::loadgen {

using net::appendClientFrame;
using net::upgradeRequest;
using net::WsOpcode;
using net::WsParser;

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// A publisher stops adding to its socket's queue above this: the server is
// not reading (saturated), and the step reports it.
constexpr size_t kMaxPublisherQueue = 4u << 20;
// Tutti refuses frames with more than max_batch (100) commands.
constexpr size_t kTuttiMaxBatch = 100;
constexpr size_t kMaxFramePayload = 60000;
constexpr auto kPacePeriod = std::chrono::milliseconds(1);

template <typename T>
T runOn(asio::io_context& ioc, std::function<T()> f) {
  std::promise<T> p;
  auto fut = p.get_future();
  asio::post(ioc, [&] {
    if constexpr (std::is_void_v<T>) {
      f();
      p.set_value();
    } else {
      p.set_value(f());
    }
  });
  return fut.get();
}

}  // namespace

struct Thread;

struct Conn : std::enable_shared_from_this<Conn> {
  enum class State { kConnecting, kUpgrading, kOpening, kReady, kClosed };

  Conn(Thread& t, Protocol p, uint32_t room, bool subscribe, bool publisher)
      : thread(t), sock(ioc()), reader(p), protocol(p), room(room), subscribe(subscribe), publisher(publisher) {}
  asio::io_context& ioc();

  Thread& thread;
  tcp::socket sock;
  WsParser ws;
  Reader reader;
  Protocol protocol;
  uint32_t room;
  bool subscribe;
  bool publisher;
  State state = State::kConnecting;
  std::string http;  // the upgrade response while it arrives
  std::string out, out_next;
  bool writing = false;
  uint32_t mask = 0x5a1e7c3d;
  // Subscriber, per step: deliveries, and the next sequence expected.
  uint64_t received = 0;
  uint64_t next_seq = 0;
  // Publisher.
  uint64_t seq = 0;
  uint64_t published = 0;
  std::function<void(bool ok, const std::string& why)> on_ready;

  void start(const tcp::endpoint& server, const std::string& source, const std::string& host);
  void send(std::string_view ws_payload, WsOpcode op);
  void flush();
  void waitRead();
  void onReadable();
  void onMessage(WsOpcode op, std::string_view payload);
  void ready(bool ok, const std::string& why);
  void close();
  size_t queued() const { return out.size() + out_next.size(); }
};

struct Thread {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(ioc)};
  std::thread th;
  std::vector<char> rbuf = std::vector<char>(256 * 1024);
  std::vector<std::shared_ptr<Conn>> conns;
  std::vector<std::shared_ptr<Conn>> publishers;
  size_t body_bytes = 100;
  // Step counters (this thread only), and what the engine may read live.
  Histogram hist;
  uint64_t delivered = 0, reordered = 0, disconnected = 0;
  int64_t last_delivery_ns = 0;
  std::atomic<uint64_t> delivered_live{0};
  // Pacing.
  asio::steady_timer pace{ioc};
  double per_room_per_s = 0;
  int64_t pace_start_ns = 0, pace_end_ns = 0;
  bool throttled = false;
  std::string batch, body;

  void paceTick();
};

asio::io_context& Conn::ioc() { return thread.ioc; }

void Conn::start(const tcp::endpoint& server, const std::string& source, const std::string& host) {
  boost::system::error_code ec;
  sock.open(server.protocol(), ec);
  if (!ec && !source.empty()) sock.bind(tcp::endpoint(asio::ip::make_address(source, ec), 0), ec);
  if (ec) return ready(false, "socket: " + ec.message());
  sock.async_connect(server, [self = shared_from_this(), host](boost::system::error_code ec) {
    if (ec) return self->ready(false, "connect: " + ec.message());
    self->sock.set_option(tcp::no_delay(true), ec);
    self->sock.non_blocking(true, ec);
    self->state = State::kUpgrading;
    const std::string req = upgradeRequest(host, targetFor(self->protocol, self->room));
    self->out_next += req;
    self->flush();
    self->waitRead();
  });
}

void Conn::send(std::string_view payload, WsOpcode op) {
  appendClientFrame(out_next, op, payload, mask);
  mask = mask * 1664525u + 1013904223u;
  flush();
}

void Conn::flush() {
  if (writing || out_next.empty() || state == State::kClosed) return;
  out.swap(out_next);
  out_next.clear();
  writing = true;
  asio::async_write(sock, asio::buffer(out), [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->writing = false;
    self->out.clear();
    if (ec) return self->close();
    self->flush();
  });
}

void Conn::waitRead() {
  sock.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->state == State::kClosed) return self->close();
    self->onReadable();
  });
}

void Conn::onReadable() {
  auto& buf = thread.rbuf;
  for (;;) {
    boost::system::error_code ec;
    const size_t n = sock.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) break;
    if (ec) return close();
    char* data = buf.data();
    size_t len = n;
    if (state == State::kUpgrading) {
      http.append(data, len);
      const size_t end = http.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (http.size() > 16384) return ready(false, "no HTTP response end");
        continue;
      }
      if (!http.starts_with("HTTP/1.1 101")) return ready(false, "upgrade refused: " + http.substr(0, http.find("\r\n")));
      std::string rest = http.substr(end + 4);
      http.clear();
      http.shrink_to_fit();
      state = State::kOpening;
      const std::string open = openPayload(protocol, room, subscribe);
      if (!open.empty()) send(open, protocol == Protocol::kNats ? WsOpcode::kBinary : WsOpcode::kText);
      if (protocol == Protocol::kPlain) ready(true, {});
      if (!rest.empty() && !ws.feed(rest.data(), rest.size(), [this](WsOpcode op, std::string_view p) { onMessage(op, p); }))
        return close();
      continue;
    }
    if (!ws.feed(data, len, [this](WsOpcode op, std::string_view p) { onMessage(op, p); })) return close();
    if (n < buf.size()) break;  // drained (a full buffer may mean more is waiting)
  }
  thread.delivered_live.store(thread.delivered, std::memory_order_relaxed);
  if (state != State::kClosed) waitRead();
}

void Conn::onMessage(WsOpcode op, std::string_view payload) {
  if (op == WsOpcode::kPing) {
    send(payload, WsOpcode::kPong);
    return;
  }
  if (op == WsOpcode::kClose) return close();
  if (op != WsOpcode::kText && op != WsOpcode::kBinary) return;
  if (state == State::kOpening) {
    // Ready: Tutti's reply to the last command of the open payload; NATS's
    // PONG to its closing PING. An error reply fails the connection.
    if (protocol == Protocol::kTutti) {
      const std::string ok_id = subscribe ? "{\"id\":2,\"result\"" : "{\"id\":1,\"result\"";
      if (payload.find(ok_id) != std::string_view::npos) {
        ready(true, {});
      } else if (payload.find("\"error\"") != std::string_view::npos) {
        return ready(false, std::string(payload.substr(0, 200)));
      }
    } else if (protocol == Protocol::kNats && payload.find("PONG\r\n") != std::string_view::npos) {
      ready(true, {});
    }
  }
  const int64_t now = nowNs();
  reader.feed(
      payload,
      [&](const Body& b) {
        ++received;
        ++thread.delivered;
        thread.last_delivery_ns = now;
        thread.hist.record(now - b.send_ns);
        if (b.seq < next_seq) {
          ++thread.reordered;
        } else {
          next_seq = b.seq + 1;
        }
      },
      [&](std::string_view reply) { send(reply, WsOpcode::kBinary); });
}

void Conn::ready(bool ok, const std::string& why) {
  if (ok) state = State::kReady;
  if (on_ready) {
    auto f = std::move(on_ready);
    on_ready = nullptr;
    f(ok, why);
  }
  if (!ok) close();
}

void Conn::close() {
  if (state == State::kClosed) return;
  const bool was_ready = state == State::kReady;
  state = State::kClosed;
  boost::system::error_code ec;
  sock.close(ec);
  if (was_ready && subscribe) ++thread.disconnected;
  if (on_ready) ready(false, "closed");
}

void Thread::paceTick() {
  const int64_t now = nowNs();
  if (now >= pace_end_ns) return;
  const double elapsed_s = static_cast<double>(now - pace_start_ns) / 1e9;
  const auto due = static_cast<uint64_t>(per_room_per_s * elapsed_s);
  for (auto& c : publishers) {
    if (c->state != Conn::State::kReady) continue;
    while (c->published < due) {
      if (c->queued() > kMaxPublisherQueue) {
        throttled = true;
        break;
      }
      batch.clear();
      size_t in_batch = 0;
      while (c->published < due) {
        body.clear();
        appendBody(body, Body{c->room, c->seq, nowNs()}, body_bytes);
        appendPublish(c->protocol, batch, c->room, body);
        ++c->seq;
        ++c->published;
        ++in_batch;
        if (!batchesPublishes(c->protocol) || batch.size() > kMaxFramePayload ||
            (c->protocol == Protocol::kTutti && in_batch >= kTuttiMaxBatch))
          break;
      }
      c->send(batch, c->protocol == Protocol::kNats ? WsOpcode::kBinary : WsOpcode::kText);
    }
  }
  pace.expires_after(kPacePeriod);
  pace.async_wait([this](boost::system::error_code ec) {
    if (!ec) paceTick();
  });
}

class Engine::Impl {
 public:
  explicit Impl(EngineOptions o) : opts_(std::move(o)) {
    boost::system::error_code ec;
    server_ = tcp::endpoint(asio::ip::make_address(opts_.host, ec), opts_.port);
    for (int i = 0; i < std::max(1, opts_.threads); ++i) {
      threads_.push_back(std::make_unique<Thread>());
      auto* t = threads_.back().get();
      t->body_bytes = opts_.body_bytes;
      t->th = std::thread([t] { t->ioc.run(); });
    }
  }

  ~Impl() {
    for (auto& t : threads_) {
      asio::post(t->ioc, [t = t.get()] {
        t->pace.cancel();
        for (auto& c : t->conns) c->close();
        t->conns.clear();
        t->publishers.clear();
      });
      t->work.reset();
    }
    for (auto& t : threads_) t->th.join();
  }

  // Opens connections in waves of connect_concurrency; every `make` call
  // returns (room, subscribe, publisher) for the i-th connection.
  Result<double> open(int n, const std::function<std::tuple<uint32_t, bool, bool>(int)>& make, int64_t timeout_ms) {
    const auto t0 = SteadyClock::now();
    const auto deadline = t0 + std::chrono::milliseconds(timeout_ms);
    // Shared with the callbacks, which may run after a timeout returned.
    struct Progress {
      std::mutex mu;
      std::condition_variable cv;
      int done = 0, failed = 0;
      std::string why;
    };
    auto pr = std::make_shared<Progress>();
    for (int base = 0; base < n; base += opts_.connect_concurrency) {
      const int wave_end = std::min(n, base + opts_.connect_concurrency);
      for (int i = base; i < wave_end; ++i) {
        auto [room, subscribe, publisher] = make(i);
        Thread& t = *threads_[next_thread_++ % threads_.size()];
        const std::string source = opts_.sources.empty() ? "" : opts_.sources[static_cast<size_t>(i) % opts_.sources.size()];
        asio::post(t.ioc, [this, pr, &t, room = room, subscribe = subscribe, publisher = publisher, source] {
          auto c = std::make_shared<Conn>(t, opts_.protocol, room, subscribe, publisher);
          c->on_ready = [pr](bool ok, const std::string& w) {
            std::lock_guard lock(pr->mu);
            ++pr->done;
            if (!ok) {
              ++pr->failed;
              pr->why = w;
            }
            pr->cv.notify_all();
          };
          t.conns.push_back(c);
          if (publisher) t.publishers.push_back(c);
          c->start(server_, source, opts_.host + ":" + std::to_string(opts_.port));
        });
      }
      std::unique_lock lock(pr->mu);
      if (!pr->cv.wait_until(lock, deadline, [&] { return pr->done >= wave_end; }))
        return makeError(1, std::to_string(pr->done - pr->failed) + " of " + std::to_string(n) +
                                " connections ready in time");
      if (pr->failed > 0) return makeError(2, std::to_string(pr->failed) + " connections failed: " + pr->why);
    }
    return std::chrono::duration<double>(SteadyClock::now() - t0).count();
  }

  StepResult step(double per_room_per_s, double seconds, int64_t drain_ms, int server_pid) {
    StepResult r;
    for (auto& t : threads_) {
      runOn<void>(t->ioc, [t = t.get()] {
        t->hist.clear();
        t->delivered = t->reordered = t->disconnected = 0;
        t->delivered_live = 0;
        t->last_delivery_ns = 0;
        t->throttled = false;
        for (auto& c : t->conns) c->received = 0;
        for (auto& c : t->publishers) c->published = 0;
      });
    }
    const double cpu0 = selfCpuSeconds();
    const double scpu0 = server_pid > 0 ? processCpuSeconds(server_pid) : 0;
    const int64_t start = nowNs();
    const int64_t end = start + static_cast<int64_t>(seconds * 1e9);
    for (auto& t : threads_) {
      asio::post(t->ioc, [t = t.get(), per_room_per_s, start, end] {
        t->per_room_per_s = per_room_per_s;
        t->pace_start_ns = start;
        t->pace_end_ns = end;
        t->paceTick();
      });
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(end - start));
    // Drain: until deliveries stop for 300 ms (or drain_ms passes).
    uint64_t last = 0;
    auto quiet_since = SteadyClock::now();
    const auto drain_end = SteadyClock::now() + std::chrono::milliseconds(drain_ms);
    while (SteadyClock::now() < drain_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      uint64_t total = 0;
      for (auto& t : threads_) total += t->delivered_live.load(std::memory_order_relaxed);
      if (total != last) {
        last = total;
        quiet_since = SteadyClock::now();
      } else if (SteadyClock::now() - quiet_since > std::chrono::milliseconds(300)) {
        break;
      }
    }
    // Gather.
    std::vector<uint64_t> published_by_room;
    Histogram hist;
    int64_t last_delivery = start;
    for (auto& t : threads_) {
      runOn<void>(t->ioc, [&, t = t.get()] {
        hist.merge(t->hist);
        r.delivered += t->delivered;
        r.reordered += t->reordered;
        r.disconnected += t->disconnected;
        r.publisher_throttled = r.publisher_throttled || t->throttled;
        last_delivery = std::max(last_delivery, t->last_delivery_ns);
        for (auto& c : t->publishers) {
          if (published_by_room.size() <= c->room) published_by_room.resize(c->room + 1, 0);
          published_by_room[c->room] += c->published;
          r.published += c->published;
        }
        for (auto& c : t->conns) {
          r.server_errors += c->reader.serverErrors();
          if (!c->reader.lastError().empty()) r.last_error = c->reader.lastError();
        }
      });
    }
    for (auto& t : threads_) {
      runOn<void>(t->ioc, [&, t = t.get()] {
        for (auto& c : t->conns)
          if (c->subscribe && c->room < published_by_room.size()) r.expected += published_by_room[c->room];
      });
    }
    r.lost = r.expected > r.delivered ? r.expected - r.delivered : 0;
    r.gen_cpu_s = selfCpuSeconds() - cpu0;
    if (server_pid > 0) r.server_cpu_s = processCpuSeconds(server_pid) - scpu0;
    r.seconds = static_cast<double>(std::max(last_delivery, end) - start) / 1e9;
    r.asked_deliveries_per_s = per_room_per_s * static_cast<double>(subscribersWithPublisher());
    r.published_per_s = static_cast<double>(r.published) / seconds;
    r.deliveries_per_s = static_cast<double>(r.delivered) / r.seconds;
    r.p50_ns = hist.percentile(50);
    r.p90_ns = hist.percentile(90);
    r.p99_ns = hist.percentile(99);
    r.p999_ns = hist.percentile(99.9);
    r.max_ns = hist.max();
    return r;
  }

  int subscribersWithPublisher() {
    int n = 0;
    std::vector<bool> has_pub;
    for (auto& t : threads_)
      runOn<void>(t->ioc, [&, t = t.get()] {
        for (auto& c : t->publishers) {
          if (has_pub.size() <= c->room) has_pub.resize(c->room + 1, false);
          has_pub[c->room] = true;
        }
      });
    for (auto& t : threads_)
      runOn<void>(t->ioc, [&, t = t.get()] {
        for (auto& c : t->conns)
          if (c->subscribe && c->room < has_pub.size() && has_pub[c->room]) ++n;
      });
    return n;
  }

  size_t connections() {
    size_t n = 0;
    for (auto& t : threads_) n += runOn<size_t>(t->ioc, [t = t.get()] { return t->conns.size(); });
    return n;
  }

  EngineOptions opts_;
  tcp::endpoint server_;
  std::vector<std::unique_ptr<Thread>> threads_;
  size_t next_thread_ = 0;
};

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Engine::~Engine() = default;

Result<void> Engine::addRoom(uint32_t room, int subscribers, bool publisher, int64_t timeout_ms) {
  auto r = impl_->open(
      subscribers + (publisher ? 1 : 0),
      [&](int i) { return std::make_tuple(room, i < subscribers, i >= subscribers); }, timeout_ms);
  if (!r) return r.error();
  return {};
}

Result<double> Engine::addIdle(int n, bool subscribe, int64_t timeout_ms) {
  return impl_->open(n, [&](int) { return std::make_tuple(uint32_t{0}, subscribe, false); }, timeout_ms);
}

StepResult Engine::step(double per_room_per_s, double seconds, int64_t drain_ms, int server_pid) {
  return impl_->step(per_room_per_s, seconds, drain_ms, server_pid);
}

size_t Engine::connections() const { return impl_->connections(); }
int Engine::subscribers() const { return impl_->subscribersWithPublisher(); }

double processCpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t processRssBytes(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

double selfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace tutti::loadgen
