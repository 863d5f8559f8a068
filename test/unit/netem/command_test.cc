#include "tutti/netem/command.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "test_sockets.h"

using tutti::netem::parseNetemArgs;
using tutti::netem::runNetemCommand;

namespace {

constexpr int64_t kMs = 1000;

std::string writeTrace(const std::string& text) {
  char name[] = "/tmp/tutti-netem-cmd-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  return name;
}

}  // namespace

TEST(NetemCommand, ParsesAFullTcpCommandLine) {
  const std::string up = writeTrace("1\n");
  auto o = parseNetemArgs({"--listen", "127.0.0.1:0", "--target", "localhost:8080", "--delay-up-ms", "10",
                           "--delay-down-ms", "60", "--jitter-ms", "5", "--rate-kbps", "2000", "--trace-up", up,
                           "--queue-bytes", "30000", "--seed", "7"});
  std::remove(up.c_str());
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_FALSE(o->udp);
  EXPECT_EQ(o->proxy.listen_host, "127.0.0.1");
  EXPECT_EQ(o->proxy.listen_port, 0);
  EXPECT_EQ(o->proxy.target_host, "localhost");
  EXPECT_EQ(o->proxy.target_port, 8080);
  EXPECT_EQ(o->proxy.up.delay_us, 10 * kMs);
  EXPECT_EQ(o->proxy.down.delay_us, 60 * kMs);
  EXPECT_EQ(o->proxy.up.jitter_us, 5 * kMs);
  EXPECT_EQ(o->proxy.down.jitter_us, 5 * kMs);
  EXPECT_EQ(o->proxy.down.rate_bps, 2'000'000);
  ASSERT_TRUE(o->proxy.up.trace);
  EXPECT_DOUBLE_EQ(o->proxy.up.trace->averageRateBps(), 12e6);
  EXPECT_FALSE(o->proxy.down.trace);
  EXPECT_EQ(o->proxy.up.queue_bytes, 30000);
  EXPECT_EQ(o->proxy.seed, 7u);
}

TEST(NetemCommand, ParsesUdpKnobs) {
  auto o = parseNetemArgs({"--udp", "--listen", "[::1]:9000", "--target", "127.0.0.1:9001", "--delay-ms", "40",
                           "--loss", "0.05", "--reorder", "0.1", "--duplicate", "0"});
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_TRUE(o->udp);
  EXPECT_EQ(o->proxy.listen_host, "::1");
  EXPECT_EQ(o->proxy.up.delay_us, 40 * kMs);
  EXPECT_EQ(o->proxy.down.delay_us, 40 * kMs);
  EXPECT_DOUBLE_EQ(o->proxy.up.loss, 0.05);
  EXPECT_DOUBLE_EQ(o->proxy.down.reorder, 0.1);
}

TEST(NetemCommand, RejectsBadFlagsWithAReason) {
  const std::vector<std::string> base = {"--listen", "127.0.0.1:0", "--target", "127.0.0.1:1"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return parseNetemArgs(args);
  };
  EXPECT_FALSE(with({"--bogus", "1"}).ok());
  EXPECT_FALSE(with({"--delay-ms"}).ok());
  EXPECT_FALSE(with({"--delay-ms", "-5"}).ok());
  EXPECT_FALSE(with({"--delay-ms", "5ms"}).ok());
  EXPECT_FALSE(with({"--udp", "--loss", "1.5"}).ok());
  EXPECT_FALSE(with({"--udp", "--loss", "abc"}).ok());
  auto mixed = with({"--delay-ms", "5", "--delay-up-ms", "10"});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.error().message.find("either"), std::string::npos);
  auto loss_tcp = with({"--loss", "0.1"});
  ASSERT_FALSE(loss_tcp.ok());
  EXPECT_NE(loss_tcp.error().message.find("--udp"), std::string::npos);
  EXPECT_FALSE(parseNetemArgs({"--target", "127.0.0.1:1"}).ok());
  EXPECT_FALSE(parseNetemArgs({"--listen", "127.0.0.1:0"}).ok());
  EXPECT_FALSE(parseNetemArgs({"--listen", "nocolon", "--target", "127.0.0.1:1"}).ok());
  EXPECT_FALSE(parseNetemArgs({"--listen", "127.0.0.1:70000", "--target", "127.0.0.1:1"}).ok());
}

TEST(NetemCommand, ExitsWithTwoOnBadFlagsAndTraces) {
  EXPECT_EQ(runNetemCommand({"--bogus"}), 2);
  EXPECT_EQ(runNetemCommand({"--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--trace-up",
                             "/nonexistent/trace"}),
            2);
  const std::string bad = writeTrace("1\n2\nthree\n");
  EXPECT_EQ(runNetemCommand({"--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--trace-down", bad}), 2);
  auto o = parseNetemArgs({"--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--trace-down", bad});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("line 3"), std::string::npos) << o.error().message;
  std::remove(bad.c_str());
  const std::string empty = writeTrace("");
  EXPECT_EQ(runNetemCommand({"--listen", "127.0.0.1:0", "--target", "127.0.0.1:1", "--trace-up", empty}), 2);
  std::remove(empty.c_str());
}

TEST(NetemCommand, HelpIsNotAnError) { EXPECT_EQ(runNetemCommand({"--help"}), 0); }

// The whole command in a child process: first stdout line, proxying, and a
// clean exit on SIGTERM. The parent forks while it has a single thread and
// plays the target itself.
TEST(NetemCommand, PrintsTheAddressFirstAndStopsOnSigterm) {
  using namespace tutti::netem::test;
  const int target = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  ASSERT_EQ(bind(target, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(target, 4), 0);
  const uint16_t target_port = boundPort(target);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  std::fflush(stdout);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    close(target);
    _exit(runNetemCommand({"--listen", "127.0.0.1:0", "--target", "127.0.0.1:" + std::to_string(target_port),
                           "--delay-ms", "10"}));
  }
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
  const int port = std::stoi(line.substr(prefix.size()));
  ASSERT_GT(port, 0);
  const int fd = connectTcp(static_cast<uint16_t>(port));
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sendAll(fd, "hello"));
  const int upstream = accept(target, nullptr, nullptr);  // the proxy's connection
  ASSERT_GE(upstream, 0);
  setReceiveTimeout(upstream, 3000);
  EXPECT_EQ(recvExactly(upstream, 5), "hello");
  EXPECT_GE(secondsSince(t0), 0.010);
  ASSERT_TRUE(sendAll(upstream, "world"));
  EXPECT_EQ(recvExactly(fd, 5), "world");
  EXPECT_GE(secondsSince(t0), 0.020);
  close(fd);
  close(upstream);
  close(target);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
