// Connection's protocol logic and limits, driven without sockets: a fake
// WsConnection records what would be sent, and the real EmbeddedBroker runs
// on test-driven worker queues.
#include "server/connection.h"  // private header: src/ is on this test's include path

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>

#include "tutti/auth/jwt.h"
#include "tutti/broker/embedded_broker.h"
#include "tutti/protocol/codes.h"

using namespace tutti;
using namespace tutti::server;
namespace json = boost::json;

namespace {

class QueueExecutor final : public broker::Executor {
 public:
  void post(std::function<void()> fn) override { q.push_back(std::move(fn)); }
  void postAfter(int64_t, std::function<void()> fn) override { timed.push_back(std::move(fn)); }
  std::vector<std::function<void()>> timed;
  std::deque<std::function<void()>> q;
};

class FakeWs final : public net::WsConnection {
 public:
  net::SendResult send(net::Frame frame, int64_t) override {
    if (closed_code) return net::SendResult::kClosed;
    // Split like a client would: one object per line.
    std::string_view s = *frame;
    sent.emplace_back(s);
    return net::SendResult::kQueued;
  }
  void close(int code, std::string) override { if (!closed_code) closed_code = code; }
  void authenticated() override { authed = true; }
  const std::string& remoteIp() const override { return ip; }
  size_t queuedBytes() const override { return 0; }
  net::RttStats rtt() const override { return rtt_stats; }
  net::RttStats rtt_stats;

  std::vector<std::string> sent;
  int closed_code = 0;
  bool authed = false;
  std::string ip = "127.0.0.9";
};

struct Fixture {
  explicit Fixture(const std::string& toml = "") : ctx(makeConfig(toml), clock) {
    ctx.metrics = std::make_unique<ServerMetrics>(ctx.registry);
    if (!ctx.config.auth.secret.empty()) {
      auth::VerifierConfig vc;
      vc.secret = ctx.config.auth.secret;
      ctx.verifier = *auth::JwtVerifier::create(vc);
    }
    hub = std::make_unique<WorkerHub>(0);
    ctx.hubs = {hub.get()};
    ctx.executors = {&ex};
    ctx.broker = std::make_unique<broker::EmbeddedBroker>(
        std::vector<broker::Executor*>{&ex}, std::vector<broker::WorkerSink*>{hub.get()},
        [](const std::string&) { return sync::RoomPolicy{}; }, clock);
  }
  static ServerConfig makeConfig(const std::string& toml) {
    auto c = parseConfig(toml);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? c.value() : ServerConfig{};
  }
  std::shared_ptr<Connection> open(FakeWs& ws) {
    auto c = std::make_shared<Connection>(ctx, *hub);
    c->onOpen(ws);
    return c;
  }
  void run() {
    while (!ex.q.empty()) {
      auto fn = std::move(ex.q.front());
      ex.q.pop_front();
      fn();
    }
  }
  // The error code of the reply with this id, 0 if it succeeded, -1 if absent.
  static int replyCode(const FakeWs& ws, uint64_t id) {
    for (const auto& s : ws.sent) {
      auto v = json::parse(s).as_object();
      if (v.contains("id") && v["id"].as_int64() == static_cast<int64_t>(id))
        return v.contains("error") ? static_cast<int>(v["error"].as_object()["code"].as_int64()) : 0;
    }
    return -1;
  }

  ManualClock clock;
  ServerContext ctx;
  QueueExecutor ex;
  std::unique_ptr<WorkerHub> hub;
};

const char* kConnect = R"({"id":1,"method":"connect","params":{}})";

}  // namespace

TEST(Connection, RefusesCommandsBeforeConnect) {
  Fixture f;
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(R"({"id":5,"method":"subscribe","params":{"room":"r"}})");
  EXPECT_EQ(Fixture::replyCode(ws, 5), code::kNotConnected);
  EXPECT_FALSE(ws.authed);
}

TEST(Connection, AnswersConnectWithSessionAndLimits) {
  Fixture f("[limits]\nmax_rooms_per_connection = 7\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  ASSERT_EQ(ws.sent.size(), 1u);
  auto r = json::parse(ws.sent[0]).as_object()["result"].as_object();
  EXPECT_EQ(r["limits"].as_object()["max_rooms"].as_int64(), 7);
  EXPECT_EQ(r["protocol"].as_int64(), 1);
  EXPECT_TRUE(ws.authed);
}

TEST(Connection, RefusesAnonymousConnectWhenTheConfigSaysSo) {
  Fixture f("[auth]\nanonymous = false\nsecret = \"0123456789abcdef0123456789abcdef\"\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  EXPECT_EQ(Fixture::replyCode(ws, 1), code::kAnonymousRefused);
  EXPECT_EQ(ws.closed_code, code::kCloseBadToken);
  EXPECT_EQ(f.ctx.registry.valueOf("tutti_auth_failures_total", {{"reason", "anonymous_refused"}}), 1);
}

TEST(Connection, AcceptsAValidTokenAndAppliesItsRoomPermissions) {
  Fixture f("[auth]\nanonymous = false\nsecret = \"0123456789abcdef0123456789abcdef\"\n");
  auth::Claims claims;
  claims.sub = "alice";
  claims.exp = f.clock.wallUs() / 1'000'000 + 60;
  claims.subscribe = {"table:*"};
  auto token = *auth::sign(claims, auth::Alg::kHS256, "0123456789abcdef0123456789abcdef");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(R"({"id":1,"method":"connect","params":{"token":")" + token + R"("}})");
  EXPECT_EQ(Fixture::replyCode(ws, 1), 0);
  EXPECT_EQ(c->user(), "alice");
  c->onText(R"({"id":2,"method":"subscribe","params":{"room":"table:1"}})");
  c->onText(R"({"id":3,"method":"subscribe","params":{"room":"lobby"}})");
  c->onText(R"({"id":4,"method":"publish","params":{"room":"table:1","data":1}})");
  f.run();
  EXPECT_EQ(Fixture::replyCode(ws, 2), 0);
  EXPECT_EQ(Fixture::replyCode(ws, 3), code::kPermissionDenied);
  EXPECT_EQ(Fixture::replyCode(ws, 4), code::kPermissionDenied);  // no publish list in the token
}

TEST(Connection, LimitsRoomsPerConnection) {
  Fixture f("[limits]\nmax_rooms_per_connection = 2\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  for (int i = 0; i < 3; ++i)
    c->onText(R"({"id":)" + std::to_string(10 + i) + R"(,"method":"subscribe","params":{"room":"r)" + std::to_string(i) + R"("}})");
  f.run();
  EXPECT_EQ(Fixture::replyCode(ws, 10), 0);
  EXPECT_EQ(Fixture::replyCode(ws, 11), 0);
  EXPECT_EQ(Fixture::replyCode(ws, 12), code::kTooManyRooms);
  EXPECT_EQ(f.ctx.registry.valueOf("tutti_limit_refusals_total", {{"limit", "rooms_per_connection"}}), 1);
}

TEST(Connection, LimitsThePublishRateWithATokenBucket) {
  Fixture f("[limits]\npublish_rate_per_s = 1\npublish_burst = 3\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  for (int i = 0; i < 4; ++i)
    c->onText(R"({"id":)" + std::to_string(20 + i) + R"(,"method":"publish","params":{"room":"r","data":1}})");
  f.run();
  EXPECT_EQ(Fixture::replyCode(ws, 22), 0);
  EXPECT_EQ(Fixture::replyCode(ws, 23), code::kRateLimited);
  f.clock.advanceUs(1'000'000);  // one token back
  c->onText(R"({"id":30,"method":"publish","params":{"room":"r","data":1}})");
  f.run();
  EXPECT_EQ(Fixture::replyCode(ws, 30), 0);
}

TEST(Connection, RefusesDataAboveTheLimit) {
  Fixture f("[limits]\nmax_data_bytes = 10\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":2,"method":"publish","params":{"room":"r","data":"0123456789abcdef"}})");
  EXPECT_EQ(Fixture::replyCode(ws, 2), code::kDataTooLarge);
}

TEST(Connection, RefusesClientPublishesToServerOnlyRooms) {
  Fixture f("[[rooms]]\nprefix = \"results:\"\npublish = \"server\"\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":2,"method":"publish","params":{"room":"results:1","data":1}})");
  EXPECT_EQ(Fixture::replyCode(ws, 2), code::kPublishNotAllowed);
}

TEST(Connection, ClosesAfterTooManyConsecutiveProtocolErrors) {
  Fixture f("[limits]\nmax_protocol_errors = 3\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  for (int i = 0; i < 3; ++i) c->onText("nonsense");
  EXPECT_EQ(ws.closed_code, 0);
  c->onText("nonsense");
  EXPECT_EQ(ws.closed_code, code::kCloseProtocolError);
  EXPECT_EQ(f.ctx.registry.valueOf("tutti_errors_total", {{"code", "1000"}}), 4);
}

TEST(Connection, RefusesConnectionsAboveThePerAddressLimit) {
  Fixture f("[limits]\nmax_connections_per_ip = 2\n");
  FakeWs a, b, c3;
  auto ca = f.open(a);
  auto cb = f.open(b);
  auto cc = f.open(c3);
  EXPECT_EQ(a.closed_code, 0);
  EXPECT_EQ(c3.closed_code, code::kCloseLimitExceeded);
  cb->onClosed(1000);  // a slot frees up
  FakeWs d;
  auto cd = f.open(d);
  EXPECT_EQ(d.closed_code, 0);
}

TEST(Connection, ReceivesItsRoomsPublicationsInOrderAfterTheSubscribeReply) {
  Fixture f;
  FakeWs sub_ws, pub_ws;
  auto sub = f.open(sub_ws);
  auto pub = f.open(pub_ws);
  sub->onText(kConnect);
  pub->onText(kConnect);
  sub->onText(R"({"id":2,"method":"subscribe","params":{"room":"r"}})");
  for (int i = 0; i < 3; ++i) pub->onText(R"({"id":9,"method":"publish","params":{"room":"r","data":)" + std::to_string(i) + "}}");
  f.run();
  std::vector<int64_t> offsets;
  bool reply_first = false;
  for (const auto& s : sub_ws.sent) {
    auto v = json::parse(s).as_object();
    if (v.contains("push")) offsets.push_back(v["offset"].as_int64());
    else if (v["id"].as_int64() == 2) reply_first = offsets.empty();
  }
  EXPECT_TRUE(reply_first);
  EXPECT_EQ(offsets, (std::vector<int64_t>{1, 2, 3}));
}

TEST(Connection, ReplaysMissedPublicationsWhenRecovering) {
  Fixture f;
  FakeWs pub_ws;
  auto pub = f.open(pub_ws);
  pub->onText(kConnect);
  for (int i = 0; i < 5; ++i) pub->onText(R"({"method":"publish","params":{"room":"r","data":1}})");
  f.run();
  std::string epoch;
  {
    FakeWs probe;
    auto p = f.open(probe);
    p->onText(kConnect);
    p->onText(R"({"id":2,"method":"subscribe","params":{"room":"r"}})");
    f.run();
    epoch = std::string(json::parse(probe.sent[1]).as_object()["result"].as_object()["epoch"].as_string());
    p->onClosed(1000);  // as the transport always does before the connection goes
  }
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":3,"method":"subscribe","params":{"room":"r","recover":{"epoch":")" + epoch + R"(","offset":2}}})");
  f.run();
  auto r = json::parse(ws.sent[1]).as_object()["result"].as_object();
  EXPECT_TRUE(r["recovered"].as_bool());
  EXPECT_EQ(r["replayed"].as_int64(), 3);
  ASSERT_EQ(ws.sent.size(), 5u);
  EXPECT_EQ(json::parse(ws.sent[2]).as_object()["offset"].as_int64(), 3);
  EXPECT_EQ(json::parse(ws.sent[4]).as_object()["offset"].as_int64(), 5);
}

TEST(Connection, ClosingBalancesTheBrokersSubscriberCount) {
  Fixture f;
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":2,"method":"subscribe","params":{"room":"r"}})");
  // Closed before the broker answered: the late answer must be ignored and
  // the count still return to zero.
  c->onClosed(1006);
  c.reset();
  f.run();
  std::vector<broker::RoomInfo> rooms;
  f.ctx.broker->rooms(0, [&](std::vector<broker::RoomInfo> r) { rooms = std::move(r); });
  f.run();
  ASSERT_EQ(rooms.size(), 1u);
  EXPECT_EQ(rooms[0].subscribers, 0u);
  EXPECT_EQ(rooms[0].presence, 0u);
}

TEST(Connection, ClosesWithTokenExpiredOnceTheTokenRunsOut) {
  Fixture f("[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nleeway_s = 0\n");
  auth::Claims claims;
  claims.sub = "bob";
  claims.exp = f.clock.wallUs() / 1'000'000 + 10;
  auto token = *auth::sign(claims, auth::Alg::kHS256, "0123456789abcdef0123456789abcdef");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(R"({"id":1,"method":"connect","params":{"token":")" + token + R"("}})");
  c->checkTokenExpiry(claims.exp - 1);
  EXPECT_EQ(ws.closed_code, 0);
  c->checkTokenExpiry(claims.exp);
  EXPECT_EQ(ws.closed_code, code::kCloseTokenExpired);
}

namespace {
json::object resultOf(const FakeWs& ws, uint64_t id) {
  for (const auto& s : ws.sent) {
    auto v = json::parse(s).as_object();
    if (v.contains("id") && v["id"].as_int64() == static_cast<int64_t>(id) && v.contains("result"))
      return v["result"].as_object();
  }
  return {};
}
}  // namespace

TEST(Connection, TimeAnswersWithTheReceiveAndReplyTimes) {
  Fixture f;
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":2,"method":"time","params":{"rtt_us":800,"offset_us":-5,"uncertainty_us":400}})");
  auto r = resultOf(ws, 2);
  EXPECT_EQ(r["t1"].as_int64(), f.clock.wallUs());
  EXPECT_GE(r["t2"].as_int64(), r["t1"].as_int64());
  EXPECT_EQ(c->syncTelemetry().uncertainty_us, 400);
}

TEST(Connection, OpeningAWindowNeedsPermission) {
  Fixture f;  // anonymous_windows is empty by default
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":2,"method":"window_open","params":{"room":"t","window":"w1","duration_ms":1000}})");
  EXPECT_EQ(Fixture::replyCode(ws, 2), code::kPermissionDenied);
}

TEST(Connection, RefusesBadWindowTimesAndReusedIds) {
  Fixture f("[auth]\nanonymous_windows = [\"*\"]\n");
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  const auto now = f.clock.wallUs();
  c->onText(R"({"id":2,"method":"window_open","params":{"room":"t","window":"w1","duration_ms":1000}})");
  c->onText(R"({"id":3,"method":"window_open","params":{"room":"t","window":"w1","duration_ms":1000}})");
  c->onText(R"({"id":4,"method":"window_open","params":{"room":"t","window":"w2","closes_at":)" + std::to_string(now - 1) + "}}");
  c->onText(R"({"id":5,"method":"window_open","params":{"room":"t","window":"w3"}})");
  f.run();
  EXPECT_EQ(Fixture::replyCode(ws, 2), 0);
  EXPECT_EQ(Fixture::replyCode(ws, 3), code::kWindowExists);
  EXPECT_EQ(Fixture::replyCode(ws, 4), code::kBadWindowTimes);
  EXPECT_EQ(Fixture::replyCode(ws, 5), code::kInvalidParams);
}

TEST(Connection, JudgesActionsAndRefusesUnknownWindowsAndAbsurdStamps) {
  Fixture f("[auth]\nanonymous_windows = [\"*\"]\n");
  FakeWs ws;
  ws.rtt_stats.min_us = 20'000;  // 10 ms one way, as the server measured it
  ws.rtt_stats.max_us = 22'000;
  ws.rtt_stats.samples = 5;
  auto c = f.open(ws);
  c->onText(kConnect);
  const auto now = f.clock.wallUs();
  c->onText(R"({"id":2,"method":"window_open","params":{"room":"t","window":"w1","opens_at":)" +
            std::to_string(now - 1'000'000) + R"(,"closes_at":)" + std::to_string(now + 1'000'000) + "}}");
  f.run();
  auto act = [&](int id, const std::string& window, int64_t stamp, const std::string& action_id) {
    c->onText(R"({"id":)" + std::to_string(id) + R"(,"method":"action","params":{"room":"t","window":")" + window +
              R"(","ts":)" + std::to_string(stamp) + R"(,"data":{"bet":1},"action_id":")" + action_id + R"("}})");
  };
  act(3, "w1", now - 10'000, "a");          // gap 10 ms = one way: accepted
  act(4, "nope", now - 10'000, "b");        // unknown window
  act(5, "w1", now - 60'000'000, "c");      // a minute in the past: implausible
  act(6, "w1", now + 60'000'000, "d");      // a minute in the future: implausible
  act(7, "w1", now - 10'000, "a");          // replay of "a"
  c->onText(R"({"id":8,"method":"action","params":{"room":"t","window":"w1","ts":1e300,"action_id":"e"}})");
  f.run();
  EXPECT_EQ(resultOf(ws, 3)["decision"].as_string(), "accepted");
  EXPECT_EQ(resultOf(ws, 4)["reason"].as_string(), "unknown_window");
  EXPECT_EQ(resultOf(ws, 5)["reason"].as_string(), "implausible");
  EXPECT_EQ(resultOf(ws, 6)["reason"].as_string(), "implausible");
  EXPECT_TRUE(resultOf(ws, 7)["duplicate"].as_bool());
  EXPECT_EQ(resultOf(ws, 7)["decision"].as_string(), "accepted");
  EXPECT_EQ(Fixture::replyCode(ws, 8), code::kInvalidParams);
  EXPECT_EQ(f.ctx.registry.valueOf("tutti_window_decisions_total", {{"decision", "refused"}, {"reason", "implausible"}}), 2);
}

TEST(Connection, ScheduledPublicationsCarryTheirShowTime) {
  Fixture f;
  FakeWs ws;
  auto c = f.open(ws);
  c->onText(kConnect);
  c->onText(R"({"id":2,"method":"subscribe","params":{"room":"r"}})");
  f.run();
  c->onText(R"({"id":3,"method":"publish","params":{"room":"r","data":1,"delay_ms":250}})");
  c->onText(R"({"id":4,"method":"publish","params":{"room":"r","data":2,"at":123}})");
  c->onText(R"({"id":5,"method":"publish","params":{"room":"r","data":3}})");
  f.run();
  std::vector<json::object> pubs;
  for (const auto& s : ws.sent) {
    auto v = json::parse(s).as_object();
    if (v.contains("push")) pubs.push_back(v);
  }
  ASSERT_EQ(pubs.size(), 3u);
  EXPECT_EQ(pubs[0]["at"].as_int64(), pubs[0]["ts"].as_int64() + 250'000);
  EXPECT_EQ(pubs[1]["at"].as_int64(), 123);
  EXPECT_FALSE(pubs[2].contains("at"));
}
