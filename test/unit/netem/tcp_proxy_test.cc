// The TCP proxy on real loopback sockets. Each test is bounded in time: the
// clients have receive timeouts and the conditions are chosen so that a
// test takes well under 5 s.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "test_sockets.h"
#include "tutti/netem/proxy.h"

using tutti::netem::LinkConfig;
using tutti::netem::Proxy;
using tutti::netem::ProxyConfig;
using namespace tutti::netem::test;

namespace {

constexpr int64_t kMs = 1000;

std::unique_ptr<Proxy> startProxy(uint16_t target_port, LinkConfig up, LinkConfig down) {
  ProxyConfig cfg;
  cfg.target_port = target_port;
  cfg.up = std::move(up);
  cfg.down = std::move(down);
  auto p = Proxy::startTcp(cfg);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return p.ok() ? std::move(*p) : nullptr;
}

// Round trip of one small message through an echo, in seconds (< 0: failed).
double pingSeconds(int fd) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!sendAll(fd, "ping")) return -1;
  if (recvExactly(fd, 4) != "ping") return -1;
  return secondsSince(t0);
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace

TEST(TcpProxy, BindsAnyFreePortWhenAskedForPortZero) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {}, {});
  ASSERT_TRUE(proxy);
  EXPECT_NE(proxy->port(), 0);
  EXPECT_NE(proxy->port(), server.port());
}

TEST(TcpProxy, AnEchoBehindFiftyMillisecondsEachWayShowsARoundTripOfAHundred) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {.delay_us = 50 * kMs}, {.delay_us = 50 * kMs});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    const double rtt = pingSeconds(fd);
    EXPECT_GE(rtt, 0.100) << "ping " << i;
    EXPECT_LT(rtt, 0.150) << "ping " << i;
  }
  close(fd);
}

TEST(TcpProxy, AsymmetricDelaysAddUpToTheRoundTrip) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {.delay_us = 10 * kMs}, {.delay_us = 60 * kMs});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  const double rtt = pingSeconds(fd);
  EXPECT_GE(rtt, 0.070);
  EXPECT_LT(rtt, 0.120);
  close(fd);
}

TEST(TcpProxy, DeliversAMegabyteIntactAndInOrderUnderJitter) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {.delay_us = 5 * kMs, .jitter_us = 5 * kMs},
                          {.delay_us = 5 * kMs, .jitter_us = 5 * kMs});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  const std::string data = pattern(1 << 20);
  // Write from another thread: the echo pushes back while we write.
  std::thread writer([&] {
    for (size_t off = 0; off < data.size(); off += 10'000) {
      sendAll(fd, data.data() + off, std::min<size_t>(10'000, data.size() - off));
    }
  });
  const std::string back = recvExactly(fd, data.size());
  writer.join();
  ASSERT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
  EXPECT_TRUE(eventually([&] { return proxy->stats().bytes_down == data.size(); }));
  EXPECT_EQ(proxy->stats().bytes_up, data.size());
  close(fd);
}

TEST(TcpProxy, ARateLimitHolds) {
  std::atomic<size_t> received{0};
  std::atomic<int64_t> eof_at_us{0};
  TcpServer sink([&](int fd) {
    char buf[16384];
    ssize_t k;
    while ((k = recv(fd, buf, sizeof buf, 0)) > 0) received += static_cast<size_t>(k);
    eof_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  });
  // 4 Mbit/s: 500 kB take 1 s.
  auto proxy = startProxy(sink.port(), {.rate_bps = 4'000'000}, {});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t t0_us = std::chrono::duration_cast<std::chrono::microseconds>(t0.time_since_epoch()).count();
  ASSERT_TRUE(sendAll(fd, pattern(500'000)));
  shutdown(fd, SHUT_WR);
  // The sink closes after EOF, which reaches us after the data.
  EXPECT_EQ(recvStatus(fd), 0);
  ASSERT_EQ(received.load(), 500'000u);
  const double seconds = static_cast<double>(eof_at_us.load() - t0_us) / 1e6;
  EXPECT_GT(seconds, 0.8);
  EXPECT_LT(seconds, 1.6);
  close(fd);
}

TEST(TcpProxy, AFullQueueStallsTheSenderInsteadOfLosingBytes) {
  TcpServer server(echo);
  // 2.4 Mbit/s = 300 bytes/ms and a queue of two packets.
  auto proxy = startProxy(server.port(), {.rate_bps = 2'400'000, .queue_bytes = 3000}, {});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  const std::string data = pattern(60'000);  // 0.2 s at that rate
  const auto t0 = std::chrono::steady_clock::now();
  std::thread writer([&] { sendAll(fd, data); });
  const std::string back = recvExactly(fd, data.size());
  writer.join();
  EXPECT_TRUE(back == data);
  EXPECT_GT(secondsSince(t0), 0.15);
  close(fd);
}

TEST(TcpProxy, HalfCloseTravelsAfterTheDataBothWays) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {.delay_us = 20 * kMs}, {.delay_us = 20 * kMs});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, "last words"));
  shutdown(fd, SHUT_WR);  // the echo sees EOF after the bytes, echoes, shuts down
  EXPECT_EQ(recvExactly(fd, 10), "last words");
  EXPECT_EQ(recvStatus(fd), 0);  // EOF from the target, through the proxy
  close(fd);
  // Both sides have finished: the proxy forgets the connection.
  EXPECT_TRUE(eventually([&] { return proxy->stats().open_connections == 0; }));
  EXPECT_EQ(proxy->stats().connections, 1u);
}

TEST(TcpProxy, AnUnreachableTargetResetsTheClient) {
  uint16_t dead_port;
  {
    TcpServer gone(echo);
    dead_port = gone.port();
  }
  auto proxy = startProxy(dead_port, {}, {});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  const ssize_t status = recvStatus(fd);
  EXPECT_TRUE(status == 0 || status == -ECONNRESET) << status;
  close(fd);
}

TEST(TcpProxy, CutResetsEveryConnectionAndAcceptsNewOnes) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {}, {});
  ASSERT_TRUE(proxy);
  int fds[3];
  for (int& fd : fds) {
    fd = connectTcp(proxy->port());
    ASSERT_GE(fd, 0);
    ASSERT_GE(pingSeconds(fd), 0);
  }
  EXPECT_EQ(proxy->stats().open_connections, 3u);
  proxy->cut();
  for (int fd : fds) {
    EXPECT_EQ(recvStatus(fd), -ECONNRESET);
    close(fd);
  }
  EXPECT_EQ(proxy->stats().open_connections, 0u);
  const int again = connectTcp(proxy->port());
  ASSERT_GE(again, 0);
  EXPECT_GE(pingSeconds(again), 0);
  close(again);
}

TEST(TcpProxy, ServesManyConnectionsAtOnce) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {.delay_us = 10 * kMs, .jitter_us = 2 * kMs},
                          {.delay_us = 10 * kMs, .jitter_us = 2 * kMs});
  ASSERT_TRUE(proxy);
  constexpr int kClients = 50;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    fds.push_back(connectTcp(proxy->port()));
    ASSERT_GE(fds.back(), 0);
  }
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(sendAll(fds[i], "client " + std::to_string(1000 + i)));
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(recvExactly(fds[i], 11), "client " + std::to_string(1000 + i));
    close(fds[i]);
  }
}

TEST(TcpProxy, ReconfigureChangesTheDelayMidRun) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {.delay_us = 5 * kMs}, {.delay_us = 5 * kMs});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  const double before = pingSeconds(fd);
  EXPECT_GE(before, 0.010);
  EXPECT_LT(before, 0.050);
  proxy->reconfigure({.delay_us = 60 * kMs}, {.delay_us = 60 * kMs});
  const double after = pingSeconds(fd);
  EXPECT_GE(after, 0.120);
  EXPECT_LT(after, 0.170);
  close(fd);
}

TEST(TcpProxy, StopClosesConnectionsAndIsIdempotent) {
  TcpServer server(echo);
  auto proxy = startProxy(server.port(), {}, {});
  ASSERT_TRUE(proxy);
  const int fd = connectTcp(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_GE(pingSeconds(fd), 0);
  proxy->stop();
  const ssize_t status = recvStatus(fd);
  EXPECT_TRUE(status == 0 || status == -ECONNRESET) << status;
  proxy->stop();
  proxy->cut();  // no-ops once stopped
  proxy->reconfigure({}, {});
  close(fd);
}

TEST(TcpProxy, RefusesAnAddressItCannotListenOn) {
  TcpServer server(echo);
  ProxyConfig cfg;
  cfg.listen_port = server.port();  // taken
  cfg.target_port = server.port();
  auto p = Proxy::startTcp(cfg);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("cannot listen"), std::string::npos) << p.error().message;
}
