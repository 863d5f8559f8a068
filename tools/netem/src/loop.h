#pragma once
// Private to the netem proxies: one io_context run by one thread, plus a way
// for other threads to run a function on it and wait for it.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tutti/core/result.h"
#include "tutti/protocol/codes.h"

namespace tutti::netem {

class Loop {
 public:
  Loop() : guard_(ioc_.get_executor()) {}
  ~Loop() { join(); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  boost::asio::io_context& context() { return ioc_; }

  void start() {
    thread_ = std::thread([this] { ioc_.run(); });
  }

  // Any thread: runs fn on the loop thread and returns when it has run (runs
  // it inline when called on the loop thread, or before start()).
  void call(const std::function<void()>& fn) {
    if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
      fn();
      return;
    }
    std::promise<void> done;
    boost::asio::post(ioc_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  // Lets the loop run out of work (the owner has closed its sockets and
  // cancelled its timers), then joins the thread. Not on the loop thread.
  void join() {
    guard_.reset();
    if (thread_.joinable()) thread_.join();
  }

 private:
  boost::asio::io_context ioc_{1};  // concurrency hint 1: one thread runs it
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

// Timers are real (steady_timer); the model's times come from a Clock. This
// turns "at this Clock time" into a steady_clock deadline.
inline std::chrono::steady_clock::time_point deadlineFor(int64_t at_us, int64_t now_us) {
  return std::chrono::steady_clock::now() + std::chrono::microseconds(std::max<int64_t>(0, at_us - now_us));
}

// Resolves host:port to endpoints (an IP literal needs no lookup). The error
// names the address.
template <typename Protocol>
Result<std::vector<typename Protocol::endpoint>> resolve(boost::asio::io_context& ioc, const std::string& host,
                                                         uint16_t port) {
  typename Protocol::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    return makeError(code::kInvalidParams,
                     "cannot resolve " + host + ":" + std::to_string(port) + ": " + ec.message());
  }
  std::vector<typename Protocol::endpoint> out;
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

}  // namespace tutti::netem
