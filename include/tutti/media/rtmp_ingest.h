#pragma once
// RTMP ingest: what OBS and the ffmpeg CLI push (`rtmp://host:port/app/key`).
// A listener thread accepts publishers; each connection gets its own thread
// that feeds the bytes to an rtmp::ServerSession (handshake, chunk stream,
// AMF0) and the frames to a Pipeline once the first key frame arrives. The
// stream key is checked by the authorizer, which names the stream it
// publishes to. One publisher per stream at a time; a connection that breaks
// the protocol is logged, counted and closed, and the others go on.
//
// Thread: start/stop from one thread; sinks are called on connection threads.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tutti/core/clock.h"
#include "tutti/core/metrics.h"
#include "tutti/core/result.h"
#include "tutti/media/pipeline.h"

namespace tutti::media {

class RtmpIngest {
 public:
  // The stream that (app, key) may publish to, or nothing to refuse it.
  using Authorizer = std::function<std::optional<std::string>(std::string_view app, std::string_view key)>;
  // The sink of a stream (the origin's).
  using SinkFor = std::function<PackageSink&(const std::string& stream)>;

  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 1935;         // 0: any free port (see port())
    size_t max_publishers = 16;   // connections at once; more are refused at accept
    int idle_timeout_ms = 10'000;  // a publisher silent this long is cut
  };

  RtmpIngest(Options options, PipelineConfig pipeline, Authorizer authorize, SinkFor sink_for, const Clock& clock,
             metrics::Registry& registry);
  ~RtmpIngest();
  RtmpIngest(const RtmpIngest&) = delete;
  RtmpIngest& operator=(const RtmpIngest&) = delete;

  Result<void> start();
  void stop();
  uint16_t port() const { return port_; }

 private:
  class Connection;
  void acceptLoop();
  void serve(int fd);

  Options options_;
  PipelineConfig pipeline_;
  Authorizer authorize_;
  SinkFor sink_for_;
  const Clock& clock_;
  metrics::Counter& connections_;
  metrics::Counter& refused_;
  metrics::Counter& protocol_errors_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  struct Running {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Running> threads_;  // the acceptor's only
  std::set<int> fds_;              // open connections (to cut them at stop)
  std::set<std::string> publishing_;  // streams with a publisher now
};

}  // namespace tutti::media
