#pragma once
// A room's recent publications for recovery: the last max_size messages, none
// older than max_age_us. Offsets inside are contiguous, so "is everything
// after X still here" is one comparison. Thread: the room's home worker only.

#include <cstdint>
#include <deque>
#include <vector>

#include "tutti/sync/publication.h"

namespace tutti::sync {

class History {
 public:
  History(size_t max_size, int64_t max_age_us) : max_size_(max_size), max_age_us_(max_age_us) {}

  // p.offset must be lastOffset()+1 when not empty (checked: returns false).
  bool append(Publication p);
  // Drops publications with ts_us older than now_us - max_age_us.
  void trim(int64_t now_us);

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  // 0 when empty.
  uint64_t firstOffset() const { return items_.empty() ? 0 : items_.front().offset; }
  uint64_t lastOffset() const { return items_.empty() ? 0 : items_.back().offset; }

  // True when every publication with offset in (after, top] is kept, where top
  // is the room's top offset. after == top is always covered (nothing missed).
  bool covers(uint64_t after, uint64_t top) const;
  // Publications with offset > after, oldest first, at most limit.
  std::vector<Publication> after(uint64_t after, size_t limit) const;

 private:
  size_t max_size_;
  int64_t max_age_us_;
  std::deque<Publication> items_;
};

}  // namespace tutti::sync
