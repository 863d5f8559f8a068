#include "tutti/sdk/codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "tutti/protocol/codes.h"
#include "tutti/sdk/backoff.h"

namespace tutti::sdk::codec {
namespace {

namespace json = boost::json;

json::object parseObject(std::string_view text) {
  json::value v = json::parse(text);
  return v.as_object();
}

TEST(SdkFraming, SplitsOnNewlinesAndSkipsEmptyLines) {
  auto lines = splitLines("{\"a\":1}\n\n{\"b\":2}\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "{\"a\":1}");
  EXPECT_EQ(lines[1], "{\"b\":2}");
  EXPECT_TRUE(splitLines("").empty());
  EXPECT_TRUE(splitLines("\n\n").empty());
  EXPECT_EQ(splitLines("{}").size(), 1u);
}

TEST(SdkFraming, JoinsCommandsWithNewlines) {
  EXPECT_EQ(joinLines({"{}", "[]"}), "{}\n[]");
  EXPECT_EQ(joinLines({}), "");
}

TEST(SdkEncode, ConnectCarriesTokenNameAndClient) {
  auto o = parseObject(encodeConnect(1, "tok", "sdk/1", "c1"));
  EXPECT_EQ(o.at("id").as_int64(), 1);
  EXPECT_EQ(o.at("method").as_string(), "connect");
  EXPECT_EQ(o.at("params").at("token").as_string(), "tok");
  EXPECT_EQ(o.at("params").at("name").as_string(), "sdk/1");
  EXPECT_EQ(o.at("params").at("client").as_string(), "c1");
}

TEST(SdkEncode, AnonymousConnectOmitsToken) {
  auto o = parseObject(encodeConnect(1, "", "n", "c"));
  EXPECT_FALSE(o.at("params").as_object().contains("token"));
}

TEST(SdkEncode, SubscribeWithRecoverAndPresence) {
  auto o = parseObject(encodeSubscribe(7, "table:1", Position{"8f2c01aa", 41}, true));
  EXPECT_EQ(o.at("method").as_string(), "subscribe");
  const auto& p = o.at("params").as_object();
  EXPECT_EQ(p.at("room").as_string(), "table:1");
  EXPECT_EQ(p.at("recover").at("epoch").as_string(), "8f2c01aa");
  EXPECT_EQ(p.at("recover").at("offset").to_number<uint64_t>(), 41u);
  EXPECT_TRUE(p.at("presence").as_bool());
}

TEST(SdkEncode, PlainSubscribeHasNoRecoverNorPresence) {
  auto o = parseObject(encodeSubscribe(7, "r", std::nullopt, false));
  EXPECT_FALSE(o.at("params").as_object().contains("recover"));
  EXPECT_FALSE(o.at("params").as_object().contains("presence"));
}

TEST(SdkEncode, PublishSplicesDataAndEscapesStrings) {
  std::string text = encodePublish(3, "room\"x", "{\"a\":[1,2]}", "m-\"1");
  EXPECT_EQ(text.find('\n'), std::string::npos);
  auto o = parseObject(text);
  EXPECT_EQ(o.at("id").as_int64(), 3);
  EXPECT_EQ(o.at("method").as_string(), "publish");
  EXPECT_EQ(o.at("params").at("room").as_string(), "room\"x");
  EXPECT_EQ(json::serialize(o.at("params").at("data")), "{\"a\":[1,2]}");
  EXPECT_EQ(o.at("params").at("client_msg_id").as_string(), "m-\"1");
}

TEST(SdkEncode, PublishWithoutIdOrMessageId) {
  auto o = parseObject(encodePublish(0, "r", "1", ""));
  EXPECT_FALSE(o.contains("id"));
  EXPECT_FALSE(o.at("params").as_object().contains("client_msg_id"));
}

TEST(SdkEncode, OtherCommands) {
  EXPECT_EQ(parseObject(encodeUnsubscribe(2, "r")).at("method").as_string(), "unsubscribe");
  EXPECT_EQ(parseObject(encodePresence(2, "r")).at("params").at("room").as_string(), "r");
  {
    const auto relay = parseObject(encodePresenceRelay(4, "r", false, PresenceClient{"s1", "bob", "c1"}));
    EXPECT_EQ(relay.at("method").as_string(), "presence_relay");
    EXPECT_EQ(relay.at("params").at("event").as_string(), "leave");
    EXPECT_EQ(relay.at("params").at("client").at("session").as_string(), "s1");
    EXPECT_EQ(relay.at("params").at("client").at("user").as_string(), "bob");
    EXPECT_EQ(relay.at("params").at("client").at("client").as_string(), "c1");
    EXPECT_EQ(parseObject(encodePresenceRelay(5, "r", true, {})).at("params").at("event").as_string(), "join");
    const auto delay = parseObject(encodeDelayReport(6, "r", 120000));
    EXPECT_EQ(delay.at("method").as_string(), "delay_report");
    EXPECT_EQ(delay.at("params").at("owd_us").as_int64(), 120000);
  }
  auto ping = parseObject(encodePing(9));
  EXPECT_EQ(ping.at("method").as_string(), "ping");
  EXPECT_EQ(ping.at("id").as_int64(), 9);
}

TEST(SdkCompactJson, RemovesNewlinesAndRejectsNonJson) {
  auto r = compactJson("{\n  \"a\": 1\n}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "{\"a\":1}");
  auto bad = compactJson("{nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, kInvalidArgument);
}

TEST(SdkDecode, PublicationKeepsDataAsJsonText) {
  auto in = decodeLine(
      R"({"push":"pub","room":"table:1","epoch":"8f2c01aa","offset":58,"ts":1764309189123456,"data":{"x":[1,"a"]}})");
  ASSERT_EQ(in.kind, Kind::kPub);
  EXPECT_EQ(in.pub.room, "table:1");
  EXPECT_EQ(in.pub.epoch, "8f2c01aa");
  EXPECT_EQ(in.pub.offset, 58u);
  EXPECT_EQ(in.pub.ts, 1764309189123456);
  EXPECT_EQ(in.pub.data, "{\"x\":[1,\"a\"]}");
}

TEST(SdkDecode, PublicationWithWrongTypesIsInvalid) {
  EXPECT_EQ(decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":"1"})").kind, Kind::kInvalid);
  EXPECT_EQ(decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":-1})").kind, Kind::kInvalid);
  EXPECT_EQ(decodeLine(R"({"push":"pub","epoch":"e","offset":1})").kind, Kind::kInvalid);
}

TEST(SdkDecode, ReplyWithResultOrError) {
  auto ok = decodeLine(R"({"id":7,"result":{"server_time_us":5}})");
  ASSERT_EQ(ok.kind, Kind::kReply);
  EXPECT_EQ(ok.id, 7u);
  EXPECT_FALSE(ok.error);
  auto t = decodePingResult(ok.result);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 5);

  auto err = decodeLine(R"({"id":7,"error":{"code":1203,"message":"too many rooms"}})");
  ASSERT_EQ(err.kind, Kind::kReply);
  ASSERT_TRUE(err.error);
  EXPECT_EQ(err.error->code, code::kTooManyRooms);
  EXPECT_EQ(err.error->message, "too many rooms");

  auto id0 = decodeLine(R"({"id":0,"error":{"code":1000,"message":"bad"}})");
  ASSERT_EQ(id0.kind, Kind::kReply);
  EXPECT_EQ(id0.id, 0u);
}

TEST(SdkDecode, PresenceAndDisconnectPushes) {
  auto join = decodeLine(R"({"push":"join","room":"r","client":{"session":"s","user":"bob","client":"c"}})");
  ASSERT_EQ(join.kind, Kind::kJoin);
  EXPECT_EQ(join.room, "r");
  EXPECT_EQ(join.client.user, "bob");
  EXPECT_EQ(decodeLine(R"({"push":"leave","room":"r","client":{}})").kind, Kind::kLeave);
  auto d = decodeLine(R"({"push":"disconnect","code":4001,"reason":"server shutdown"})");
  ASSERT_EQ(d.kind, Kind::kDisconnect);
  EXPECT_EQ(d.disconnect.code, 4001);
  EXPECT_EQ(d.disconnect.reason, "server shutdown");
}

TEST(SdkDecode, UnknownPushIsIgnorableAndGarbageIsInvalid) {
  EXPECT_EQ(decodeLine(R"({"push":"future_thing","x":1})").kind, Kind::kUnknownPush);
  EXPECT_EQ(decodeLine("not json").kind, Kind::kInvalid);
  EXPECT_EQ(decodeLine("[1,2]").kind, Kind::kInvalid);
  EXPECT_EQ(decodeLine(R"({"hello":1})").kind, Kind::kInvalid);
  EXPECT_EQ(decodeLine(R"({"id":"x","result":{}})").kind, Kind::kInvalid);
}

TEST(SdkDecode, ConnectResultWithLimits) {
  auto in = decodeLine(
      R"({"id":1,"result":{"session":"f3a9","user":"alice","server_time_us":1764309189123456,"version":"0.1.0","protocol":1,)"
      R"("limits":{"max_frame_bytes":1000,"max_batch":10,"max_rooms":5,"max_data_bytes":900,"publish_rate_per_s":2.5,)"
      R"("publish_burst":3,"outgoing_buffer_bytes":65536,"idle_timeout_ms":100},"future_field":true}})");
  ASSERT_EQ(in.kind, Kind::kReply);
  auto c = decodeConnectResult(in.result);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->session, "f3a9");
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->server_time_us, 1764309189123456);
  EXPECT_EQ(c->protocol, 1);
  EXPECT_EQ(c->limits.max_frame_bytes, 1000);
  EXPECT_EQ(c->limits.max_batch, 10);
  EXPECT_EQ(c->limits.max_rooms, 5);
  EXPECT_DOUBLE_EQ(c->limits.publish_rate_per_s, 2.5);
  EXPECT_DOUBLE_EQ(c->limits.publish_burst, 3);
  EXPECT_EQ(c->limits.outgoing_buffer_bytes, 65536);
}

TEST(SdkDecode, SubscribeResultRecoveredOrNot) {
  auto a = decodeSubscribeResult(json::parse(
      R"({"room":"table:1","epoch":"8f2c01aa","offset":57,"recovered":true,"replayed":16})"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->offset, 57u);
  ASSERT_TRUE(a->recovered.has_value());
  EXPECT_TRUE(*a->recovered);
  EXPECT_EQ(a->replayed, 16u);

  auto b = decodeSubscribeResult(json::parse(
      R"({"room":"table:1","epoch":"1be0c4f9","offset":3,"recovered":false,"reason":"epoch_changed"})"));
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(*b->recovered);
  EXPECT_EQ(b->reason, "epoch_changed");

  auto plain = decodeSubscribeResult(json::parse(R"({"room":"r","epoch":"e","offset":0})"));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->recovered.has_value());

  EXPECT_FALSE(decodeSubscribeResult(json::parse(R"({"room":"r","offset":"x"})")).ok());
}

TEST(SdkDecode, PublishAckAndPresenceResult) {
  auto ack = decodePublishAck(
      json::parse(R"({"room":"r","epoch":"e","offset":58,"ts":12,"duplicate":true})"));
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->offset, 58u);
  EXPECT_TRUE(ack->duplicate);
  auto plain = decodePublishAck(json::parse(R"({"room":"r","epoch":"e","offset":1,"ts":1})"));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->duplicate);

  auto p = decodePresenceResult(json::parse(
      R"({"room":"r","clients":[{"session":"s1","user":"a","client":"c1"},{"session":"s2","user":"","client":"c2"}]})"));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->clients.size(), 2u);
  EXPECT_EQ(p->clients[1].session, "s2");
  EXPECT_FALSE(decodePresenceResult(json::parse(R"({"room":"r","clients":{}})")).ok());
}

TEST(SdkEncode, PublishCarriesAtOrDelay) {
  auto at = parseObject(encodePublish(4, "r", "{}", "m1", int64_t{1764309190000000}, std::nullopt));
  EXPECT_EQ(at.at("params").at("at").to_number<int64_t>(), 1764309190000000);
  EXPECT_FALSE(at.at("params").as_object().contains("delay_ms"));
  auto delay = parseObject(encodePublish(4, "r", "{}", "m1", std::nullopt, int64_t{250}));
  EXPECT_EQ(delay.at("params").at("delay_ms").to_number<int64_t>(), 250);
  EXPECT_FALSE(delay.at("params").as_object().contains("at"));
  auto plain = parseObject(encodePublish(4, "r", "{}", "m1"));
  EXPECT_FALSE(plain.at("params").as_object().contains("at"));
  EXPECT_FALSE(plain.at("params").as_object().contains("delay_ms"));
}

TEST(SdkCodec, MediaTsGoesOutWithAPublishAndComesBackWithThePush) {
  auto out = parseObject(encodePublish(4, "r", "{}", "m1", std::nullopt, std::nullopt, int64_t{1764309189000000}));
  EXPECT_EQ(out.at("params").at("media_ts").to_number<int64_t>(), 1764309189000000);
  EXPECT_FALSE(parseObject(encodePublish(4, "r", "{}", "m1")).at("params").as_object().contains("media_ts"));
  auto in = decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":1,"ts":10,"media_ts":1764309189000000,"data":1})");
  ASSERT_EQ(in.kind, Kind::kPub);
  ASSERT_TRUE(in.pub.media_ts_us.has_value());
  EXPECT_EQ(*in.pub.media_ts_us, 1764309189000000);
  EXPECT_FALSE(in.pub.at_us.has_value());
  EXPECT_EQ(decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":1,"media_ts":"x","data":1})").kind, Kind::kInvalid);
}

TEST(SdkEncode, TimeCarriesTheEstimateOnlyOnceValid) {
  auto bare = parseObject(encodeTime(5, std::nullopt));
  EXPECT_EQ(bare.at("method").as_string(), "time");
  EXPECT_EQ(bare.at("id").as_int64(), 5);
  EXPECT_FALSE(bare.contains("params"));
  auto t = parseObject(encodeTime(6, TimeTelemetry{812, -1520, 406}));
  const auto& p = t.at("params").as_object();
  EXPECT_EQ(p.at("rtt_us").as_int64(), 812);
  EXPECT_EQ(p.at("offset_us").as_int64(), -1520);
  EXPECT_EQ(p.at("uncertainty_us").as_int64(), 406);
}

TEST(SdkEncode, WindowOpenSendsOnlyTheGivenTimes) {
  WindowSpec spec;
  spec.duration_ms = 5000;
  auto o = parseObject(encodeWindowOpen(7, "table:1", "round-42", spec));
  EXPECT_EQ(o.at("method").as_string(), "window_open");
  const auto& p = o.at("params").as_object();
  EXPECT_EQ(p.at("room").as_string(), "table:1");
  EXPECT_EQ(p.at("window").as_string(), "round-42");
  EXPECT_EQ(p.at("duration_ms").as_int64(), 5000);
  EXPECT_FALSE(p.contains("opens_at"));
  EXPECT_FALSE(p.contains("closes_at"));
  spec = WindowSpec{int64_t{100}, int64_t{200}, std::nullopt};
  auto q = parseObject(encodeWindowOpen(8, "r", "w", spec)).at("params").as_object();
  EXPECT_EQ(q.at("opens_at").as_int64(), 100);
  EXPECT_EQ(q.at("closes_at").as_int64(), 200);
  EXPECT_FALSE(q.contains("duration_ms"));
}

TEST(SdkEncode, ActionCarriesStampDataAndId) {
  std::string text = encodeAction(9, "table:1", "round-\"42", 1764309189000000, "{\"bet\":5}", "bet-7");
  EXPECT_EQ(text.find('\n'), std::string::npos);
  auto o = parseObject(text);
  EXPECT_EQ(o.at("method").as_string(), "action");
  const auto& p = o.at("params").as_object();
  EXPECT_EQ(p.at("room").as_string(), "table:1");
  EXPECT_EQ(p.at("window").as_string(), "round-\"42");
  EXPECT_EQ(p.at("ts").to_number<int64_t>(), 1764309189000000);
  EXPECT_EQ(json::serialize(p.at("data")), "{\"bet\":5}");
  EXPECT_EQ(p.at("action_id").as_string(), "bet-7");
  EXPECT_TRUE(parseObject(encodeAction(1, "r", "w", 0, "", "a")).at("params").at("data").is_null());
}

TEST(SdkDecode, ScheduledPublicationCarriesAt) {
  auto in = decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":1,"ts":10,"at":1764309190000000,"data":1})");
  ASSERT_EQ(in.kind, Kind::kPub);
  ASSERT_TRUE(in.pub.at_us.has_value());
  EXPECT_EQ(*in.pub.at_us, 1764309190000000);
  EXPECT_EQ(in.pub.late_us, 0);
  auto plain = decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":1,"ts":10,"data":1})");
  ASSERT_EQ(plain.kind, Kind::kPub);
  EXPECT_FALSE(plain.pub.at_us.has_value());
  EXPECT_EQ(decodeLine(R"({"push":"pub","room":"r","epoch":"e","offset":1,"at":"soon"})").kind, Kind::kInvalid);
}

TEST(SdkDecode, TimeResultNeedsBothTimestamps) {
  auto t = decodeTimeResult(json::parse(R"({"t1":1764309189123456,"t2":1764309189123470})"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->t1, 1764309189123456);
  EXPECT_EQ(t->t2, 1764309189123470);
  EXPECT_FALSE(decodeTimeResult(json::parse(R"({"t1":1})")).ok());
  EXPECT_FALSE(decodeTimeResult(json::parse(R"({"t1":1,"t2":"x"})")).ok());
  EXPECT_FALSE(decodeTimeResult(json::parse("[]")).ok());
}

TEST(SdkDecode, WindowInfo) {
  auto w = decodeWindowInfo(json::parse(
      R"({"room":"table:1","window":"round-42","opens_at":100,"closes_at":200,"settles_at":1200})"));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->room, "table:1");
  EXPECT_EQ(w->window, "round-42");
  EXPECT_EQ(w->opens_at, 100);
  EXPECT_EQ(w->closes_at, 200);
  EXPECT_EQ(w->settles_at, 1200);
  EXPECT_FALSE(decodeWindowInfo(json::parse(R"({"room":"r","opens_at":"x"})")).ok());
}

TEST(SdkDecode, ActionDecisionsAcceptedRefusedAndDuplicate) {
  auto a = decodeActionDecision(json::parse(
      R"({"room":"table:1","window":"round-42","action_id":"bet-7","decision":"accepted","stamp":1764309189000000,)"
      R"("received":1764309189041000,"gap":41000,"expected_gap":40000})"));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->accepted);
  EXPECT_TRUE(a->reason.empty());
  EXPECT_FALSE(a->duplicate);
  EXPECT_EQ(a->action_id, "bet-7");
  EXPECT_EQ(a->stamp, 1764309189000000);
  EXPECT_EQ(a->received, 1764309189041000);
  EXPECT_EQ(a->gap_us, 41000);
  EXPECT_EQ(a->expected_gap_us, 40000);

  auto late = decodeActionDecision(
      json::parse(R"({"room":"r","window":"w","action_id":"bet-8","decision":"refused","reason":"late"})"));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->accepted);
  EXPECT_EQ(late->reason, "late");
  EXPECT_FALSE(late->gap_us.has_value());

  // The original decision repeated, flagged.
  auto again = decodeActionDecision(
      json::parse(R"({"room":"r","window":"w","action_id":"bet-7","decision":"accepted","duplicate":true})"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->accepted);
  EXPECT_TRUE(again->duplicate);
  // A bare duplicate refusal (protocol.md's reason): judged before, outcome unknown here.
  auto dup = decodeActionDecision(
      json::parse(R"({"room":"r","window":"w","action_id":"bet-7","decision":"refused","reason":"duplicate"})"));
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->accepted);
  EXPECT_TRUE(dup->duplicate);

  EXPECT_FALSE(decodeActionDecision(json::parse(R"({"room":"r","decision":"maybe"})")).ok());
  EXPECT_FALSE(decodeActionDecision(json::parse(R"({"room":"r"})")).ok());
}

TEST(SdkClassify, DeliversNextDropsDuplicatesAndFlagsGaps) {
  Position last{"e1", 10};
  EXPECT_EQ(classify(last, "e1", 11), Verdict::kDeliver);
  EXPECT_EQ(classify(last, "e1", 10), Verdict::kDuplicate);
  EXPECT_EQ(classify(last, "e1", 3), Verdict::kDuplicate);
  EXPECT_EQ(classify(last, "e1", 12), Verdict::kGap);
  EXPECT_EQ(classify(last, "e2", 11), Verdict::kGap);
  EXPECT_EQ(classify(Position{"e", 0}, "e", 1), Verdict::kDeliver);
}

TEST(SdkBackoff, GrowsExponentiallyWithinBoundsAndResets) {
  Backoff b(100, 5000, 42);
  int64_t prev_cap = 0;
  for (int i = 0; i < 12; ++i) {
    int64_t d = b.nextDelayMs();
    int64_t cap = std::min<int64_t>(5000, 100LL << (i + 1));
    EXPECT_GE(d, 100) << i;
    EXPECT_LE(d, cap) << i;
    EXPECT_GE(d, std::max<int64_t>(100, cap / 2)) << i;
    EXPECT_GE(cap, prev_cap);
    prev_cap = cap;
  }
  b.reset();
  int64_t d = b.nextDelayMs();
  EXPECT_GE(d, 100);
  EXPECT_LE(d, 200);
}

TEST(SdkBackoff, JitterSpreadsClients) {
  Backoff a(100, 5000, 1), b(100, 5000, 2);
  bool differ = false;
  for (int i = 0; i < 6; ++i) differ |= a.nextDelayMs() != b.nextDelayMs();
  EXPECT_TRUE(differ);
}

// ---- shared protocol vectors (test/vectors/protocol, format in its README.md;
// the JavaScript SDK's test/unit/codec.test.js reads the same files)

json::array loadCases(const std::string& file) {
  std::ifstream in(std::string(TUTTI_VECTORS_DIR) + "/protocol/" + file);
  EXPECT_TRUE(in.good()) << "cannot open " << file;
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  EXPECT_FALSE(ec) << file << ": " << ec.message();
  if (ec || !v.is_object() || !v.as_object().contains("cases")) return {};
  return v.at("cases").as_array();
}

std::optional<int64_t> optInt(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  return it->value().to_number<int64_t>();
}

std::string optStr(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? std::string() : std::string(it->value().as_string());
}

std::string encodeVector(std::string_view method, const json::object& a) {
  const uint64_t id = a.at("id").to_number<uint64_t>();
  auto data = [&] { return a.contains("data") ? json::serialize(a.at("data")) : std::string("null"); };
  if (method == "connect") return encodeConnect(id, optStr(a, "token"), optStr(a, "name"), optStr(a, "client"));
  if (method == "subscribe") {
    std::optional<Position> recover;
    if (auto it = a.find("recover"); it != a.end())
      recover = Position{std::string(it->value().at("epoch").as_string()), it->value().at("offset").to_number<uint64_t>()};
    return encodeSubscribe(id, optStr(a, "room"), recover, a.contains("presence") && a.at("presence").as_bool());
  }
  if (method == "unsubscribe") return encodeUnsubscribe(id, optStr(a, "room"));
  if (method == "publish")
    return encodePublish(id, optStr(a, "room"), data(), optStr(a, "client_msg_id"), optInt(a, "at"), optInt(a, "delay_ms"),
                         optInt(a, "media_ts"));
  if (method == "presence") return encodePresence(id, optStr(a, "room"));
  if (method == "ping") return encodePing(id);
  if (method == "time") {
    std::optional<TimeTelemetry> tel;
    if (auto it = a.find("telemetry"); it != a.end()) {
      const json::object& t = it->value().as_object();
      tel = TimeTelemetry{t.at("rtt_us").to_number<int64_t>(), t.at("offset_us").to_number<int64_t>(),
                          t.at("uncertainty_us").to_number<int64_t>()};
    }
    return encodeTime(id, tel);
  }
  if (method == "window_open") {
    WindowSpec spec;
    spec.opens_at_us = optInt(a, "opens_at");
    spec.closes_at_us = optInt(a, "closes_at");
    spec.duration_ms = optInt(a, "duration_ms");
    return encodeWindowOpen(id, optStr(a, "room"), optStr(a, "window"), spec);
  }
  if (method == "action")
    return encodeAction(id, optStr(a, "room"), optStr(a, "window"), a.at("ts").to_number<int64_t>(), data(),
                        optStr(a, "action_id"));
  ADD_FAILURE() << "vector names an unknown method " << method;
  return {};
}

// A typed view of a result, back in wire names (as the vectors give them);
// nullopt when the view refuses it.
std::optional<json::object> viewResult(std::string_view decode, const json::value& r) {
  json::object v;
  if (decode == "connect") {
    auto c = decodeConnectResult(r);
    if (!c) return std::nullopt;
    v["session"] = c->session;
    v["user"] = c->user;
    v["server_time_us"] = c->server_time_us;
    v["version"] = c->version;
    v["protocol"] = c->protocol;
    json::object l;
    l["max_frame_bytes"] = c->limits.max_frame_bytes;
    l["max_batch"] = c->limits.max_batch;
    l["max_rooms"] = c->limits.max_rooms;
    l["max_data_bytes"] = c->limits.max_data_bytes;
    l["publish_rate_per_s"] = c->limits.publish_rate_per_s;
    l["publish_burst"] = c->limits.publish_burst;
    l["outgoing_buffer_bytes"] = c->limits.outgoing_buffer_bytes;
    l["idle_timeout_ms"] = c->limits.idle_timeout_ms;
    v["limits"] = std::move(l);
  } else if (decode == "subscribe") {
    auto s = decodeSubscribeResult(r);
    if (!s) return std::nullopt;
    v["room"] = s->room;
    v["epoch"] = s->epoch;
    v["offset"] = s->offset;
    if (s->recovered) v["recovered"] = *s->recovered;
    v["reason"] = s->reason;
    v["replayed"] = s->replayed;
  } else if (decode == "publish") {
    auto a = decodePublishAck(r);
    if (!a) return std::nullopt;
    v["room"] = a->room;
    v["epoch"] = a->epoch;
    v["offset"] = a->offset;
    v["ts"] = a->ts;
    v["duplicate"] = a->duplicate;
  } else if (decode == "presence") {
    auto p = decodePresenceResult(r);
    if (!p) return std::nullopt;
    v["room"] = p->room;
    json::array cs;
    for (const auto& c : p->clients) cs.push_back(json::object{{"session", c.session}, {"user", c.user}, {"client", c.client}});
    v["clients"] = std::move(cs);
  } else if (decode == "ping") {
    auto t = decodePingResult(r);
    if (!t) return std::nullopt;
    v["server_time_us"] = *t;
  } else if (decode == "time") {
    auto t = decodeTimeResult(r);
    if (!t) return std::nullopt;
    v["t1"] = t->t1;
    v["t2"] = t->t2;
  } else if (decode == "window_open") {
    auto w = decodeWindowInfo(r);
    if (!w) return std::nullopt;
    v["room"] = w->room;
    v["window"] = w->window;
    v["opens_at"] = w->opens_at;
    v["closes_at"] = w->closes_at;
    v["settles_at"] = w->settles_at;
  } else if (decode == "action") {
    auto d = decodeActionDecision(r);
    if (!d) return std::nullopt;
    v["room"] = d->room;
    v["window"] = d->window;
    v["action_id"] = d->action_id;
    v["accepted"] = d->accepted;
    v["reason"] = d->reason;
    v["duplicate"] = d->duplicate;
    v["stamp"] = d->stamp;
    v["received"] = d->received;
    if (d->gap_us) v["gap"] = *d->gap_us;
    if (d->expected_gap_us) v["expected_gap"] = *d->expected_gap_us;
  } else {
    ADD_FAILURE() << "vector names an unknown view " << decode;
  }
  return v;
}

// JSON equality by value: integers and doubles that are equal compare equal
// (1 == 1.0, uint64 7 == int64 7); objects regardless of key order.
bool sameJson(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
    if (a.is_uint64() || b.is_uint64()) return a.to_number<uint64_t>() == b.to_number<uint64_t>();
    return a.as_int64() == b.as_int64();
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      auto it = y.find(kv.key());
      if (it == y.end() || !sameJson(kv.value(), it->value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!sameJson(x[i], y[i])) return false;
    return true;
  }
  return a == b;
}

TEST(ProtocolVectors, CommandsEncodeAsTheSharedVectorsSay) {
  json::array cases = loadCases("commands.json");
  ASSERT_GE(cases.size(), 15u);
  for (const json::value& c : cases) {
    const std::string name(c.at("name").as_string());
    std::string text = encodeVector(c.at("method").as_string(), c.at("args").as_object());
    EXPECT_EQ(text.find('\n'), std::string::npos) << name;
    boost::system::error_code ec;
    json::value got = json::parse(text, ec);
    ASSERT_FALSE(ec) << name << ": " << text;
    EXPECT_TRUE(sameJson(got, c.at("expect"))) << name << ": got " << text << " want " << json::serialize(c.at("expect"));
  }
}

TEST(ProtocolVectors, LinesDecodeAsTheSharedVectorsSay) {
  json::array cases = loadCases("incoming.json");
  ASSERT_GE(cases.size(), 30u);
  for (const json::value& c : cases) {
    const std::string name(c.at("name").as_string());
    const json::object& x = c.at("expect").as_object();
    const std::string kind(x.at("kind").as_string());
    Incoming in = decodeLine(c.at("line").as_string());
    if (kind == "pub") {
      ASSERT_EQ(in.kind, Kind::kPub) << name << ": " << in.problem;
      json::object v;
      v["room"] = in.pub.room;
      v["epoch"] = in.pub.epoch;
      v["offset"] = in.pub.offset;
      v["ts"] = in.pub.ts;
      v["data"] = json::parse(in.pub.data);
      if (in.pub.at_us) v["at"] = *in.pub.at_us;
      if (in.pub.media_ts_us) v["media_ts"] = *in.pub.media_ts_us;
      EXPECT_TRUE(sameJson(v, x.at("pub"))) << name << ": got " << json::serialize(v);
      EXPECT_EQ(in.pub.late_us, 0) << name;
    } else if (kind == "join" || kind == "leave") {
      EXPECT_EQ(in.kind, kind == "join" ? Kind::kJoin : Kind::kLeave) << name;
      EXPECT_EQ(in.room, x.at("room").as_string()) << name;
      const json::object& cl = x.at("client").as_object();
      EXPECT_EQ(in.client.session, cl.at("session").as_string()) << name;
      EXPECT_EQ(in.client.user, cl.at("user").as_string()) << name;
      EXPECT_EQ(in.client.client, cl.at("client").as_string()) << name;
    } else if (kind == "disconnect") {
      EXPECT_EQ(in.kind, Kind::kDisconnect) << name;
      EXPECT_EQ(in.disconnect.code, x.at("code").to_number<int>()) << name;
      EXPECT_EQ(in.disconnect.reason, x.at("reason").as_string()) << name;
    } else if (kind == "unknown_push") {
      EXPECT_EQ(in.kind, Kind::kUnknownPush) << name;
    } else if (kind == "invalid") {
      EXPECT_EQ(in.kind, Kind::kInvalid) << name;
    } else if (kind == "error") {
      ASSERT_EQ(in.kind, Kind::kReply) << name;
      EXPECT_EQ(in.id, x.at("id").to_number<uint64_t>()) << name;
      ASSERT_TRUE(in.error.has_value()) << name;
      EXPECT_EQ(in.error->code, x.at("code").to_number<int>()) << name;
      EXPECT_EQ(in.error->message, x.at("message").as_string()) << name;
    } else if (kind == "result") {
      ASSERT_EQ(in.kind, Kind::kReply) << name;
      EXPECT_EQ(in.id, x.at("id").to_number<uint64_t>()) << name;
      ASSERT_FALSE(in.error.has_value()) << name;
      auto view = viewResult(x.at("decode").as_string(), in.result);
      if (x.contains("malformed") && x.at("malformed").as_bool()) {
        EXPECT_FALSE(view.has_value()) << name << " should be refused";
      } else {
        ASSERT_TRUE(view.has_value()) << name << " refused";
        EXPECT_TRUE(sameJson(*view, x.at("value"))) << name << ": got " << json::serialize(*view);
      }
    } else {
      ADD_FAILURE() << name << ": unknown kind " << kind;
    }
  }
}

}  // namespace
}  // namespace tutti::sdk::codec
