#include "tutti/edge/coalescer.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"

using namespace tutti;
using namespace tutti::edge;

namespace {

using Body = std::shared_ptr<const std::string>;
using C = Coalescer<Body>;

constexpr int64_t kS = 1'000'000;

struct Fixture {
  ManualClock clock;
  metrics::Registry registry;
  C coalescer;
  std::vector<Result<Body>> answers;  // what each callback got, in order

  explicit Fixture(CoalescerConfig config = {}) : coalescer(make(config, clock, registry)) {}
  static C make(CoalescerConfig config, const Clock& clock, metrics::Registry& registry) {
    auto c = C::create(config, clock, registry);
    EXPECT_TRUE(c.ok());
    return std::move(c).value();
  }
  C::Callback record() {
    return [this](const Result<Body>& r) { answers.push_back(r); };
  }
};

CoalescerConfig bounds(size_t per_key, size_t total) {
  CoalescerConfig c;
  c.max_waiters_per_key = per_key;
  c.max_waiters = total;
  return c;
}

}  // namespace

TEST(Coalescer, RefusesBoundsThatCouldNeverAdmitAnyone) {
  ManualClock clock;
  metrics::Registry registry;
  EXPECT_FALSE(C::create(bounds(0, 10), clock, registry).ok());
  EXPECT_FALSE(C::create(bounds(10, 5), clock, registry).ok());
  CoalescerConfig c;
  c.fetch_timeout_us = 0;
  EXPECT_FALSE(C::create(c, clock, registry).ok());
  CoalescerConfig no_flights;
  no_flights.max_flights = 0;
  EXPECT_FALSE(C::create(no_flights, clock, registry).ok());
}

TEST(Coalescer, MakesOneLeaderAndGivesEveryWaiterTheSameSharedAnswer) {
  Fixture f;
  const auto first = f.coalescer.join("/hls/d/r/part-5.1.m4s", f.record());
  ASSERT_EQ(first.role, C::Role::kLeader);
  for (int i = 0; i < 499; ++i) {
    EXPECT_EQ(f.coalescer.join("/hls/d/r/part-5.1.m4s", f.record()).role, C::Role::kFollower);
  }
  EXPECT_EQ(f.coalescer.flights(), 1u);
  EXPECT_EQ(f.coalescer.waiters("/hls/d/r/part-5.1.m4s"), 500u);
  EXPECT_TRUE(f.answers.empty());

  const auto body = std::make_shared<const std::string>("moof+mdat");
  EXPECT_EQ(f.coalescer.complete("/hls/d/r/part-5.1.m4s", first.flight, Result<Body>(body)), 500u);
  ASSERT_EQ(f.answers.size(), 500u);
  for (const auto& a : f.answers) {
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.value().get(), body.get());  // one object, shared
  }
  EXPECT_EQ(f.coalescer.flights(), 0u);
  EXPECT_EQ(f.coalescer.waiters(), 0u);
  EXPECT_EQ(f.registry.valueOf("tutti_edge_upstream_fetches_total"), 1);
  EXPECT_EQ(f.registry.valueOf("tutti_edge_coalesced_requests_total"), 499);
}

TEST(Coalescer, GivesEveryWaiterTheSameError) {
  Fixture f;
  const auto t = f.coalescer.join("/k", f.record());
  f.coalescer.join("/k", f.record());
  f.coalescer.complete("/k", t.flight, Result<Body>(makeError(502, "origin refused the connection")));
  ASSERT_EQ(f.answers.size(), 2u);
  for (const auto& a : f.answers) {
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().code, 502);
  }
}

TEST(Coalescer, KeepsDifferentKeysInDifferentFlights) {
  Fixture f;
  const auto a = f.coalescer.join("/a", f.record());
  const auto b = f.coalescer.join("/b", f.record());
  EXPECT_EQ(a.role, C::Role::kLeader);
  EXPECT_EQ(b.role, C::Role::kLeader);
  EXPECT_NE(a.flight, b.flight);
  EXPECT_EQ(f.coalescer.complete("/a", a.flight, Result<Body>(nullptr)), 1u);
  EXPECT_EQ(f.coalescer.flights(), 1u);
  EXPECT_EQ(f.coalescer.waiters("/b"), 1u);
}

TEST(Coalescer, AnswersBusyPastTheBoundPerKeyAndKeepsNothing) {
  Fixture f(bounds(3, 100));
  for (int i = 0; i < 3; ++i) ASSERT_NE(f.coalescer.join("/hot", f.record()).role, C::Role::kBusy);
  bool called = false;
  const auto busy = f.coalescer.join("/hot", [&](const Result<Body>&) { called = true; });
  EXPECT_EQ(busy.role, C::Role::kBusy);
  EXPECT_EQ(f.coalescer.waiters("/hot"), 3u);
  // Another key still gets in.
  EXPECT_EQ(f.coalescer.join("/other", f.record()).role, C::Role::kLeader);
  EXPECT_EQ(f.registry.valueOf("tutti_edge_coalescer_busy_total"), 1);
  f.coalescer.expire();
  f.clock.advanceUs(60 * kS);
  f.coalescer.expire();
  EXPECT_FALSE(called);
}

TEST(Coalescer, AnswersBusyPastTheTotalBound) {
  Fixture f(bounds(2, 3));
  EXPECT_EQ(f.coalescer.join("/a", f.record()).role, C::Role::kLeader);
  EXPECT_EQ(f.coalescer.join("/b", f.record()).role, C::Role::kLeader);
  EXPECT_EQ(f.coalescer.join("/a", f.record()).role, C::Role::kFollower);
  EXPECT_EQ(f.coalescer.join("/c", f.record()).role, C::Role::kBusy);
  EXPECT_EQ(f.coalescer.join("/b", f.record()).role, C::Role::kBusy);
  EXPECT_EQ(f.coalescer.flights(), 2u);
}

TEST(Coalescer, StartsNoFlightPastItsBoundButLetsWaitersJoinTheOnesInTheAir) {
  CoalescerConfig c;
  c.max_flights = 2;
  Fixture f(c);
  const auto a = f.coalescer.join("/a", f.record());
  EXPECT_EQ(a.role, C::Role::kLeader);
  EXPECT_EQ(f.coalescer.join("/b", f.record()).role, C::Role::kLeader);
  EXPECT_EQ(f.coalescer.join("/c", f.record()).role, C::Role::kBusy) << "a third key fetched at once";
  EXPECT_EQ(f.coalescer.join("/a", f.record()).role, C::Role::kFollower) << "a key already in the air";
  EXPECT_EQ(f.coalescer.flights(), 2u);
  EXPECT_EQ(f.registry.valueOf("tutti_edge_coalescer_busy_total"), 1);
  EXPECT_EQ(f.coalescer.complete("/a", a.flight, Result<Body>(nullptr)), 2u);
  EXPECT_EQ(f.coalescer.join("/c", f.record()).role, C::Role::kLeader) << "room again once one lands";
}

TEST(Coalescer, EndsAFetchThatNeverCompletesAtItsDeadline) {
  CoalescerConfig config;
  config.fetch_timeout_us = 10 * kS;
  Fixture f(config);
  const auto t = f.coalescer.join("/stuck", f.record());
  f.clock.advanceUs(4 * kS);
  f.coalescer.join("/stuck", f.record());
  ASSERT_EQ(f.coalescer.nextDeadlineUs(), f.clock.monoUs() + 6 * kS);  // from the leader's join

  f.clock.advanceUs(6 * kS - 1);
  EXPECT_EQ(f.coalescer.expire(), 0u);
  EXPECT_TRUE(f.answers.empty());
  f.clock.advanceUs(1);
  EXPECT_EQ(f.coalescer.expire(), 1u);
  ASSERT_EQ(f.answers.size(), 2u);
  for (const auto& a : f.answers) {
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().code, code::kFetchTimeout);
  }
  EXPECT_EQ(f.coalescer.waiters(), 0u);
  EXPECT_FALSE(f.coalescer.nextDeadlineUs().has_value());
  EXPECT_EQ(f.registry.valueOf("tutti_edge_fetch_timeouts_total"), 1);

  // The fetch finally answers: too late, and it must not reach anyone.
  EXPECT_EQ(f.coalescer.complete("/stuck", t.flight, Result<Body>(nullptr)), 0u);
  EXPECT_EQ(f.answers.size(), 2u);
}

TEST(Coalescer, ALateCompletionCannotAnswerANewerFlightOfTheSameKey) {
  CoalescerConfig config;
  config.fetch_timeout_us = 1 * kS;
  Fixture f(config);
  const auto old = f.coalescer.join("/k", f.record());
  f.clock.advanceUs(1 * kS);
  f.coalescer.expire();
  const auto fresh = f.coalescer.join("/k", f.record());
  ASSERT_EQ(fresh.role, C::Role::kLeader);
  ASSERT_NE(fresh.flight, old.flight);
  EXPECT_EQ(f.coalescer.complete("/k", old.flight, Result<Body>(nullptr)), 0u);
  EXPECT_EQ(f.coalescer.waiters("/k"), 1u);
  EXPECT_EQ(f.coalescer.complete("/k", fresh.flight, Result<Body>(nullptr)), 1u);
}

TEST(Coalescer, ExpiresFlightsInDeadlineOrderAndOnlyTheDueOnes) {
  Fixture f;  // 10 s timeout
  f.coalescer.join("/a", f.record());
  f.clock.advanceUs(3 * kS);
  f.coalescer.join("/b", f.record());
  f.clock.advanceUs(3 * kS);
  f.coalescer.join("/c", f.record());
  f.clock.advanceUs(7 * kS);  // /a due at 10, /b at 13, /c at 16; now 13
  EXPECT_EQ(f.coalescer.expire(), 2u);
  EXPECT_EQ(f.coalescer.waiters("/c"), 1u);
  EXPECT_EQ(f.coalescer.nextDeadlineUs(), f.clock.monoUs() + 3 * kS);
}

TEST(Coalescer, LetsAWaiterLeaveWithoutStoppingTheFetch) {
  Fixture f;
  const auto leader = f.coalescer.join("/k", f.record());
  const auto gone = f.coalescer.join("/k", [](const Result<Body>&) { ADD_FAILURE() << "a cancelled waiter was answered"; });
  f.coalescer.join("/k", f.record());
  EXPECT_TRUE(f.coalescer.cancel("/k", gone));
  EXPECT_FALSE(f.coalescer.cancel("/k", gone));  // once
  EXPECT_EQ(f.coalescer.waiters("/k"), 2u);
  EXPECT_EQ(f.coalescer.waiters(), 2u);
  EXPECT_TRUE(f.coalescer.cancel("/k", leader));  // the leader's viewer left too: the flight goes on
  EXPECT_EQ(f.coalescer.flights(), 1u);
  EXPECT_EQ(f.coalescer.complete("/k", leader.flight, Result<Body>(nullptr)), 1u);
  EXPECT_EQ(f.answers.size(), 1u);
  EXPECT_FALSE(f.coalescer.cancel("/k", gone));
}

TEST(Coalescer, LetsACallbackRetryWithANewFlight) {
  Fixture f;
  C::Ticket retry;
  const auto t = f.coalescer.join("/k", [&](const Result<Body>& r) {
    if (!r.ok()) retry = f.coalescer.join("/k", f.record());
  });
  f.coalescer.complete("/k", t.flight, Result<Body>(makeError(503, "busy upstream")));
  EXPECT_EQ(retry.role, C::Role::kLeader);
  EXPECT_NE(retry.flight, t.flight);
  EXPECT_EQ(f.coalescer.flights(), 1u);
  EXPECT_EQ(f.coalescer.waiters(), 1u);
}

TEST(Coalescer, FreesTheTotalBoundAsFlightsComplete) {
  Fixture f(bounds(2, 2));
  const auto a = f.coalescer.join("/a", f.record());
  f.coalescer.join("/a", f.record());
  EXPECT_EQ(f.coalescer.join("/b", f.record()).role, C::Role::kBusy);
  f.coalescer.complete("/a", a.flight, Result<Body>(nullptr));
  EXPECT_EQ(f.coalescer.join("/b", f.record()).role, C::Role::kLeader);
}
