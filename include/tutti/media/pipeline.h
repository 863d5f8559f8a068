#pragma once
// One live stream's media pipeline: demuxed packets in (from any ingest),
// decoded once, scaled once per rung (libswscale), encoded per rung
// (libx264), audio re-encoded to AAC, and each track packaged as CMAF:
// an init segment, then parts that together make segments.
//
// Everything is placed on capture time (server UTC microseconds): the first
// packet of a stream is stamped with the wall clock, later ones with that plus
// their distance in source time. Segment numbers (msn) are capture time
// divided by the segment duration, and every rung gets its key frames at the
// same capture times (the first frame at or after each segment boundary), so
// rungs switch cleanly and two origins fed the same capture times name
// segments alike.
//
// Thread: one caller at a time (the stream's ingest thread). The sink is
// called synchronously from push().

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/result.h"

namespace tutti::media {

// One video rung of the ladder.
struct Rung {
  std::string name;     // in URLs: /hls/<stream>/<name>/...
  int width = 0;        // pixels; the height is what keeps the source's aspect (even)
  int height = 0;
  int video_kbps = 0;   // x264 average and maximum rate
};

struct PipelineConfig {
  // Three rungs that a 2-core machine encodes in real time next to the
  // server (FACTS.md: about 0.23 core per media second from a 720p30 source).
  std::vector<Rung> rungs = {{"480p", 854, 480, 1200}, {"360p", 640, 360, 700}, {"240p", 426, 240, 350}};
  int audio_kbps = 96;
  int64_t segment_us = 2'000'000;  // segments of 2 s: a key frame on every boundary
  int64_t part_us = 200'000;       // LL-HLS parts: PART-HOLD-BACK 3 x this
  // CMAF chunks within a part (a moof+mdat each), handed out as they are
  // made so that a part still being written can be sent as it grows. 100 ms:
  // 3 video or 5 audio frames, about 1 KB/s of headers per rendition. 0 =
  // one chunk per part.
  int64_t chunk_us = 100'000;
  std::string x264_preset = "veryfast";
  // Where capture times come from (docs/media.md "One timeline").
  //  kArrival: the wall clock when the first packet arrives, then the
  //    source's own timestamps.
  //  kSource: the source stamps its wall clock into its timestamps, which
  //    carry it modulo source_wrap_us (MPEG-TS: 2^33 ticks of 90 kHz, 26.5 h);
  //    the origin resolves the wrap with its own clock. Every origin fed the
  //    same source then computes the same capture times, so the same segment
  //    and part numbers, durations and program date times: identical
  //    playlists (as long as the clocks agree within half the wrap).
  // The source's own H.264 as one more video rendition ("source", after the
  // encoded rungs), copied, not re-encoded: the best picture at no encoding
  // cost. Its segments start at the source's key frames (the first at or
  // after each segment boundary), so its key frames line up with the
  // encoded rungs' only when the source's GOP divides the segment; parts of
  // a source with B-frames are cut by decode time. Needs the source's
  // picture size (MPEG-TS ingests know it). passthrough_kbps is the
  // BANDWIDTH it declares.
  bool passthrough = false;
  int passthrough_kbps = 3000;
  enum class Timeline { kArrival, kSource };
  Timeline timeline = Timeline::kArrival;
  int64_t source_wrap_us = 95'443'717'689;  // 2^33 / 90 kHz, in us (rounded)
};

// The capture time (UTC us) that a source timestamp carrying its wall clock
// modulo wrap_us stands for: the one nearest to now_us.
int64_t sourceCaptureUs(int64_t pts_us, int64_t now_us, int64_t wrap_us);

enum class VideoCodec { kNone, kH264 };
enum class AudioCodec { kNone, kAac, kMp2, kMp3, kOpus };

// What an ingest knows about its source once it has its first packets.
struct SourceInfo {
  VideoCodec video = VideoCodec::kNone;
  std::string video_extradata;  // avcC (AVCDecoderConfigurationRecord) or Annex B SPS/PPS; may be empty for Annex B
  AudioCodec audio = AudioCodec::kNone;
  std::string audio_extradata;  // AudioSpecificConfig for raw AAC; empty for ADTS
  int sample_rate = 0;
  int channels = 0;
  int width = 0, height = 0;  // 0 = unknown (then no pass-through rendition)
  double frame_rate = 30;  // the source's nominal rate: x264's rate control budgets bits per frame by it
};

// One demuxed access unit, on the source's own timeline.
struct SourcePacket {
  bool video = true;
  int64_t pts_us = 0;
  int64_t dts_us = 0;
  bool key = false;
  std::string_view data;
};

enum class TrackKind { kVideo, kAudio };

// What a track is, for playlists (codecs string, bandwidth, size).
struct TrackInfo {
  size_t index = 0;      // 0..rungs-1 video, rungs: audio
  TrackKind kind = TrackKind::kVideo;
  std::string name;      // the rung's name, or "audio"
  std::string codecs;    // RFC 6381, e.g. avc1.64001f, mp4a.40.2
  int bandwidth_bps = 0;
  int width = 0;
  int height = 0;
  double frame_rate = 0;
};

// One finished CMAF part of a track.
struct Part {
  uint64_t msn = 0;            // segment number: capture time / segment duration
  uint32_t index = 0;          // 0, 1, ... within the segment
  int64_t first_capture_us = 0;
  int64_t duration_us = 0;
  bool independent = false;    // starts with a key frame (always for audio)
  bool discontinuity = false;  // the first part after a timeline break
  // Where capture time first_capture_us falls on the track's own media
  // timeline (tfdt), in microseconds: events placed into the part (emsg)
  // are stamped on it.
  int64_t media_time_us = 0;
  std::string bytes;           // moof + mdat
};

// A piece of the part being written: onChunk gives them in order, and the
// part's onPart follows with all of them concatenated.
struct Chunk {
  uint64_t msn = 0;
  uint32_t index = 0;           // the part's
  int64_t first_capture_us = 0; // the part's
  int64_t media_time_us = 0;    // the part's (see Part)
  bool first = false;           // the part's first chunk
  std::string bytes;            // moof + mdat
};

// Where packaged media goes (the origin's store). Called on the pipeline's thread.
class PackageSink {
 public:
  virtual ~PackageSink() = default;
  virtual void onTrack(const TrackInfo& track, std::string init_segment) = 0;
  virtual void onChunk(size_t track, const Chunk& chunk) {}
  virtual void onPart(size_t track, Part part) = 0;
  // The stream ended (publisher gone); parts may follow after a new pipeline starts.
  virtual void onEnd() = 0;
};

struct PipelineStats {
  uint64_t frames_in = 0;
  uint64_t frames_dropped = 0;  // undecodable input
  uint64_t parts_out = 0;
  uint64_t discontinuities = 0;
};

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  static Result<std::unique_ptr<Pipeline>> create(const PipelineConfig& config, const SourceInfo& source,
                                                  PackageSink& sink, const Clock& clock);
  // Feeds one packet. A packet that cannot be decoded is counted and dropped
  // (the stream goes on); an error means the pipeline cannot go on.
  virtual Result<void> push(const SourcePacket& packet) = 0;
  // Drains the encoders and flushes the last parts; then onEnd().
  virtual void finish() = 0;
  virtual PipelineStats stats() const = 0;
};

}  // namespace tutti::media
