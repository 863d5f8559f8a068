// Orderly shutdown: SIGTERM drains, tells clients why (4001) and exits 0.

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/wait.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

TEST(Shutdown, SigtermClosesClientsWith4001AndExitsZero) {
  auto server = startServer(R"(
[server]
workers = 2
shutdown_grace_ms = 1000
)");
  ASSERT_TRUE(server);
  EXPECT_EQ(httpGet(server->port(), "/readyz").status, 200);

  std::mutex mu;
  std::vector<int> close_codes;
  // Collectors outlive the clients whose callbacks write into them.
  std::vector<std::unique_ptr<Collector>> collectors;
  std::vector<std::unique_ptr<sdk::Client>> clients;
  for (int i = 0; i < 3; ++i) {
    sdk::ClientOptions o = clientOptions(*server);
    o.backoff_min_ms = 2000;  // no reconnect attempt while we look
    o.on_state = [&](const sdk::StateChange& s) {
      if (s.close.code != 0) {
        std::lock_guard lock(mu);
        close_codes.push_back(s.close.code);
      }
    };
    clients.push_back(std::make_unique<sdk::Client>(o));
    collectors.push_back(std::make_unique<Collector>());
    ASSERT_TRUE(await(clients[i]->subscribe("room:" + std::to_string(i), collectors[i]->handlers())).ok());
  }

  ASSERT_TRUE(server->sendSignal(SIGTERM));
  // Once the signal is handled, readiness says no while draining (or the
  // listener no longer answers at all): poll until /readyz stops saying 200.
  int ready_status = 200;
  std::string ready_body;
  EXPECT_TRUE(eventually(
      [&] {
        HttpResponse r = httpGet(server->port(), "/readyz", {}, 500);
        ready_status = r.status;
        ready_body = r.body;
        return r.status != 200;
      },
      3000, 2))
      << "/readyz still 200 after SIGTERM";
  if (ready_status != 0) {
    EXPECT_EQ(ready_status, 503) << ready_body;
  }

  for (auto& c : clients) {
    EXPECT_TRUE(eventually([&] { return c->lastClose().code != 0; }, 5000));
    EXPECT_EQ(c->lastClose().code, code::kCloseShutdown) << c->lastClose().reason;
  }
  {
    std::lock_guard lock(mu);
    EXPECT_GE(close_codes.size(), 3u);
    for (int c : close_codes) EXPECT_EQ(c, code::kCloseShutdown);
  }
  auto status = server->waitExit(5000);
  ASSERT_TRUE(status.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*status, 0) << server->stderrTail();
  // 4001 means "come back later": the SDK keeps trying.
  EXPECT_NE(clients[0]->state(), sdk::State::kClosed);
}

}  // namespace
}  // namespace tutti::test
