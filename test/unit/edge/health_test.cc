#include "tutti/edge/health.h"

#include <gtest/gtest.h>

#include "tutti/core/clock.h"
#include "tutti/edge/codes.h"

using namespace tutti;
using namespace tutti::edge;

namespace {

constexpr int64_t kS = 1'000'000;

HealthTracker make(const Clock& clock, HealthConfig config = {}) {
  auto h = HealthTracker::create(config, clock);
  EXPECT_TRUE(h.ok());
  return std::move(h).value();
}

}  // namespace

TEST(HealthTracker, RefusesThresholdsBelowOne) {
  ManualClock clock;
  EXPECT_EQ(HealthTracker::create({.fall = 0}, clock).error().code, code::kBadConfig);
  EXPECT_FALSE(HealthTracker::create({.rise = 0}, clock).ok());
  EXPECT_FALSE(HealthTracker::create({.fall = 1001}, clock).ok());
}

TEST(HealthTracker, StartsUpAndGoesDownAfterFallConsecutiveFailures) {
  ManualClock clock;
  HealthTracker h = make(clock, {.fall = 3, .rise = 2});
  const int64_t created = clock.monoUs();
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.changedAtUs(), created);
  clock.advanceUs(1 * kS);
  EXPECT_FALSE(h.recordFailure());
  clock.advanceUs(1 * kS);
  EXPECT_FALSE(h.recordFailure());
  EXPECT_TRUE(h.up());
  clock.advanceUs(1 * kS);
  EXPECT_TRUE(h.recordFailure());
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.changedAtUs(), created + 3 * kS);
  EXPECT_EQ(h.changedAtWallUs(), clock.wallUs());
  EXPECT_EQ(h.transitions(), 1u);
  clock.advanceUs(5 * kS);
  EXPECT_EQ(h.inStateUs(), 5 * kS);
}

TEST(HealthTracker, IgnoresFailuresThatAreNotConsecutive) {
  ManualClock clock;
  HealthTracker h = make(clock, {.fall = 3, .rise = 2});
  for (int i = 0; i < 100; ++i) {
    h.recordFailure();
    h.recordFailure();
    h.recordSuccess();  // a node that fails two in three never reaches three in a row
  }
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.transitions(), 0u);
}

TEST(HealthTracker, ComesBackOnlyAfterRiseConsecutiveSuccesses) {
  ManualClock clock;
  HealthTracker h = make(clock, {.fall = 1, .rise = 3});
  EXPECT_TRUE(h.recordFailure());
  ASSERT_FALSE(h.up());
  // Hysteresis: alternating results keep a down node down.
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(h.recordSuccess());
    EXPECT_FALSE(h.recordFailure());
  }
  EXPECT_FALSE(h.up());
  clock.advanceUs(7 * kS);
  EXPECT_FALSE(h.recordSuccess());
  EXPECT_FALSE(h.recordSuccess());
  EXPECT_TRUE(h.recordSuccess());
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.changedAtUs(), clock.monoUs());
  EXPECT_EQ(h.transitions(), 2u);
}

TEST(HealthTracker, ReportsAChangeOnlyOnceAndKeepsCountersBounded) {
  ManualClock clock;
  HealthTracker h = make(clock, {.fall = 2, .rise = 2});
  int changes = 0;
  for (int i = 0; i < 1000; ++i) changes += h.recordFailure();
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(h.consecutiveFailures(), 2);  // saturates
  for (int i = 0; i < 1000; ++i) changes += h.record(true);
  EXPECT_EQ(changes, 2);
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.consecutiveSuccesses(), 2);
}

TEST(HealthTracker, CanStartDownAndWaitForProof) {
  ManualClock clock;
  HealthTracker h = make(clock, {.fall = 3, .rise = 2, .initially_up = false});
  EXPECT_FALSE(h.up());
  EXPECT_FALSE(h.recordSuccess());
  EXPECT_TRUE(h.recordSuccess());
  EXPECT_TRUE(h.up());
}
