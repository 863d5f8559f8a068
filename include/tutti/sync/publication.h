#pragma once
// A publication as ordered by a room: its position, time and the one
// serialised push frame every subscriber receives (shared, immutable).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tutti::sync {

// Immutable bytes shared by every queue that sends them (serialise once).
using Frame = std::shared_ptr<const std::string>;

struct Publication {
  uint64_t offset = 0;
  int64_t ts_us = 0;
  Frame frame;  // {"push":"pub",...} exactly as sent on the wire
  uint32_t data_pos = 0;
  uint32_t data_len = 0;

  // The publication's `data` JSON, a view into frame.
  std::string_view data() const { return std::string_view(*frame).substr(data_pos, data_len); }
};

}  // namespace tutti::sync
