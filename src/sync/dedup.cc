#include "tutti/sync/dedup.h"

namespace tutti::sync {

void DedupCache::expire(int64_t now_us) {
  while (!order_.empty() && (order_.front().first <= now_us - window_us_ || map_.size() > max_entries_)) {
    map_.erase(order_.front().second);
    order_.pop_front();
  }
}

const PublishAck* DedupCache::find(const std::string& key, int64_t now_us) {
  expire(now_us);
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

void DedupCache::insert(const std::string& key, PublishAck ack, int64_t now_us) {
  if (max_entries_ == 0 || window_us_ <= 0) return;
  auto [it, inserted] = map_.emplace(key, ack);
  if (!inserted) return;
  order_.emplace_back(now_us, key);
  expire(now_us);
}

}  // namespace tutti::sync
