#include "tutti/netem/link_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "tutti/core/clock.h"

using tutti::ManualClock;
using tutti::netem::DatagramVerdict;
using tutti::netem::kPacketBytes;
using tutti::netem::LinkConfig;
using tutti::netem::LinkModel;
using tutti::netem::StreamState;
using tutti::netem::Trace;

namespace {

constexpr int64_t kMs = 1000;
constexpr int64_t kSecond = 1000 * kMs;

std::shared_ptr<const Trace> trace(const char* text) {
  auto t = Trace::parse(text);
  EXPECT_TRUE(t.ok());
  return std::make_shared<const Trace>(std::move(*t));
}

}  // namespace

TEST(LinkModel, AppliesTheBaseDelayExactly) {
  ManualClock clock;
  LinkModel link(LinkConfig{.delay_us = 40 * kMs}, 1, clock.monoUs());
  StreamState stream;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(link.sendStream(clock.monoUs(), 100, stream), clock.monoUs() + 40 * kMs);
    const DatagramVerdict v = link.sendDatagram(clock.monoUs(), 100);
    EXPECT_EQ(v.fate, DatagramVerdict::Fate::kDeliver);
    EXPECT_EQ(v.release_us, clock.monoUs() + 40 * kMs);
    clock.advanceUs(7 * kMs);
  }
}

TEST(LinkModel, JitterStaysWithinItsBoundsAndUsesThem) {
  ManualClock clock;
  LinkModel link(LinkConfig{.delay_us = 40 * kMs, .jitter_us = 10 * kMs}, 7, clock.monoUs());
  StreamState stream;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (int i = 0; i < 1000; ++i) {
    // Far apart, so the order rule never holds a chunk back.
    clock.advanceUs(kSecond);
    const int64_t delay = link.sendStream(clock.monoUs(), 100, stream) - clock.monoUs();
    ASSERT_GE(delay, 30 * kMs);
    ASSERT_LE(delay, 50 * kMs);
    lo = std::min(lo, delay);
    hi = std::max(hi, delay);
  }
  EXPECT_LT(lo, 31 * kMs);
  EXPECT_GT(hi, 49 * kMs);
}

TEST(LinkModel, JitterNeverGoesBelowZeroDelay) {
  LinkModel link(LinkConfig{.delay_us = 2 * kMs, .jitter_us = 10 * kMs}, 3, 0);
  for (int64_t t = 0; t < 1000 * kSecond; t += kSecond) {
    EXPECT_GE(link.sendDatagram(t, 100).release_us, t);
  }
}

TEST(LinkModel, JitterNeverReordersATcpStream) {
  ManualClock clock;
  LinkModel link(LinkConfig{.delay_us = 40 * kMs, .jitter_us = 10 * kMs}, 11, clock.monoUs());
  StreamState stream;
  int64_t previous = INT64_MIN;
  int held_back = 0;
  for (int i = 0; i < 2000; ++i) {
    clock.advanceUs(kMs);  // much closer together than the jitter range
    const int64_t release = link.sendStream(clock.monoUs(), 500, stream);
    ASSERT_GE(release, previous) << "chunk " << i;
    ASSERT_GE(release, clock.monoUs() + 30 * kMs);
    if (release == previous) ++held_back;
    previous = release;
  }
  EXPECT_GT(held_back, 0);  // the rule was needed, so the test means something
}

TEST(LinkModel, StreamsKeepTheirOrderIndependently) {
  // Two connections share the link; each keeps its own order, neither waits
  // for the other's jitter.
  LinkModel link(LinkConfig{.delay_us = 40 * kMs, .jitter_us = 10 * kMs}, 5, 0);
  StreamState a, b;
  int64_t last_a = INT64_MIN, last_b = INT64_MIN;
  bool b_before_a = false;
  for (int64_t t = 0; t < 500 * kMs; t += kMs) {
    const int64_t ra = link.sendStream(t, 100, a);
    const int64_t rb = link.sendStream(t, 100, b);
    ASSERT_GE(ra, last_a);
    ASSERT_GE(rb, last_b);
    if (rb < ra) b_before_a = true;
    last_a = ra;
    last_b = rb;
  }
  EXPECT_TRUE(b_before_a);
}

TEST(LinkModel, TheSameSeedGivesTheSameConditions) {
  LinkConfig cfg{.delay_us = 40 * kMs, .jitter_us = 10 * kMs, .loss = 0.1, .reorder = 0.1};
  LinkModel one(cfg, 42, 0), two(cfg, 42, 0), other(cfg, 43, 0);
  bool differs = false;
  for (int64_t t = 0; t < 1000 * kMs; t += kMs) {
    const auto a = one.sendDatagram(t, 100);
    const auto b = two.sendDatagram(t, 100);
    const auto c = other.sendDatagram(t, 100);
    ASSERT_EQ(a.fate, b.fate);
    ASSERT_EQ(a.release_us, b.release_us);
    if (a.fate != c.fate || a.release_us != c.release_us) differs = true;
  }
  EXPECT_TRUE(differs);
}

TEST(LinkModel, TokenBucketCarriesOneMegabyteAtEightMegabitsInOneSecond) {
  ManualClock clock;
  const int64_t start = clock.monoUs();
  LinkModel link(LinkConfig{.rate_bps = 8'000'000}, 1, start);
  StreamState stream;
  int64_t last = 0;
  // All offered at once, in packets, as the proxy does.
  for (int64_t sent = 0; sent < 1'000'000; sent += kPacketBytes) {
    last = link.sendStream(start, std::min(kPacketBytes, 1'000'000 - sent), stream);
  }
  EXPECT_NEAR(static_cast<double>(last - start), 1.0 * kSecond, 2.0 * kMs);
  // The same megabyte as one chunk takes the same time.
  LinkModel one_chunk(LinkConfig{.rate_bps = 8'000'000}, 1, start);
  StreamState s2;
  EXPECT_NEAR(static_cast<double>(one_chunk.sendStream(start, 1'000'000, s2) - start), 1.0 * kSecond, 2.0 * kMs);
}

TEST(LinkModel, TokenBucketLetsItsBurstThroughAtOnce) {
  LinkModel link(LinkConfig{.rate_bps = 1'200'000, .burst_bytes = 10 * kPacketBytes}, 1, 0);
  StreamState s;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 0) << i;
  // 1.2 Mbit/s = 150 bytes/ms: the eleventh packet waits 10 ms.
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 10 * kMs);
  // Idle long enough, the bucket is full again.
  EXPECT_EQ(link.sendStream(kSecond, kPacketBytes, s), kSecond);
}

TEST(LinkModel, QueueingDelayAddsUpBeforeThePropagationDelay) {
  // 150 bytes/ms: each packet takes 10 ms; the delay comes on top.
  LinkModel link(LinkConfig{.delay_us = 5 * kMs, .rate_bps = 1'200'000}, 1, 0);
  StreamState s;
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 5 * kMs);  // the bucket starts with one packet
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 15 * kMs);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 25 * kMs);
  EXPECT_EQ(link.queuedBytes(0), 2 * kPacketBytes);
  EXPECT_EQ(link.queuedBytes(10 * kMs), kPacketBytes);
  EXPECT_EQ(link.queuedBytes(20 * kMs), 0);
}

TEST(LinkModel, ATraceWithOnePacketPerMillisecondCarriesTwelveMegabits) {
  LinkModel link(LinkConfig{.trace = trace("1\n")}, 1, 0);
  StreamState s;
  int64_t last = 0;
  const int64_t bytes = 12'000'000 / 8;  // one second's worth
  for (int64_t sent = 0; sent < bytes; sent += kPacketBytes) last = link.sendStream(0, kPacketBytes, s);
  EXPECT_EQ(last, kSecond);
}

TEST(LinkModel, ATraceRepeatsAfterItsLastTimestamp) {
  // Opportunities at 5 and 10 ms, then 15 and 20, 25 and 30, ...
  LinkModel link(LinkConfig{.trace = trace("5\n10\n")}, 1, 0);
  StreamState s;
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 5 * kMs);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 10 * kMs);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 15 * kMs);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 20 * kMs);
  // After an idle spell the next opportunity is on the trace's grid, many
  // periods later; those missed while idle are gone.
  EXPECT_EQ(link.sendStream(1'001 * kMs, kPacketBytes, s), 1'005 * kMs);
  EXPECT_EQ(link.sendStream(1'005 * kMs, kPacketBytes, s), 1'010 * kMs);
}

TEST(LinkModel, ATraceTimestampEqualToThePeriodIsNotSkipped) {
  // 0 and 10 with period 10: two opportunities at 10 ms (the end of one
  // period and the start of the next).
  LinkModel link(LinkConfig{.trace = trace("0\n10\n")}, 1, 0);
  StreamState s;
  EXPECT_EQ(link.sendStream(10 * kMs, kPacketBytes, s), 10 * kMs);
  EXPECT_EQ(link.sendStream(10 * kMs, kPacketBytes, s), 10 * kMs);
  EXPECT_EQ(link.sendStream(10 * kMs, kPacketBytes, s), 20 * kMs);
}

TEST(LinkModel, AChunkLargerThanAPacketUsesSeveralOpportunities) {
  LinkModel link(LinkConfig{.trace = trace("1\n")}, 1, 0);
  StreamState s;
  EXPECT_EQ(link.sendStream(0, 4000, s), 3 * kMs);  // 1500 + 1500 + 1000
  // The 500 bytes left in the opportunity at 3 ms serve a chunk that was
  // already waiting then...
  EXPECT_EQ(link.sendStream(2 * kMs, 300, s), 3 * kMs);
  // ...but what is left of them is gone for one that comes later.
  EXPECT_EQ(link.sendStream(3 * kMs + 1, 100, s), 4 * kMs);
}

TEST(LinkModel, AFullQueueDropsDatagrams) {
  // 150 bytes/ms and room for two waiting packets.
  LinkModel link(LinkConfig{.rate_bps = 1'200'000, .queue_bytes = 2 * kPacketBytes}, 1, 0);
  EXPECT_EQ(link.sendDatagram(0, kPacketBytes).fate, DatagramVerdict::Fate::kDeliver);  // leaves at once
  EXPECT_EQ(link.sendDatagram(0, kPacketBytes).fate, DatagramVerdict::Fate::kDeliver);  // waits
  EXPECT_EQ(link.sendDatagram(0, kPacketBytes).fate, DatagramVerdict::Fate::kDeliver);  // waits
  EXPECT_EQ(link.sendDatagram(0, kPacketBytes).fate, DatagramVerdict::Fate::kQueueFull);
  EXPECT_EQ(link.sendDatagram(0, 1).fate, DatagramVerdict::Fate::kQueueFull);
  // Once the head has left there is room for one more.
  EXPECT_EQ(link.sendDatagram(10 * kMs, kPacketBytes).fate, DatagramVerdict::Fate::kDeliver);
  EXPECT_EQ(link.sendDatagram(10 * kMs, kPacketBytes).fate, DatagramVerdict::Fate::kQueueFull);
}

TEST(LinkModel, AFullQueueTellsAStreamWhenToReadAgain) {
  LinkModel link(LinkConfig{.rate_bps = 1'200'000, .queue_bytes = 3000}, 1, 0);
  StreamState s;
  EXPECT_EQ(link.roomBytes(0), 3000);
  EXPECT_FALSE(link.nextDepartureUs(0).has_value());
  link.sendStream(0, kPacketBytes, s);  // through at once (the bucket's one packet)
  link.sendStream(0, kPacketBytes, s);
  link.sendStream(0, kPacketBytes, s);
  EXPECT_EQ(link.roomBytes(0), 0);
  ASSERT_TRUE(link.nextDepartureUs(0).has_value());
  EXPECT_EQ(*link.nextDepartureUs(0), 10 * kMs);
  EXPECT_EQ(link.roomBytes(10 * kMs), kPacketBytes);
  EXPECT_EQ(link.roomBytes(20 * kMs), 3000);
}

TEST(LinkModel, UnlimitedLinksNeverQueue) {
  LinkModel link(LinkConfig{.delay_us = 10 * kMs, .queue_bytes = 100}, 1, 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(link.sendDatagram(0, kPacketBytes).fate, DatagramVerdict::Fate::kDeliver);
  EXPECT_EQ(link.queuedBytes(0), 0);
}

TEST(LinkModel, LosesDatagramsAtTheConfiguredRate) {
  LinkModel link(LinkConfig{.delay_us = 10 * kMs, .loss = 0.1}, 1234, 0);
  int lost = 0;
  const int n = 100'000;
  for (int i = 0; i < n; ++i) {
    if (link.sendDatagram(i * 100, 200).fate == DatagramVerdict::Fate::kLost) ++lost;
  }
  EXPECT_NEAR(static_cast<double>(lost) / n, 0.1, 0.005);
}

TEST(LinkModel, NeverLosesWithoutALossProbability) {
  LinkModel link(LinkConfig{.delay_us = 10 * kMs, .jitter_us = 5 * kMs}, 1234, 0);
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(link.sendDatagram(i * 100, 200).fate, DatagramVerdict::Fate::kDeliver);
}

TEST(LinkModel, ReordersDatagramsOnlyWithAPositiveProbability) {
  auto inversions = [](double p) {
    LinkModel link(LinkConfig{.delay_us = 20 * kMs, .jitter_us = 5 * kMs, .reorder = p}, 99, 0);
    int count = 0, marked = 0;
    int64_t latest = INT64_MIN;
    for (int i = 0; i < 1000; ++i) {
      const auto v = link.sendDatagram(i * kMs, 200);
      if (v.release_us < latest) ++count;  // overtakes one sent before it
      latest = std::max(latest, v.release_us);
      if (v.reordered) ++marked;
    }
    return std::pair{count, marked};
  };
  auto [with_p, marked] = inversions(0.1);
  EXPECT_GT(with_p, 50);
  EXPECT_NEAR(marked, 100, 40);
  auto [without_p, none_marked] = inversions(0.0);
  EXPECT_EQ(without_p, 0);  // jitter alone never reorders
  EXPECT_EQ(none_marked, 0);
}

TEST(LinkModel, DuplicatesDatagramsWithTheConfiguredProbability) {
  LinkModel link(LinkConfig{.duplicate = 0.2}, 8, 0);
  int dup = 0;
  for (int i = 0; i < 10'000; ++i) dup += link.sendDatagram(i * kMs, 100).duplicated ? 1 : 0;
  EXPECT_NEAR(dup / 10'000.0, 0.2, 0.02);
}

TEST(LinkModel, AFinUsesNoBandwidthButKeepsItsPlace) {
  LinkModel link(LinkConfig{.rate_bps = 1'200'000}, 1, 0);
  StreamState s;
  link.sendStream(0, kPacketBytes, s);
  const int64_t last_data = link.sendStream(0, kPacketBytes, s);
  EXPECT_EQ(link.sendStream(0, 0, s), last_data);
  EXPECT_EQ(link.queuedBytes(0), kPacketBytes);
}

TEST(LinkModel, AShorterDelayAfterReconfigureDoesNotReorderAStream) {
  ManualClock clock;
  LinkModel link(LinkConfig{.delay_us = 100 * kMs}, 1, clock.monoUs());
  StreamState s;
  const int64_t before = link.sendStream(clock.monoUs(), 100, s);
  clock.advanceUs(kMs);
  link.reconfigure(LinkConfig{.delay_us = 10 * kMs}, clock.monoUs());
  EXPECT_EQ(link.sendStream(clock.monoUs(), 100, s), before);  // held behind the earlier chunk
  clock.advanceUs(200 * kMs);
  EXPECT_EQ(link.sendStream(clock.monoUs(), 100, s), clock.monoUs() + 10 * kMs);
}

TEST(LinkModel, ReconfigureChangesTheRateForWhatComesNext) {
  LinkModel link(LinkConfig{.rate_bps = 1'200'000}, 1, 0);
  StreamState s;
  link.sendStream(0, kPacketBytes, s);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 10 * kMs);
  link.reconfigure(LinkConfig{.rate_bps = 12'000'000}, 0);
  // The new bucket starts full after what is already queued, then 1 packet/ms.
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 10 * kMs);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 11 * kMs);
  // Changing only the delay keeps the bucket as it is.
  link.reconfigure(LinkConfig{.delay_us = 1 * kMs, .rate_bps = 12'000'000}, 0);
  EXPECT_EQ(link.sendStream(0, kPacketBytes, s), 13 * kMs);
}
