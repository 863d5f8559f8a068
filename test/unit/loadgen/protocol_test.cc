#include "tutti/loadgen/protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tutti::loadgen {
namespace {

TEST(LoadgenProtocol, BodiesRoundTripAtTheAskedSize) {
  std::string s;
  appendBody(s, Body{7, 123456, 987654321012}, 100);
  EXPECT_EQ(s.size(), 100u);
  auto b = parseBody(s);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->room, 7u);
  EXPECT_EQ(b->seq, 123456u);
  EXPECT_EQ(b->send_ns, 987654321012);
  EXPECT_FALSE(parseBody("7:12"));
  EXPECT_FALSE(parseBody("x:1:2:"));
}

std::vector<Body> readAll(Reader& r, const std::vector<std::string>& payloads, std::vector<std::string>* replies = nullptr) {
  std::vector<Body> got;
  for (const auto& p : payloads)
    r.feed(
        p, [&](const Body& b) { got.push_back(b); },
        [&](std::string_view reply) {
          if (replies) replies->emplace_back(reply);
        });
  return got;
}

TEST(LoadgenProtocol, ReadsTuttiPushLinesAndCountsErrors) {
  std::string body;
  appendBody(body, Body{0, 5, 100}, 40);
  const std::string push = "{\"push\":\"pub\",\"room\":\"bench:0\",\"epoch\":\"e\",\"offset\":9,\"ts\":1,\"data\":\"" + body + "\"}";
  Reader r(Protocol::kTutti);
  auto got = readAll(r, {push + "\n" + push, "{\"id\":0,\"error\":{\"code\":1205,\"message\":\"rate\"}}"});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].seq, 5u);
  EXPECT_EQ(r.serverErrors(), 1u);
  EXPECT_NE(r.lastError().find("1205"), std::string::npos);
}

TEST(LoadgenProtocol, ReadsNatsMessagesSplitAcrossFramesAndAnswersPing) {
  std::string body;
  appendBody(body, Body{3, 1, 2}, 30);
  const std::string stream = "INFO {\"server_id\":\"x\"}\r\nMSG bench.3 1 " + std::to_string(body.size()) + "\r\n" + body +
                             "\r\nPING\r\nMSG bench.3 1 " + std::to_string(body.size()) + "\r\n" + body + "\r\n";
  for (size_t cut : {5u, 30u, 47u, 60u}) {
    Reader r(Protocol::kNats);
    std::vector<std::string> replies;
    auto got = readAll(r, {stream.substr(0, cut), stream.substr(cut)}, &replies);
    ASSERT_EQ(got.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(got[0].room, 3u);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], "PONG\r\n");
  }
}

TEST(LoadgenProtocol, PublishesInEachProtocol) {
  std::string batch;
  appendPublish(Protocol::kTutti, batch, 2, "1:2:3:xx");
  appendPublish(Protocol::kTutti, batch, 2, "1:3:3:xx");
  EXPECT_EQ(batch,
            "{\"method\":\"publish\",\"params\":{\"room\":\"bench:2\",\"data\":\"1:2:3:xx\"}}\n"
            "{\"method\":\"publish\",\"params\":{\"room\":\"bench:2\",\"data\":\"1:3:3:xx\"}}");
  batch.clear();
  appendPublish(Protocol::kNats, batch, 2, "abc");
  EXPECT_EQ(batch, "PUB bench.2 3\r\nabc\r\n");
  EXPECT_EQ(openPayload(Protocol::kNats, 2, true).find("SUB bench.2 1\r\n") != std::string::npos, true);
  EXPECT_EQ(targetFor(Protocol::kPlain, 4), "/?room=4");
  EXPECT_FALSE(batchesPublishes(Protocol::kPlain));
}

}  // namespace
}  // namespace tutti::loadgen
