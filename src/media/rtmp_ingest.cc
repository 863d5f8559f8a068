#include "tutti/media/rtmp_ingest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "tutti/core/log.h"
#include "tutti/media/rtmp.h"
#include "tutti/protocol/codes.h"

namespace tutti::media {

// One publisher's session: RTMP in, pipeline out. Thread: its connection's.
class RtmpIngest::Connection final : public rtmp::Listener {
 public:
  Connection(RtmpIngest& ingest, std::string peer) : in_(ingest), peer_(std::move(peer)) {}
  ~Connection() override { end(); }

  bool onPublish(std::string_view app, std::string_view key) override {
    auto stream = in_.authorize_(app, key);
    if (!stream) {
      in_.refused_.inc();
      log::warn("rtmp: publish refused", {{"peer", peer_}, {"app", std::string(app)}});
      return false;
    }
    std::lock_guard l(in_.mu_);
    if (!in_.publishing_.insert(*stream).second) {
      in_.refused_.inc();
      log::warn("rtmp: stream already has a publisher", {{"peer", peer_}, {"stream", *stream}});
      return false;
    }
    stream_ = *stream;
    log::info("rtmp: publishing", {{"peer", peer_}, {"stream", stream_}});
    return true;
  }

  void onMetadata(const rtmp::Metadata& m) override {
    if (m.frame_rate > 0) frame_rate_ = m.frame_rate;
  }

  void onVideo(const rtmp::VideoFrame& f) override {
    if (stream_.empty() || f.end_of_sequence) return;
    if (f.config) {
      info_.video = VideoCodec::kH264;
      info_.video_extradata.assign(f.data);
      return;
    }
    if (!pipeline_) {
      if (!f.keyframe || info_.video_extradata.empty()) return;  // start on a decodable frame
      info_.frame_rate = frame_rate_;
      auto p = Pipeline::create(in_.pipeline_, info_, in_.sink_for_(stream_), in_.clock_);
      if (!p) {
        log::warn("rtmp: cannot build the ladder", {{"stream", stream_}, {"error", p.error().message}});
        failed_ = true;
        return;
      }
      pipeline_ = std::move(*p);
    }
    push(true, f.dts_ms, f.dts_ms + f.cts_ms, f.keyframe, f.data);
  }

  void onAudio(const rtmp::AudioFrame& f) override {
    if (stream_.empty()) return;
    if (f.config) {
      if (!pipeline_) {
        info_.audio = AudioCodec::kAac;
        info_.audio_extradata.assign(f.data);
      }
      return;
    }
    if (pipeline_) push(false, f.dts_ms, f.dts_ms, true, f.data);
  }

  void onUnsupported(std::string_view what) override {
    log::warn("rtmp: unsupported media ignored", {{"peer", peer_}, {"what", std::string(what)}});
  }

  void onUnpublish() override { end(); }

  bool failed() const { return failed_; }

 private:
  void push(bool video, int64_t dts_ms, int64_t pts_ms, bool key, std::string_view data) {
    SourcePacket p;
    p.video = video;
    p.dts_us = dts_ms * 1000;
    p.pts_us = pts_ms * 1000;
    p.key = key;
    p.data = data;
    if (auto r = pipeline_->push(p); !r) {
      log::warn("rtmp: ladder failed", {{"stream", stream_}, {"error", r.error().message}});
      failed_ = true;
    }
  }

  // Ends the publish: flushes the ladder and frees the stream.
  void end() {
    if (pipeline_) {
      pipeline_->finish();
      pipeline_.reset();
    }
    if (!stream_.empty()) {
      std::lock_guard l(in_.mu_);
      in_.publishing_.erase(stream_);
      log::info("rtmp: publish ended", {{"stream", stream_}});
      stream_.clear();
    }
    info_ = SourceInfo{};
  }

  RtmpIngest& in_;
  std::string peer_;
  std::string stream_;
  SourceInfo info_;
  double frame_rate_ = 30;
  std::unique_ptr<Pipeline> pipeline_;
  bool failed_ = false;
};

RtmpIngest::RtmpIngest(Options options, PipelineConfig pipeline, Authorizer authorize, SinkFor sink_for,
                       const Clock& clock, metrics::Registry& registry)
    : options_(std::move(options)),
      pipeline_(std::move(pipeline)),
      authorize_(std::move(authorize)),
      sink_for_(std::move(sink_for)),
      clock_(clock),
      connections_(registry.counter("tutti_rtmp_connections_total", "RTMP connections accepted")),
      refused_(registry.counter("tutti_rtmp_refused_total", "RTMP publishes refused (key, busy stream, too many)")),
      protocol_errors_(registry.counter("tutti_rtmp_protocol_errors_total", "RTMP connections closed for breaking the protocol")) {}

RtmpIngest::~RtmpIngest() { stop(); }

Result<void> RtmpIngest::start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return makeError(code::kInternal, "rtmp: socket failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(options_.port);
  if (::inet_pton(AF_INET, options_.host.c_str(), &a.sin_addr) != 1)
    return makeError(code::kInvalidParams, "rtmp: bad listen address " + options_.host);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 16) != 0)
    return makeError(code::kInvalidParams, "rtmp: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                               ": " + std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { acceptLoop(); });
  return {};
}

void RtmpIngest::stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard l(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.thread.join();  // threads_ changes only on the acceptor, which has ended
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

void RtmpIngest::acceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard l(mu_);
      if (fds_.size() >= options_.max_publishers) {
        refused_.inc();
        ::close(fd);
        continue;
      }
      fds_.insert(fd);
    }
    connections_.inc();
    // Join the connections that have ended, so threads do not pile up.
    for (size_t i = 0; i < threads_.size();) {
      if (threads_[i].done->load()) {
        threads_[i].thread.join();
        threads_.erase(threads_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    threads_.push_back({std::thread([this, fd, done] {
                          serve(fd);
                          done->store(true);
                        }),
                        done});
  }
}

void RtmpIngest::serve(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen);
  char ip[INET_ADDRSTRLEN] = "?";
  ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  {
    Connection conn(*this, ip);
    rtmp::ServerSession session(conn);
    std::vector<char> buf(64 * 1024);
    auto sendAll = [fd](const std::string& out) {
      size_t off = 0;
      while (off < out.size()) {
        const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
      }
      return true;
    };
    while (!stopping_) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, options_.idle_timeout_ms);
      if (ready == 0) {
        log::info("rtmp: publisher silent, cut", {{"peer", ip}});
        break;
      }
      if (ready < 0) break;
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) break;  // gone (or cut by stop)
      if (auto r = session.feed(buf.data(), static_cast<size_t>(n)); !r) {
        protocol_errors_.inc();
        log::warn("rtmp: protocol error, connection closed", {{"peer", ip}, {"error", r.error().message}});
        break;
      }
      if (!sendAll(session.takeOutput())) break;
      if (session.wantsClose() || conn.failed()) break;
    }
  }  // the connection ends its publish (flushes the ladder) here
  {
    std::lock_guard l(mu_);
    fds_.erase(fd);
  }
  ::close(fd);
}

}  // namespace tutti::media
