// Many SDK clients on one shared EventLoop (ClientOptions::loop): they work
// as clients with threads of their own do, and destroying one leaves the
// others (and the loop) running.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/wait.h"

namespace tutti::test {
namespace {

TEST(EventLoop, ClientsSharingOneThreadEachSeeTheWholeSequence) {
  constexpr int kClients = 20;
  constexpr int kMessages = 300;
  auto server = startServer(kFastPublishConfig);
  ASSERT_TRUE(server);
  auto loop = sdk::EventLoop::create();
  std::vector<std::unique_ptr<Collector>> collectors;  // outlive the clients
  std::vector<std::unique_ptr<sdk::Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    auto o = clientOptions(*server);
    o.loop = loop;
    clients.push_back(std::make_unique<sdk::Client>(o));
    collectors.push_back(std::make_unique<Collector>());
  }
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(await(clients[i]->subscribe("loop:1", collectors[i]->handlers())).ok());

  // The publisher is on the same loop too.
  std::vector<std::future<Result<sdk::PublishAck>>> acks;
  for (int n = 1; n <= kMessages; ++n) acks.push_back(clients[0]->publish("loop:1", std::to_string(n)));
  for (auto& a : acks) ASSERT_TRUE(await(a).ok());
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(collectors[i]->waitPubs(kMessages, 10000)) << "client " << i;
    const auto pubs = collectors[i]->pubs();
    for (int n = 0; n < kMessages; ++n) {
      EXPECT_EQ(pubs[n].offset, static_cast<uint64_t>(n + 1));
      EXPECT_EQ(pubs[n].data, std::to_string(n + 1));
    }
  }
  // Their clocks are synced each on its own.
  for (auto& c : clients) EXPECT_TRUE(c->serverNow().synced);
}

TEST(EventLoop, DestroyingOneClientLeavesTheOthersRunning) {
  auto server = startServer(kFastPublishConfig);
  ASSERT_TRUE(server);
  auto loop = sdk::EventLoop::create();
  Collector gone_seen, kept_seen;
  auto make = [&] {
    auto o = clientOptions(*server);
    o.loop = loop;
    return std::make_unique<sdk::Client>(o);
  };
  auto gone = make();
  auto kept = make();
  auto publisher = make();
  ASSERT_TRUE(await(gone->subscribe("loop:2", gone_seen.handlers())).ok());
  ASSERT_TRUE(await(kept->subscribe("loop:2", kept_seen.handlers())).ok());
  ASSERT_TRUE(await(publisher->publish("loop:2", "1")).ok());
  ASSERT_TRUE(gone_seen.waitPubs(1, 5000));

  // Destroyed with requests in flight (a publish, a presence query) and
  // timers armed (clock sync, request sweep).
  auto pending = gone->presence("loop:2");
  auto pending_pub = gone->publish("loop:2", "\"from gone\"");
  gone.reset();
  const size_t seen_at_destruction = gone_seen.pubs().size();
  // Its futures are resolved, one way or the other, not abandoned.
  EXPECT_EQ(pending.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(pending_pub.wait_for(std::chrono::seconds(5)), std::future_status::ready);

  for (int n = 2; n <= 50; ++n) ASSERT_TRUE(await(publisher->publish("loop:2", std::to_string(n))).ok());
  ASSERT_TRUE(kept_seen.waitPubs(50, 5000));
  EXPECT_EQ(gone_seen.pubs().size(), seen_at_destruction) << "a destroyed client's handler ran";
  EXPECT_EQ(kept->state(), sdk::State::kConnected);
}

TEST(EventLoop, ClientsOnALoopCanBeDestroyedWhileConnecting) {
  // Nothing listens on this port: the clients keep retrying with backoff.
  auto loop = sdk::EventLoop::create();
  std::vector<std::unique_ptr<sdk::Client>> clients;
  std::vector<std::future<Result<sdk::ConnectInfo>>> connects;
  for (int i = 0; i < 10; ++i) {
    sdk::ClientOptions o;
    o.url = "ws://127.0.0.1:1/ws";
    o.loop = loop;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 20;
    clients.push_back(std::make_unique<sdk::Client>(o));
    connects.push_back(clients.back()->connect());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  clients.clear();
  for (auto& f : connects) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_FALSE(f.get().ok());
  }
}

}  // namespace
}  // namespace tutti::test
