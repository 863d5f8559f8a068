// The SDK's choice among candidate endpoints (ClientOptions::candidates, the
// edges of a region): the nearest healthy one, measured by a GET /healthz
// round trip through the real path, and the next one when it fails.

#include <gtest/gtest.h>

#include <csignal>
#include <memory>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/wait.h"
#include "tutti/netem/proxy.h"

namespace tutti::test {
namespace {

std::unique_ptr<netem::Proxy> delayed(uint16_t target, int64_t one_way_us) {
  netem::ProxyConfig pc;
  pc.target_port = target;
  pc.up.delay_us = one_way_us;
  pc.down.delay_us = one_way_us;
  auto p = netem::Proxy::startTcp(pc);
  return p ? std::move(p.value()) : nullptr;
}

std::string wsUrl(uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/ws"; }

double connections(uint16_t port) { return metricValue(port, "tutti_connections").value_or(-1); }

TEST(NearestEndpoint, TheSdkConnectsToTheNearestCandidateAndMovesToTheNextWhenItFails) {
  auto near = startServer("[server]\nworkers = 1\n");
  auto far = startServer("[server]\nworkers = 1\n");
  ASSERT_TRUE(near && far);
  // The far one is 40 ms away each way; the near one 2 ms.
  auto far_link = delayed(far->port(), 40'000);
  auto near_link = delayed(near->port(), 2'000);
  ASSERT_TRUE(far_link && near_link);
  sdk::ClientOptions o;
  o.candidates = {wsUrl(far_link->port()), wsUrl(near_link->port())};  // the far one first: order does not decide
  o.backoff_min_ms = 50;
  o.backoff_max_ms = 200;
  sdk::Client client(o);
  ASSERT_TRUE(await(client.connect()).ok());
  EXPECT_TRUE(eventually([&] { return connections(near->port()) == 1; }, 3000));
  EXPECT_EQ(connections(far->port()), 0);

  // The near one dies: the client moves to the far one by itself.
  near->sendSignal(SIGKILL);
  near->waitExit(5000);
  EXPECT_TRUE(eventually([&] { return connections(far->port()) == 1; }, 10000, 50));
  EXPECT_TRUE(eventually([&] { return client.state() == sdk::State::kConnected; }, 5000));
}

TEST(NearestEndpoint, TheDirectoryListsARegionsEdgesForAnyoneToAsk) {
  auto origin = startServer(
      "[server]\nworkers = 1\n[directory]\n"
      "[[directory.edges]]\nurl = \"ws://127.0.0.1:9101/ws\"\nregion = \"eu\"\n"
      "[[directory.edges]]\nurl = \"ws://127.0.0.1:9102/ws\"\nregion = \"eu\"\n"
      "[[directory.edges]]\nurl = \"ws://127.0.0.1:9201/ws\"\nregion = \"us\"\n");
  ASSERT_TRUE(origin);
  // No API key configured: the directory is public (CORS too), the rest of the API is not.
  const auto eu = httpGet(origin->port(), "/api/directory?region=eu");
  ASSERT_EQ(eu.status, 200) << eu.body;
  EXPECT_EQ(eu.body, R"({"edges":[{"url":"ws://127.0.0.1:9101/ws","region":"eu"},{"url":"ws://127.0.0.1:9102/ws","region":"eu"}]})");
  EXPECT_EQ(eu.header("access-control-allow-origin"), "*");
  const auto all = httpGet(origin->port(), "/api/directory");
  EXPECT_NE(all.body.find("9201"), std::string::npos);
  EXPECT_EQ(httpGet(origin->port(), "/api/directory?region=asia").body, R"({"edges":[]})");
  EXPECT_EQ(httpGet(origin->port(), "/api/stats").status, 403);
  // A bad entry is refused at start.
  ServerProcess bad(serverBinary(), "[directory]\n[[directory.edges]]\nurl = \"http://x\"\n");
  EXPECT_FALSE(bad.start(5000).ok());
}

TEST(NearestEndpoint, NoCandidateAnsweringIsAFailedAttemptThatIsRetried) {
  sdk::ClientOptions o;
  o.candidates = {"ws://127.0.0.1:1/ws"};
  o.candidate_probe_ms = 200;
  o.connect_timeout_ms = 1500;
  sdk::Client client(o);
  auto r = await(client.connect(), 5000);
  EXPECT_FALSE(r.ok());
  sdk::ClientOptions bad;
  bad.candidates = {"http://nope"};
  sdk::Client refused(bad);
  EXPECT_FALSE(await(refused.connect(), 5000).ok());
}

}  // namespace
}  // namespace tutti::test
