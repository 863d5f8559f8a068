// Tokens at connect: every refusal has its code, its close code and its
// metric; valid tokens of each algorithm connect; permissions bind rooms.

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include <boost/json.hpp>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/raw_ws_client.h"
#include "test/common/wait.h"
#include "tutti/auth/jwt.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

using auth::Alg;
using auth::Claims;

constexpr char kSecret[] = "integration-test-secret-0123456789";

std::string hsConfig() {
  return std::string(R"(
[auth]
anonymous = false
algorithm = "HS256"
secret = ")") + kSecret + "\"\n";
}

Claims claimsFor(std::string sub) {
  Claims c;
  c.sub = std::move(sub);
  c.exp = nowS() + 3600;
  c.subscribe = {"table:*"};
  c.publish = {"table:*"};
  return c;
}

std::string mustSign(const Claims& c, Alg alg, std::string_view key) {
  auto t = auth::sign(c, alg, key);
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? *t : std::string();
}

struct Refusal {
  int error_code = 0;
  int close_code = 0;
};

// Connects with a raw socket and this token ("" = none); the error code of the
// connect reply (0 if it succeeded) and the close code that followed.
Refusal tryConnect(const ServerProcess& server, std::string_view token) {
  RawWsClient ws;
  EXPECT_TRUE(ws.connect(server.port()).ok());
  auto reply = ws.connectCommand(token);
  Refusal out;
  if (!reply) {
    ADD_FAILURE() << "no connect reply";
    return out;
  }
  if (auto it = reply->find("error"); it != reply->end()) {
    out.error_code = static_cast<int>(it->value().at("code").to_number<int64_t>());
    WsEvent end = ws.waitClosed(5000);
    EXPECT_EQ(end.kind, WsEvent::Kind::kClosed) << end.error;
    out.close_code = end.close_code;
  }
  return out;
}

double authFailures(const ServerProcess& server, std::string_view reason) {
  return metricValue(server.port(), "tutti_auth_failures_total{reason=\"" + std::string(reason) + "\"}")
      .value_or(0);
}

TEST(Auth, EachRefusalHasItsCodeCloseCodeAndMetric) {
  auto server = startServer(hsConfig());
  ASSERT_TRUE(server);
  auto rsa = auth::generateKeyPair(Alg::kRS256);
  ASSERT_TRUE(rsa.ok()) << rsa.error().message;
  const std::string payload =
      R"({"sub":"mallory","exp":)" + std::to_string(nowS() + 3600) + R"(,"subscribe":["*"]})";

  Claims expired = claimsFor("eve");
  expired.exp = nowS() - 3600;
  Claims early = claimsFor("eve");
  early.nbf = nowS() + 3600;
  auto alg_none = auth::signRaw(R"({"alg":"none","typ":"JWT"})", payload, Alg::kHS256, kSecret);
  ASSERT_TRUE(alg_none.ok());
  auto no_sub = auth::signRaw(R"({"alg":"HS256","typ":"JWT"})",
                              R"({"exp":)" + std::to_string(nowS() + 3600) + "}", Alg::kHS256, kSecret);
  ASSERT_TRUE(no_sub.ok());

  struct Case {
    const char* what;
    std::string token;
    int error_code;
    int close_code;
    const char* reason;
  };
  const Case cases[] = {
      {"alg none", *alg_none, code::kTokenAlgNone, code::kCloseBadToken, "alg_none"},
      {"RS256 token, HS256 server", mustSign(claimsFor("eve"), Alg::kRS256, rsa->private_pem),
       code::kTokenAlgMismatch, code::kCloseBadToken, "alg_mismatch"},
      {"wrong secret", mustSign(claimsFor("eve"), Alg::kHS256, "another-secret"), code::kTokenBadSignature,
       code::kCloseBadToken, "bad_signature"},
      {"expired", mustSign(expired, Alg::kHS256, kSecret), code::kTokenExpired, code::kCloseTokenExpired,
       "expired"},
      {"nbf in the future", mustSign(early, Alg::kHS256, kSecret), code::kTokenNotYetValid,
       code::kCloseBadToken, "not_yet_valid"},
      {"malformed", "not.a-token", code::kTokenMalformed, code::kCloseBadToken, "malformed"},
      {"no sub claim", *no_sub, code::kTokenMissingClaim, code::kCloseBadToken, "missing_claim"},
      {"no token, anonymous off", "", code::kAnonymousRefused, code::kCloseBadToken, "anonymous_refused"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Refusal r = tryConnect(*server, c.token);
    EXPECT_EQ(r.error_code, c.error_code);
    EXPECT_EQ(r.close_code, c.close_code);
    EXPECT_TRUE(eventually([&] { return authFailures(*server, c.reason) >= 1; }, 2000))
        << "tutti_auth_failures_total{reason=\"" << c.reason << "\"}";
  }

  // A valid token connects, as the user it names.
  sdk::Client alice(clientOptions(*server, mustSign(claimsFor("alice"), Alg::kHS256, kSecret)));
  auto info = await(alice.connect());
  ASSERT_TRUE(info.ok()) << info.error().code << " " << info.error().message;
  EXPECT_EQ(info->user, "alice");
}

TEST(Auth, TheSdkReportsARefusedTokenAndDoesNotRetryIt) {
  auto server = startServer(hsConfig());
  ASSERT_TRUE(server);
  sdk::Client client(clientOptions(*server, mustSign(claimsFor("eve"), Alg::kHS256, "wrong")));
  auto r = await(client.connect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code::kTokenBadSignature);
  ASSERT_TRUE(client.waitForState(sdk::State::kClosed, 5000)) << sdk::stateName(client.state());
  EXPECT_EQ(client.lastClose().code, code::kCloseBadToken);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(client.counters().connects, 0u);
  EXPECT_EQ(authFailures(*server, "bad_signature"), 1) << "exactly one attempt";
}

TEST(Auth, TokenPermissionsLimitRooms) {
  auto server = startServer(hsConfig());
  ASSERT_TRUE(server);
  Claims c = claimsFor("bob");
  c.subscribe = {"table:*"};
  c.publish = {"table:1"};
  Collector ok_room, other_room;
  sdk::Client bob(clientOptions(*server, mustSign(c, Alg::kHS256, kSecret)));
  ASSERT_TRUE(await(bob.subscribe("table:7", ok_room.handlers())).ok());
  auto refused = await(bob.subscribe("lobby:1", other_room.handlers()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, code::kPermissionDenied);
  ASSERT_EQ(other_room.errors().size(), 1u);

  EXPECT_TRUE(await(bob.publish("table:1", "1")).ok());
  auto denied = await(bob.publish("table:7", "1"));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, code::kPermissionDenied);
  EXPECT_EQ(bob.state(), sdk::State::kConnected) << "a refused command does not cost the connection";
}

TEST(Auth, Rs256ServerAcceptsRs256AndRefusesHs256) {
  TempDir dir;
  auto keys = auth::generateKeyPair(Alg::kRS256);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  std::string pub_file = dir.write("rsa.pem", keys->public_pem);
  auto server = startServer("[auth]\nanonymous = false\nalgorithm = \"RS256\"\npublic_key_file = \"" + pub_file + "\"\n");
  ASSERT_TRUE(server);

  Refusal hs = tryConnect(*server, mustSign(claimsFor("eve"), Alg::kHS256, "whatever-secret"));
  EXPECT_EQ(hs.error_code, code::kTokenAlgMismatch);
  EXPECT_EQ(hs.close_code, code::kCloseBadToken);

  sdk::Client alice(clientOptions(*server, mustSign(claimsFor("alice"), Alg::kRS256, keys->private_pem)));
  auto info = await(alice.connect());
  ASSERT_TRUE(info.ok()) << info.error().code << " " << info.error().message;
  EXPECT_EQ(info->user, "alice");
}

TEST(Auth, Es256ServerAcceptsEs256) {
  TempDir dir;
  auto keys = auth::generateKeyPair(Alg::kES256);
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  std::string pub_file = dir.write("ec.pem", keys->public_pem);
  auto server = startServer("[auth]\nanonymous = false\nalgorithm = \"ES256\"\npublic_key_file = \"" + pub_file + "\"\n");
  ASSERT_TRUE(server);
  sdk::Client carol(clientOptions(*server, mustSign(claimsFor("carol"), Alg::kES256, keys->private_pem)));
  auto info = await(carol.connect());
  ASSERT_TRUE(info.ok()) << info.error().code << " " << info.error().message;
  EXPECT_EQ(info->user, "carol");

  auto other = auth::generateKeyPair(Alg::kES256);
  ASSERT_TRUE(other.ok());
  Refusal forged = tryConnect(*server, mustSign(claimsFor("carol"), Alg::kES256, other->private_pem));
  EXPECT_EQ(forged.error_code, code::kTokenBadSignature);
}

}  // namespace
}  // namespace tutti::test
