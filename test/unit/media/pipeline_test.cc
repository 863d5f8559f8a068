// The ladder end to end on real media: the ffmpeg CLI makes a short MPEG-TS
// (720p30 test pattern and a tone), TsIngest reads it into a Pipeline, and
// the parts that come out are checked for the CMAF/LL-HLS rules the origin
// relies on, then decoded again by ffprobe.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tutti/media/ingest.h"
#include "tutti/media/pipeline.h"

namespace tutti::media {
namespace {

namespace fs = std::filesystem;

struct Recorded {
  TrackInfo info;
  std::string init;
  std::vector<Part> parts;
};

class RecordingSink final : public PackageSink {
 public:
  void onTrack(const TrackInfo& t, std::string init) override {
    std::lock_guard l(mu_);
    tracks[t.index].info = t;
    tracks[t.index].init = std::move(init);
  }
  void onPart(size_t track, Part p) override {
    std::lock_guard l(mu_);
    tracks[track].parts.push_back(std::move(p));
  }
  void onEnd() override { ++ends; }
  std::map<size_t, Recorded> tracks;
  int ends = 0;

 private:
  std::mutex mu_;
};

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class PipelineOnRealMedia : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tutti-pipeline-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    ts_ = (dir_ / "source.ts").string();
    // 6 s of 720p30 with a 2 s GOP that is NOT aligned to anything: the
    // ladder must place its own key frames.
    const std::string cmd =
        "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi "
        "-i sine=frequency=440:sample_rate=44100 -t 6 -c:v libx264 -preset ultrafast -g 45 -c:a aac -f mpegts " +
        ts_;
    have_ffmpeg_ = std::system(cmd.c_str()) == 0 && fs::exists(ts_);
    if (!have_ffmpeg_) return;
    sink_ = new RecordingSink();
    ManualClock clock(1'764'000'000'300'000);  // a wall clock not on a segment boundary
    PipelineConfig cfg;
    TsIngest ingest(ts_, cfg, *sink_, clock);
    ingest.start();
    for (int i = 0; i < 600 && !ingest.done(); ++i) usleep(50'000);
    ingest.stop();
  }
  static void TearDownTestSuite() {
    delete sink_;
    sink_ = nullptr;
    fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!have_ffmpeg_) GTEST_SKIP() << "the ffmpeg CLI could not make the source (scripts/setup installs it)";
  }

  static inline fs::path dir_;
  static inline std::string ts_;
  static inline bool have_ffmpeg_ = false;
  static inline RecordingSink* sink_ = nullptr;
};

TEST_F(PipelineOnRealMedia, MakesThreeRungsAndAudioWithInitSegments) {
  ASSERT_EQ(sink_->tracks.size(), 4u);
  EXPECT_EQ(sink_->ends, 1);
  const int heights[] = {480, 360, 240};
  for (size_t i = 0; i < 3; ++i) {
    const auto& t = sink_->tracks.at(i);
    EXPECT_EQ(t.info.kind, TrackKind::kVideo);
    EXPECT_EQ(t.info.height, heights[i]);
    EXPECT_TRUE(t.info.codecs.starts_with("avc1.")) << t.info.codecs;
    EXPECT_EQ(t.init.substr(4, 4), "ftyp") << "init segment of rung " << i;
    EXPECT_NE(t.init.find("moov"), std::string::npos);
    EXPECT_NE(t.init.find("avcC"), std::string::npos) << "the decoder configuration belongs in the init segment";
  }
  const auto& a = sink_->tracks.at(3);
  EXPECT_EQ(a.info.kind, TrackKind::kAudio);
  EXPECT_EQ(a.info.codecs, "mp4a.40.2");
  EXPECT_NE(a.init.find("esds"), std::string::npos);
}

TEST_F(PipelineOnRealMedia, EverySegmentStartsWithAKeyFrameAtTheSameCaptureTimeInEveryRung) {
  // msn -> capture time of its first part, per rung.
  std::vector<std::map<uint64_t, int64_t>> starts(3);
  for (size_t i = 0; i < 3; ++i) {
    const auto& parts = sink_->tracks.at(i).parts;
    ASSERT_GT(parts.size(), 20u);
    for (const auto& p : parts) {
      if (p.index == 0) {
        EXPECT_TRUE(p.independent) << "rung " << i << " msn " << p.msn << " starts without a key frame";
        starts[i][p.msn] = p.first_capture_us;
      }
    }
  }
  ASSERT_GE(starts[0].size(), 3u);
  EXPECT_EQ(starts[0], starts[1]);
  EXPECT_EQ(starts[0], starts[2]);
  // Segment numbers are capture time over 2 s, and consecutive.
  uint64_t prev = 0;
  for (auto [msn, cap] : starts[0]) {
    EXPECT_EQ(static_cast<uint64_t>(cap / 2'000'000), msn);
    if (prev) {
      EXPECT_EQ(msn, prev + 1);
    }
    prev = msn;
  }
}

TEST_F(PipelineOnRealMedia, PartsAreContiguousAndNoLongerThanTheirTarget) {
  for (const auto& [idx, t] : sink_->tracks) {
    const auto& parts = t.parts;
    for (size_t k = 1; k < parts.size(); ++k) {
      const auto& a = parts[k - 1];
      const auto& b = parts[k];
      if (b.msn == a.msn) {
        EXPECT_EQ(b.index, a.index + 1) << "track " << idx;
      } else {
        EXPECT_EQ(b.msn, a.msn + 1) << "track " << idx;
        EXPECT_EQ(b.index, 0u) << "track " << idx;
      }
      // Each part ends where the next begins.
      EXPECT_EQ(a.first_capture_us + a.duration_us, b.first_capture_us) << "track " << idx << " part " << k;
      // 200 ms parts, never longer (PART-TARGET): 6 video frames at 30 fps, 9 AAC frames.
      EXPECT_LE(a.duration_us, 200'400) << "track " << idx << " part " << k;
      // The spec's floor (85% of PART-TARGET) for parts that neither start
      // decodable nor end their segment.
      if (b.msn == a.msn && !a.independent) {
        EXPECT_GE(a.duration_us, 170'000) << "track " << idx << " part " << k << ": a short part inside a segment";
      }
    }
  }
}

TEST_F(PipelineOnRealMedia, EachRungKeepsNearItsBitrate) {
  // x264's rate control works only with the frame rate it is given: without
  // it every frame got a few bytes at QP 51.
  PipelineConfig cfg;
  for (size_t i = 0; i < 3; ++i) {
    const auto& parts = sink_->tracks.at(i).parts;
    ASSERT_FALSE(parts.empty());
    size_t bytes = 0;
    for (const auto& p : parts) bytes += p.bytes.size();
    const double seconds = static_cast<double>(parts.back().first_capture_us + parts.back().duration_us -
                                               parts.front().first_capture_us) / 1e6;
    const double kbps = static_cast<double>(bytes) * 8 / seconds / 1000;
    EXPECT_GT(kbps, 0.4 * cfg.rungs[i].video_kbps) << "rung " << i;
    EXPECT_LT(kbps, 1.5 * cfg.rungs[i].video_kbps) << "rung " << i;
  }
}

TEST_F(PipelineOnRealMedia, ARungsInitAndPartsDecodeWithFfprobe) {
  const auto& t = sink_->tracks.at(1);
  const std::string file = (dir_ / "rung1.mp4").string();
  {
    std::ofstream out(file, std::ios::binary);
    out << t.init;
    for (const auto& p : t.parts) out << p.bytes;
  }
  const std::string frames = run("ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 " + file);
  // width,height,frames: 640x360 and about 6 s at 30 fps.
  int w = 0, h = 0, n = 0;
  ASSERT_EQ(std::sscanf(frames.c_str(), "%d,%d,%d", &w, &h, &n), 3) << frames;
  EXPECT_EQ(w, 640);
  EXPECT_EQ(h, 360);
  EXPECT_GE(n, 170);
  EXPECT_LE(n, 181);
}

// ---- bad input: each file is made by the ffmpeg CLI, then damaged or joined.

// Runs the pipeline over a TS file; returns what came out.
RecordingSink* ladderOf(const std::string& ts, RecordingSink& sink, int64_t wall_us = 1'764'000'000'300'000,
                        PipelineConfig::Timeline timeline = PipelineConfig::Timeline::kArrival, bool passthrough = false) {
  ManualClock clock(wall_us);
  PipelineConfig cfg;
  cfg.rungs = {{"240p", 426, 240, 350}};  // one rung keeps these fast
  cfg.timeline = timeline;
  cfg.passthrough = passthrough;
  TsIngest ingest(ts, cfg, sink, clock);
  ingest.start();
  for (int i = 0; i < 600 && !ingest.done(); ++i) usleep(50'000);
  ingest.stop();
  return &sink;
}

std::string makeTs(const fs::path& dir, const std::string& name, int seconds, const std::string& extra) {
  const std::string out = (dir / name).string();
  const std::string cmd = "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x180:rate=30 -f lavfi "
                          "-i sine=frequency=440:sample_rate=48000 -t " + std::to_string(seconds) +
                          " -c:v libx264 -preset ultrafast -g 30 -c:a aac " + extra + " -f mpegts " + out;
  return std::system(cmd.c_str()) == 0 ? out : std::string();
}

TEST_F(PipelineOnRealMedia, CorruptPacketsAreDroppedAndTheStreamGoesOn) {
  const std::string ts = makeTs(dir_, "corrupt.ts", 4, "");
  ASSERT_FALSE(ts.empty());
  {
    // Scribble over 2% of the 188-byte TS packets after the first second.
    std::fstream f(ts, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<size_t>(f.tellg());
    for (size_t at = size / 4; at + 188 < size; at += 188 * 50) {
      f.seekp(static_cast<std::streamoff>(at + 10));
      const std::string junk(120, '\x5a');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
  }
  RecordingSink sink;
  ladderOf(ts, sink);
  ASSERT_EQ(sink.tracks.count(0), 1u);
  const auto& parts = sink.tracks.at(0).parts;
  ASSERT_FALSE(parts.empty());
  // Media past the damage still comes out: parts cover most of the 4 s.
  const int64_t covered = parts.back().first_capture_us + parts.back().duration_us - parts.front().first_capture_us;
  EXPECT_GT(covered, 3'000'000) << parts.size() << " parts";
}

TEST_F(PipelineOnRealMedia, ATimestampJumpStartsADiscontinuityAndA33BitWrapDoesNot) {
  // Two files joined: the second's clock starts 1000 s later (a new encoder).
  const std::string a = makeTs(dir_, "a.ts", 3, "");
  const std::string b = makeTs(dir_, "b.ts", 3, "-output_ts_offset 1000");
  ASSERT_FALSE(a.empty() || b.empty());
  const std::string joined = (dir_ / "joined.ts").string();
  ASSERT_EQ(std::system(("cat " + a + " " + b + " > " + joined).c_str()), 0);
  RecordingSink jumped;
  ladderOf(joined, jumped);
  const auto& jp = jumped.tracks.at(0).parts;
  size_t breaks = 0;
  for (const auto& p : jp) breaks += p.discontinuity ? 1 : 0;
  EXPECT_EQ(breaks, 1u) << "one discontinuity where the clock jumped";
  for (size_t k = 1; k < jp.size(); ++k) EXPECT_GT(jp[k].first_capture_us, jp[k - 1].first_capture_us) << "capture time only grows";

  // MPEG-TS timestamps are 33 bits of 90 kHz (about 26.5 hours): a stream
  // that crosses the wrap is one timeline, not a break.
  const std::string wrap = makeTs(dir_, "wrap.ts", 4, "-output_ts_offset 95442");
  ASSERT_FALSE(wrap.empty());
  RecordingSink wrapped;
  ladderOf(wrap, wrapped);
  const auto& wp = wrapped.tracks.at(0).parts;
  ASSERT_FALSE(wp.empty());
  for (const auto& p : wp) EXPECT_FALSE(p.discontinuity) << "msn " << p.msn;
  const int64_t covered = wp.back().first_capture_us + wp.back().duration_us - wp.front().first_capture_us;
  EXPECT_GT(covered, 3'500'000);
  EXPECT_LT(covered, 4'500'000);
}

TEST_F(PipelineOnRealMedia, ThePassThroughRenditionCopiesTheSourceIntoSegmentsThatStartOnItsKeyFrames) {
  // 320x180, 1 s GOPs (they divide the 2 s segments), as the ffmpeg CLI makes it.
  const std::string ts = makeTs(dir_, "pass.ts", 6, "");
  ASSERT_FALSE(ts.empty());
  RecordingSink sink;
  ladderOf(ts, sink, 1'764'000'000'300'000, PipelineConfig::Timeline::kArrival, /*passthrough=*/true);
  ASSERT_EQ(sink.tracks.size(), 3u) << "240p, source, audio";
  const auto& src = sink.tracks.at(1);
  EXPECT_EQ(src.info.name, "source");
  EXPECT_EQ(src.info.kind, TrackKind::kVideo);
  EXPECT_EQ(src.info.width, 320);
  EXPECT_EQ(src.info.height, 180);
  EXPECT_EQ(src.info.codecs.rfind("avc1.", 0), 0u);
  EXPECT_NE(src.info.codecs, "avc1.64001f") << "the source's profile (x264 ultrafast: constrained baseline)";
  EXPECT_EQ(sink.tracks.at(2).info.kind, TrackKind::kAudio);
  ASSERT_GT(src.parts.size(), 20u);
  // Each segment opens with a key frame; numbers never skip; parts stay
  // within the target (0.4 ms of rounding).
  for (size_t k = 0; k < src.parts.size(); ++k) {
    const auto& p = src.parts[k];
    if (p.index == 0) EXPECT_TRUE(p.independent) << "segment " << p.msn;
    EXPECT_LE(p.duration_us, 200'400) << k;
    if (k > 0) EXPECT_LE(p.msn, src.parts[k - 1].msn + 1) << k;
    if (k > 0) EXPECT_EQ(p.first_capture_us, src.parts[k - 1].first_capture_us + src.parts[k - 1].duration_us) << k;
  }
  // The bytes are the source's: ffprobe decodes the rendition at its size and frame count.
  const std::string file = (dir_ / "pass.mp4").string();
  {
    std::ofstream out(file, std::ios::binary);
    out << src.init;
    for (const auto& p : src.parts) out << p.bytes;
  }
  const std::string probe = run("ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 " + file);
  int w = 0, h = 0, n = 0;
  char codec[16] = {};
  ASSERT_EQ(std::sscanf(probe.c_str(), "%15[^,],%d,%d,%d", codec, &w, &h, &n), 4) << probe;
  EXPECT_STREQ(codec, "h264");
  EXPECT_EQ(w, 320);
  EXPECT_EQ(h, 180);
  EXPECT_GE(n, 170);  // 6 s at 30 fps, less what comes before the first key frame on the grid
  EXPECT_LE(n, 181);
}

TEST(SourceCapture, IsTheSourceStampNearestToTheOriginsClock) {
  constexpr int64_t kWrap = 95'443'717'689;
  const int64_t wall = 1'795'878'017'033'181;  // 2026-11-28
  const int64_t stamp = wall % kWrap;           // what a source stamping that instant sends
  EXPECT_EQ(sourceCaptureUs(stamp, wall, kWrap), wall);
  // The origin's clock, or the path, some seconds off either way: the same instant.
  EXPECT_EQ(sourceCaptureUs(stamp, wall + 3'000'000, kWrap), wall);
  EXPECT_EQ(sourceCaptureUs(stamp, wall - 3'000'000, kWrap), wall);
  EXPECT_EQ(sourceCaptureUs(stamp - 800'000, wall, kWrap), wall - 800'000);
  // Just after the wrap (the stamp is small again) and just before it.
  const int64_t wrap_at = (wall / kWrap + 1) * kWrap;
  EXPECT_EQ(sourceCaptureUs(5'000, wrap_at + 200'000, kWrap), wrap_at + 5'000);
  EXPECT_EQ(sourceCaptureUs(kWrap - 5'000, wrap_at + 200'000, kWrap), wrap_at - 5'000);
  // Timestamps that libavformat unwrapped past the wrap mean the same instant.
  EXPECT_EQ(sourceCaptureUs(stamp + kWrap, wall, kWrap), wall);
}

TEST_F(PipelineOnRealMedia, OnTheSourceTimelineTwoOriginsWithDifferentClocksCutTheSameParts) {
  // A source stamping its wall clock: 2026-11-28 14:00:00.250 UTC, modulo 2^33 / 90 kHz.
  const int64_t source_start_us = 1'795'874'400'250'000;
  const int64_t stamp_s = (source_start_us % 95'443'717'689) / 1000;  // ms
  // (-muxdelay/-muxpreload 0: the TS muxer would add 1.4 s to every stamp.)
  const std::string ts = makeTs(dir_, "stamped.ts", 5,
                                "-muxdelay 0 -muxpreload 0 -output_ts_offset " + std::to_string(stamp_s / 1000) + "." +
                                    std::to_string(1000 + stamp_s % 1000).substr(1));
  ASSERT_FALSE(ts.empty());
  // Two origins whose clocks read 0.4 s and 2.3 s past the source's when the stream reaches them.
  RecordingSink a, b;
  ladderOf(ts, a, source_start_us + 400'000, PipelineConfig::Timeline::kSource);
  ladderOf(ts, b, source_start_us + 2'300'000, PipelineConfig::Timeline::kSource);
  for (size_t track : {size_t{0}, size_t{1}}) {
    const auto& pa = a.tracks.at(track).parts;
    const auto& pb = b.tracks.at(track).parts;
    ASSERT_GT(pa.size(), 10u);
    ASSERT_EQ(pa.size(), pb.size()) << "track " << track;
    for (size_t k = 0; k < pa.size(); ++k) {
      EXPECT_EQ(pa[k].msn, pb[k].msn) << k;
      EXPECT_EQ(pa[k].index, pb[k].index) << k;
      EXPECT_EQ(pa[k].first_capture_us, pb[k].first_capture_us) << k;
      EXPECT_EQ(pa[k].duration_us, pb[k].duration_us) << k;
      EXPECT_EQ(pa[k].independent, pb[k].independent) << k;
    }
    // Capture time is the source's: the first frame at its stamp (to the ms of the offset).
    EXPECT_NEAR(static_cast<double>(pa.front().first_capture_us), static_cast<double>(source_start_us), 150'000.0);
  }
  // On the arrival timeline the same two origins disagree.
  RecordingSink c, d;
  ladderOf(ts, c, source_start_us + 400'000);
  ladderOf(ts, d, source_start_us + 2'300'000);
  EXPECT_NE(c.tracks.at(0).parts.front().first_capture_us, d.tracks.at(0).parts.front().first_capture_us);
}

TEST_F(PipelineOnRealMedia, OnTheSourceTimelineA33BitWrapIsNoBreak) {
  const std::string wrap = makeTs(dir_, "wrap-source.ts", 4, "-muxdelay 0 -muxpreload 0 -output_ts_offset 95442");
  ASSERT_FALSE(wrap.empty());
  // The origin's clock just past a wrap of the source's stamps.
  const int64_t wrap_at = (1'795'874'400'000'000 / 95'443'717'689 + 1) * 95'443'717'689;
  RecordingSink sink;
  ladderOf(wrap, sink, wrap_at + 500'000, PipelineConfig::Timeline::kSource);
  const auto& parts = sink.tracks.at(0).parts;
  ASSERT_FALSE(parts.empty());
  for (const auto& p : parts) EXPECT_FALSE(p.discontinuity) << "msn " << p.msn;
  // The stream began 95442 s into the 95443.7 s period: 1.7 s before the wrap.
  EXPECT_NEAR(static_cast<double>(parts.front().first_capture_us), static_cast<double>(wrap_at - 1'717'689), 150'000.0);
}

}  // namespace
}  // namespace tutti::media
