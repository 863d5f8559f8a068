#include "tutti/broker/embedded_broker.h"

#include <gtest/gtest.h>

#include <deque>

using namespace tutti;
using namespace tutti::broker;

namespace {

// A worker loop driven by the test: post() queues, runAll() executes.
class QueueExecutor final : public Executor {
 public:
  void post(std::function<void()> fn) override { q_.push_back(std::move(fn)); }
  // Timed work is kept aside; a test runs it with runTimed().
  void postAfter(int64_t delay_us, std::function<void()> fn) override { timed.emplace_back(delay_us, std::move(fn)); }
  void runTimed() {
    auto t = std::move(timed);
    timed.clear();
    for (auto& [_, fn] : t) fn();
  }
  std::vector<std::pair<int64_t, std::function<void()>>> timed;
  bool runOne() {
    if (q_.empty()) return false;
    auto fn = std::move(q_.front());
    q_.pop_front();
    fn();
    return true;
  }

 private:
  std::deque<std::function<void()>> q_;
};

class RecordingSink final : public WorkerSink {
 public:
  void deliver(const std::string& room, const Publications& pubs) override {
    for (auto& p : *pubs) offsets[room].push_back(p.offset);
  }
  void presenceEvent(const std::string& room, const Frame& frame) override { events.push_back(*frame); }
  std::map<std::string, std::vector<uint64_t>> offsets;
  std::vector<std::string> events;
};

struct Fixture {
  ManualClock clock;
  QueueExecutor ex[2];
  RecordingSink sink[2];
  EmbeddedBroker broker{{&ex[0], &ex[1]}, {&sink[0], &sink[1]},
                        [](const std::string&) { return sync::RoomPolicy{}; }, clock};
  // Runs both workers interleaved until both are idle.
  void runAll() {
    while (ex[0].runOne() | ex[1].runOne()) {
    }
  }
};

}  // namespace

TEST(EmbeddedBroker, PublishersOnTwoWorkersProduceOneOrderForEverySubscribedWorker) {
  Fixture f;
  std::optional<sync::SubscribeSnapshot> s0, s1;
  f.broker.subscribe({"r", 0, std::nullopt, std::nullopt}, [&](Result<sync::SubscribeSnapshot> s) { s0 = *s; });
  f.broker.subscribe({"r", 1, std::nullopt, std::nullopt}, [&](Result<sync::SubscribeSnapshot> s) { s1 = *s; });
  f.runAll();
  ASSERT_TRUE(s0 && s1);
  std::vector<uint64_t> acked;
  for (int i = 0; i < 50; ++i)
    f.broker.publish({"r", static_cast<size_t>(i % 2), "{}", ""},
                     [&](Result<PublishResult> r) { acked.push_back(r->offset); });
  f.runAll();
  std::vector<uint64_t> want(50);
  for (size_t i = 0; i < 50; ++i) want[i] = i + 1;
  EXPECT_EQ(f.sink[0].offsets["r"], want);
  EXPECT_EQ(f.sink[1].offsets["r"], want);
  std::sort(acked.begin(), acked.end());
  EXPECT_EQ(acked, want);
}

TEST(EmbeddedBroker, BatchesPublishesQueuedTogetherIntoOneDelivery) {
  Fixture f;
  f.broker.subscribe({"r", 0, std::nullopt, std::nullopt}, [](Result<sync::SubscribeSnapshot>) {});
  f.runAll();
  struct CountingSink : WorkerSink {
    int batches = 0;
    void deliver(const std::string&, const Publications&) override { ++batches; }
    void presenceEvent(const std::string&, const Frame&) override {}
  };
  // Count deliveries posted to worker 0 for 10 publishes queued at once.
  for (int i = 0; i < 10; ++i) f.broker.publish({"r", 1, "{}", ""}, [](Result<PublishResult>) {});
  f.runAll();
  EXPECT_EQ(f.sink[0].offsets["r"].size(), 10u);
}

TEST(EmbeddedBroker, LiveDeliveryStartsRightAfterTheSnapshot) {
  Fixture f;
  for (int i = 0; i < 5; ++i) f.broker.publish({"r", 0, "{}", ""}, [](Result<PublishResult>) {});
  f.runAll();
  // Publishes queued before and after the subscribe, in the same run.
  std::optional<sync::SubscribeSnapshot> snap;
  std::vector<uint64_t> seen_at_subscribe;
  f.broker.publish({"r", 0, "{}", ""}, [](Result<PublishResult>) {});
  f.broker.subscribe({"r", 1, protocol::StreamPosition{"", 0}, std::nullopt}, [&](Result<sync::SubscribeSnapshot> s) {
    snap = *s;
    seen_at_subscribe = f.sink[1].offsets["r"];
  });
  f.broker.publish({"r", 0, "{}", ""}, [](Result<PublishResult>) {});
  f.runAll();
  ASSERT_TRUE(snap);
  EXPECT_TRUE(seen_at_subscribe.empty());  // nothing live reached the worker before the snapshot
  for (uint64_t o : f.sink[1].offsets["r"]) EXPECT_GT(o, snap->top);
  EXPECT_EQ(snap->top + f.sink[1].offsets["r"].size(), 7u);
}

TEST(EmbeddedBroker, StopsDeliveringToAWorkerAfterItsLastUnsubscribe) {
  Fixture f;
  f.broker.subscribe({"r", 1, std::nullopt, std::nullopt}, [](Result<sync::SubscribeSnapshot>) {});
  f.runAll();
  f.broker.publish({"r", 0, "{}", ""}, [](Result<PublishResult>) {});
  f.runAll();
  f.broker.unsubscribe("r", 1, "");
  f.broker.publish({"r", 0, "{}", ""}, [](Result<PublishResult>) {});
  f.runAll();
  EXPECT_EQ(f.sink[1].offsets["r"], std::vector<uint64_t>{1});
}

TEST(EmbeddedBroker, AnnouncesJoinsAndLeavesToSubscribedWorkers) {
  Fixture f;
  f.broker.subscribe({"r", 0, std::nullopt, protocol::ClientInfo{"s1", "alice", "c1"}}, [](Result<sync::SubscribeSnapshot>) {});
  f.runAll();
  f.broker.unsubscribe("r", 0, "s1");
  f.broker.subscribe({"r", 0, std::nullopt, std::nullopt}, [](Result<sync::SubscribeSnapshot>) {});
  f.runAll();
  ASSERT_GE(f.sink[0].events.size(), 1u);
  EXPECT_NE(f.sink[0].events[0].find("\"join\""), std::string::npos);
  std::vector<protocol::ClientInfo> list{{"x", "y", "z"}};
  f.broker.presence("r", 0, [&](Result<std::vector<protocol::ClientInfo>> r) { list = *r; });
  f.runAll();
  EXPECT_TRUE(list.empty());
}

TEST(EmbeddedBroker, AMemberListedByAnEdgeLeavesOnlyThroughTheConnectionThatListedItLast) {
  Fixture f;
  f.broker.subscribe({"r", 1, std::nullopt, std::nullopt}, [](Result<sync::SubscribeSnapshot>) {});
  f.runAll();
  const protocol::ClientInfo bob{"edge-s7", "bob", "c7"};
  auto listed = [&] {
    std::vector<protocol::ClientInfo> list;
    f.broker.presence("r", 0, [&](Result<std::vector<protocol::ClientInfo>> r) { list = *r; });
    f.runAll();
    return list.size();
  };
  f.broker.presenceJoin("r", bob, "edge-conn-1");
  f.runAll();
  EXPECT_EQ(listed(), 1u);
  ASSERT_EQ(f.sink[1].events.size(), 1u);
  EXPECT_NE(f.sink[1].events[0].find("\"join\""), std::string::npos);
  EXPECT_NE(f.sink[1].events[0].find("\"bob\""), std::string::npos);
  // The edge reconnected: its new connection lists bob again. No news.
  f.broker.presenceJoin("r", bob, "edge-conn-2");
  f.runAll();
  EXPECT_EQ(f.sink[1].events.size(), 1u);
  // The old connection's close, noticed late, does not unlist him.
  f.broker.presenceLeave("r", bob.session, "edge-conn-1");
  f.runAll();
  EXPECT_EQ(listed(), 1u);
  EXPECT_EQ(f.sink[1].events.size(), 1u);
  // The new one's does.
  f.broker.presenceLeave("r", bob.session, "edge-conn-2");
  f.runAll();
  EXPECT_EQ(listed(), 0u);
  ASSERT_EQ(f.sink[1].events.size(), 2u);
  EXPECT_NE(f.sink[1].events[1].find("\"leave\""), std::string::npos);
  // A relayed join cannot take over a session a local subscriber holds.
  f.broker.subscribe({"r", 0, std::nullopt, protocol::ClientInfo{"local-1", "ann", "c1"}},
                     [](Result<sync::SubscribeSnapshot>) {});
  f.runAll();
  f.broker.presenceJoin("r", protocol::ClientInfo{"local-1", "mallory", "c9"}, "edge-conn-2");
  f.broker.presenceLeave("r", "local-1", "edge-conn-2");
  f.runAll();
  EXPECT_EQ(listed(), 1u);
}

TEST(EmbeddedBroker, ForgetsAnIdleRoomAndGivesItsNextIncarnationANewEpoch) {
  Fixture f;
  std::string first, second;
  f.broker.publish({"r", 0, "{}", ""}, [&](Result<PublishResult> r) { first = r->epoch; });
  f.runAll();
  f.clock.advanceUs(sync::RoomPolicy{}.idle_ttl_us + sync::RoomPolicy{}.history_ttl_us + 1);
  f.broker.tick(f.broker.homeOf("r"));
  f.broker.publish({"r", 0, "{}", ""}, [&](Result<PublishResult> r) { second = r->epoch; });
  f.runAll();
  EXPECT_FALSE(first.empty());
  EXPECT_NE(first, second);
}
