#include "tutti/broker/room_mirror.h"

#include <gtest/gtest.h>

#include "tutti/protocol/codec.h"

namespace tutti::broker {
namespace {

sync::Publication pub(uint64_t offset, int64_t ts = 1000) {
  auto pf = protocol::encodePub("r", "e1", offset, ts, "{}");
  sync::Publication p;
  p.offset = offset;
  p.ts_us = ts;
  p.frame = std::make_shared<const std::string>(pf.bytes);
  return p;
}

protocol::StreamPosition at(std::string epoch, uint64_t offset) { return {std::move(epoch), offset}; }

TEST(RoomMirror, WaitsForTheUpstreamsFirstAnswer) {
  RoomMirror m(100, 1'000'000'000);
  EXPECT_FALSE(m.caughtUp());
  EXPECT_FALSE(m.append(pub(1), 1000));
}

TEST(RoomMirror, AFreshSubscriptionStartsEmptyAtTheOriginsTop) {
  RoomMirror m(100, 1'000'000'000);
  m.upstreamSubscribed("e1", 7, false);
  ASSERT_TRUE(m.caughtUp());
  auto s = m.subscribe(std::nullopt);
  EXPECT_EQ(s.epoch, "e1");
  EXPECT_EQ(s.top, 7u);
  EXPECT_TRUE(m.subscribe(at("e1", 7)).recovered);       // nothing missed
  EXPECT_EQ(m.subscribe(at("e1", 5)).reason, "history_exhausted");  // before the mirror began
  EXPECT_EQ(m.subscribe(at("e1", 9)).reason, "offset_ahead");
  EXPECT_EQ(m.subscribe(at("e0", 7)).reason, "epoch_changed");
}

TEST(RoomMirror, RecoversExactlyWhatItHolds) {
  RoomMirror m(100, 1'000'000'000);
  m.upstreamSubscribed("e1", 0, false);
  for (uint64_t o = 1; o <= 10; ++o) ASSERT_TRUE(m.append(pub(o), 1000));
  auto s = m.subscribe(at("e1", 4));
  ASSERT_TRUE(s.recovered);
  ASSERT_EQ(s.replay.size(), 6u);
  EXPECT_EQ(s.replay.front().offset, 5u);
  EXPECT_EQ(s.replay.back().offset, 10u);
  EXPECT_EQ(s.top, 10u);
}

TEST(RoomMirror, RefusesWhatDoesNotContinueIt) {
  RoomMirror m(100, 1'000'000'000);
  m.upstreamSubscribed("e1", 3, false);
  EXPECT_FALSE(m.append(pub(5), 1000));  // a gap
  EXPECT_FALSE(m.append(pub(3), 1000));  // a duplicate
  EXPECT_TRUE(m.append(pub(4), 1000));
  EXPECT_EQ(m.top(), 4u);
}

TEST(RoomMirror, IsBoundedLikeTheOriginsHistory) {
  RoomMirror m(3, 2'000'000);
  m.upstreamSubscribed("e1", 0, false);
  for (uint64_t o = 1; o <= 5; ++o) ASSERT_TRUE(m.append(pub(o, 1'000'000 * static_cast<int64_t>(o)), 1'000'000 * static_cast<int64_t>(o)));
  EXPECT_EQ(m.history().size(), 3u);
  EXPECT_FALSE(m.subscribe(at("e1", 1)).recovered);
  EXPECT_TRUE(m.subscribe(at("e1", 2)).recovered);
  m.trim(6'500'000);  // the ttl drops offsets 3 and 4 (ts 3 s and 4 s)
  EXPECT_EQ(m.subscribe(at("e1", 2)).reason, "history_exhausted");
  EXPECT_TRUE(m.subscribe(at("e1", 4)).recovered);
}

TEST(RoomMirror, AFirstSubscriberRecoveringMakesTheMirrorCoverItsGap) {
  RoomMirror m(100, 1'000'000'000);
  m.recoverFrom(at("e1", 4));
  m.upstreamSubscribed("e1", 6, true);  // the origin replays 5 and 6
  EXPECT_FALSE(m.caughtUp());
  ASSERT_TRUE(m.append(pub(5), 1000));
  EXPECT_FALSE(m.caughtUp());
  ASSERT_TRUE(m.append(pub(6), 1000));
  ASSERT_TRUE(m.caughtUp());
  auto s = m.subscribe(at("e1", 4));
  ASSERT_TRUE(s.recovered);
  EXPECT_EQ(s.replay.size(), 2u);
}

TEST(RoomMirror, AnUpstreamRecoveryKeepsItAndARefusedOneRestartsIt) {
  RoomMirror m(100, 1'000'000'000);
  m.upstreamSubscribed("e1", 0, false);
  ASSERT_TRUE(m.append(pub(1), 1000));
  m.upstreamSubscribed("e1", 3, true);  // after an upstream reconnect: 2 and 3 follow
  EXPECT_FALSE(m.caughtUp());
  ASSERT_TRUE(m.append(pub(2), 1000));
  ASSERT_TRUE(m.append(pub(3), 1000));
  EXPECT_TRUE(m.subscribe(at("e1", 0)).recovered);
  m.upstreamSubscribed("e2", 9, false);  // the origin restarted: a new epoch
  EXPECT_EQ(m.epoch(), "e2");
  EXPECT_EQ(m.top(), 9u);
  EXPECT_EQ(m.subscribe(at("e1", 3)).reason, "epoch_changed");
  EXPECT_EQ(m.history().size(), 0u);
}

}  // namespace
}  // namespace tutti::broker
