#include "tutti/auth/permissions.h"

#include <gtest/gtest.h>

namespace tutti::auth {
namespace {

TEST(MatchesPattern, MatchesAnExactRoomNameOnly) {
  EXPECT_TRUE(matchesPattern("lobby", "lobby"));
  EXPECT_FALSE(matchesPattern("lobby", "lobby2"));
  EXPECT_FALSE(matchesPattern("lobby", "lobb"));
  EXPECT_FALSE(matchesPattern("lobby", "Lobby"));
}

TEST(MatchesPattern, MatchesEveryRoomWithThePrefixOfATrailingStar) {
  EXPECT_TRUE(matchesPattern("table:*", "table:1"));
  EXPECT_TRUE(matchesPattern("table:*", "table:1:chat"));
  EXPECT_TRUE(matchesPattern("table:*", "table:"));
  EXPECT_FALSE(matchesPattern("table:*", "table"));
  EXPECT_FALSE(matchesPattern("table:*", "tables:1"));
  EXPECT_FALSE(matchesPattern("table:*", "xtable:1"));
}

TEST(MatchesPattern, StarAloneMatchesEveryRoom) {
  EXPECT_TRUE(matchesPattern("*", "lobby"));
  EXPECT_TRUE(matchesPattern("*", "table:1"));
  EXPECT_TRUE(matchesPattern("*", "*"));
}

TEST(MatchesPattern, TreatsAStarBeforeTheEndAsAnOrdinaryCharacter) {
  EXPECT_TRUE(matchesPattern("a*b", "a*b"));
  EXPECT_FALSE(matchesPattern("a*b", "axb"));
  EXPECT_TRUE(matchesPattern("a**", "a*x"));
  EXPECT_FALSE(matchesPattern("a**", "ax"));
}

TEST(MatchesPattern, EmptyPatternMatchesNothing) {
  EXPECT_FALSE(matchesPattern("", "lobby"));
  EXPECT_FALSE(matchesPattern("", ""));
}

TEST(Allowed, AllowsNothingForAnEmptyList) {
  EXPECT_FALSE(allowed({}, "lobby"));
  EXPECT_FALSE(allowed({}, ""));
}

TEST(Allowed, AllowsWhenAnyPatternMatches) {
  std::vector<std::string> patterns{"lobby", "table:*"};
  EXPECT_TRUE(allowed(patterns, "lobby"));
  EXPECT_TRUE(allowed(patterns, "table:9"));
  EXPECT_FALSE(allowed(patterns, "admin"));
  EXPECT_TRUE(allowed({"admin", "*"}, "anything"));
}

}  // namespace
}  // namespace tutti::auth
