#pragma once
// Polling waits for conditions that become true on other threads or in the
// server process.

#include <chrono>
#include <cstdint>
#include <thread>

namespace tutti::test {

// Calls pred() every poll_ms until it returns true (true) or timeout_ms passes
// (false; pred() is evaluated one last time at the deadline).
template <typename Pred>
bool eventually(Pred&& pred, int64_t timeout_ms, int64_t poll_ms = 10) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return pred();
}

}  // namespace tutti::test
