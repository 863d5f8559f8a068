#include "tutti/sync/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

using namespace tutti::sync;

namespace {
std::string tempPath() {
  char buf[] = "/tmp/tutti-audit-XXXXXX";
  int fd = mkstemp(buf);
  close(fd);
  unlink(buf);
  return buf;
}
std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string chain(int n) {
  std::string text, prev(64, '0');
  for (int i = 1; i <= n; ++i) {
    auto line = sealAuditLine(i, prev, "\"event\":\"decision\",\"n\":" + std::to_string(i));
    prev = line.substr(line.size() - 66, 64);
    text += line + "\n";
  }
  return text;
}
}  // namespace

TEST(AuditLog, AChainOfAppendedLinesVerifies) {
  auto path = tempPath();
  {
    auto log = AuditLog::open(path);
    ASSERT_TRUE(log.ok()) << log.error().message;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->append("\"event\":\"x\",\"i\":" + std::to_string(i)).ok());
  }
  auto v = verifyAuditFile(path);
  EXPECT_TRUE(v.ok) << v.reason;
  EXPECT_EQ(v.lines, 5u);
  unlink(path.c_str());
}

TEST(AuditLog, ReopeningContinuesTheSameChain) {
  auto path = tempPath();
  { auto log = AuditLog::open(path); ASSERT_TRUE((*log)->append("\"a\":1").ok()); }
  {
    auto log = AuditLog::open(path);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ((*log)->lastSeq(), 1u);
    ASSERT_TRUE((*log)->append("\"a\":2").ok());
  }
  EXPECT_TRUE(verifyAuditFile(path).ok);
  unlink(path.c_str());
}

TEST(AuditLog, ChangingAnyLineFailsAtThatLine) {
  const std::string good = chain(6);
  ASSERT_TRUE(verifyAuditText(good).ok);
  for (int target = 1; target <= 6; ++target) {
    // Change one digit of the payload of line `target`.
    std::string bad = good;
    size_t pos = 0;
    for (int l = 1; l < target; ++l) pos = bad.find('\n', pos) + 1;
    size_t n = bad.find("\"n\":", pos) + 4;
    bad[n] = bad[n] == '9' ? '8' : static_cast<char>(bad[n] + 1);
    auto v = verifyAuditText(bad);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.broken_line, static_cast<uint64_t>(target)) << v.reason;
  }
}

TEST(AuditLog, DeletingOrReorderingLinesIsDetectedWhereTheChainBreaks) {
  std::string good = chain(4);
  std::vector<std::string> lines;
  std::stringstream ss(good);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  auto v = verifyAuditText(lines[0] + "\n" + lines[2] + "\n" + lines[3] + "\n");
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.broken_line, 2u);
  v = verifyAuditText(lines[1] + "\n" + lines[0] + "\n");
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.broken_line, 1u);
}

TEST(AuditLog, ReportsGarbageAndTornLinesCleanly) {
  EXPECT_EQ(verifyAuditText("not json\n").broken_line, 1u);
  std::string good = chain(2);
  EXPECT_EQ(verifyAuditText(good + "{\"seq\":3").broken_line, 3u);
  EXPECT_TRUE(verifyAuditText("").ok);
  EXPECT_FALSE(verifyAuditFile("/nonexistent/file").ok);
}

TEST(AuditLog, RefusesToAppendToABrokenFile) {
  auto path = tempPath();
  { std::ofstream(path) << "garbage\n"; }
  EXPECT_FALSE(AuditLog::open(path).ok());
  unlink(path.c_str());
}

TEST(AuditLog, RefusesASecondWriterOnTheSameFile) {
  auto path = tempPath();
  auto first = AuditLog::open(path);
  ASSERT_TRUE(first.ok());
  auto second = AuditLog::open(path);
  EXPECT_FALSE(second.ok());
  unlink(path.c_str());
}
