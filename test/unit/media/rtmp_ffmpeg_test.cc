// The session against a real client: Debian's ffmpeg CLI pushes 3 s of a
// test pattern (H.264 + AAC) over RTMP to a socket on 127.0.0.1 that this
// test pumps through a ServerSession. Plain POSIX sockets; everything is
// bounded in time.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tutti/media/rtmp.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBudget = std::chrono::seconds(20);

std::optional<std::string> findFfmpeg() {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = p.find(':', start);
    std::string dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/ffmpeg";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return std::nullopt;
}

struct Video {
  int64_t dts;
  bool keyframe, config, eos;
};

struct Collector : tutti::media::rtmp::Listener {
  std::string app, key;
  int publishes = 0, unpublishes = 0;
  std::optional<tutti::media::rtmp::Metadata> metadata;
  std::vector<Video> video;
  std::vector<std::pair<int64_t, bool>> audio;  // dts, config
  std::vector<std::string> unsupported;

  bool onPublish(std::string_view a, std::string_view k) override {
    ++publishes;
    app = a;
    key = k;
    return true;
  }
  void onMetadata(const tutti::media::rtmp::Metadata& m) override { metadata = m; }
  void onVideo(const tutti::media::rtmp::VideoFrame& f) override { video.push_back({f.dts_ms, f.keyframe, f.config, f.end_of_sequence}); }
  void onAudio(const tutti::media::rtmp::AudioFrame& f) override { audio.emplace_back(f.dts_ms, f.config); }
  void onUnsupported(std::string_view what) override { unsupported.emplace_back(what); }
  void onUnpublish() override { ++unpublishes; }
};

bool writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

int remainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

TEST(RtmpFfmpeg, ReceivesAPublishFromTheFfmpegCli) {
  auto ffmpeg = findFfmpeg();
  for (int i = 0; !ffmpeg && i < 6; ++i) {  // it may still be being installed
    std::this_thread::sleep_for(std::chrono::seconds(10));
    ffmpeg = findFfmpeg();
  }
  if (!ffmpeg) GTEST_SKIP() << "the ffmpeg CLI is not installed (apt-get install ffmpeg); the real-client test did not run";

  const auto deadline = Clock::now() + kBudget;
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  const std::string url = "rtmp://127.0.0.1:" + std::to_string(port) + "/live/testkey";
  std::vector<std::string> args = {
      "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
      "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
      "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-c:a", "aac", "-f", "flv", url};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, ffmpeg->c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ASSERT_EQ(spawned, 0) << "posix_spawn failed";

  Collector c;
  tutti::media::rtmp::ServerSession session(c);
  std::string failure;
  int cfd = -1;

  pollfd lp{lfd, POLLIN, 0};
  if (::poll(&lp, 1, remainingMs(deadline)) == 1) cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (cfd < 0) failure = "ffmpeg did not connect in time";

  // Pump until ffmpeg closes its end (or the budget runs out).
  std::string buf(64 << 10, '\0');
  while (cfd >= 0 && failure.empty()) {
    pollfd p{cfd, POLLIN, 0};
    const int ready = ::poll(&p, 1, remainingMs(deadline));
    if (ready == 0) {
      failure = "timed out pumping the connection";
      break;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      failure = "poll failed";
      break;
    }
    const ssize_t n = ::recv(cfd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // ffmpeg closed the connection
    auto r = session.feed(buf.data(), static_cast<size_t>(n));
    if (!r.ok()) failure = "session error: " + r.error().message;
    if (!writeAll(cfd, session.takeOutput()) && failure.empty()) failure = "write to ffmpeg failed";
    if (session.wantsClose() && failure.empty()) failure = "the session asked to close";
  }
  if (cfd >= 0) ::close(cfd);
  ::close(lfd);

  // Reap ffmpeg within the budget, killing it if need be.
  int status = -1;
  bool exited = false;
  while (Clock::now() < deadline) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }

  ASSERT_TRUE(failure.empty()) << failure;
  ASSERT_TRUE(exited) << "ffmpeg did not exit within the time budget";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  EXPECT_EQ(c.publishes, 1);
  EXPECT_EQ(c.app, "live");
  EXPECT_EQ(c.key, "testkey");
  EXPECT_EQ(c.unpublishes, 1);  // ffmpeg sends FCUnpublish/deleteStream at the end
  EXPECT_TRUE(c.unsupported.empty()) << c.unsupported.front();
  ASSERT_TRUE(c.metadata.has_value());
  EXPECT_EQ(c.metadata->width, 320);
  EXPECT_EQ(c.metadata->height, 240);
  EXPECT_EQ(c.metadata->video_codec_id, 7);
  EXPECT_EQ(c.metadata->audio_codec_id, 10);

  // Video: one sequence header first, then about 3 s at 30 fps, with a key
  // frame on every 30th frame (-g 30) and nowhere else, DTS increasing; the
  // flv muxer ends with an AVC end of sequence (at the last frame's DTS).
  ASSERT_FALSE(c.video.empty());
  EXPECT_TRUE(c.video.front().config);
  std::vector<Video> frames;
  int configs = 0, ends = 0;
  for (const auto& v : c.video) {
    if (v.config)
      ++configs;
    else if (v.eos)
      ++ends;
    else
      frames.push_back(v);
  }
  EXPECT_EQ(configs, 1);
  EXPECT_LE(ends, 1);
  if (ends == 1) {
    EXPECT_TRUE(c.video.back().eos);
  }
  EXPECT_GE(frames.size(), 85u);
  EXPECT_LE(frames.size(), 95u);
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(frames[i].keyframe, i % 30 == 0) << "frame " << i;
  for (size_t i = 1; i < frames.size(); ++i) EXPECT_GT(frames[i].dts, frames[i - 1].dts) << "frame " << i;
  EXPECT_NEAR(static_cast<double>(frames.back().dts - frames.front().dts), 1000.0 * (frames.size() - 1) / 30, 50);

  // Audio: the AAC config first, then 3 s of 1024-sample frames at 48 kHz
  // (about 140), DTS not decreasing.
  ASSERT_FALSE(c.audio.empty());
  EXPECT_TRUE(c.audio.front().second);
  int audio_configs = 0;
  for (const auto& a : c.audio) audio_configs += a.second;
  EXPECT_EQ(audio_configs, 1);
  EXPECT_GE(c.audio.size() - 1, 130u);
  EXPECT_LE(c.audio.size() - 1, 150u);
  for (size_t i = 2; i < c.audio.size(); ++i) EXPECT_GE(c.audio[i].first, c.audio[i - 1].first) << "audio " << i;
}
