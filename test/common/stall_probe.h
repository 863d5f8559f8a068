#pragma once
// Tells when the host took the CPUs away. The test machines are shared VMs:
// the hypervisor can deschedule a virtual CPU for milliseconds (the `steal`
// column of /proc/stat), which delays whatever runs there and says nothing
// about Tutti. A timing test or benchmark asks this probe whether an
// interval it measured was disturbed, and leaves such intervals out (and
// says how many).
//
// One probe thread per CPU, pinned to it, sleeps 200 us in a loop and
// records every wake-up at least `threshold_us` late. The threads ask for a
// real-time priority above anything else in the process (granted to root):
// then neither the measured code nor its peers can delay them, only the host
// and the kernel can. Without it (realtime() false) a "stall" may also be
// the process's own load, so the probe over-reports, never under-reports.

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "tutti/core/clock.h"

namespace tutti::test {

class StallProbe {
 public:
  explicit StallProbe(int64_t threshold_us = 500) : threshold_us_(threshold_us) {
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    realtime_ = true;
    for (unsigned cpu = 0; cpu < cpus; ++cpu) {
      threads_.emplace_back([this] { run(); });
      auto h = threads_.back().native_handle();
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      pthread_setaffinity_np(h, sizeof set, &set);
      sched_param prio{};
      prio.sched_priority = 50;  // above `chrt -f 1` and any other real-time thread of ours
      realtime_ = pthread_setschedparam(h, SCHED_FIFO, &prio) == 0 && realtime_;
    }
  }
  ~StallProbe() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  StallProbe(const StallProbe&) = delete;
  StallProbe& operator=(const StallProbe&) = delete;

  bool realtime() const { return realtime_; }

  // The longest stall (us) on any CPU that overlapped [from_wall_us, to_wall_us].
  int64_t worstBetween(int64_t from_wall_us, int64_t to_wall_us) {
    std::lock_guard lock(mu_);
    int64_t worst = 0;
    for (const auto& [start, len] : stalls_)
      if (start <= to_wall_us && start + len >= from_wall_us) worst = std::max(worst, len);
    return worst;
  }

 private:
  void run() {
    const Clock& clock = SystemClock::instance();
    while (!stop_) {
      const int64_t t = clock.wallUs();
      std::this_thread::sleep_for(std::chrono::microseconds(kSleepUs));
      const int64_t late = clock.wallUs() - t - kSleepUs;
      if (late >= threshold_us_) {
        std::lock_guard lock(mu_);
        stalls_.emplace_back(t, late + kSleepUs);
      }
    }
  }

  static constexpr int64_t kSleepUs = 200;
  const int64_t threshold_us_;
  std::atomic<bool> stop_{false};
  bool realtime_ = false;
  std::mutex mu_;
  std::vector<std::pair<int64_t, int64_t>> stalls_;  // start (wall us), length (us)
  std::vector<std::thread> threads_;
};

}  // namespace tutti::test
