#include "tutti/netem/trace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using tutti::netem::Trace;

namespace {

// Writes a trace file for a test and removes it afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/tutti-netem-trace-XXXXXX";
    const int fd = mkstemp(name);
    path_ = name;
    if (fd >= 0) {
      EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
      close(fd);
    }
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST(Trace, ParsesAMahimahiFile) {
  // The shape of Mahimahi's own traces: repeated timestamps are several
  // packets in the same millisecond.
  TempFile f("0\n3\n3\n7\n10\n");
  auto t = Trace::load(f.path());
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->opportunitiesMs(), (std::vector<int64_t>{0, 3, 3, 7, 10}));
  EXPECT_EQ(t->periodMs(), 10);
}

TEST(Trace, IgnoresBlankLinesAndSpacesAndCrlf) {
  auto t = Trace::parse("  1 \r\n\n2\r\n\n");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->opportunitiesMs(), (std::vector<int64_t>{1, 2}));
}

TEST(Trace, RejectsAMalformedLineAndNamesIt) {
  auto t = Trace::parse("1\n2\nfast\n4\n");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("line 3"), std::string::npos) << t.error().message;
  EXPECT_FALSE(Trace::parse("1\n2.5\n").ok());
  EXPECT_FALSE(Trace::parse("1\n-2\n").ok());
  EXPECT_FALSE(Trace::parse("1 2\n").ok());
}

TEST(Trace, RejectsAnEmptyFile) {
  TempFile f("");
  auto t = Trace::load(f.path());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("empty"), std::string::npos) << t.error().message;
  EXPECT_FALSE(Trace::parse("\n\n  \n").ok());
}

TEST(Trace, RejectsTimestampsGoingBackwards) {
  auto t = Trace::parse("5\n3\n");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("line 2"), std::string::npos) << t.error().message;
}

TEST(Trace, RejectsATraceThatLastsNoTime) { EXPECT_FALSE(Trace::parse("0\n0\n").ok()); }

TEST(Trace, ReportsAnUnreadableFileByPath) {
  auto t = Trace::load("/nonexistent/tutti.trace");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("/nonexistent/tutti.trace"), std::string::npos);
}

TEST(Trace, OneOpportunityPerMillisecondIsTwelveMegabits) {
  auto t = Trace::parse("1\n");
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->averageRateBps(), 12e6);
  auto four = Trace::parse("0\n0\n5\n5\n10\n");  // 5 packets per 10 ms = 6 Mbit/s
  ASSERT_TRUE(four.ok());
  EXPECT_DOUBLE_EQ(four->averageRateBps(), 6e6);
}
