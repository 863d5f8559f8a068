#pragma once
// A latency histogram for the load generator: log-linear buckets (every
// power of two split into 64 linear steps, so any value is kept within 1.6%),
// from 1 us to about 70 s, constant memory, O(1) record, mergeable across
// threads. Values are in nanoseconds.

#include <array>
#include <cstdint>

namespace tutti::loadgen {

class Histogram {
 public:
  void record(int64_t ns);
  void merge(const Histogram& other);
  void clear();
  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  // The value at percentile p (0..100): the upper edge of the bucket that
  // holds it, capped at max(). 0 when empty.
  int64_t percentile(double p) const;

 private:
  static constexpr int kSubBits = 6;  // 64 steps per power of two
  static constexpr int kMinShift = 10;  // values below 1024 ns share the first buckets
  static constexpr int kPowers = 27;    // up to 2^(10+27) ns ~ 137 s
  static constexpr int kBuckets = kPowers << kSubBits;
  static int bucketOf(int64_t ns);
  static int64_t upperEdge(int bucket);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

}  // namespace tutti::loadgen
