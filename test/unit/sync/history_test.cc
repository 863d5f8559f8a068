#include "tutti/sync/history.h"

#include <gtest/gtest.h>

using namespace tutti::sync;

static Publication pub(uint64_t offset, int64_t ts) {
  Publication p;
  p.offset = offset;
  p.ts_us = ts;
  p.frame = std::make_shared<const std::string>("{" + std::to_string(offset) + "}");
  p.data_pos = 1;
  p.data_len = static_cast<uint32_t>(std::to_string(offset).size());
  return p;
}

TEST(History, KeepsTheLastNMessages) {
  History h(3, 1'000'000'000);
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(h.append(pub(i, 0)));
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.firstOffset(), 3u);
  EXPECT_EQ(h.lastOffset(), 5u);
}

TEST(History, RefusesANonContiguousAppend) {
  History h(10, 1'000'000);
  ASSERT_TRUE(h.append(pub(1, 0)));
  EXPECT_FALSE(h.append(pub(3, 0)));
  EXPECT_EQ(h.lastOffset(), 1u);
}

TEST(History, DropsMessagesOlderThanTheMaximumAge) {
  History h(10, 1000);
  h.append(pub(1, 0));
  h.append(pub(2, 500));
  h.append(pub(3, 1500));
  h.trim(1600);  // oldest allowed: 600
  EXPECT_EQ(h.firstOffset(), 3u);
}

TEST(History, CoversAGapOnlyWhenEveryMissedOffsetIsKept) {
  History h(3, 1'000'000);
  for (uint64_t i = 1; i <= 5; ++i) h.append(pub(i, 0));  // keeps 3,4,5
  EXPECT_TRUE(h.covers(5, 5));   // nothing missed
  EXPECT_TRUE(h.covers(2, 5));   // needs 3..5
  EXPECT_FALSE(h.covers(1, 5));  // needs 2, gone
  EXPECT_FALSE(h.covers(6, 5));  // ahead of the room
}

TEST(History, EmptyHistoryCoversOnlyTheTop) {
  History h(0, 1'000'000);
  EXPECT_TRUE(h.covers(7, 7));
  EXPECT_FALSE(h.covers(6, 7));
}

TEST(History, ReturnsPublicationsAfterAnOffsetWithALimit) {
  History h(10, 1'000'000);
  for (uint64_t i = 1; i <= 6; ++i) h.append(pub(i, 0));
  auto v = h.after(2, 3);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].offset, 3u);
  EXPECT_EQ(v[2].offset, 5u);
  EXPECT_EQ(v[0].data(), "3");
  EXPECT_TRUE(h.after(6, 10).empty());
  EXPECT_EQ(h.after(0, 100).size(), 6u);
}
