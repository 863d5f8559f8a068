#pragma once
// The media origin: streams, each a set of renditions (the ladder's video
// rungs and one audio rendition) with their LL-HLS playlists and a sliding
// window of CMAF parts in memory, served over the server's HTTP.
//
// URLs (the same for every viewer, so every byte is cacheable):
//   /hls/<stream>/master.m3u8                    multivariant playlist
//   /hls/<stream>/<rendition>/index.m3u8         media playlist; _HLS_msn, _HLS_part, _HLS_skip
//   /hls/<stream>/<rendition>/init-<dsn>.mp4     init segment (one per discontinuity sequence)
//   /hls/<stream>/<rendition>/seg-<msn>.m4s      segment (its parts, concatenated)
//   /hls/<stream>/<rendition>/part-<msn>.<n>.m4s part
// A playlist request that names a future msn/part, and a request for the
// part the preload hint names, are held until it exists (or 503 after 3
// target durations).
//
// Threads: ingests call the PackageSink of a stream on their own threads;
// HTTP requests arrive on the server's workers; each stream's state is
// behind its own mutex, and replies are posted to the worker the request
// came from. A timer thread expires blocked requests.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/media/llhls.h"
#include "tutti/media/pipeline.h"
#include "tutti/net/transport.h"

namespace tutti::media {

struct OriginConfig {
  PipelineConfig pipeline;
  // Playlists: 2 s segments, 200 ms parts (PART-HOLD-BACK 0.6 s: the latency
  // floor FACTS.md gives), 12 segments kept.
  hls::MediaPlaylistConfig playlist = [] {
    hls::MediaPlaylistConfig c;
    c.target_duration_s = 2;
    c.part_target_s = 0.2;
    c.init_uri = "init-{dsn}.mp4";
    return c;
  }();
  // Requests held at once across all streams (blocked playlists and hinted
  // parts); past it a new one gets 503 at once, so a flood cannot pin memory.
  size_t max_waiters = 20'000;
};

// Something that happens at a frame of the video: a card dealt, a result.
struct MediaEvent {
  std::string id;              // unique within the stream (EXT-X-DATERANGE ID)
  int64_t media_ts_us = 0;     // capture time (UTC us) of the frame it belongs to
  std::optional<int64_t> duration_us;
  std::string class_name;      // EXT-X-DATERANGE CLASS; "" = none
  std::string data;            // application data (e.g. JSON), carried base64 in X-TUTTI-DATA and raw in the emsg
};

// What a stream has now (for the API and the demo table).
struct StreamInfo {
  std::string name;
  std::vector<TrackInfo> renditions;  // video rungs, then audio
  std::optional<uint64_t> last_msn;   // of the first video rendition, once it has a part
  std::optional<int64_t> newest_capture_us;  // capture time at the end of the newest packaged part
};

// Runs a function on a server worker (HTTP replies must run on the worker
// that received the request).
using PostToWorker = std::function<void(size_t worker, std::function<void()>)>;

class Origin {
 public:
  Origin(OriginConfig config, const Clock& clock, PostToWorker post, metrics::Registry& registry);
  ~Origin();
  Origin(const Origin&) = delete;
  Origin& operator=(const Origin&) = delete;

  // The sink an ingest publishing `stream` feeds; the stream is created on
  // first use. Valid as long as the Origin.
  PackageSink& sinkFor(const std::string& stream);

  // Places an event on a stream's timeline: an EXT-X-DATERANGE in every
  // rendition's playlist, and an `emsg` box (scheme urn:tutti:event:2026) at
  // the front of the part of each rendition that holds the frame, if that
  // part is not packaged yet (packaged parts are immutable: then the date
  // range alone says it). Errors: unknown stream, bad or reused id.
  Result<void> addEvent(const std::string& stream, const MediaEvent& event);

  // Every stream's renditions and newest part. Any thread.
  std::vector<StreamInfo> streams() const;

  static bool handles(std::string_view path) { return path.starts_with("/hls/"); }
  // Answers an /hls/ request: calls reply on `worker`, now or later.
  void handle(const net::HttpRequest& req, size_t worker, net::HttpReply reply);


 private:
  class Stream;
  Stream* find(const std::string& name) const;
  void expireLoop();

  OriginConfig config_;
  const Clock& clock_;
  PostToWorker post_;
  metrics::Registry& registry_;
  metrics::Counter* parts_ = nullptr;
  metrics::Counter* parts_refused_ = nullptr;
  metrics::Counter* events_placed_ = nullptr;
  metrics::Counter* streamed_ = nullptr;
  metrics::Gauge* waiting_ = nullptr;
  std::optional<hls::UriTemplate> part_uri_, segment_uri_, init_uri_;
  mutable std::mutex mu_;  // guards streams_ (the list, not each stream)
  std::vector<std::unique_ptr<Stream>> streams_;
  std::mutex stop_mu_;
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::thread expirer_;
};

}  // namespace tutti::media
