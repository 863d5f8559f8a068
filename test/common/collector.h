#pragma once
// Records what an SDK subscription delivers, for tests to wait on and check.
// The handlers run on the SDK's I/O thread; the accessors on the test thread.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tutti/sdk/client.h"

namespace tutti::test {

class Collector {
 public:
  sdk::SubscriptionHandlers handlers() {
    sdk::SubscriptionHandlers h;
    h.on_publication = [this](const sdk::Publication& p) {
      std::lock_guard lock(mu_);
      pubs_.push_back(p);
      cv_.notify_all();
    };
    h.on_subscribed = [this](const sdk::SubscribeResult& r) {
      std::lock_guard lock(mu_);
      subscribed_.push_back(r);
      cv_.notify_all();
    };
    h.on_join = [this](const sdk::PresenceClient& c) {
      std::lock_guard lock(mu_);
      joins_.push_back(c);
      cv_.notify_all();
    };
    h.on_leave = [this](const sdk::PresenceClient& c) {
      std::lock_guard lock(mu_);
      leaves_.push_back(c);
      cv_.notify_all();
    };
    h.on_error = [this](const Error& e) {
      std::lock_guard lock(mu_);
      errors_.push_back(e);
      cv_.notify_all();
    };
    return h;
  }

  // Waits until at least n publications arrived.
  bool waitPubs(size_t n, int64_t timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return pubs_.size() >= n; });
  }
  bool waitSubscribed(size_t n, int64_t timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return subscribed_.size() >= n; });
  }
  bool waitJoins(size_t n, int64_t timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return joins_.size() >= n; });
  }
  bool waitLeaves(size_t n, int64_t timeout_ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return leaves_.size() >= n; });
  }

  size_t pubCount() {
    std::lock_guard lock(mu_);
    return pubs_.size();
  }
  std::vector<sdk::Publication> pubs() {
    std::lock_guard lock(mu_);
    return pubs_;
  }
  std::vector<sdk::SubscribeResult> subscribed() {
    std::lock_guard lock(mu_);
    return subscribed_;
  }
  std::vector<sdk::PresenceClient> joins() {
    std::lock_guard lock(mu_);
    return joins_;
  }
  std::vector<sdk::PresenceClient> leaves() {
    std::lock_guard lock(mu_);
    return leaves_;
  }
  std::vector<Error> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<sdk::Publication> pubs_;
  std::vector<sdk::SubscribeResult> subscribed_;
  std::vector<sdk::PresenceClient> joins_;
  std::vector<sdk::PresenceClient> leaves_;
  std::vector<Error> errors_;
};

}  // namespace tutti::test
