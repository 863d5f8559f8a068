#pragma once
// Plain blocking sockets on loopback for the proxy tests: servers on port 0
// with a thread per connection, and clients with receive timeouts so a
// broken proxy fails a test instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tutti::netem::test {

inline double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Polls pred every 5 ms until it holds (true) or timeout_ms passes (false).
// For counters the proxy's thread updates just after the bytes have left.
template <typename Pred>
bool eventually(Pred&& pred, int timeout_ms = 1000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline void setReceiveTimeout(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

inline uint16_t boundPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A connected TCP socket (receive timeout 3 s), or -1.
inline int connectTcp(uint16_t port, int timeout_ms = 3000) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setReceiveTimeout(fd, timeout_ms);
  return fd;
}

inline bool sendAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}
inline bool sendAll(int fd, const std::string& s) { return sendAll(fd, s.data(), s.size()); }

// Exactly n bytes, or an empty string on EOF, error or timeout.
inline std::string recvExactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t k = recv(fd, out.data() + got, n - got, 0);
    if (k <= 0) return {};
    got += static_cast<size_t>(k);
  }
  return out;
}

// What the next recv says: > 0 bytes, 0 (EOF), or -errno (e.g. -ECONNRESET,
// -EAGAIN on timeout).
inline ssize_t recvStatus(int fd) {
  char buf[4096];
  const ssize_t k = recv(fd, buf, sizeof buf, 0);
  return k < 0 ? -errno : k;
}

// A TCP server on 127.0.0.1:0 running handler(fd) on a thread per connection;
// the handler owns nothing: the server closes the socket after it returns.
class TcpServer {
 public:
  explicit TcpServer(std::function<void(int)> handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listen_fd_, 128);
    port_ = boundPort(listen_fd_);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~TcpServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    close(listen_fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);  // wakes handlers
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void acceptLoop() {
    for (;;) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++accepted_;
      std::lock_guard lock(mu_);
      open_fds_.push_back(fd);
      threads_.emplace_back([this, fd] {
        handler_(fd);
        std::lock_guard l(mu_);
        std::erase(open_fds_, fd);
        close(fd);
      });
    }
  }

  std::function<void(int)> handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
};

// Echoes until the peer shuts down its side, then shuts down its own.
inline void echo(int fd) {
  char buf[16384];
  for (;;) {
    const ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k <= 0) break;
    if (!sendAll(fd, buf, static_cast<size_t>(k))) return;
  }
  shutdown(fd, SHUT_WR);
}

// A UDP server on 127.0.0.1:0 that echoes each datagram and counts them.
class UdpEchoServer {
 public:
  UdpEchoServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = loopback(0);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    setReceiveTimeout(fd_, 50);
    port_ = boundPort(fd_);
    thread_ = std::thread([this] {
      char buf[65536];
      while (!stop_) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const ssize_t k = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (k < 0) continue;
        ++received_;
        sendto(fd_, buf, static_cast<size_t>(k), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~UdpEchoServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  int received() const { return received_.load(); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> received_{0};
  std::thread thread_;
};

// A UDP client socket "connected" to 127.0.0.1:port, receive timeout given.
inline int connectUdp(uint16_t port, int timeout_ms) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a = loopback(port);
  connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  setReceiveTimeout(fd, timeout_ms);
  return fd;
}

}  // namespace tutti::netem::test
