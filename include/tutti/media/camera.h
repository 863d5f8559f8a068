#pragma once
// The synthetic camera: Debian's ffmpeg CLI making a test pattern with a tone,
// the wall clock and the frame number burned in, pushing MPEG-TS in real time
// to an ingest URL. Restarted (after a second) if it exits, until stop().
// Thread: start/stop from one thread; a monitor thread waits for the process.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>

namespace tutti::media {

struct CameraConfig {
  std::string target;  // where to push: tcp://127.0.0.1:PORT
  std::string size = "1280x720";
  int fps = 30;
  int gop_frames = 60;
  std::string ffmpeg = "ffmpeg";
  // Stamp the wall clock (at start) into the MPEG-TS timestamps, for an
  // ingest on the source timeline (PipelineConfig::Timeline::kSource).
  bool stamp_wall_clock = false;
};

class SyntheticCamera {
 public:
  explicit SyntheticCamera(CameraConfig config) : config_(std::move(config)) {}
  ~SyntheticCamera() { stop(); }
  SyntheticCamera(const SyntheticCamera&) = delete;
  SyntheticCamera& operator=(const SyntheticCamera&) = delete;

  void start();
  // SIGTERM, then SIGKILL after 2 s; joins the monitor.
  void stop();
  uint64_t starts() const { return starts_.load(); }

 private:
  void run();
  pid_t spawn();

  CameraConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  pid_t pid_ = -1;
  std::atomic<uint64_t> starts_{0};
  std::thread monitor_;
};

}  // namespace tutti::media
