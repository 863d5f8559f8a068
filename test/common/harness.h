#pragma once
// Shortcuts shared by the integration tests (test/integration): start a
// server from a TOML snippet, build SDK client options for it, wait on
// futures. The server binary comes from the TUTTI_BINARY compile definition
// (set by test/integration/CMakeLists.txt) or, failing that, the
// TUTTI_BINARY environment variable.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include "test/common/server_process.h"
#include "tutti/sdk/client.h"

namespace tutti::test {

inline std::string serverBinary() {
#ifdef TUTTI_BINARY
  return TUTTI_BINARY;
#else
  const char* env = std::getenv("TUTTI_BINARY");
  return env != nullptr ? env : "tutti";
#endif
}

// Starts a server with this config; nullptr (and a test failure naming the
// cause) if it does not come up.
// Two workers and publish limits no test reaches: for tests that publish
// faster than a client normally may.
constexpr char kFastPublishConfig[] = R"(
[server]
workers = 2

[limits]
publish_rate_per_s = 100000
publish_burst = 100000
)";

inline std::unique_ptr<ServerProcess> startServer(std::string toml) {
  auto s = std::make_unique<ServerProcess>(serverBinary(), std::move(toml));
  auto r = s->start();
  if (!r.ok()) {
    ADD_FAILURE() << "server did not start: " << r.error().message;
    return nullptr;
  }
  return s;
}

inline sdk::ClientOptions clientOptions(const ServerProcess& server, std::string token = {}) {
  sdk::ClientOptions o;
  o.url = server.wsUrl();
  o.token = std::move(token);
  o.request_timeout_ms = 10000;  // generous: sanitizer builds on a shared 2-core machine
  o.connect_timeout_ms = 5000;
  return o;
}

// The future's value, or an Error with code 0 ("future not ready") after timeout_ms.
template <typename T>
Result<T> await(std::future<Result<T>>& f, int64_t timeout_ms = 15000) {
  if (f.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready)
    return makeError(0, "future not ready after " + std::to_string(timeout_ms) + " ms");
  return f.get();
}
template <typename T>
Result<T> await(std::future<Result<T>>&& f, int64_t timeout_ms = 15000) {
  return await(f, timeout_ms);
}

inline int64_t nowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tutti::test
