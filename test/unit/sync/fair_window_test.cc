#include "tutti/sync/fair_window.h"

#include <gtest/gtest.h>

using namespace tutti::sync;

namespace {
constexpr int64_t kMs = 1000;
constexpr int64_t kClose = 10'000 * kMs;

FairWindow window() {
  return FairWindow(WindowSpec{"w", 0, kClose, kClose + 1000 * kMs}, FairnessPolicy{});
}

// An honestly synced client with one-way delays up/down acting at `act`
// (true server time): its stamp carries the NTP error (up - down)/2.
ActionInput honest(const std::string& user, int64_t act, int64_t up, int64_t down) {
  ActionInput a;
  a.user = user;
  a.action_id = user + std::to_string(act);
  const int64_t sync_error = (up - down) / 2;
  a.stamp_us = act + sync_error;
  a.received_us = act + up;
  a.rtt_min_us = up + down;
  a.rtt_max_us = up + down;
  return a;
}
}  // namespace

TEST(FairWindow, AcceptsNearAndFarClientsActingBeforeTheClose) {
  auto w = window();
  EXPECT_TRUE(w.decide(honest("near", kClose - 50 * kMs, 5 * kMs, 5 * kMs)).accepted);
  auto far = w.decide(honest("far", kClose - 50 * kMs, 250 * kMs, 250 * kMs));
  EXPECT_TRUE(far.accepted) << far.reason;
  // The far client's action arrives after the close and is still accepted.
  EXPECT_GT(far.received_us, kClose);
}

TEST(FairWindow, RefusesBothActingAfterTheCloseAsLate) {
  auto w = window();
  EXPECT_EQ(w.decide(honest("near", kClose + 50 * kMs, 5 * kMs, 5 * kMs)).reason, "late");
  EXPECT_EQ(w.decide(honest("far", kClose + 50 * kMs, 250 * kMs, 250 * kMs)).reason, "late");
}

TEST(FairWindow, AcceptsOnAnAsymmetricPath) {
  auto w = window();
  auto d = w.decide(honest("asym", kClose - 50 * kMs, 10 * kMs, 60 * kMs));
  EXPECT_TRUE(d.accepted) << d.reason << " gap " << d.gap_us << " expected " << d.expected_gap_us;
}

TEST(FairWindow, RefusesAForgedEarlyStampAsImplausible) {
  auto w = window();
  // Acts 300 ms after the close but claims 50 ms before it.
  auto a = honest("cheat", kClose + 300 * kMs, 20 * kMs, 20 * kMs);
  a.stamp_us = kClose - 50 * kMs;
  EXPECT_EQ(w.decide(a).reason, "implausible");
}

TEST(FairWindow, RefusesAStampInTheFutureAsImplausible) {
  auto w = window();
  auto a = honest("future", kClose - 500 * kMs, 20 * kMs, 20 * kMs);
  a.stamp_us += 200 * kMs;
  EXPECT_EQ(w.decide(a).reason, "implausible");
}

TEST(FairWindow, RefusesEarlyActions) {
  FairWindow w(WindowSpec{"w", 5'000 * kMs, kClose, kClose + 1000 * kMs}, FairnessPolicy{});
  EXPECT_EQ(w.decide(honest("u", 4'000 * kMs, 5 * kMs, 5 * kMs)).reason, "early");
}

TEST(FairWindow, RefusesActionsArrivingAfterTheWindowSettled) {
  auto w = window();
  auto a = honest("u", kClose - 10 * kMs, 5 * kMs, 5 * kMs);
  a.received_us = kClose + 2000 * kMs;
  EXPECT_EQ(w.decide(a).reason, "late");
}

TEST(FairWindow, RepeatsTheFirstDecisionForADuplicateActionId) {
  auto w = window();
  auto a = honest("u", kClose - 10 * kMs, 5 * kMs, 5 * kMs);
  EXPECT_TRUE(w.decide(a).accepted);
  a.stamp_us = kClose + 500 * kMs;  // a replay with another stamp changes nothing
  auto d = w.decide(a);
  EXPECT_TRUE(d.accepted);
  EXPECT_TRUE(d.duplicate);
  EXPECT_EQ(w.accepted(), 1u);
}

TEST(FairWindow, RefusesUnpermittedActionsAndCountsReasons) {
  auto w = window();
  auto a = honest("u", kClose - 10 * kMs, 5 * kMs, 5 * kMs);
  a.permitted = false;
  EXPECT_EQ(w.decide(a).reason, "not_permitted");
  w.decide(honest("v", kClose + 10 * kMs, 5 * kMs, 5 * kMs));
  EXPECT_EQ(w.refusedByReason().at("not_permitted"), 1u);
  EXPECT_EQ(w.refusedByReason().at("late"), 1u);
}

TEST(FairWindow, WithoutAMeasuredRttAcceptsOnlyGapsUpToTheGrace) {
  auto w = window();
  ActionInput a;
  a.user = "u";
  a.action_id = "1";
  a.stamp_us = kClose - 100 * kMs;
  a.received_us = kClose - 50 * kMs;
  EXPECT_TRUE(w.decide(a).accepted);
  a.action_id = "2";
  a.received_us = a.stamp_us + 2000 * kMs;
  EXPECT_EQ(w.decide(a).reason, "late");  // after settles_at
  a.action_id = "3";
  a.stamp_us = kClose - 900 * kMs;
  a.received_us = kClose + 500 * kMs;  // gap 1.4 s > grace
  EXPECT_EQ(w.decide(a).reason, "implausible");
}
