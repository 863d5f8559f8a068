#include "tutti/core/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "tutti/core/clock.h"
#include "tutti/core/token_bucket.h"

using namespace tutti;

TEST(Metrics, RendersCountersWithLabelsInPrometheusTextFormat) {
  metrics::Registry r;
  r.counter("tutti_x_total", "X things", {{"reason", "a\"b"}}).inc(3);
  const auto text = r.render();
  EXPECT_NE(text.find("# TYPE tutti_x_total counter"), std::string::npos);
  EXPECT_NE(text.find("tutti_x_total{reason=\"a\\\"b\"} 3"), std::string::npos) << text;
}

TEST(Metrics, SameNameAndLabelsReturnTheSameCounter) {
  metrics::Registry r;
  r.counter("c", "h", {{"k", "v"}}).inc();
  r.counter("c", "h", {{"k", "v"}}).inc();
  EXPECT_EQ(r.valueOf("c", {{"k", "v"}}), 2);
  EXPECT_EQ(r.valueOf("c", {{"k", "w"}}), 0);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  metrics::Registry r;
  auto& h = r.histogram("lat_seconds", "latency", {0.001, 0.01});
  h.observe(0.0005);
  h.observe(0.005);
  h.observe(5);
  const auto text = r.render();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.001\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.01\"} 2"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count 3"), std::string::npos);
}

TEST(Metrics, CountersAreExactUnderConcurrentIncrements) {
  metrics::Registry r;
  auto& c = r.counter("n", "n");
  std::thread a([&] { for (int i = 0; i < 100000; ++i) c.inc(); });
  std::thread b([&] { for (int i = 0; i < 100000; ++i) c.inc(); });
  a.join();
  b.join();
  EXPECT_EQ(c.value(), 200000u);
}

TEST(Metrics, OneNameCannotHaveTwoTypes) {
  metrics::Registry r;
  r.counter("m", "h");
  EXPECT_THROW(r.gauge("m", "h"), std::logic_error);
}

TEST(TokenBucket, AllowsTheBurstThenTheRate) {
  TokenBucket b(10, 5, 0);  // 10/s, burst 5
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.tryTake(0));
  EXPECT_FALSE(b.tryTake(0));
  EXPECT_FALSE(b.tryTake(50'000));   // 0.5 token after 50 ms
  EXPECT_TRUE(b.tryTake(100'000));   // 1 token after 100 ms
  EXPECT_FALSE(b.tryTake(100'000));
  EXPECT_NEAR(b.tokens(10'000'000), 5, 1e-9);  // capped at the burst
}

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock c(1000, 50);
  EXPECT_EQ(c.wallUs(), 1000);
  c.advanceUs(25);
  EXPECT_EQ(c.wallUs(), 1025);
  EXPECT_EQ(c.monoUs(), 75);
}
