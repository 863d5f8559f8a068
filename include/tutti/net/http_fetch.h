#pragma once
// An HTTP/1.1 client for one worker: GET requests to upstream servers (an
// edge's origins and parents), with keep-alive connections kept per
// host:port for reuse. What it accepts from an upstream is bounded: the
// header size, the body size (max_body_bytes) and the time (timeout_ms for
// the whole exchange), so a hostile or broken upstream costs an error, not
// memory or a stuck request. Boost-free interface; Beast inside
// (http_fetch.cc).
//
// Thread: create, call and destroy on the worker's thread; `done` runs there,
// exactly once per get().

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::net {

class Worker;

struct FetchOptions {
  // The whole exchange: connect, send, the head and the body. A blocking
  // LL-HLS playlist request is held by the origin up to three target
  // durations (6 s), so the default leaves room for that.
  int64_t timeout_ms = 10'000;
  // Larger answers are refused (error), not buffered.
  int64_t max_body_bytes = 32 << 20;
  std::vector<std::pair<std::string, std::string>> headers;  // extra request fields
};

struct FetchResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::shared_ptr<const std::string> body;                   // never null
  std::string header(std::string_view name) const;
};

class HttpFetcher {
 public:
  // Idle connections kept per upstream (beyond them a finished connection closes).
  static constexpr size_t kMaxIdlePerUpstream = 16;

  explicit HttpFetcher(Worker& worker);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // GET http://host:port<target>. Errors: connection refused or reset, a
  // timeout, an answer that is not HTTP/1.x, a header or body too large.
  void get(const std::string& host, uint16_t port, std::string target, FetchOptions options,
           std::function<void(Result<FetchResponse>)> done);
  // Closes the idle connections (at shutdown).
  void closeIdle();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tutti::net
