#include "tutti/sync/room.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace tutti;
using namespace tutti::sync;

namespace {
RoomPolicy policy(size_t history = 100) {
  RoomPolicy p;
  p.history_size = history;
  p.history_ttl_us = 60'000'000;
  p.dedup_window_us = 10'000'000;
  return p;
}

std::vector<Publication> publish(Room& r, int n, int64_t now = 1000, std::string key = "") {
  std::vector<PublishInput> in;
  for (int i = 0; i < n; ++i) in.push_back({"{\"n\":" + std::to_string(i) + "}", key});
  std::vector<PublishAck> acks;
  std::vector<Publication> out;
  r.publish(in, now, acks, out);
  return out;
}
}  // namespace

TEST(Room, OrdersABatchWithConsecutiveOffsetsAndOneFramePerMessage) {
  Room r("table:1", "ep", policy(), 0);
  auto out = publish(r, 3);
  ASSERT_EQ(out.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i].offset, i + 1);
    auto v = boost::json::parse(*out[i].frame).as_object();
    EXPECT_EQ(v["offset"].as_int64(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(v["room"].as_string(), "table:1");
    EXPECT_EQ(v["epoch"].as_string(), "ep");
  }
  EXPECT_EQ(r.top(), 3u);
}

TEST(Room, ReturnsTheSameAckForARepeatedMessageIdAndOrdersNothingNew) {
  Room r("r", "ep", policy(), 0);
  std::vector<PublishInput> in{{"1", "k1"}, {"2", "k1"}, {"3", "k2"}};
  std::vector<PublishAck> acks;
  std::vector<Publication> out;
  r.publish(in, 1000, acks, out);
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].offset, 1u);
  EXPECT_FALSE(acks[0].duplicate);
  EXPECT_EQ(acks[1].offset, 1u);
  EXPECT_TRUE(acks[1].duplicate);
  EXPECT_EQ(acks[2].offset, 2u);
  EXPECT_EQ(out.size(), 2u);
}

TEST(Room, ForgetsMessageIdsAfterTheDedupWindow) {
  Room r("r", "ep", policy(), 0);
  publish(r, 1, 1000, "k");
  auto again = publish(r, 1, 1000 + 10'000'001, "k");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].offset, 2u);
}

TEST(Room, RecoveryReplaysExactlyTheMissedMessages) {
  Room r("r", "ep", policy(), 0);
  publish(r, 10);
  auto s = r.subscribe(protocol::StreamPosition{"ep", 6});
  EXPECT_TRUE(s.recovered);
  EXPECT_EQ(s.top, 10u);
  ASSERT_EQ(s.replay.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(s.replay[i].offset, 7 + i);
}

TEST(Room, TheSeamBetweenReplayAndLiveHasNoGapAndNoDuplicate) {
  // A subscriber recovers from 3 while publishing goes on: the snapshot ends
  // at top, and the next batch starts at top+1.
  Room r("r", "ep", policy(), 0);
  publish(r, 5);
  auto s = r.subscribe(protocol::StreamPosition{"ep", 3});
  auto live = publish(r, 4);
  std::vector<uint64_t> seen;
  for (auto& p : s.replay) seen.push_back(p.offset);
  for (auto& p : live)
    if (p.offset > s.top) seen.push_back(p.offset);
  std::vector<uint64_t> want{4, 5, 6, 7, 8, 9};
  EXPECT_EQ(seen, want);
}

TEST(Room, RecoveryIsRefusedWhenHistoryNoLongerCoversTheGap) {
  Room r("r", "ep", policy(5), 0);
  publish(r, 20);
  auto s = r.subscribe(protocol::StreamPosition{"ep", 1});
  EXPECT_FALSE(s.recovered);
  EXPECT_EQ(s.reason, "history_exhausted");
  EXPECT_TRUE(s.replay.empty());  // all or nothing
}

TEST(Room, RecoveryIsRefusedForAnotherEpochOrAFutureOffset) {
  Room r("r", "ep", policy(), 0);
  publish(r, 2);
  EXPECT_EQ(r.subscribe(protocol::StreamPosition{"old", 1}).reason, "epoch_changed");
  EXPECT_EQ(r.subscribe(protocol::StreamPosition{"ep", 9}).reason, "offset_ahead");
  auto fresh = r.subscribe(std::nullopt);
  EXPECT_FALSE(fresh.recovery_requested);
  EXPECT_EQ(fresh.top, 2u);
}

TEST(Room, RecoveryIsRefusedOnceMessagesAgeOut) {
  Room r("r", "ep", policy(), 0);
  publish(r, 3, 1000);
  r.expire(1000 + 60'000'001);
  EXPECT_EQ(r.subscribe(protocol::StreamPosition{"ep", 1}).reason, "history_exhausted");
  EXPECT_TRUE(r.subscribe(protocol::StreamPosition{"ep", 3}).recovered);  // nothing missed
}

TEST(Room, TracksPresenceBySession) {
  Room r("r", "ep", policy(), 0);
  EXPECT_TRUE(r.join({"s1", "alice", "c1"}));
  EXPECT_TRUE(r.join({"s2", "bob", "c2"}));
  // A second join of a listed session (an edge re-announcing its clients) changes nothing.
  EXPECT_FALSE(r.join({"s2", "mallory", "c9"}));
  EXPECT_EQ(r.presenceCount(), 2u);
  ASSERT_NE(r.member("s2"), nullptr);
  EXPECT_EQ(r.member("s2")->user, "bob");
  EXPECT_EQ(r.member("s3"), nullptr);
  EXPECT_TRUE(r.leave("s1"));
  EXPECT_FALSE(r.leave("s1"));
  ASSERT_EQ(r.presence().size(), 1u);
  EXPECT_EQ(r.presence()[0].user, "bob");
}

TEST(Room, DelayPolicyStampsAtFromTheRoomDelayUnlessTheMessageSaysOtherwise) {
  RoomPolicy p = policy();
  p.delivery = Delivery::kDelay;
  p.delay_us = 500'000;
  Room r("r", "ep", p, 0);
  std::vector<PublishInput> in(3);
  in[0].data_json = "1";
  in[1].data_json = "2";
  in[1].at_us = 42;
  in[2].data_json = "3";
  in[2].delay_us = 7;
  std::vector<PublishAck> acks;
  std::vector<Publication> out;
  r.publish(in, 1000, acks, out);
  auto at = [&](size_t i) { return boost::json::parse(*out[i].frame).as_object()["at"].as_int64(); };
  EXPECT_EQ(at(0), 1000 + 500'000);
  EXPECT_EQ(at(1), 42);
  EXPECT_EQ(at(2), 1007);
}

TEST(Room, AdaptiveDelayFollowsTheSlowestWorkersReportWithinBounds) {
  RoomPolicy p = policy();
  p.delivery = Delivery::kDelay;
  p.delay_adaptive = true;
  p.delay_min_us = 50'000;
  p.delay_max_us = 400'000;
  p.delay_margin_us = 30'000;
  Room r("r", "ep", p, 0);
  EXPECT_EQ(r.currentDelayUs(), 50'000);  // no reports: the floor
  r.reportDelay(0, 120'000);
  r.reportDelay(1, 250'000);
  EXPECT_EQ(r.currentDelayUs(), 280'000);  // slowest + margin
  r.reportDelay(1, 0);                     // worker 1 lost its subscribers
  EXPECT_EQ(r.currentDelayUs(), 150'000);
  r.reportDelay(0, 900'000);
  EXPECT_EQ(r.currentDelayUs(), 400'000);  // the ceiling
}

TEST(Room, ImmediateRoomsSendNoAtAndAtRoomsDefaultToTs) {
  RoomPolicy p = policy();
  p.delivery = Delivery::kAt;
  Room r("r", "ep", p, 0);
  auto out = publish(r, 1, 777);
  EXPECT_EQ(boost::json::parse(*out[0].frame).as_object()["at"].as_int64(), 777);
  Room plain("q", "ep", policy(), 0);
  auto out2 = publish(plain, 1, 777);
  EXPECT_FALSE(boost::json::parse(*out2[0].frame).as_object().contains("at"));
}
