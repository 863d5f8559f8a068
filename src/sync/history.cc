#include "tutti/sync/history.h"

namespace tutti::sync {

bool History::append(Publication p) {
  if (!items_.empty() && p.offset != items_.back().offset + 1) return false;
  items_.push_back(std::move(p));
  while (items_.size() > max_size_) items_.pop_front();
  return true;
}

void History::trim(int64_t now_us) {
  const int64_t oldest = now_us - max_age_us_;
  while (!items_.empty() && items_.front().ts_us < oldest) items_.pop_front();
}

bool History::covers(uint64_t after, uint64_t top) const {
  if (after >= top) return after == top;
  // Need after+1 .. top; history ends at top when the room appends every message.
  return !items_.empty() && items_.front().offset <= after + 1 && items_.back().offset == top;
}

std::vector<Publication> History::after(uint64_t after, size_t limit) const {
  std::vector<Publication> out;
  if (items_.empty() || after >= items_.back().offset) return out;
  size_t i = after < items_.front().offset ? 0 : static_cast<size_t>(after + 1 - items_.front().offset);
  for (; i < items_.size() && out.size() < limit; ++i) out.push_back(items_[i]);
  return out;
}

}  // namespace tutti::sync
