#include "tutti/server/config.h"

#include <gtest/gtest.h>

using namespace tutti::server;

TEST(Config, EmptyTextGivesTheDocumentedDefaults) {
  auto c = parseConfig("");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c->limits.max_frame_bytes, 65536);
  EXPECT_TRUE(c->auth.anonymous);
  ASSERT_EQ(c->rooms.size(), 1u);
  EXPECT_EQ(c->rooms[0].history_size, 1000);
}

TEST(Config, MapsSectionsOntoTheStructs) {
  auto c = parseConfig(R"(
[server]
listen = "127.0.0.1:0"
workers = 3
api_key = "k"
[limits]
publish_rate_per_s = 5.5
outgoing_buffer_bytes = 4096
[auth]
anonymous = false
algorithm = "ES256"
public_key_file = "/tmp/k.pub"
anonymous_subscribe = ["lobby", "public:*"]
[[rooms]]
prefix = "results:"
publish = "server"
history_size = 10
[[rooms]]
prefix = ""
presence = false
)");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server.workers, 3);
  EXPECT_DOUBLE_EQ(c->limits.publish_rate_per_s, 5.5);
  EXPECT_EQ(c->auth.algorithm, "ES256");
  EXPECT_EQ(c->auth.anonymous_subscribe.size(), 2u);
  EXPECT_EQ(c->rooms.size(), 2u);  // the "" rule replaced the built-in default
  EXPECT_EQ(c->ruleFor("results:7").publish, "server");
  EXPECT_EQ(c->ruleFor("results:7").history_size, 10);
  EXPECT_FALSE(c->ruleFor("chat").presence);
}

TEST(Config, LongestPrefixWins) {
  auto c = parseConfig("[[rooms]]\nprefix = \"a\"\nhistory_size = 1\n[[rooms]]\nprefix = \"ab\"\nhistory_size = 2\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ruleFor("abc").history_size, 2);
  EXPECT_EQ(c->ruleFor("ax").history_size, 1);
  EXPECT_EQ(c->ruleFor("zzz").history_size, 1000);
}

TEST(Config, RefusesUnknownKeysWithTheirLine) {
  auto c = parseConfig("[server]\nlisten = \"127.0.0.1:1\"\nlistne = \"x\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("server.listne"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("line 3"), std::string::npos) << c.error().message;
}

TEST(Config, RefusesWrongTypesAndBadValues) {
  EXPECT_FALSE(parseConfig("[limits]\nmax_batch = \"ten\"\n").ok());
  EXPECT_FALSE(parseConfig("[limits]\nmax_batch = 0\n").ok());
  EXPECT_FALSE(parseConfig("[auth]\nalgorithm = \"none\"\n").ok());
  EXPECT_FALSE(parseConfig("[[rooms]]\npublish = \"everyone\"\n").ok());
  EXPECT_FALSE(parseConfig("[nope]\n").ok());
  EXPECT_FALSE(parseConfig("this is not toml").ok());
}
