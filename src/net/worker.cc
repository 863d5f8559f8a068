#include "tutti/net/worker.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <optional>
#include <vector>

namespace tutti::net {

namespace asio = boost::asio;

struct Worker::Impl {
  asio::io_context ioc{1};  // concurrency hint 1: one thread runs it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  struct Periodic {
    int64_t period_ms;
    std::function<void()> fn;
    std::unique_ptr<asio::steady_timer> timer;
  };
  std::vector<std::unique_ptr<Periodic>> periodic;
  bool stopping = false;

  void arm(Periodic& p) {
    p.timer->expires_after(std::chrono::milliseconds(p.period_ms));
    p.timer->async_wait([this, &p](boost::system::error_code ec) {
      if (ec || stopping) return;
      p.fn();
      arm(p);
    });
  }
};

Worker::Worker(size_t index) : index_(index), impl_(std::make_unique<Impl>()) {}

Worker::~Worker() { stop(); }

asio::io_context& Worker::context() { return impl_->ioc; }

void Worker::post(std::function<void()> fn) { asio::post(impl_->ioc, std::move(fn)); }

void Worker::postAfter(int64_t delay_us, std::function<void()> fn) {
  asio::post(impl_->ioc, [this, delay_us, fn = std::move(fn)]() mutable {
    if (impl_->stopping) return;
    auto timer = std::make_shared<asio::steady_timer>(impl_->ioc, std::chrono::microseconds(std::max<int64_t>(0, delay_us)));
    timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code ec) {
      if (!ec) fn();
    });
  });
}

void Worker::every(int64_t period_ms, std::function<void()> fn) {
  auto p = std::make_unique<Impl::Periodic>();
  p->period_ms = period_ms;
  p->fn = std::move(fn);
  p->timer = std::make_unique<asio::steady_timer>(impl_->ioc);
  impl_->periodic.push_back(std::move(p));
}

void Worker::start() {
  impl_->guard.emplace(impl_->ioc.get_executor());
  for (auto& p : impl_->periodic) impl_->arm(*p);
  thread_ = std::thread([this] { impl_->ioc.run(); });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  asio::post(impl_->ioc, [this] {
    impl_->stopping = true;
    for (auto& p : impl_->periodic) p->timer->cancel();
  });
  impl_->guard.reset();
  // Sockets still open keep the loop alive; the server closes them first and
  // then stop() ends the loop regardless.
  asio::post(impl_->ioc, [this] { impl_->ioc.stop(); });
  thread_.join();
}

}  // namespace tutti::net
