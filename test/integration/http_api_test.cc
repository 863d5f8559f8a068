// The server-to-server HTTP API (docs/api.md) against a live server.

#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/wait.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

namespace json = boost::json;

constexpr char kConfig[] = R"(
[server]
workers = 2
api_key = "k"
)";

const Headers kKey = {{"X-API-Key", "k"}};

json::object parseBody(const HttpResponse& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << r.body;
    return {};
  }
  return v.as_object();
}

TEST(HttpApi, RefusesRequestsWithoutTheKey) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  EXPECT_EQ(httpPost(server->port(), "/api/publish", R"({"room":"a","data":1})").status, 401);
  EXPECT_EQ(httpPost(server->port(), "/api/publish", R"({"room":"a","data":1})", {{"X-API-Key", "wrong"}}).status,
            401);
  EXPECT_EQ(httpGet(server->port(), "/api/rooms").status, 401);
  EXPECT_GE(metricValue(server->port(), "tutti_api_requests_total{status=\"401\"}").value_or(0), 3);
  // Operations endpoints need no key.
  EXPECT_EQ(httpGet(server->port(), "/healthz").status, 200);
  EXPECT_EQ(httpGet(server->port(), "/readyz").status, 200);
  EXPECT_EQ(httpGet(server->port(), "/metrics").status, 200);
}

TEST(HttpApi, IsDisabledWithoutAConfiguredKey) {
  auto server = startServer("[server]\nworkers = 1\n");
  ASSERT_TRUE(server);
  EXPECT_EQ(httpPost(server->port(), "/api/publish", R"({"room":"a","data":1})", kKey).status, 403);
}

TEST(HttpApi, PublishReachesSubscribersAndHistoryPresenceAndRoomsReportIt) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Collector c;
  sdk::Client sub(clientOptions(*server));
  sdk::SubscribeOptions with_presence;
  with_presence.presence = true;
  ASSERT_TRUE(await(sub.subscribe("table:1", c.handlers(), with_presence)).ok());

  HttpResponse p1 = httpPost(server->port(), "/api/publish", R"({"room":"table:1","data":{"result":"red 17"}})", kKey);
  ASSERT_EQ(p1.status, 200) << p1.body;
  json::object ack = parseBody(p1);
  EXPECT_EQ(ack["room"].as_string(), "table:1");
  EXPECT_EQ(ack["offset"].to_number<int64_t>(), 1);
  HttpResponse p2 = httpPost(server->port(), "/api/publish",
                             R"({"room":"table:1","data":{"result":"black 2"},"client_msg_id":"round-2"})",
                             {{"Authorization", "apikey k"}});
  ASSERT_EQ(p2.status, 200) << p2.body;
  HttpResponse p2again = httpPost(server->port(), "/api/publish",
                                  R"({"room":"table:1","data":{"result":"black 2"},"client_msg_id":"round-2"})", kKey);
  ASSERT_EQ(p2again.status, 200) << p2again.body;
  json::object dup = parseBody(p2again);
  EXPECT_EQ(dup["offset"].to_number<int64_t>(), 2);
  EXPECT_TRUE(dup.contains("duplicate") && dup["duplicate"].as_bool());

  ASSERT_TRUE(c.waitPubs(2, 5000));
  auto got = c.pubs();
  EXPECT_EQ(got[0].data, R"({"result":"red 17"})");
  EXPECT_EQ(got[1].data, R"({"result":"black 2"})");

  HttpResponse h = httpGet(server->port(), "/api/history?room=table:1", kKey);
  ASSERT_EQ(h.status, 200) << h.body;
  json::object hist = parseBody(h);
  EXPECT_EQ(hist["offset"].to_number<int64_t>(), 2);
  ASSERT_TRUE(hist["publications"].is_array());
  ASSERT_EQ(hist["publications"].as_array().size(), 2u);
  EXPECT_EQ(hist["publications"].as_array()[1].at("offset").to_number<int64_t>(), 2);
  HttpResponse since = httpGet(server->port(), "/api/history?room=table:1&since=1", kKey);
  ASSERT_EQ(since.status, 200);
  EXPECT_EQ(parseBody(since)["publications"].as_array().size(), 1u);
  EXPECT_EQ(httpGet(server->port(), "/api/history?room=nowhere:1", kKey).status, 404);

  HttpResponse pr = httpGet(server->port(), "/api/presence?room=table:1", kKey);
  ASSERT_EQ(pr.status, 200) << pr.body;
  json::object pres = parseBody(pr);
  ASSERT_EQ(pres["clients"].as_array().size(), 1u);
  EXPECT_EQ(pres["clients"].as_array()[0].at("session").as_string(), sub.connectInfo()->session);

  HttpResponse rooms = httpGet(server->port(), "/api/rooms", kKey);
  ASSERT_EQ(rooms.status, 200) << rooms.body;
  bool found = false;
  json::object rooms_body = parseBody(rooms);
  ASSERT_TRUE(rooms_body["rooms"].is_array()) << rooms.body;
  for (const auto& r : rooms_body["rooms"].as_array()) {
    if (r.at("room").as_string() != "table:1") continue;
    found = true;
    EXPECT_EQ(r.at("offset").to_number<int64_t>(), 2);
    EXPECT_EQ(r.at("subscribers").to_number<int64_t>(), 1);
  }
  EXPECT_TRUE(found) << rooms.body;

  EXPECT_EQ(httpPost(server->port(), "/api/publish", R"({"room":"bad room!","data":1})", kKey).status, 400);
  EXPECT_EQ(httpPost(server->port(), "/api/publish", "{not json", kKey).status, 400);
  EXPECT_EQ(httpGet(server->port(), "/api/nothing-here", kKey).status, 404);
  EXPECT_EQ(httpGet(server->port(), "/api/publish", kKey).status, 405);
}

TEST(HttpApi, DisconnectClosesTheSessionWith4009AndTheSdkStaysAway) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  sdk::Client victim(clientOptions(*server));
  auto info = await(victim.connect());
  ASSERT_TRUE(info.ok());
  sdk::Client other(clientOptions(*server));
  ASSERT_TRUE(await(other.connect()).ok());

  HttpResponse r = httpPost(server->port(), "/api/disconnect", "{\"session\":\"" + info->session + "\"}", kKey);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parseBody(r)["disconnected"].to_number<int64_t>(), 1);
  ASSERT_TRUE(victim.waitForState(sdk::State::kClosed, 5000)) << sdk::stateName(victim.state());
  EXPECT_EQ(victim.lastClose().code, code::kCloseKicked);
  EXPECT_EQ(other.state(), sdk::State::kConnected);
  EXPECT_TRUE(await(other.ping()).ok());
}

}  // namespace
}  // namespace tutti::test
