#pragma once
// Assigns a room's offsets. A batch of publishes that waited together gets
// consecutive offsets in one step (LevelDB's write leader); the offset grows
// by exactly one per message. Thread: the room's home worker only.

#include <cstdint>
#include <string>

namespace tutti::sync {

class Sequencer {
 public:
  // top: offset of the last message already ordered (0 = none).
  explicit Sequencer(std::string epoch, uint64_t top = 0) : epoch_(std::move(epoch)), top_(top) {}

  const std::string& epoch() const { return epoch_; }
  uint64_t top() const { return top_; }

  // Reserves n consecutive offsets and returns the first (top()+1 before the call).
  uint64_t assign(uint64_t n) {
    const uint64_t first = top_ + 1;
    top_ += n;
    return first;
  }

 private:
  std::string epoch_;
  uint64_t top_;
};

}  // namespace tutti::sync
