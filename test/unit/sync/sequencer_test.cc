#include "tutti/sync/sequencer.h"

#include <gtest/gtest.h>

using tutti::sync::Sequencer;

TEST(Sequencer, AssignsContiguousOffsetsAcrossABatch) {
  Sequencer s("e1");
  EXPECT_EQ(s.top(), 0u);
  EXPECT_EQ(s.assign(3), 1u);
  EXPECT_EQ(s.top(), 3u);
  EXPECT_EQ(s.assign(1), 4u);
  EXPECT_EQ(s.assign(2), 5u);
  EXPECT_EQ(s.top(), 6u);
}

TEST(Sequencer, ContinuesFromAGivenTop) {
  Sequencer s("e2", 41);
  EXPECT_EQ(s.assign(1), 42u);
  EXPECT_EQ(s.epoch(), "e2");
}
