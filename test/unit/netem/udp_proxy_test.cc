// The UDP proxy on real loopback sockets, bounded in time.

#include <gtest/gtest.h>

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
  cfg.seed = 2024;
  auto p = Proxy::startUdp(cfg);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return p.ok() ? std::move(*p) : nullptr;
}

}  // namespace

TEST(UdpProxy, DeliversDatagramsBothWaysWithTheirDelay) {
  UdpEchoServer server;
  auto proxy = startProxy(server.port(), {.delay_us = 30 * kMs}, {.delay_us = 20 * kMs});
  ASSERT_TRUE(proxy);
  const int fd = connectUdp(proxy->port(), 1000);
  for (int i = 0; i < 3; ++i) {
    const std::string msg = "datagram " + std::to_string(i);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(send(fd, msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    char buf[100];
    const ssize_t k = recv(fd, buf, sizeof buf, 0);
    const double rtt = secondsSince(t0);
    ASSERT_EQ(k, static_cast<ssize_t>(msg.size()));
    EXPECT_EQ(std::string(buf, static_cast<size_t>(k)), msg);
    EXPECT_GE(rtt, 0.050);
    EXPECT_LT(rtt, 0.100);
  }
  EXPECT_TRUE(eventually([&] { return proxy->stats().datagrams_down == 3; }));
  EXPECT_EQ(proxy->stats().datagrams_up, 3u);
  EXPECT_EQ(proxy->stats().open_connections, 1u);
  close(fd);
}

TEST(UdpProxy, LosesAboutTheConfiguredShare) {
  UdpEchoServer server;
  auto proxy = startProxy(server.port(), {.delay_us = 5 * kMs, .loss = 0.3}, {});
  ASSERT_TRUE(proxy);
  // Receives end after 1 s of silence: under a sanitizer on a loaded host the
  // proxy can pause for a few hundred ms with echoes still to come.
  const int fd = connectUdp(proxy->port(), 1000);
  constexpr int kSent = 400;
  for (int i = 0; i < kSent; ++i) {
    send(fd, "x", 1, 0);
    // Paced, so the kernel does not drop any before the proxy reads them.
    if (i % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int echoed = 0;
  char buf[16];
  while (recv(fd, buf, sizeof buf, 0) > 0) ++echoed;  // until 1 s of silence
  const auto stats = proxy->stats();
  const uint64_t seen = stats.lost + stats.datagrams_up + stats.queue_drops;  // what reached the proxy
  // Most datagrams reach the proxy (the kernel may drop some when the machine
  // is loaded); the loss share below is judged on those that did.
  EXPECT_GE(seen, 0.5 * kSent);
  EXPECT_EQ(static_cast<int>(stats.datagrams_up), server.received());
  // The echoes cross the kernel twice more on a busy machine: nearly all come back.
  EXPECT_LE(echoed, server.received());
  EXPECT_GE(echoed, 0.95 * server.received());
  EXPECT_GT(stats.lost, 0.2 * static_cast<double>(seen));
  EXPECT_LT(stats.lost, 0.4 * static_cast<double>(seen));
  close(fd);
}

TEST(UdpProxy, ReordersDatagramsWhenAsked) {
  UdpEchoServer server;
  LinkConfig up{.delay_us = 2 * kMs, .reorder = 0.2, .reorder_delay_us = 20 * kMs};
  auto proxy = startProxy(server.port(), up, {});
  ASSERT_TRUE(proxy);
  const int fd = connectUdp(proxy->port(), 300);
  constexpr int kSent = 100;
  for (int i = 0; i < kSent; ++i) {
    const uint32_t n = static_cast<uint32_t>(i);
    send(fd, &n, sizeof n, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  std::vector<uint32_t> order;
  uint32_t n;
  while (recv(fd, &n, sizeof n, 0) == static_cast<ssize_t>(sizeof n)) order.push_back(n);
  EXPECT_EQ(order.size(), static_cast<size_t>(kSent));
  int inversions = 0;
  for (size_t i = 1; i < order.size(); ++i) inversions += order[i] < order[i - 1] ? 1 : 0;
  EXPECT_GT(inversions, 0);
  EXPECT_GT(proxy->stats().reordered, 0u);
  close(fd);
}

TEST(UdpProxy, KeepsClientsApart) {
  UdpEchoServer server;
  auto proxy = startProxy(server.port(), {.delay_us = 1 * kMs}, {.delay_us = 1 * kMs});
  ASSERT_TRUE(proxy);
  const int a = connectUdp(proxy->port(), 1000);
  const int b = connectUdp(proxy->port(), 1000);
  send(a, "from a", 6, 0);
  send(b, "from b", 6, 0);
  char buf[16];
  ASSERT_EQ(recv(a, buf, sizeof buf, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "from a");
  ASSERT_EQ(recv(b, buf, sizeof buf, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "from b");
  EXPECT_EQ(proxy->stats().connections, 2u);
  close(a);
  close(b);
}

TEST(UdpProxy, CutForgetsClientsAndDropsWhatIsInFlight) {
  UdpEchoServer server;
  auto proxy = startProxy(server.port(), {.delay_us = 100 * kMs}, {});
  ASSERT_TRUE(proxy);
  const int fd = connectUdp(proxy->port(), 300);
  send(fd, "doomed", 6, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(proxy->stats().open_connections, 1u);
  proxy->cut();
  EXPECT_EQ(proxy->stats().open_connections, 0u);
  char buf[16];
  EXPECT_LT(recv(fd, buf, sizeof buf, 0), 0);  // never delivered
  EXPECT_EQ(server.received(), 0);
  // The same client is welcome again.
  send(fd, "again", 5, 0);
  ASSERT_EQ(recv(fd, buf, sizeof buf, 0), 5);
  EXPECT_EQ(proxy->stats().connections, 2u);
  close(fd);
}

TEST(UdpProxy, ForgetsIdleClients) {
  UdpEchoServer server;
  ProxyConfig cfg;
  cfg.target_port = server.port();
  cfg.udp_idle_timeout_ms = 50;
  auto proxy = Proxy::startUdp(cfg);
  ASSERT_TRUE(proxy.ok());
  const int fd = connectUdp((*proxy)->port(), 1000);
  send(fd, "hi", 2, 0);
  char buf[16];
  ASSERT_EQ(recv(fd, buf, sizeof buf, 0), 2);
  EXPECT_TRUE(eventually([&] { return (*proxy)->stats().open_connections == 0; }));
  close(fd);
}
