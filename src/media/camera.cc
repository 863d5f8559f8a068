#include "tutti/media/camera.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "tutti/core/log.h"

extern char** environ;

namespace tutti::media {

void SyntheticCamera::start() { monitor_ = std::thread([this] { run(); }); }

void SyntheticCamera::stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_ && !monitor_.joinable()) return;
    stopping_ = true;
    if (pid_ > 0) kill(pid_, SIGTERM);
  }
  cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

pid_t SyntheticCamera::spawn() {
  const std::string src = "testsrc2=size=" + config_.size + ":rate=" + std::to_string(config_.fps);
  // %{localtime} prints the wall clock; %{n} the frame number.
  const std::string text =
      "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:fontsize=44:fontcolor=white:"
      "box=1:boxcolor=black@0.6:boxborderw=8:x=32:y=64:text='tutti %{localtime\\:%X} frame %{n}'";
  const std::string gop = std::to_string(config_.gop_frames);
  std::vector<std::string> args = {config_.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                                   "-f", "lavfi", "-i", src, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                                   "-vf", text, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                                   "-g", gop, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
                                   "-f", "mpegts", config_.target};
  if (config_.stamp_wall_clock) {
    // PTS = the wall clock when ffmpeg starts plus media time (the TS muxer
    // keeps it modulo 2^33 / 90 kHz), without the muxer's own 1.4 s delay.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count() % 95'443'717;
    char offset[32];
    std::snprintf(offset, sizeof offset, "%lld.%03lld", static_cast<long long>(now_ms / 1000),
                  static_cast<long long>(now_ms % 1000));
    args.insert(args.end() - 3, {"-muxdelay", "0", "-muxpreload", "0", "-output_ts_offset", offset});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, config_.ffmpeg.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

void SyntheticCamera::run() {
  std::unique_lock l(mu_);
  while (!stopping_) {
    pid_ = spawn();
    if (pid_ <= 0) {
      log::error("camera: cannot start ffmpeg (scripts/setup installs it)", {{"ffmpeg", config_.ffmpeg}});
    } else {
      ++starts_;
      log::info("camera: started", {{"pid", std::to_string(pid_)}, {"target", config_.target}});
      // Wait for it to exit, looking now and then; stop() signals it.
      const auto term_at = std::chrono::steady_clock::time_point::max();
      auto killed_at = term_at;
      for (;;) {
        int status = 0;
        l.unlock();
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        l.lock();
        if (r == pid_ || r < 0) break;
        if (stopping_ && killed_at == term_at) killed_at = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        if (stopping_ && std::chrono::steady_clock::now() > killed_at) kill(pid_, SIGKILL);
        cv_.wait_for(l, std::chrono::milliseconds(50));
      }
      pid_ = -1;
      if (!stopping_) log::warn("camera: ffmpeg exited; restarting in 1 s", {});
    }
    cv_.wait_for(l, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

}  // namespace tutti::media
