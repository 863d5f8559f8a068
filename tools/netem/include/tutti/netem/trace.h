#pragma once
// A bandwidth trace in Mahimahi's format: one line per delivery opportunity,
// each line a timestamp in milliseconds since the start of the link. Each
// opportunity lets one 1,500-byte packet's worth of bytes pass; several lines
// with the same timestamp are several packets in that millisecond. The trace
// repeats with a period equal to its last timestamp, so "1" alone means one
// packet per millisecond forever (12 Mbit/s).
//
// Immutable once parsed; share it freely between threads.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::netem {

// Bytes one delivery opportunity carries (Mahimahi's MTU).
inline constexpr int64_t kPacketBytes = 1500;

class Trace {
 public:
  // Accepts non-negative integer timestamps, one per line, in non-decreasing
  // order, with a last timestamp above 0. Blank lines and surrounding spaces
  // are ignored. Anything else is an error naming the line.
  static Result<Trace> parse(std::string_view text);
  // Reads and parses a file; the error names the path.
  static Result<Trace> load(const std::string& path);

  // Opportunity times within one period, in ms, sorted; never empty.
  const std::vector<int64_t>& opportunitiesMs() const { return opportunities_ms_; }
  // The trace repeats after this many ms (its last timestamp, > 0).
  int64_t periodMs() const { return opportunities_ms_.back(); }
  // The long-run rate the trace allows, bits per second.
  double averageRateBps() const;

 private:
  explicit Trace(std::vector<int64_t> ms) : opportunities_ms_(std::move(ms)) {}
  std::vector<int64_t> opportunities_ms_;
};

}  // namespace tutti::netem
