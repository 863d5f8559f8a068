#include "tutti/loadgen/histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace tutti::loadgen {
namespace {

TEST(Histogram, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(99), 0);
}

TEST(Histogram, PercentilesWithinTwoPercentOfTheTruth) {
  Histogram h;
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int64_t> d(1'000, 100'000'000);  // 1 us .. 100 ms
  std::vector<int64_t> v;
  for (int i = 0; i < 100000; ++i) {
    v.push_back(d(rng));
    h.record(v.back());
  }
  std::sort(v.begin(), v.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double truth = static_cast<double>(v[static_cast<size_t>(p / 100 * static_cast<double>(v.size())) - 1]);
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), truth, truth * 0.02) << "p" << p;
  }
  EXPECT_EQ(h.max(), v.back());
  EXPECT_EQ(h.percentile(100), v.back());
}

TEST(Histogram, SmallAndHugeValuesStayOrdered) {
  Histogram h;
  h.record(0);
  h.record(500);
  h.record(int64_t{1} << 40);  // beyond the last bucket: kept in it
  EXPECT_EQ(h.count(), 3u);
  EXPECT_LE(h.percentile(30), 1024);
  EXPECT_EQ(h.percentile(100), int64_t{1} << 40);
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a, b;
  for (int i = 0; i < 100; ++i) a.record(1'000'000);
  for (int i = 0; i < 100; ++i) b.record(50'000'000);
  a.merge(b);
  EXPECT_EQ(a.count(), 200u);
  EXPECT_NEAR(static_cast<double>(a.percentile(25)), 1e6, 2e4);
  EXPECT_NEAR(static_cast<double>(a.percentile(75)), 5e7, 1e6);
}

}  // namespace
}  // namespace tutti::loadgen
