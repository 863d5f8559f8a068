// Rooms end to end: ordering across many publishers and subscribers, publish
// de-duplication, presence.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/wait.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

constexpr char kFastRoomsConfig[] = R"(
[server]
workers = 2

[limits]
publish_rate_per_s = 100000
publish_burst = 100000
outgoing_buffer_bytes = 16777216

[[rooms]]
prefix = ""
history_size = 20000
)";

std::string payload(int publisher, int n) {
  return "{\"p\":" + std::to_string(publisher) + ",\"n\":" + std::to_string(n) + "}";
}

TEST(Rooms, FourPublishersTwentySubscribersSeeOneGapFreeSequence) {
  constexpr int kPublishers = 4;
  constexpr int kPerPublisher = 2000;
  constexpr int kSubscribers = 20;
  constexpr size_t kTotal = kPublishers * kPerPublisher;
  auto server = startServer(kFastRoomsConfig);
  ASSERT_TRUE(server);

  // Collectors outlive the clients whose callbacks write into them.
  std::vector<std::unique_ptr<Collector>> collectors;
  std::vector<std::unique_ptr<sdk::Client>> subs;
  for (int i = 0; i < kSubscribers; ++i) {
    subs.push_back(std::make_unique<sdk::Client>(clientOptions(*server)));
    collectors.push_back(std::make_unique<Collector>());
  }
  std::vector<std::future<Result<sdk::SubscribeResult>>> subscribed;
  for (int i = 0; i < kSubscribers; ++i) subscribed.push_back(subs[i]->subscribe("game:1", collectors[i]->handlers()));
  for (auto& f : subscribed) {
    auto r = await(f);
    ASSERT_TRUE(r.ok()) << r.error().code << " " << r.error().message;
    EXPECT_EQ(r->offset, 0u);
  }

  std::vector<std::unique_ptr<sdk::Client>> pubs;
  for (int p = 0; p < kPublishers; ++p) {
    pubs.push_back(std::make_unique<sdk::Client>(clientOptions(*server)));
    ASSERT_TRUE(await(pubs.back()->connect()).ok());
  }
  // All four at once, each from its own thread.
  std::vector<std::vector<std::future<Result<sdk::PublishAck>>>> acks(kPublishers);
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      for (int n = 0; n < kPerPublisher; ++n) acks[p].push_back(pubs[p]->publish("game:1", payload(p, n)));
    });
  }
  for (auto& t : threads) t.join();

  std::set<uint64_t> acked_offsets;
  for (int p = 0; p < kPublishers; ++p) {
    uint64_t last = 0;
    for (auto& f : acks[p]) {
      auto a = await(f, 30000);
      ASSERT_TRUE(a.ok()) << "publisher " << p << ": " << a.error().code << " " << a.error().message;
      EXPECT_GT(a->offset, last) << "one publisher's messages are ordered in their command order";
      last = a->offset;
      acked_offsets.insert(a->offset);
    }
  }
  ASSERT_EQ(acked_offsets.size(), kTotal);
  EXPECT_EQ(*acked_offsets.begin(), 1u);
  EXPECT_EQ(*acked_offsets.rbegin(), kTotal);

  std::vector<sdk::Publication> reference;
  for (int i = 0; i < kSubscribers; ++i) {
    ASSERT_TRUE(collectors[i]->waitPubs(kTotal, 30000))
        << "subscriber " << i << " got " << collectors[i]->pubCount() << " of " << kTotal;
    std::vector<sdk::Publication> got = collectors[i]->pubs();
    ASSERT_EQ(got.size(), kTotal) << "subscriber " << i << " got duplicates";
    for (size_t k = 0; k < got.size(); ++k) ASSERT_EQ(got[k].offset, k + 1) << "subscriber " << i << " at " << k;
    if (i == 0) {
      reference = got;
      std::set<std::string> data;
      for (const auto& p : got) data.insert(p.data);
      EXPECT_EQ(data.size(), kTotal) << "every published message appears exactly once";
      for (int p = 0; p < kPublishers; ++p)
        for (int n = 0; n < kPerPublisher; n += 499) EXPECT_TRUE(data.count(payload(p, n))) << payload(p, n);
    } else {
      for (size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k].data, reference[k].data) << "subscriber " << i << " offset " << k + 1;
        ASSERT_EQ(got[k].epoch, reference[k].epoch);
      }
    }
    EXPECT_EQ(subs[i]->counters().gaps_detected, 0u) << "subscriber " << i;
  }
}

TEST(Rooms, PublishWithTheSameClientMsgIdIsDeliveredOnce) {
  auto server = startServer(kFastRoomsConfig);
  ASSERT_TRUE(server);
  Collector c;
  sdk::Client sub(clientOptions(*server));
  ASSERT_TRUE(await(sub.subscribe("dedup:1", c.handlers())).ok());

  sdk::Client pub(clientOptions(*server));
  auto first = await(pub.publish("dedup:1", R"({"bet":5})", "bet-1"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = await(pub.publish("dedup:1", R"({"bet":5})", "bet-1"));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->offset, first->offset);
  EXPECT_EQ(second->epoch, first->epoch);

  // A marker after both: once it arrives, anything the duplicate caused would have too.
  auto marker = await(pub.publish("dedup:1", R"({"marker":true})", "marker"));
  ASSERT_TRUE(marker.ok());
  ASSERT_TRUE(c.waitPubs(2, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto got = c.pubs();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, R"({"bet":5})");
  EXPECT_EQ(got[1].data, R"({"marker":true})");
  EXPECT_EQ(marker->offset, first->offset + 1);
}

TEST(Rooms, PresenceListsSubscribersAndReportsJoinAndLeave) {
  auto server = startServer(kFastRoomsConfig);
  ASSERT_TRUE(server);
  Collector a;
  sdk::Client alice(clientOptions(*server));
  sdk::SubscribeOptions with_presence;
  with_presence.presence = true;
  ASSERT_TRUE(await(alice.subscribe("lobby:1", a.handlers(), with_presence)).ok());
  auto alice_info = alice.connectInfo();
  ASSERT_TRUE(alice_info);

  Collector b;

  sdk::Client bob(clientOptions(*server));
  ASSERT_TRUE(await(bob.subscribe("lobby:1", b.handlers())).ok());
  auto bob_info = bob.connectInfo();
  ASSERT_TRUE(bob_info);

  ASSERT_TRUE(a.waitJoins(1, 5000)) << "alice sees bob join";
  EXPECT_EQ(a.joins().back().session, bob_info->session);
  EXPECT_EQ(a.joins().back().client, bob.clientId());

  auto list = await(alice.presence("lobby:1"));
  ASSERT_TRUE(list.ok()) << list.error().code << " " << list.error().message;
  std::set<std::string> sessions;
  for (const auto& c : list->clients) sessions.insert(c.session);
  EXPECT_EQ(sessions, (std::set<std::string>{alice_info->session, bob_info->session}));

  ASSERT_TRUE(await(bob.unsubscribe("lobby:1")).ok());
  ASSERT_TRUE(a.waitLeaves(1, 5000)) << "alice sees bob leave";
  EXPECT_EQ(a.leaves().back().session, bob_info->session);
  EXPECT_TRUE(b.joins().empty()) << "bob did not ask for presence events";

  auto after = await(alice.presence("lobby:1"));
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->clients.size(), 1u);
  EXPECT_EQ(after->clients[0].session, alice_info->session);

  // Asking for presence of a room one is not subscribed to is refused.
  auto not_subscribed = await(bob.presence("lobby:1"));
  ASSERT_FALSE(not_subscribed.ok());
  EXPECT_EQ(not_subscribed.error().code, code::kNotSubscribed);
}

TEST(Rooms, PingReturnsTheServerTime) {
  auto server = startServer(kFastRoomsConfig);
  ASSERT_TRUE(server);
  sdk::Client client(clientOptions(*server));
  auto info = await(client.connect());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->protocol, 1);
  EXPECT_FALSE(info->session.empty());
  EXPECT_EQ(info->limits.publish_rate_per_s, 100000);
  auto t = await(client.ping());
  ASSERT_TRUE(t.ok()) << t.error().message;
  int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_NEAR(static_cast<double>(*t), static_cast<double>(now_us), 5e6);
  EXPECT_GE(*t, info->server_time_us);
}

}  // namespace
}  // namespace tutti::test
