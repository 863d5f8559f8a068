#include "tutti/media/ingest.h"

#include <chrono>

#include "ff.h"
#include "tutti/core/log.h"

namespace tutti::media {
namespace {

constexpr AVRational kUs{1, 1'000'000};

bool isNetworkUrl(const std::string& url) { return url.find("://") != std::string::npos; }

VideoCodec videoOf(AVCodecID id) { return id == AV_CODEC_ID_H264 ? VideoCodec::kH264 : VideoCodec::kNone; }
AudioCodec audioOf(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_AAC:
      return AudioCodec::kAac;
    case AV_CODEC_ID_MP2:
      return AudioCodec::kMp2;
    case AV_CODEC_ID_MP3:
      return AudioCodec::kMp3;
    case AV_CODEC_ID_OPUS:
      return AudioCodec::kOpus;
    default:
      return AudioCodec::kNone;
  }
}

struct InputClose {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};

}  // namespace

TsIngest::TsIngest(std::string url, PipelineConfig config, PackageSink& sink, const Clock& clock)
    : url_(std::move(url)), config_(std::move(config)), sink_(sink), clock_(clock) {}

TsIngest::~TsIngest() { stop(); }

void TsIngest::start() { thread_ = std::thread([this] { run(); }); }

void TsIngest::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void TsIngest::run() {
  while (!stopping_) {
    session();
    if (!isNetworkUrl(url_)) break;
    // A listener that failed at once (port taken, bad URL) must not spin.
    for (int i = 0; i < 5 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  done_ = true;
}

void TsIngest::session() {
  AVFormatContext* raw = avformat_alloc_context();
  raw->interrupt_callback.callback = [](void* self) -> int {
    return static_cast<TsIngest*>(self)->stopping_.load() ? 1 : 0;
  };
  raw->interrupt_callback.opaque = this;
  AVDictionary* opts = nullptr;
  // Probing: enough to find both streams quickly (FACTS.md: not nobuffer,
  // which dropped the first GOP).
  av_dict_set(&opts, "probesize", "500000", 0);
  av_dict_set(&opts, "analyzeduration", "500000", 0);
  int err = avformat_open_input(&raw, url_.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0) {
    if (!stopping_) {
      ++stats_.errors;
      log::warn("ingest open failed", {{"url", url_}, {"error", ff::errorText(err)}});
    }
    return;  // avformat_open_input frees the context on failure
  }
  std::unique_ptr<AVFormatContext, InputClose> ic(raw);
  if ((err = avformat_find_stream_info(ic.get(), nullptr)) < 0) {
    ++stats_.errors;
    log::warn("ingest probe failed", {{"url", url_}, {"error", ff::errorText(err)}});
    return;
  }
  const int vi = av_find_best_stream(ic.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  const int ai = av_find_best_stream(ic.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  SourceInfo info;
  if (vi >= 0) {
    const AVCodecParameters* p = ic->streams[vi]->codecpar;
    info.video = videoOf(p->codec_id);
    if (p->extradata_size > 0) info.video_extradata.assign(reinterpret_cast<const char*>(p->extradata), p->extradata_size);
    const AVRational fr = ic->streams[vi]->avg_frame_rate.num > 0 ? ic->streams[vi]->avg_frame_rate : ic->streams[vi]->r_frame_rate;
    if (fr.num > 0 && fr.den > 0) info.frame_rate = av_q2d(fr);
    info.width = p->width;
    info.height = p->height;
    if (info.video == VideoCodec::kNone)
      log::warn("ingest: video codec not supported, dropped", {{"url", url_}, {"codec", avcodec_get_name(p->codec_id)}});
  }
  if (ai >= 0) {
    const AVCodecParameters* p = ic->streams[ai]->codecpar;
    info.audio = audioOf(p->codec_id);
    if (p->extradata_size > 0) info.audio_extradata.assign(reinterpret_cast<const char*>(p->extradata), p->extradata_size);
    info.sample_rate = p->sample_rate;
    info.channels = p->ch_layout.nb_channels;
  }
  auto pipeline = Pipeline::create(config_, info, sink_, clock_);
  if (!pipeline) {
    ++stats_.errors;
    log::warn("ingest: cannot build the ladder", {{"url", url_}, {"error", pipeline.error().message}});
    return;
  }
  ++stats_.publishes;
  log::info("ingest: publishing", {{"url", url_}});
  ff::Packet pkt = ff::makePacket();
  while (!stopping_) {
    err = av_read_frame(ic.get(), pkt.get());
    if (err < 0) {
      if (err != AVERROR_EOF && !stopping_) {
        ++stats_.errors;
        log::info("ingest: input ended", {{"url", url_}, {"error", ff::errorText(err)}});
      }
      break;
    }
    const int si = pkt->stream_index;
    if ((si == vi || si == ai) && pkt->size > 0) {
      const AVRational tb = ic->streams[si]->time_base;
      SourcePacket sp;
      sp.video = si == vi;
      const int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
      const int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
      if (pts != AV_NOPTS_VALUE) {
        sp.pts_us = av_rescale_q(pts, tb, kUs);
        sp.dts_us = av_rescale_q(dts, tb, kUs);
        sp.key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
        sp.data = std::string_view(reinterpret_cast<const char*>(pkt->data), static_cast<size_t>(pkt->size));
        ++stats_.packets;
        if (auto r = (*pipeline)->push(sp); !r) {
          ++stats_.errors;
          log::warn("ingest: ladder failed", {{"url", url_}, {"error", r.error().message}});
          av_packet_unref(pkt.get());
          break;
        }
      }
    }
    av_packet_unref(pkt.get());
  }
  (*pipeline)->finish();
}

}  // namespace tutti::media
