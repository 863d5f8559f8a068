#include "tutti/protocol/codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tutti/protocol/codes.h"

using namespace tutti;
using namespace tutti::protocol;

TEST(Codec, DecodesASubscribeWithRecoveryAndPresence) {
  auto items = decodeFrame(R"({"id":7,"method":"subscribe","params":{"room":"table:1","recover":{"epoch":"ab","offset":41},"presence":true}})", 10);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_TRUE(items[0].command.ok());
  auto& c = *items[0].command;
  EXPECT_EQ(c.id, 7u);
  EXPECT_EQ(c.method, Method::kSubscribe);
  auto& p = std::get<SubscribeParams>(c.params);
  EXPECT_EQ(p.room, "table:1");
  ASSERT_TRUE(p.recover);
  EXPECT_EQ(p.recover->epoch, "ab");
  EXPECT_EQ(p.recover->offset, 41u);
  EXPECT_TRUE(p.presence);
}

TEST(Codec, DecodesAnEdgesPresenceRelayAndRefusesAMalformedOne) {
  auto items = decodeFrame(
      R"({"id":3,"method":"presence_relay","params":{"room":"table:1","event":"leave","client":{"session":"s1","user":"bob","client":"c1"}}})",
      10);
  ASSERT_TRUE(items[0].command.ok()) << items[0].command.error().message;
  EXPECT_EQ(items[0].command->method, Method::kPresenceRelay);
  const auto& p = std::get<PresenceRelayParams>(items[0].command->params);
  EXPECT_EQ(p.room, "table:1");
  EXPECT_FALSE(p.join);
  EXPECT_EQ(p.client.session, "s1");
  EXPECT_EQ(p.client.user, "bob");
  EXPECT_EQ(p.client.client, "c1");
  const auto code = [](const std::string& params) {
    auto d = decodeFrame(R"({"id":1,"method":"presence_relay","params":)" + params + "}", 10);
    return d[0].command.ok() ? 0 : d[0].command.error().code;
  };
  EXPECT_EQ(code(R"({"room":"r","event":"join","client":{"session":"s"}})"), 0);
  EXPECT_EQ(code(R"({"room":"r","event":"wave","client":{"session":"s"}})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","client":{"session":"s"}})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","event":"join"})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","event":"join","client":{"session":""}})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","event":"join","client":{"session":7}})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","event":"join","client":{"session":")" + std::string(129, 'x') + R"("}})"),
            code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"a b","event":"join","client":{"session":"s"}})"), code::kBadRoomName);
}

TEST(Codec, DecodesAnEdgesDelayReportWithinItsBounds) {
  auto items = decodeFrame(R"({"id":4,"method":"delay_report","params":{"room":"table:1","owd_us":120000}})", 10);
  ASSERT_TRUE(items[0].command.ok()) << items[0].command.error().message;
  EXPECT_EQ(items[0].command->method, Method::kDelayReport);
  const auto& p = std::get<DelayReportParams>(items[0].command->params);
  EXPECT_EQ(p.room, "table:1");
  EXPECT_EQ(p.owd_us, 120000);
  const auto code = [](const std::string& params) {
    auto d = decodeFrame(R"({"id":1,"method":"delay_report","params":)" + params + "}", 10);
    return d[0].command.ok() ? 0 : d[0].command.error().code;
  };
  EXPECT_EQ(code(R"({"room":"r","owd_us":0})"), 0);
  EXPECT_EQ(code(R"({"room":"r","owd_us":60000000})"), 0);
  EXPECT_EQ(code(R"({"room":"r","owd_us":60000001})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","owd_us":-1})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r","owd_us":"5"})"), code::kInvalidParams);
  EXPECT_EQ(code(R"({"room":"r"})"), code::kInvalidParams);
}

TEST(Codec, DecodesANewlineDelimitedBatchInOrder) {
  auto items = decodeFrame("{\"id\":1,\"method\":\"ping\"}\n\n{\"id\":2,\"method\":\"publish\",\"params\":{\"room\":\"r\",\"data\":{\"x\":[1, 2]}}}\r\n", 10);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].command->method, Method::kPing);
  auto& p = std::get<PublishParams>(items[1].command->params);
  EXPECT_EQ(p.data_json, R"({"x":[1,2]})");  // re-serialised compactly, no newline possible
}

TEST(Codec, ReportsInvalidJsonAsBadRequest) {
  auto items = decodeFrame("{not json", 10);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].command.error().code, code::kBadRequest);
}

TEST(Codec, KeepsTheIdOfAnUnknownMethod) {
  auto items = decodeFrame(R"({"id":9,"method":"dance"})", 10);
  EXPECT_EQ(items[0].id, 9u);
  EXPECT_EQ(items[0].command.error().code, code::kUnknownMethod);
}

TEST(Codec, RefusesBadRoomNamesAndWrongTypes) {
  EXPECT_EQ(decodeFrame(R"({"id":1,"method":"subscribe","params":{"room":"a b"}})", 10)[0].command.error().code, code::kBadRoomName);
  EXPECT_EQ(decodeFrame(R"({"id":1,"method":"subscribe","params":{"room":5}})", 10)[0].command.error().code, code::kInvalidParams);
  EXPECT_EQ(decodeFrame(R"({"id":1,"method":"publish","params":{"room":"r"}})", 10)[0].command.error().code, code::kInvalidParams);
  EXPECT_EQ(decodeFrame(R"({"id":-3,"method":"ping"})", 10)[0].command.error().code, code::kBadRequest);
  EXPECT_EQ(decodeFrame(R"([1,2])", 10)[0].command.error().code, code::kBadRequest);
  EXPECT_EQ(decodeFrame(R"({"id":1,"method":"subscribe","params":{"room":"r","recover":{"epoch":"e"}}})", 10)[0].command.error().code,
            code::kInvalidParams);
}

TEST(Codec, RefusesABatchAboveTheLimitAsOneError) {
  std::string frame;
  for (int i = 0; i < 5; ++i) frame += "{\"id\":1,\"method\":\"ping\"}\n";
  auto items = decodeFrame(frame, 4);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].command.error().code, code::kBatchTooLarge);
}

TEST(Codec, RefusesDeeplyNestedJsonWithoutCrashing) {
  std::string deep(10000, '[');
  EXPECT_EQ(decodeFrame(deep, 10)[0].command.error().code, code::kBadRequest);
}

TEST(Codec, EncodesAPublicationThatParsesBackWithItsData) {
  auto f = encodePub("table:1", "ep", 58, 1764309189123456, R"({"result":"red \"17\""})");
  auto v = boost::json::parse(f.bytes).as_object();
  EXPECT_EQ(v["push"].as_string(), "pub");
  EXPECT_EQ(v["offset"].as_int64(), 58);
  EXPECT_EQ(v["ts"].as_int64(), 1764309189123456);
  EXPECT_EQ(f.bytes.substr(f.data_pos, f.data_len), R"({"result":"red \"17\""})");
}

TEST(Codec, APublishPinnedToAFrameCarriesMediaTsBothWays) {
  auto items = decodeFrame(R"({"id":4,"method":"publish","params":{"room":"table:1","data":{"n":7},"media_ts":1764309189000000}})", 10);
  ASSERT_EQ(items.size(), 1u);
  ASSERT_TRUE(items[0].command.ok());
  const auto& pp = std::get<PublishParams>(items[0].command->params);
  ASSERT_TRUE(pp.media_ts_us.has_value());
  EXPECT_EQ(*pp.media_ts_us, 1764309189000000);
  auto bad = decodeFrame(R"({"id":5,"method":"publish","params":{"room":"table:1","data":1,"media_ts":"soon"}})", 10);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_FALSE(bad[0].command.ok());
  auto f = encodePub("table:1", "ep", 9, 1764309189123456, "{}", std::nullopt, 1764309189000000);
  auto v = boost::json::parse(f.bytes).as_object();
  EXPECT_EQ(v["media_ts"].as_int64(), 1764309189000000);
  EXPECT_FALSE(v.contains("at"));
  EXPECT_FALSE(boost::json::parse(encodePub("r", "e", 1, 1, "{}").bytes).as_object().contains("media_ts"));
}

TEST(Codec, EscapesControlCharactersInStrings) {
  std::string s;
  appendJsonString(s, std::string("a\n\"\x01", 4));
  EXPECT_EQ(s, R"("a\n\"\u0001")");
  auto e = encodeError(3, makeError(1000, "bad\nline"));
  EXPECT_EQ(e.find('\n'), std::string::npos);  // a frame's objects are newline-separated
}

TEST(Codec, ValidatesRoomNames) {
  EXPECT_TRUE(validRoomName("table:1/a.b-c_d@e=f"));
  EXPECT_FALSE(validRoomName(""));
  EXPECT_FALSE(validRoomName(std::string(201, 'a')));
  EXPECT_FALSE(validRoomName("é"));
}
