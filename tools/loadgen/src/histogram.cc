#include "tutti/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tutti::loadgen {

int Histogram::bucketOf(int64_t ns) {
  const uint64_t v = static_cast<uint64_t>(std::max<int64_t>(ns, 0)) >> kMinShift;
  if (v < (1u << kSubBits)) return static_cast<int>(v);  // the first power: linear from 0
  const int top = std::bit_width(v) - 1;                  // >= kSubBits
  const int power = top - kSubBits + 1;
  const int sub = static_cast<int>((v >> (top - kSubBits)) & ((1u << kSubBits) - 1));
  return std::min(kBuckets - 1, (power << kSubBits) + sub);
}

int64_t Histogram::upperEdge(int bucket) {
  const int power = bucket >> kSubBits;
  const uint64_t sub = static_cast<uint64_t>(bucket & ((1 << kSubBits) - 1));
  uint64_t hi;  // exclusive upper edge, in units of 2^kMinShift ns
  if (power == 0) {
    hi = sub + 1;
  } else {
    const int top = power + kSubBits - 1;
    hi = ((1ull << kSubBits) | sub) + 1;
    hi <<= (top - kSubBits);
  }
  return static_cast<int64_t>(hi << kMinShift);
}

void Histogram::record(int64_t ns) {
  ++counts_[static_cast<size_t>(bucketOf(ns))];
  ++count_;
  max_ = std::max(max_, ns);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

void Histogram::clear() {
  counts_.fill(0);
  count_ = 0;
  max_ = 0;
}

int64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(count_)));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[static_cast<size_t>(b)];
    if (seen >= std::max<uint64_t>(rank, 1)) return std::min(upperEdge(b), max_);
  }
  return max_;
}

}  // namespace tutti::loadgen
