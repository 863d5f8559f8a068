// Per-connection and per-address limits.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/raw_ws_client.h"
#include "test/common/wait.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

TEST(Limits, ConnectionsBeyondThePerIpLimitAreClosedWith4006) {
  auto server = startServer("[limits]\nmax_connections_per_ip = 2\n");
  ASSERT_TRUE(server);
  RawWsClient a, b, c;
  ASSERT_TRUE(a.connect(server->port()).ok());
  ASSERT_TRUE(a.connectCommand().has_value());
  ASSERT_TRUE(b.connect(server->port()).ok());
  ASSERT_TRUE(b.connectCommand().has_value());
  // The third is refused (at the handshake or right after it) with 4006.
  if (c.connect(server->port()).ok()) {
    (void)c.sendText(R"({"id":1,"method":"connect"})");
    WsEvent end = c.waitClosed(5000);
    ASSERT_EQ(end.kind, WsEvent::Kind::kClosed) << end.error;
    EXPECT_EQ(end.close_code, code::kCloseLimitExceeded);
  } else {
    ADD_FAILURE() << "the third connection should get a WebSocket close 4006, not a failed handshake";
  }
  // Closing one makes room again.
  a.close();
  EXPECT_TRUE(eventually(
      [&] {
        RawWsClient d;
        return d.connect(server->port()).ok() && d.connectCommand().has_value() && !d.ended();
      },
      3000));
}

TEST(Limits, PublishRateLimitRefusesTheExcessWith1205) {
  auto server = startServer("[limits]\npublish_rate_per_s = 1\npublish_burst = 3\n");
  ASSERT_TRUE(server);
  sdk::Client client(clientOptions(*server));
  ASSERT_TRUE(await(client.connect()).ok());
  std::vector<std::future<Result<sdk::PublishAck>>> acks;
  for (int i = 0; i < 10; ++i) acks.push_back(client.publish("rate:1", std::to_string(i)));
  int ok = 0, limited = 0;
  for (auto& f : acks) {
    auto a = await(f);
    if (a.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(a.error().code, code::kRateLimited) << a.error().message;
      ++limited;
    }
  }
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 5);
  EXPECT_GE(limited, 5);
  EXPECT_EQ(client.state(), sdk::State::kConnected);
  EXPECT_GE(metricValue(server->port(), "tutti_errors_total{code=\"1205\"}").value_or(0), limited);
}

TEST(Limits, SubscribingTooManyRoomsIsRefusedWith1203) {
  auto server = startServer("[limits]\nmax_rooms_per_connection = 2\n");
  ASSERT_TRUE(server);
  Collector c1, c2, c3, c4;
  sdk::Client client(clientOptions(*server));
  ASSERT_TRUE(await(client.subscribe("r:1", c1.handlers())).ok());
  ASSERT_TRUE(await(client.subscribe("r:2", c2.handlers())).ok());
  auto third = await(client.subscribe("r:3", c3.handlers()));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, code::kTooManyRooms);
  // After leaving one, there is room again.
  ASSERT_TRUE(await(client.unsubscribe("r:1")).ok());
  EXPECT_TRUE(await(client.subscribe("r:3", c4.handlers())).ok());
}

TEST(Limits, DataAboveMaxDataBytesIsRefusedWith1208) {
  auto server = startServer("[limits]\nmax_data_bytes = 1000\n");
  ASSERT_TRUE(server);
  sdk::Client client(clientOptions(*server));
  auto big = await(client.publish("r:1", "\"" + std::string(2000, 'y') + "\""));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, code::kDataTooLarge);
  EXPECT_TRUE(await(client.publish("r:1", "\"small\"")).ok());
}

TEST(Limits, BadRoomNamesAreRefusedWith1206) {
  auto server = startServer("[server]\nworkers = 1\n");
  ASSERT_TRUE(server);
  Collector c;
  sdk::Client client(clientOptions(*server));
  auto r = await(client.subscribe("no spaces allowed", c.handlers()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code::kBadRoomName);
}

}  // namespace
}  // namespace tutti::test
