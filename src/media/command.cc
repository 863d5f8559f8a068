#include "tutti/media/command.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "tutti/media/ingest.h"

namespace tutti::media {
namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Counts what the pipeline makes, keeps nothing.
class CountingSink final : public PackageSink {
 public:
  void onTrack(const TrackInfo& t, std::string) override {
    std::lock_guard l(mu_);
    tracks_[t.index].name = t.name;
  }
  void onPart(size_t track, Part p) override {
    std::lock_guard l(mu_);
    auto& t = tracks_[track];
    ++t.parts;
    t.bytes += p.bytes.size();
    if (!t.first) t.first = p.first_capture_us;
    t.end = p.first_capture_us + p.duration_us;
  }
  void onEnd() override {}
  std::string json() const {
    std::lock_guard l(mu_);
    std::string out = "{";
    for (const auto& [i, t] : tracks_) {
      if (out.size() > 1) out += ',';
      char buf[200];
      std::snprintf(buf, sizeof buf, "\"%s\":{\"parts\":%llu,\"bytes\":%llu,\"seconds\":%.3f}", t.name.c_str(),
                    static_cast<unsigned long long>(t.parts), static_cast<unsigned long long>(t.bytes),
                    static_cast<double>(t.end - t.first) / 1e6);
      out += buf;
    }
    return out + "}";
  }
  double mediaSeconds() const {
    std::lock_guard l(mu_);
    double s = 0;
    for (const auto& [i, t] : tracks_) s = std::max(s, static_cast<double>(t.end - t.first) / 1e6);
    return s;
  }

 private:
  struct Track {
    std::string name;
    uint64_t parts = 0, bytes = 0;
    int64_t first = 0, end = 0;
  };
  mutable std::mutex mu_;
  std::map<size_t, Track> tracks_;
};

}  // namespace

int runLadderCommand(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: tutti ladder FILE   (runs the default ladder over FILE, prints JSON)\n");
    return 2;
  }
  CountingSink sink;
  PipelineConfig cfg;
  const double cpu0 = cpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  TsIngest ingest(args[0], cfg, sink, SystemClock::instance());
  ingest.start();
  while (!ingest.done()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ingest.stop();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpuSeconds() - cpu0;
  const double media = sink.mediaSeconds();
  std::printf("{\"file\":\"%s\",\"media_seconds\":%.3f,\"cpu_seconds\":%.3f,\"wall_seconds\":%.3f,"
              "\"cpu_per_media_second\":%.4f,\"errors\":%llu,\"renditions\":%s}\n",
              args[0].c_str(), media, cpu, wall, media > 0 ? cpu / media : 0.0,
              static_cast<unsigned long long>(ingest.stats().errors.load()), sink.json().c_str());
  return media > 0 && ingest.stats().errors.load() == 0 ? 0 : 1;
}

}  // namespace tutti::media
