#pragma once
// A worker: one thread running one event loop. Connections and rooms live on
// exactly one worker; other threads reach them only by post().

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace boost::asio { class io_context; }

namespace tutti::net {

class Worker {
 public:
  explicit Worker(size_t index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  size_t index() const { return index_; }
  boost::asio::io_context& context();

  // Thread-safe: runs fn on this worker's thread, in post order.
  void post(std::function<void()> fn);
  // Thread-safe: runs fn on this worker after delay_us (steady time).
  void postAfter(int64_t delay_us, std::function<void()> fn);
  // Runs fn on this worker every period_ms until stop(). Call before start().
  void every(int64_t period_ms, std::function<void()> fn);

  void start();
  // Lets queued work finish, then stops the loop and joins the thread.
  void stop();

 private:
  struct Impl;
  size_t index_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace tutti::net
