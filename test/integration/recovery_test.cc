// Recovery: a subscriber that loses its connection gets exactly the messages
// it missed, or is told explicitly that it cannot.

#include <gtest/gtest.h>

#include <atomic>
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

constexpr char kConfig[] = R"(
[server]
workers = 2

[limits]
publish_rate_per_s = 100000
publish_burst = 100000

[[rooms]]
prefix = ""
history_size = 10000

[[rooms]]
prefix = "small:"
history_size = 5
)";

std::string payload(int n) { return "{\"n\":" + std::to_string(n) + "}"; }

// Checks offsets 1..n in order and payload(k) at offset k+1.
void expectExactlyOnce(const std::vector<sdk::Publication>& got, int n) {
  ASSERT_EQ(got.size(), static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    ASSERT_EQ(got[k].offset, static_cast<uint64_t>(k + 1)) << "at " << k;
    ASSERT_EQ(got[k].data, payload(k)) << "at " << k;
  }
}

TEST(Recovery, SubscriberCutMidStreamRecoversEveryMessageExactlyOnce) {
  constexpr int kMessages = 3000;
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Collector c;
  sdk::Client sub(clientOptions(*server));
  ASSERT_TRUE(await(sub.subscribe("live:1", c.handlers())).ok());

  sdk::Client pub(clientOptions(*server));
  ASSERT_TRUE(await(pub.connect()).ok());
  // Publishing continues, paced, while the subscriber's socket is cut twice.
  std::atomic<bool> publish_failed{false};
  std::thread publisher([&] {
    std::vector<std::future<Result<sdk::PublishAck>>> acks;
    for (int n = 0; n < kMessages; ++n) {
      acks.push_back(pub.publish("live:1", payload(n)));
      if (n % 100 == 99) {
        for (auto& f : acks) publish_failed = publish_failed || !await(f).ok();
        acks.clear();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    for (auto& f : acks) publish_failed = publish_failed || !await(f).ok();
  });

  ASSERT_TRUE(c.waitPubs(500, 15000));
  sub.testDropConnection();
  ASSERT_TRUE(eventually([&] { return sub.counters().reconnects >= 1 && c.pubCount() >= 1500; }, 15000));
  sub.testDropConnection();
  publisher.join();
  ASSERT_FALSE(publish_failed);

  ASSERT_TRUE(c.waitPubs(kMessages, 20000)) << "got " << c.pubCount();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  expectExactlyOnce(c.pubs(), kMessages);
  auto k = sub.counters();
  EXPECT_GE(k.reconnects, 2u);
  EXPECT_GE(k.recoveries_ok, 2u);
  EXPECT_EQ(k.recoveries_failed, 0u);
  for (const auto& r : c.subscribed()) {
    if (r.recovered.has_value()) {
      EXPECT_TRUE(*r.recovered) << r.reason;
    }
  }
}

TEST(Recovery, RecoveringWithinHistoryReplaysExactlyTheMissedMessages) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client pub(clientOptions(*server));
  std::string epoch;
  for (int n = 0; n < 20; ++n) {
    auto a = await(pub.publish("small:a", payload(n)));
    ASSERT_TRUE(a.ok()) << a.error().message;
    epoch = a->epoch;
  }
  Collector c;
  sdk::Client sub(clientOptions(*server));
  sdk::SubscribeOptions from17;
  from17.recover = sdk::Position{epoch, 17};
  auto r = await(sub.subscribe("small:a", c.handlers(), from17));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->recovered.has_value());
  EXPECT_TRUE(*r->recovered) << r->reason;
  EXPECT_EQ(r->offset, 20u);
  EXPECT_EQ(r->replayed, 3u);
  ASSERT_TRUE(c.waitPubs(3, 5000));
  // Then the live stream follows without a seam.
  ASSERT_TRUE(await(pub.publish("small:a", payload(20))).ok());
  ASSERT_TRUE(c.waitPubs(4, 5000));
  auto got = c.pubs();
  ASSERT_EQ(got.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(got[k].offset, static_cast<uint64_t>(18 + k));
    EXPECT_EQ(got[k].data, payload(17 + k));
  }
}

TEST(Recovery, HistoryExhaustedIsReportedNotPatchedOver) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client pub(clientOptions(*server));
  std::string epoch;
  for (int n = 0; n < 20; ++n) {
    auto a = await(pub.publish("small:b", payload(n)));
    ASSERT_TRUE(a.ok()) << a.error().message;
    epoch = a->epoch;
  }
  Collector c;
  sdk::Client sub(clientOptions(*server));
  sdk::SubscribeOptions from1;
  from1.recover = sdk::Position{epoch, 1};
  auto r = await(sub.subscribe("small:b", c.handlers(), from1));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->recovered.has_value());
  EXPECT_FALSE(*r->recovered);
  EXPECT_EQ(r->reason, "history_exhausted");
  EXPECT_EQ(r->offset, 20u);
  EXPECT_EQ(sub.counters().recoveries_failed, 1u);
  // No partial replay: the subscription continues live from the top.
  ASSERT_TRUE(await(pub.publish("small:b", payload(20))).ok());
  ASSERT_TRUE(c.waitPubs(1, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto got = c.pubs();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 21u);
}

TEST(Recovery, UnknownEpochIsReportedAsEpochChanged) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client pub(clientOptions(*server));
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(await(pub.publish("live:e", payload(n))).ok());
  Collector c;
  sdk::Client sub(clientOptions(*server));
  sdk::SubscribeOptions stale;
  stale.recover = sdk::Position{"00000000deadbeef", 2};
  auto r = await(sub.subscribe("live:e", c.handlers(), stale));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->recovered.has_value());
  EXPECT_FALSE(*r->recovered);
  EXPECT_EQ(r->reason, "epoch_changed");
  EXPECT_NE(r->epoch, "00000000deadbeef");
  EXPECT_EQ(r->offset, 3u);
}

TEST(Recovery, OffsetBeyondTheRoomsTopIsReportedAsOffsetAhead) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client pub(clientOptions(*server));
  auto a = await(pub.publish("live:ahead", payload(0)));
  ASSERT_TRUE(a.ok());
  Collector c;
  sdk::Client sub(clientOptions(*server));
  sdk::SubscribeOptions ahead;
  ahead.recover = sdk::Position{a->epoch, 50};
  auto r = await(sub.subscribe("live:ahead", c.handlers(), ahead));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->recovered.has_value());
  EXPECT_FALSE(*r->recovered);
  EXPECT_EQ(r->reason, "offset_ahead");
}

}  // namespace
}  // namespace tutti::test
