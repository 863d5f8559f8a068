#pragma once
// Remembers publish acks by client message key for a time window, so a
// retried publish gets the original ack and no second message. Bounded in
// entries; the oldest go first. Thread: the room's home worker only.

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace tutti::sync {

struct PublishAck {
  uint64_t offset = 0;
  int64_t ts_us = 0;
  bool duplicate = false;
};

class DedupCache {
 public:
  DedupCache(int64_t window_us, size_t max_entries) : window_us_(window_us), max_entries_(max_entries) {}

  // The remembered ack, or nullptr. Expires old entries first.
  const PublishAck* find(const std::string& key, int64_t now_us);
  void insert(const std::string& key, PublishAck ack, int64_t now_us);
  size_t size() const { return map_.size(); }

 private:
  void expire(int64_t now_us);
  int64_t window_us_;
  size_t max_entries_;
  std::unordered_map<std::string, PublishAck> map_;
  std::deque<std::pair<int64_t, std::string>> order_;  // (inserted_us, key)
};

}  // namespace tutti::sync
