// Untrusted frames: each bad frame gets an error (or, for an oversized frame,
// a close), a metric, and no one else notices.

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include <boost/json.hpp>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/raw_ws_client.h"
#include "test/common/wait.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

constexpr char kConfig[] = R"(
[server]
workers = 2

[limits]
max_frame_bytes = 65536
)";

int errorCode(const boost::json::object& reply) {
  auto it = reply.find("error");
  if (it == reply.end() || !it->value().is_object()) return 0;
  return static_cast<int>(it->value().at("code").to_number<int64_t>());
}

bool hasError(const boost::json::object& o) { return o.contains("error"); }

// A subscriber that must keep receiving while others misbehave.
class Bystander {
 public:
  explicit Bystander(const ServerProcess& server) : sub_(clientOptions(server)), pub_(clientOptions(server)) {
    EXPECT_TRUE(await(sub_.subscribe("calm:1", c_.handlers())).ok());
  }
  // Publishes one message and checks it arrives, in order.
  void expectStillReceiving() {
    ++sent_;
    auto a = await(pub_.publish("calm:1", std::to_string(sent_)));
    ASSERT_TRUE(a.ok()) << a.error().message;
    ASSERT_TRUE(c_.waitPubs(sent_, 5000));
    auto got = c_.pubs();
    ASSERT_EQ(got.size(), sent_);
    EXPECT_EQ(got.back().data, std::to_string(sent_));
    EXPECT_EQ(got.back().offset, sent_);
  }

 private:
  Collector c_;  // outlives sub_, whose callbacks write into it
  sdk::Client sub_;
  sdk::Client pub_;
  size_t sent_ = 0;
};

TEST(ProtocolErrors, BadFramesGetErrorsAndOthersKeepReceiving) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Bystander bystander(*server);
  const double bad_requests_before =
      metricValue(server->port(), "tutti_errors_total{code=\"1000\"}").value_or(0);

  RawWsClient ws;
  ASSERT_TRUE(ws.connect(server->port()).ok());
  ASSERT_TRUE(ws.connectCommand().has_value());

  // Invalid JSON: error 1000 with id 0.
  ASSERT_TRUE(ws.sendText("{\"id\":3,\"method\":").ok());
  auto e1 = ws.readJsonUntil(hasError, 5000);
  ASSERT_TRUE(e1);
  EXPECT_EQ(errorCode(*e1), code::kBadRequest);
  bystander.expectStillReceiving();

  // Valid JSON, not a command object.
  ASSERT_TRUE(ws.sendText("[1,2,3]").ok());
  auto e2 = ws.readJsonUntil(hasError, 5000);
  ASSERT_TRUE(e2);
  EXPECT_EQ(errorCode(*e2), code::kBadRequest);

  // Unknown method: 1001, with the command's id.
  ASSERT_TRUE(ws.sendText(R"({"id":5,"method":"teleport","params":{}})").ok());
  auto e3 = ws.readReply(5);
  ASSERT_TRUE(e3);
  EXPECT_EQ(errorCode(*e3), code::kUnknownMethod);
  bystander.expectStillReceiving();

  // A binary frame is not a command: 1000.
  ASSERT_TRUE(ws.sendBinary(std::string("\x00\x01\x02\xff", 4)).ok());
  auto e4 = ws.readJsonUntil(hasError, 5000);
  ASSERT_TRUE(e4);
  EXPECT_EQ(errorCode(*e4), code::kBadRequest);

  // The connection survives all of it.
  ASSERT_TRUE(ws.sendText(R"({"id":6,"method":"ping"})").ok());
  auto pong = ws.readReply(6);
  ASSERT_TRUE(pong);
  EXPECT_TRUE(pong->contains("result")) << boost::json::serialize(*pong);
  bystander.expectStillReceiving();

  EXPECT_TRUE(eventually(
      [&] {
        return metricValue(server->port(), "tutti_errors_total{code=\"1000\"}").value_or(0) >=
               bad_requests_before + 3;
      },
      2000))
      << "tutti_errors_total{code=\"1000\"} = "
      << metricValue(server->port(), "tutti_errors_total{code=\"1000\"}").value_or(-1);
  EXPECT_GE(metricValue(server->port(), "tutti_errors_total{code=\"1001\"}").value_or(0), 1);
}

TEST(ProtocolErrors, CommandBeforeConnectIsRefusedWith1004) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  RawWsClient ws;
  ASSERT_TRUE(ws.connect(server->port()).ok());
  ASSERT_TRUE(ws.sendText(R"({"id":1,"method":"subscribe","params":{"room":"a"}})").ok());
  auto r = ws.readReply(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(errorCode(*r), code::kNotConnected);
  // Connecting afterwards still works.
  auto hello = ws.connectCommand({}, 2);
  ASSERT_TRUE(hello);
  EXPECT_TRUE(hello->contains("result")) << boost::json::serialize(*hello);
}

TEST(ProtocolErrors, OversizedFrameClosesWith1009AndOthersKeepReceiving) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Bystander bystander(*server);
  RawWsClient ws;
  ASSERT_TRUE(ws.connect(server->port()).ok());
  ASSERT_TRUE(ws.connectCommand().has_value());
  std::string big = R"({"id":9,"method":"publish","params":{"room":"calm:1","data":")" +
                    std::string(70000, 'x') + "\"}}";
  (void)ws.sendText(big);  // the server may close while we are still writing
  WsEvent end = ws.waitClosed(5000);
  ASSERT_EQ(end.kind, WsEvent::Kind::kClosed) << end.error;
  EXPECT_EQ(end.close_code, code::kCloseMessageTooBig);
  bystander.expectStillReceiving();
  bystander.expectStillReceiving();
}

TEST(ProtocolErrors, TooManyCommandsInOneFrameIsRefused) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  RawWsClient ws;
  ASSERT_TRUE(ws.connect(server->port()).ok());
  ASSERT_TRUE(ws.connectCommand().has_value());
  std::string batch;
  for (int i = 0; i < 101; ++i) batch += R"({"method":"ping"})" "\n";
  ASSERT_TRUE(ws.sendText(batch).ok());
  auto r = ws.readJsonUntil(hasError, 5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(errorCode(*r), code::kBatchTooLarge);
}

}  // namespace
}  // namespace tutti::test
