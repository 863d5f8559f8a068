// The load generator (`tutti bench`'s engine) against the real server: its
// counts must be exact, or the fan-out benchmark measures nothing.

#include <gtest/gtest.h>

#include "test/common/harness.h"
#include "tutti/loadgen/engine.h"

namespace tutti::test {
namespace {

loadgen::EngineOptions optionsFor(const ServerProcess& server) {
  loadgen::EngineOptions o;
  o.protocol = loadgen::Protocol::kTutti;
  o.port = server.port();
  o.threads = 2;
  return o;
}

TEST(Loadgen, CountsEveryDeliveryOfTwoRooms) {
  auto server = startServer(kFastPublishConfig);
  ASSERT_TRUE(server);
  loadgen::Engine engine(optionsFor(*server));
  ASSERT_TRUE(engine.addRoom(0, 20, true, 10000).ok());
  ASSERT_TRUE(engine.addRoom(1, 10, true, 10000).ok());
  EXPECT_EQ(engine.connections(), 32u);
  EXPECT_EQ(engine.subscribers(), 30);
  const auto r = engine.step(200, 1.0, 3000, server->pid());
  EXPECT_GE(r.published, 300u);  // ~200 a second into each room
  EXPECT_EQ(r.expected, r.published / 2 * 30) << "both rooms publish the same count";
  EXPECT_EQ(r.delivered, r.expected);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.reordered, 0u);
  EXPECT_EQ(r.server_errors, 0u);
  EXPECT_GT(r.p50_ns, 0);
  EXPECT_LE(r.p50_ns, r.p99_ns);
  EXPECT_GT(r.server_cpu_s, 0.0);
}

TEST(Loadgen, ReportsLossWhenTheServerRefusesPublishes) {
  // 10 publishes a second allowed: most of the 200/s asked are refused (1205).
  auto server = startServer(R"(
[server]
workers = 1
[limits]
publish_rate_per_s = 10
publish_burst = 10
)");
  ASSERT_TRUE(server);
  loadgen::Engine engine(optionsFor(*server));
  ASSERT_TRUE(engine.addRoom(0, 5, true, 10000).ok());
  const auto r = engine.step(200, 1.0, 2000, 0);
  EXPECT_GT(r.server_errors, 0u);
  EXPECT_GT(r.lost, 0u);
  EXPECT_NE(r.last_error.find("1205"), std::string::npos) << r.last_error;
  // What was accepted arrived, in order (sequence gaps are not reordering).
  EXPECT_EQ(r.reordered, 0u);
  EXPECT_GT(r.delivered, 0u);
}

TEST(Loadgen, OpensIdleConnectionsAndFailsCleanlyWithoutAServer) {
  auto server = startServer("[server]\nworkers = 1\n");
  ASSERT_TRUE(server);
  loadgen::Engine engine(optionsFor(*server));
  auto t = engine.addIdle(300, true, 20000);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(engine.connections(), 300u);

  loadgen::EngineOptions o = optionsFor(*server);
  o.port = 1;  // nothing listens there
  loadgen::Engine nowhere(o);
  auto r = nowhere.addIdle(3, false, 5000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("connect"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace tutti::test
