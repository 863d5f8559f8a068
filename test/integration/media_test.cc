// The media origin end to end: the real ffmpeg CLI pushes MPEG-TS over TCP
// and over SRT into `tutti serve`; ffprobe reads every rendition of the
// output, and the ffmpeg CLI decodes the multivariant stream with no error.
// A publisher that vanishes and comes back resumes the stream after a
// discontinuity (gap segments for a longer outage are unit-tested in
// test/unit/media/origin_test.cc), and a broken one disturbs no one.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/wait.h"
#include "test/common/http_client.h"
#include "tutti/auth/jwt.h"

extern char** environ;

namespace tutti::test {
namespace {

bool haveFfmpeg() { return std::system("ffmpeg -hide_banner -version >/dev/null 2>&1") == 0; }

// A process started without a shell; killed at destruction if still running.
class Process {
 public:
  explicit Process(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The exit code, or -1 if it did not end within timeout_ms (or was killed by a signal).
  int wait(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  bool started() const { return pid_ > 0; }
  // Gone without a goodbye, as a crashed encoder or a cut cable.
  void killNow() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      exited_ = true;
    }
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

// ffmpeg pushing `seconds` of a 360p30 test pattern with a tone, in real time.
std::vector<std::string> pushArgs(const std::string& url, int seconds) {
  return {"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
          "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000", "-t",
          std::to_string(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
          "-c:a", "aac", "-f", "mpegts", url};
}

std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Until the media playlist at `target` lists at least `n` complete segments.
bool waitForSegments(uint16_t port, const std::string& target, size_t n, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto r = httpGet(port, target, {}, 7000);
    size_t count = 0;
    for (size_t at = r.body.find("#EXTINF:"); at != std::string::npos; at = r.body.find("#EXTINF:", at + 1)) ++count;
    if (r.status == 200 && count >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool waitFor200(uint16_t port, const std::string& target, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (httpGet(port, target, {}, 7000).status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(MediaOrigin, FfmpegPushesOverTcpAndSrtAndEveryRenditionDecodes) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg CLI missing (scripts/setup installs it)";
  const uint16_t tcp = freeLoopbackPort(SOCK_STREAM);
  const uint16_t srt = freeLoopbackPort(SOCK_DGRAM);
  auto server = startServer("[server]\napi_key = \"k\"\n[[rooms]]\nprefix = \"table:\"\nmedia_stream = \"tcp\"\n"
                            "[media]\npassthrough = true\n[[media.ingest]]\nstream = \"tcp\"\nurl = \"tcp://127.0.0.1:" + std::to_string(tcp) +
                            "?listen=1\"\n[[media.ingest]]\nstream = \"srt\"\nurl = \"srt://127.0.0.1:" +
                            std::to_string(srt) + "?mode=listener\"\n");
  ASSERT_TRUE(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the ingests listen
  Process tcp_push(pushArgs("tcp://127.0.0.1:" + std::to_string(tcp), 26));
  Process srt_push(pushArgs("srt://127.0.0.1:" + std::to_string(srt), 14));
  ASSERT_TRUE(tcp_push.started() && srt_push.started());

  for (const std::string stream : {"tcp", "srt"}) {
    const std::string master = "/hls/" + stream + "/master.m3u8";
    ASSERT_TRUE(waitFor200(server->port(), master, 15000)) << stream << ": no multivariant playlist";
    const auto mv = httpGet(server->port(), master);
    for (const char* r : {"480p", "360p", "240p", "source"})
      EXPECT_NE(mv.body.find(std::string(r) + "/index.m3u8"), std::string::npos) << stream << " " << mv.status << ": " << mv.body;
    // ffprobe reads every rendition.
    const std::string base = "http://127.0.0.1:" + std::to_string(server->port()) + "/hls/" + stream + "/";
    struct Expect {
      const char* rendition;
      const char* line;
    } expects[] = {{"480p", "h264,854,480"}, {"360p", "h264,640,360"}, {"240p", "h264,426,240"},
                   {"source", "h264,640,360"}, {"audio", "aac,48000"}};  // source: the pushed 360p, copied
    for (const auto& e : expects) {
      // ffprobe reads segments (not parts): let two complete first.
      ASSERT_TRUE(waitForSegments(server->port(), "/hls/" + stream + "/" + e.rendition + "/index.m3u8", 2, 15000))
          << stream << "/" << e.rendition;
      const std::string out = capture("ffprobe -v error -show_entries stream=codec_name,width,height,sample_rate -of csv=p=0 " +
                                      base + e.rendition + "/index.m3u8 2>&1");
      EXPECT_NE(out.find(e.line), std::string::npos) << stream << "/" << e.rendition << ": " << out;
    }
  }
  // An event at a frame one second ahead: in every rendition's playlist, and
  // as an emsg in the part of each rendition that holds the frame.
  const int64_t at = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count() + 1'000'000;
  const auto posted = httpPost(server->port(), "/api/media/events",
                               R"({"stream":"tcp","id":"deal-1","class":"tutti.card","data":{"card":"KH"},"media_ts":)" +
                                   std::to_string(at) + "}",
                               {{"x-api-key", "k"}});
  ASSERT_EQ(posted.status, 200) << posted.body;
  bool placed = false;
  for (int i = 0; i < 50 && !placed; ++i) {
    placed = metricValue(server->port(), "tutti_media_events_placed_total").value_or(0) >= 4;
    if (!placed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(placed) << "emsg not placed in all 4 renditions";
  // A room publication pinned to a frame goes on the room's media stream too.
  const auto pub = httpPost(server->port(), "/api/publish",
                            R"({"room":"table:1","data":{"result":"red 7"},"media_ts":)" + std::to_string(at + 500'000) + "}",
                            {{"x-api-key", "k"}});
  ASSERT_EQ(pub.status, 200) << pub.body;
  EXPECT_NE(pub.body.find("\"offset\":1"), std::string::npos) << pub.body;
  bool room_event = false;
  for (int i = 0; i < 50 && !room_event; ++i) {
    const auto pl = httpGet(server->port(), "/hls/tcp/360p/index.m3u8").body;
    room_event = pl.find("CLASS=\"tutti.room\"") != std::string::npos && pl.find("ID=\"table:1/") != std::string::npos;
    if (!room_event) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(room_event) << "the room's publication is not on the media timeline";
  EXPECT_NE(httpGet(server->port(), "/hls/tcp/240p/index.m3u8").body.find("ID=\"deal-1\",CLASS=\"tutti.card\""),
            std::string::npos);
  // The part the preload hint names is sent with chunked transfer while it
  // is written, and is byte for byte the part served whole afterwards. A
  // blocking reload returns the moment a part completes, so the hint it
  // names has just begun (a slow build may still miss it: a few tries).
  {
    const std::string tag = "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"";
    auto hintOf = [&](const std::string& pl) {
      const auto at = pl.find(tag);
      return at == std::string::npos ? std::string() : pl.substr(at + tag.size(), pl.find('"', at + tag.size()) - at - tag.size());
    };
    const std::string file = "/tmp/tutti-streamed-" + std::to_string(getpid()) + ".m4s";
    bool chunked = false;
    for (int attempt = 0; attempt < 6 && !chunked; ++attempt) {
      const std::string first = hintOf(httpGet(server->port(), "/hls/tcp/360p/index.m3u8").body);
      ASSERT_FALSE(first.empty());
      // part-<msn>.<n>.m4s -> _HLS_msn=<msn>&_HLS_part=<n>: wait for it to complete.
      const auto dot = first.find('.');
      const std::string msn = first.substr(5, dot - 5);
      const std::string n = first.substr(dot + 1, first.find('.', dot + 1) - dot - 1);
      const std::string hint = hintOf(httpGet(server->port(), "/hls/tcp/360p/index.m3u8?_HLS_msn=" + msn + "&_HLS_part=" + n).body);
      ASSERT_FALSE(hint.empty());
      const std::string head = capture("curl -s -D - -o " + file + " http://127.0.0.1:" + std::to_string(server->port()) +
                                       "/hls/tcp/360p/" + hint);
      std::string streamed;
      if (FILE* f = std::fopen(file.c_str(), "rb")) {
        char buf[8192];
        size_t got;
        while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) streamed.append(buf, got);
        std::fclose(f);
      }
      std::remove(file.c_str());
      const auto whole = httpGet(server->port(), "/hls/tcp/360p/" + hint);
      ASSERT_EQ(whole.status, 200) << hint;
      EXPECT_TRUE(streamed == whole.body) << streamed.size() << " received vs " << whole.body.size() << " stored";
      chunked = head.find("Transfer-Encoding: chunked") != std::string::npos;
    }
    EXPECT_TRUE(chunked) << "the part being written was never streamed";
    EXPECT_GE(metricValue(server->port(), "tutti_hls_streamed_parts_total").value_or(0), 1);
  }
  // The CLI decodes 10 s of the multivariant stream with no error.
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/hls/tcp/master.m3u8";
  const std::string errors = capture("ffmpeg -hide_banner -loglevel error -i " + url + " -t 10 -f null - 2>&1; echo exit=$?");
  EXPECT_NE(errors.find("exit=0"), std::string::npos) << errors;
  EXPECT_EQ(errors.find("rror"), std::string::npos) << errors;
  EXPECT_EQ(tcp_push.wait(40000), 0);
  EXPECT_EQ(srt_push.wait(40000), 0);
}

TEST(MediaOrigin, APublisherThatVanishesResumesAfterADiscontinuityAndGarbageHarmsNoOne) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg CLI missing (scripts/setup installs it)";
  const uint16_t port = freeLoopbackPort(SOCK_STREAM);
  const uint16_t junk = freeLoopbackPort(SOCK_STREAM);
  auto server = startServer("[media]\n[[media.ingest]]\nstream = \"cam\"\nurl = \"tcp://127.0.0.1:" + std::to_string(port) +
                            "?listen=1\"\n[[media.ingest]]\nstream = \"junk\"\nurl = \"tcp://127.0.0.1:" +
                            std::to_string(junk) + "?listen=1\"\n");
  ASSERT_TRUE(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    // The first publisher vanishes mid-GOP (1 s GOPs, killed 0.5 s into one).
    Process first(pushArgs("tcp://127.0.0.1:" + std::to_string(port), 30));
    ASSERT_TRUE(waitForSegments(server->port(), "/hls/cam/360p/index.m3u8", 1, 15000));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    first.killNow();
  }
  // Garbage into the other ingest: it is logged and dropped.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(junk);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string noise(300'000, '\0');
      for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 7919) ^ (i >> 3));
      (void)!::write(fd, noise.data(), noise.size());
    }
    ::close(fd);
  }
  const auto before = httpGet(server->port(), "/hls/cam/360p/index.m3u8");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.body.find("#EXT-X-DISCONTINUITY"), std::string::npos);
  // Two seconds later the publisher is back. The ingest listens again once
  // the previous publisher is gone, which under a sanitizer can take longer:
  // a publisher refused before that tries again, as an encoder would.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::unique_ptr<Process> pushing;
  for (int attempt = 0; attempt < 30; ++attempt) {
    pushing = std::make_unique<Process>(pushArgs("tcp://127.0.0.1:" + std::to_string(port), 5));
    if (pushing->wait(500) == -1) break;  // still running after 0.5 s: connected and pushing
  }
  Process& second = *pushing;
  bool resumed = false;
  std::string body;
  for (int i = 0; i < 150 && !resumed; ++i) {
    body = httpGet(server->port(), "/hls/cam/360p/index.m3u8").body;
    const auto d = body.rfind("#EXT-X-DISCONTINUITY");
    resumed = d != std::string::npos && body.find("init-1.mp4") != std::string::npos &&
              body.find("#EXT-X-PART:", d) != std::string::npos;
    if (!resumed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(resumed) << body;
  EXPECT_EQ(httpGet(server->port(), "/hls/cam/360p/init-1.mp4").status, 200);
  EXPECT_EQ(httpGet(server->port(), "/healthz").status, 200);
  EXPECT_EQ(second.wait(20000), 0);
}

// A media playlist's segments by number: the segment's own lines (EXTINF,
// program date time, discontinuity, URI) and, apart, its part lines (older
// segments lose theirs as the live edge moves on, at each origin's pace).
struct Segments {
  std::map<uint64_t, std::string> lines, parts;
};
Segments segmentsOf(const std::string& playlist) {
  Segments out;
  uint64_t msn = 0;
  std::string seg, parts;
  std::istringstream in(playlist);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#EXT-X-MEDIA-SEQUENCE:", 0) == 0) msn = std::stoull(line.substr(22));
    else if (line.rfind("#EXT-X-PART:", 0) == 0) parts += line + "\n";
    else if (line.rfind("#EXTINF:", 0) == 0 || line.rfind("#EXT-X-PROGRAM-DATE-TIME:", 0) == 0 ||
             line.rfind("#EXT-X-DISCONTINUITY", 0) == 0 || line.rfind("#EXT-X-GAP", 0) == 0)
      seg += line + "\n";
    else if (!line.empty() && line[0] != '#') {
      out.lines[msn] = seg + line;
      out.parts[msn] = parts;
      ++msn;
      seg.clear();
      parts.clear();
    }
  }
  return out;
}

TEST(MediaOrigin, TwoOriginsFedTheSameSourceOnItsTimelinePublishIdenticalPlaylists) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg CLI missing (scripts/setup installs it)";
  const uint16_t in_a = freeLoopbackPort(SOCK_STREAM), in_b = freeLoopbackPort(SOCK_STREAM);
  auto config = [](uint16_t in) {
    return "[media]\ntimeline = \"source\"\n[[media.ingest]]\nstream = \"table\"\nurl = \"tcp://127.0.0.1:" +
           std::to_string(in) + "?listen=1\"\n";
  };
  auto a = startServer(config(in_a));
  auto b = startServer(config(in_b));
  ASSERT_TRUE(a && b);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // One encoder stamping its wall clock, sent to both origins (the tee muxer).
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count() % 95'443'717;
  char offset[32];
  std::snprintf(offset, sizeof offset, "%lld.%03lld", static_cast<long long>(now_ms / 1000), static_cast<long long>(now_ms % 1000));
  auto args = pushArgs("", 14);
  args.pop_back();  // the url
  args.pop_back();  // "mpegts"
  args.pop_back();  // "-f"
  args.insert(args.end(), {"-output_ts_offset", std::string(offset), "-map", "0:v", "-map", "1:a", "-f", "tee"});
  args.push_back("[f=mpegts]tcp://127.0.0.1:" + std::to_string(in_a) + "|[f=mpegts]tcp://127.0.0.1:" + std::to_string(in_b));
  Process push(args);
  ASSERT_TRUE(push.started());
  for (const char* rendition : {"480p", "240p", "audio"}) {
    const std::string target = std::string("/hls/table/") + rendition + "/index.m3u8";
    ASSERT_TRUE(waitForSegments(a->port(), target, 3, 20000) && waitForSegments(b->port(), target, 3, 20000)) << rendition;
    const auto sa = segmentsOf(httpGet(a->port(), target).body);
    const auto sb = segmentsOf(httpGet(b->port(), target).body);
    size_t common = 0, common_parts = 0;
    for (const auto& [msn, lines] : sa.lines) {
      auto it = sb.lines.find(msn);
      if (it == sb.lines.end()) continue;
      ++common;
      EXPECT_EQ(lines, it->second) << rendition << " segment " << msn;
      const auto& pa = sa.parts.at(msn);
      const auto& pb = sb.parts.at(msn);
      if (!pa.empty() && !pb.empty()) {
        ++common_parts;
        EXPECT_EQ(pa, pb) << rendition << " parts of segment " << msn;
      }
    }
    EXPECT_GE(common, 3u) << rendition;
    EXPECT_GE(common_parts, 1u) << rendition;
  }
  EXPECT_EQ(httpGet(a->port(), "/hls/table/master.m3u8").body, httpGet(b->port(), "/hls/table/master.m3u8").body);
}

std::vector<std::string> rtmpArgs(const std::string& url, int seconds) {
  auto a = pushArgs(url, seconds);
  a[a.size() - 2] = "flv";  // -f flv rtmp://...
  return a;
}

TEST(MediaOrigin, FfmpegPushesRtmpWithAKeyOrATokenAndBadPublishersAreTurnedAway) {
  if (!haveFfmpeg()) GTEST_SKIP() << "ffmpeg CLI missing (scripts/setup installs it)";
  const uint16_t rtmp = freeLoopbackPort(SOCK_STREAM);
  auto server = startServer("[auth]\nsecret = \"s3cret\"\n[media]\nrtmp_listen = \"127.0.0.1:" + std::to_string(rtmp) +
                            "\"\n[[media.rtmp_keys]]\nkey = \"k-123\"\nstream = \"table1\"\n");
  ASSERT_TRUE(server);
  const std::string base = "rtmp://127.0.0.1:" + std::to_string(rtmp) + "/live/";
  auth::Claims claims;
  claims.sub = "encoder-2";
  claims.exp = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() + 600;
  claims.publish = {"media:table2"};
  auto token = auth::sign(claims, auth::Alg::kHS256, "s3cret");
  ASSERT_TRUE(token.ok());
  Process keyed(rtmpArgs(base + "k-123", 10));
  Process tokened(rtmpArgs(base + "table2?token=" + *token, 10));
  // A wrong key, and a token for another stream, are refused (ffmpeg fails).
  Process wrong(rtmpArgs(base + "nope", 2));
  Process other(rtmpArgs(base + "table9?token=" + *token, 2));
  EXPECT_NE(wrong.wait(15000), 0);
  EXPECT_NE(other.wait(15000), 0);
  // Garbage on the RTMP port: a protocol error, counted; nobody else notices.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(rtmp);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const std::string junk = "\x05GARBAGE" + std::string(4000, '\x7f');
    (void)!::write(fd, junk.data(), junk.size());
    char c;
    (void)!::read(fd, &c, 1);  // the server closes it
    ::close(fd);
  }
  for (const std::string stream : {"table1", "table2"}) {
    ASSERT_TRUE(waitForSegments(server->port(), "/hls/" + stream + "/240p/index.m3u8", 2, 20000)) << stream;
    const std::string out = capture("ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 http://127.0.0.1:" +
                                    std::to_string(server->port()) + "/hls/" + stream + "/240p/index.m3u8 2>&1");
    EXPECT_NE(out.find("h264,426,240"), std::string::npos) << stream << ": " << out;
  }
  EXPECT_GE(metricValue(server->port(), "tutti_rtmp_refused_total").value_or(0), 2);
  EXPECT_GE(metricValue(server->port(), "tutti_rtmp_protocol_errors_total").value_or(0), 1);
  EXPECT_EQ(keyed.wait(30000), 0);
  EXPECT_EQ(tokened.wait(30000), 0);
}

TEST(MediaOrigin, TheSdkPublishesMediaTsAndSubscribersGetIt) {
  // No media needed: the capture time rides along with the publication.
  auto server = startServer("");
  ASSERT_TRUE(server);
  Collector got;
  sdk::Client sub(clientOptions(*server));
  ASSERT_TRUE(await(sub.subscribe("table:9", got.handlers())).ok());
  sdk::Client pub(clientOptions(*server));
  sdk::PublishOptions o;
  o.media_ts_us = 1764309189000000;
  ASSERT_TRUE(await(pub.publish("table:9", R"({"card":"KH"})", o)).ok());
  ASSERT_TRUE(await(pub.publish("table:9", R"({"card":"QS"})")).ok());
  ASSERT_TRUE(got.waitPubs(2, 5000));
  const auto pubs = got.pubs();
  ASSERT_TRUE(pubs[0].media_ts_us.has_value());
  EXPECT_EQ(*pubs[0].media_ts_us, 1764309189000000);
  EXPECT_FALSE(pubs[1].media_ts_us.has_value());
}

}  // namespace
}  // namespace tutti::test
