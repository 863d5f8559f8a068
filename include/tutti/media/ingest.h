#pragma once
// MPEG-TS ingest through libavformat's own protocols: a URL such as
// `tcp://127.0.0.1:9000?listen=1`, `udp://127.0.0.1:9001`,
// `srt://127.0.0.1:9002?mode=listener` or a file path. One thread per
// ingest: it waits for a publisher, demuxes, feeds a new Pipeline for each
// publish, and after the publisher goes (or breaks the stream) listens
// again, so the stream resumes when the publisher returns. A file is read
// once.
//
// Thread: start/stop from any one thread; the sink is called on the ingest's
// own thread.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "tutti/media/pipeline.h"

namespace tutti::media {

struct IngestStats {
  std::atomic<uint64_t> publishes{0};
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> errors{0};  // opens or reads that failed (broken input, publisher gone)
};

class TsIngest {
 public:
  TsIngest(std::string url, PipelineConfig config, PackageSink& sink, const Clock& clock);
  ~TsIngest();
  TsIngest(const TsIngest&) = delete;
  TsIngest& operator=(const TsIngest&) = delete;

  void start();
  // Unblocks any wait or read and joins the thread.
  void stop();
  const IngestStats& stats() const { return stats_; }
  // True once the thread has ended (a file read to its end, or stop()).
  bool done() const { return done_.load(); }

 private:
  void run();
  // One publish: open, demux into a pipeline until the input ends.
  void session();

  std::string url_;
  PipelineConfig config_;
  PackageSink& sink_;
  const Clock& clock_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> done_{false};
  IngestStats stats_;
  std::thread thread_;
};

}  // namespace tutti::media
