#include "tutti/media/pipeline.h"

#include <algorithm>
#include <mutex>
#include <cstdio>
#include <cstring>

#include "cmaf_writer.h"
#include "ff.h"
#include "tutti/core/log.h"
#include "tutti/protocol/codes.h"

namespace tutti::media {
namespace {

constexpr AVRational kUs{1, 1'000'000};
constexpr AVRational kVideoTb{1, 90'000};
constexpr int kAudioRate = 48'000;
// A jump in source time larger than this (either way) is a break in the
// timeline (a new encoder, a wrap nobody unwrapped): re-anchor (PipelineConfig::Timeline).
constexpr int64_t kMaxJumpUs = 5'000'000;

}  // namespace

int64_t sourceCaptureUs(int64_t pts_us, int64_t now_us, int64_t wrap_us) {
  if (wrap_us <= 0) return pts_us;
  // pts + k * wrap nearest to now: k = round((now - pts) / wrap).
  const int64_t diff = now_us - pts_us;
  int64_t k = diff / wrap_us;
  const int64_t rest = diff - k * wrap_us;
  if (rest > wrap_us / 2) ++k;
  else if (rest < -wrap_us / 2) --k;
  return pts_us + k * wrap_us;
}

namespace {

Error ffFailure(const std::string& what, int err) { return makeError(code::kInternal, what + ": " + ff::errorText(err)); }

AVCodecID videoCodecId(VideoCodec c) { return c == VideoCodec::kH264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_NONE; }
AVCodecID audioCodecId(AudioCodec c) {
  switch (c) {
    case AudioCodec::kAac:
      return AV_CODEC_ID_AAC;
    case AudioCodec::kMp2:
      return AV_CODEC_ID_MP2;
    case AudioCodec::kMp3:
      return AV_CODEC_ID_MP3;
    case AudioCodec::kOpus:
      return AV_CODEC_ID_OPUS;
    case AudioCodec::kNone:
      break;
  }
  return AV_CODEC_ID_NONE;
}

// RFC 6381 codecs string of an H.264 encoder from its avcC extradata.
// RFC 6381 codecs of H.264 from its extradata: avcC (profile, constraints,
// level at bytes 1-3) or Annex B (the same three bytes after the SPS header).
std::string avcCodecs(const AVCodecContext* enc) {
  const uint8_t* x = enc->extradata;
  const int n = enc->extradata_size;
  const uint8_t* plc = nullptr;
  if (n >= 4 && x[0] == 1) plc = x + 1;
  for (int i = 0; !plc && i + 6 < n; ++i)
    if (x[i] == 0 && x[i + 1] == 0 && x[i + 2] == 1 && (x[i + 3] & 0x1f) == 7) plc = x + i + 4;
  if (!plc) return "avc1.64001f";
  char s[32];
  std::snprintf(s, sizeof s, "avc1.%02x%02x%02x", plc[0], plc[1], plc[2]);
  return s;
}

Result<ff::CodecCtx> openDecoder(AVCodecID id, const std::string& extradata, int sample_rate, int channels) {
  const AVCodec* codec = avcodec_find_decoder(id);
  if (!codec) return makeError(code::kInternal, std::string("no decoder for ") + avcodec_get_name(id));
  ff::CodecCtx ctx(avcodec_alloc_context3(codec));
  if (!ctx || !ff::setExtradata(ctx.get(), extradata)) return makeError(code::kInternal, "decoder allocation failed");
  ctx->pkt_timebase = kUs;
  ctx->thread_count = 1;  // frame threads would add a frame of delay each
  if (sample_rate > 0) ctx->sample_rate = sample_rate;
  if (channels > 0) av_channel_layout_default(&ctx->ch_layout, channels);
  const int err = avcodec_open2(ctx.get(), codec, nullptr);
  if (err < 0) return ffFailure(std::string("open decoder ") + avcodec_get_name(id), err);
  return ctx;
}

// Splits one track's encoded packets into CMAF parts on the capture-time
// grid: a new segment at each segment boundary (on a key frame for video),
// a new part at each part boundary within it.
class TrackPackager {
 public:
  TrackPackager(size_t index, TrackKind kind, const PipelineConfig& cfg, PackageSink& sink)
      : index_(index), kind_(kind), segment_us_(cfg.segment_us), part_us_(cfg.part_us), chunk_us_(cfg.chunk_us), sink_(sink) {}

  Result<void> open(const AVCodecContext* enc, TrackInfo info) {
    auto init = writer_.open(enc);
    if (!init) return init.error();
    sink_.onTrack(info, std::move(*init));
    return {};
  }

  void markDiscontinuity() { discontinuity_ = true; }
  // The capture time at media time 0 of this track.
  void setZero(int64_t zero_capture_us) { zero_us_ = zero_capture_us; }

  // `frame_us`: the length of this sample. A part ends at a part boundary of
  // the capture-time grid (video: 6 frames of 30 fps per 200 ms), before the
  // sample that would take it past the part target (no part is longer than
  // PART-TARGET however the frames fall; audio parts are 9 AAC frames), or
  // at a segment boundary.
  Result<void> write(AVPacket* pkt, int64_t capture_us, bool key, int64_t frame_us) {
    const auto msn = static_cast<uint64_t>(capture_us / segment_us_);
    const int64_t slot = (capture_us % segment_us_) / part_us_;
    if (!open_) {
      if (kind_ == TrackKind::kVideo && !key) return {};  // a part must start decodable
      begin(msn, slot, capture_us, key, /*new_segment=*/true);
    } else {
      const bool new_segment = msn > msn_ && (key || kind_ == TrackKind::kAudio);
      // 0.4 ms of slack for timestamps rounded to microseconds: it still
      // prints as the target at the playlist's 1 ms precision.
      const bool full = capture_us + frame_us - part_start_us_ > part_us_ + 400;
      const bool next_slot = kind_ == TrackKind::kVideo && msn == msn_ && slot != slot_;
      if (new_segment || full || next_slot || discontinuity_) {
        if (auto r = emit(capture_us); !r) return r;
        begin(msn, slot, capture_us, key, new_segment || discontinuity_);
      }
    }
    if (auto r = writer_.write(pkt); !r) return r;
    // A chunk ends once it spans chunk_us (with the sample just written).
    if (chunk_us_ > 0 && capture_us + frame_us - chunk_start_us_ >= chunk_us_) {
      chunk_start_us_ = capture_us + frame_us;
      return chunk();
    }
    return {};
  }

  Result<void> flush(int64_t end_capture_us) {
    if (!open_) return {};
    auto r = emit(end_capture_us);
    open_ = false;
    return r;
  }

  uint64_t parts() const { return parts_out_; }

 private:
  void begin(uint64_t msn, int64_t slot, int64_t capture_us, bool key, bool new_segment) {
    if (new_segment || !open_) {
      msn_ = seen_ ? std::max(msn, msn_ + 1) : msn;  // segment numbers never repeat
      part_index_ = 0;
    } else {
      ++part_index_;
    }
    open_ = true;
    seen_ = true;
    slot_ = slot;
    part_start_us_ = capture_us;
    part_independent_ = key || kind_ == TrackKind::kAudio;
    part_discontinuity_ = discontinuity_;
    discontinuity_ = false;
    part_bytes_.clear();
    chunks_in_part_ = 0;
    chunk_start_us_ = capture_us;
  }

  // Cuts what was written since the last chunk and hands it out.
  Result<void> chunk() {
    auto bytes = writer_.cut();
    if (!bytes) return bytes.error();
    if (bytes->empty()) return {};
    Chunk c;
    c.msn = msn_;
    c.index = part_index_;
    c.first_capture_us = part_start_us_;
    c.media_time_us = part_start_us_ - zero_us_;
    c.first = chunks_in_part_++ == 0;
    part_bytes_ += *bytes;
    c.bytes = std::move(*bytes);
    sink_.onChunk(index_, c);
    return {};
  }

  Result<void> emit(int64_t next_capture_us) {
    if (chunk_us_ > 0) {
      if (auto r = chunk(); !r) return r;
    }
    auto tail = writer_.cut();
    if (!tail) return tail.error();
    part_bytes_ += *tail;
    if (part_bytes_.empty()) return {};
    std::string bytes;
    bytes.swap(part_bytes_);
    Part p;
    p.msn = msn_;
    p.index = part_index_;
    p.first_capture_us = part_start_us_;
    p.duration_us = std::max<int64_t>(1, next_capture_us - part_start_us_);
    p.independent = part_independent_;
    p.discontinuity = part_discontinuity_;
    p.media_time_us = part_start_us_ - zero_us_;
    p.bytes = std::move(bytes);
    ++parts_out_;
    sink_.onPart(index_, std::move(p));
    return {};
  }

  size_t index_;
  TrackKind kind_;
  int64_t segment_us_;
  int64_t part_us_;
  int64_t chunk_us_;
  PackageSink& sink_;
  CmafWriter writer_;
  bool open_ = false;
  bool seen_ = false;  // a segment was begun (msn_ is its number)
  bool discontinuity_ = false;
  uint64_t msn_ = 0;
  uint32_t part_index_ = 0;
  int64_t slot_ = 0;
  int64_t part_start_us_ = 0;
  bool part_independent_ = false;
  bool part_discontinuity_ = false;
  uint64_t parts_out_ = 0;
  int64_t zero_us_ = 0;
  std::string part_bytes_;     // the part's chunks so far
  uint32_t chunks_in_part_ = 0;
  int64_t chunk_start_us_ = 0;
};

class PipelineImpl final : public Pipeline {
 public:
  PipelineImpl(const PipelineConfig& cfg, PackageSink& sink, const Clock& clock) : cfg_(cfg), sink_(sink), clock_(clock) {}

  Result<void> init(const SourceInfo& src) {
    if (src.video != VideoCodec::kNone) {
      auto dec = openDecoder(videoCodecId(src.video), src.video_extradata, 0, 0);
      if (!dec) return dec.error();
      vdec_ = std::move(*dec);
      frame_rate_ = src.frame_rate > 1 && src.frame_rate < 240 ? src.frame_rate : 30;
      frame_us_ = static_cast<int64_t>(1e6 / frame_rate_);
      for (size_t i = 0; i < cfg_.rungs.size(); ++i)
        if (auto r = openRung(i); !r) return r;
      if (cfg_.passthrough) {
        if (auto r = openPassthrough(src); !r) return r;
      }
    }
    if (src.audio != AudioCodec::kNone) {
      auto dec = openDecoder(audioCodecId(src.audio), src.audio_extradata, src.sample_rate, src.channels);
      if (!dec) return dec.error();
      adec_ = std::move(*dec);
      if (auto r = openAudio(); !r) return r;
    }
    if (!vdec_ && !adec_) return makeError(code::kInvalidParams, "the source has neither H.264 video nor audio");
    frame_ = ff::makeFrame();
    pkt_ = ff::makePacket();
    return {};
  }

  Result<void> push(const SourcePacket& in) override {
    AVCodecContext* dec = in.video ? vdec_.get() : adec_.get();
    if (!dec) return {};  // a track we do not carry
    if (in.video) ++stats_.frames_in;
    if (in.video && pass_) {
      if (auto r = passThrough(in); !r) return r;
    }
    ff::Packet pkt = ff::makePacket();
    if (av_new_packet(pkt.get(), static_cast<int>(in.data.size())) < 0) return makeError(code::kInternal, "out of memory");
    std::memcpy(pkt->data, in.data.data(), in.data.size());
    pkt->pts = in.pts_us;
    pkt->dts = in.dts_us;
    pkt->time_base = kUs;
    if (in.key) pkt->flags |= AV_PKT_FLAG_KEY;
    int err = avcodec_send_packet(dec, pkt.get());
    if (err < 0 && err != AVERROR(EAGAIN)) {
      ++stats_.frames_dropped;
      return {};  // broken input: counted, and the stream goes on
    }
    return drainDecoder(dec, in.video);
  }

  void finish() override {
    if (vdec_) {
      avcodec_send_packet(vdec_.get(), nullptr);
      (void)drainDecoder(vdec_.get(), true);
      for (auto& r : rungs_) {
        avcodec_send_frame(r.enc.get(), nullptr);
        (void)drainEncoder(r.enc.get(), *r.track, &r);
      }
    }
    if (adec_ && aenc_) {
      avcodec_send_frame(aenc_.get(), nullptr);
      (void)drainEncoder(aenc_.get(), *audio_track_);
    }
    for (auto& r : rungs_) (void)r.track->flush(last_video_capture_us_ + frame_us_);
    if (pass_) (void)pass_->flush(last_pass_capture_us_ + frame_us_);
    if (audio_track_) (void)audio_track_->flush(audio_next_capture_us_);
    sink_.onEnd();
  }

  PipelineStats stats() const override {
    PipelineStats s = stats_;
    for (const auto& r : rungs_) s.parts_out += r.track->parts();
    if (pass_) s.parts_out += pass_->parts();
    if (audio_track_) s.parts_out += audio_track_->parts();
    return s;
  }

 private:
  struct RungState {
    ff::CodecCtx enc;
    ff::Sws sws;
    ff::Frame scaled;
    std::unique_ptr<TrackPackager> track;
    std::vector<int64_t> captures;  // capture times of frames sent, in order (zerolatency: no reordering)
  };

  Result<void> openRung(size_t i) {
    const Rung& rung = cfg_.rungs[i];
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) return makeError(code::kInternal, "libx264 is not available in this FFmpeg");
    RungState r;
    r.enc.reset(avcodec_alloc_context3(codec));
    AVCodecContext* c = r.enc.get();
    c->width = rung.width & ~1;
    c->height = rung.height & ~1;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = kVideoTb;
    c->framerate = av_d2q(frame_rate_, 1001000);
    c->bit_rate = static_cast<int64_t>(rung.video_kbps) * 1000;
    c->rc_max_rate = c->bit_rate;
    c->rc_buffer_size = static_cast<int>(c->bit_rate);  // one second of VBV
    c->gop_size = 1000;  // key frames are forced on segment boundaries, never chosen by x264
    c->max_b_frames = 0;
    c->thread_count = 1;
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  // avcC in the init segment
    av_opt_set(c->priv_data, "preset", cfg_.x264_preset.c_str(), 0);
    av_opt_set(c->priv_data, "tune", "zerolatency", 0);
    av_opt_set(c->priv_data, "forced-idr", "1", 0);
    av_opt_set(c->priv_data, "x264-params", "scenecut=0:open-gop=0", 0);
    int err = avcodec_open2(c, codec, nullptr);
    if (err < 0) return ffFailure("open libx264 for " + rung.name, err);
    r.scaled = ff::makeFrame();
    r.scaled->format = c->pix_fmt;
    r.scaled->width = c->width;
    r.scaled->height = c->height;
    if ((err = av_frame_get_buffer(r.scaled.get(), 0)) < 0) return ffFailure("frame buffer", err);
    r.track = std::make_unique<TrackPackager>(i, TrackKind::kVideo, cfg_, sink_);
    TrackInfo info;
    info.index = i;
    info.kind = TrackKind::kVideo;
    info.name = rung.name;
    info.codecs = avcCodecs(c);
    info.bandwidth_bps = rung.video_kbps * 1100;  // the rate cap plus container overhead
    info.width = c->width;
    info.height = c->height;
    info.frame_rate = frame_rate_;
    if (auto res = r.track->open(c, info); !res) return res;
    rungs_.push_back(std::move(r));
    return {};
  }

  Result<void> openPassthrough(const SourceInfo& src) {
    if (src.video != VideoCodec::kH264 || src.width <= 0 || src.height <= 0) {
      log::warn("media: no pass-through rendition (needs H.264 of a known size)",
                {{"width", std::to_string(src.width)}, {"height", std::to_string(src.height)}});
      return {};
    }
    // The muxer needs the stream's parameters only: a context that describes
    // the source, with no codec opened.
    ff::CodecCtx par(avcodec_alloc_context3(nullptr));
    if (!par || !ff::setExtradata(par.get(), src.video_extradata)) return makeError(code::kInternal, "out of memory");
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = src.width;
    par->height = src.height;
    par->pix_fmt = AV_PIX_FMT_YUV420P;
    par->time_base = kVideoTb;
    const size_t index = cfg_.rungs.size();
    pass_ = std::make_unique<TrackPackager>(index, TrackKind::kVideo, cfg_, sink_);
    TrackInfo info;
    info.index = index;
    info.kind = TrackKind::kVideo;
    info.name = "source";
    info.codecs = avcCodecs(par.get());
    info.bandwidth_bps = cfg_.passthrough_kbps * 1000;
    info.width = src.width;
    info.height = src.height;
    info.frame_rate = frame_rate_;
    return pass_->open(par.get(), info);
  }

  // The source's packet, as it came, onto the pass-through rendition.
  Result<void> passThrough(const SourcePacket& in) {
    if (in.key) key_reorder_us_ = std::max<int64_t>(0, in.pts_us - in.dts_us);
    // Cut by decode order, placed where the key frames are shown.
    const int64_t cap = capture(in.dts_us) + key_reorder_us_;
    if (cap <= last_pass_capture_us_) return {};  // not after the previous one (an overlap): drop
    last_pass_capture_us_ = cap;
    ff::Packet pkt = ff::makePacket();
    if (av_new_packet(pkt.get(), static_cast<int>(in.data.size())) < 0) return makeError(code::kInternal, "out of memory");
    std::memcpy(pkt->data, in.data.data(), in.data.size());
    pkt->dts = av_rescale_q(cap - key_reorder_us_ - stream_start_us_, kUs, kVideoTb);
    pkt->pts = pkt->dts + av_rescale_q(in.pts_us - in.dts_us, kUs, kVideoTb);
    pkt->duration = av_rescale_q(frame_us_, kUs, kVideoTb);
    if (in.key) pkt->flags |= AV_PKT_FLAG_KEY;
    return pass_->write(pkt.get(), cap, in.key, frame_us_);
  }

  Result<void> openAudio() {
    const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!codec) return makeError(code::kInternal, "no AAC encoder");
    aenc_.reset(avcodec_alloc_context3(codec));
    AVCodecContext* c = aenc_.get();
    c->sample_rate = kAudioRate;
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_default(&c->ch_layout, 2);
    c->bit_rate = static_cast<int64_t>(cfg_.audio_kbps) * 1000;
    c->time_base = AVRational{1, kAudioRate};
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int err = avcodec_open2(c, codec, nullptr);
    if (err < 0) return ffFailure("open AAC encoder", err);
    fifo_.reset(av_audio_fifo_alloc(c->sample_fmt, c->ch_layout.nb_channels, c->frame_size * 4));
    const size_t index = cfg_.rungs.size() + (pass_ ? 1 : 0);
    audio_track_ = std::make_unique<TrackPackager>(index, TrackKind::kAudio, cfg_, sink_);
    TrackInfo info;
    info.index = index;
    info.kind = TrackKind::kAudio;
    info.name = "audio";
    info.codecs = "mp4a.40.2";
    info.bandwidth_bps = cfg_.audio_kbps * 1100;
    return audio_track_->open(c, info);
  }

  // Source time to capture time, on one timeline for both tracks.
  int64_t capture(int64_t pts_us) {
    if (!anchored_ || pts_us - last_pts_us_ > kMaxJumpUs || pts_us - last_pts_us_ < -kMaxJumpUs) {
      const int64_t now = clock_.wallUs();
      const bool source = cfg_.timeline == PipelineConfig::Timeline::kSource;
      // A source that stamps its own clock is taken at its word (a step
      // back drops frames until it passes the last one, as any overlap).
      const int64_t at = source ? sourceCaptureUs(pts_us, now, cfg_.source_wrap_us) : std::max(now, last_capture_us_ + 1);
      // Its timestamps wrapping while its clock goes on is no break.
      const bool continuous = source && anchored_ && std::llabs(at - last_capture_us_) <= kMaxJumpUs;
      if (anchored_ && !continuous) {
        ++stats_.discontinuities;
        log::warn("media timeline break: re-anchored", {{"jump_us", std::to_string(pts_us - last_pts_us_)}});
        for (auto& r : rungs_) r.track->markDiscontinuity();
        if (pass_) pass_->markDiscontinuity();
        if (audio_track_) audio_track_->markDiscontinuity();
        audio_next_capture_us_ = 0;
        if (fifo_) av_audio_fifo_reset(fifo_.get());
      }
      anchor_pts_us_ = pts_us;
      anchor_capture_us_ = at;
      last_pts_us_ = pts_us;
      anchored_ = true;
    }
    last_pts_us_ = std::max(last_pts_us_, pts_us);
    const int64_t c = anchor_capture_us_ + (pts_us - anchor_pts_us_);
    last_capture_us_ = std::max(last_capture_us_, c);
    // Track timestamps count from a little before the first packet, so that
    // the other track's first packets (often slightly earlier) stay positive.
    if (!stream_start_us_) {
      stream_start_us_ = c - 10'000'000;
      for (auto& r : rungs_) r.track->setZero(stream_start_us_);
      if (pass_) pass_->setZero(stream_start_us_);
      if (audio_track_) audio_track_->setZero(stream_start_us_);
    }
    return c;
  }

  Result<void> drainDecoder(AVCodecContext* dec, bool video) {
    for (;;) {
      const int err = avcodec_receive_frame(dec, frame_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return {};
      if (err < 0) {
        ++stats_.frames_dropped;
        return {};
      }
      int64_t ts = frame_->best_effort_timestamp;
      if (ts == AV_NOPTS_VALUE) ts = frame_->pts;
      Result<void> r;
      if (ts != AV_NOPTS_VALUE) r = video ? onVideoFrame(frame_.get(), capture(ts)) : onAudioFrame(frame_.get(), capture(ts));
      av_frame_unref(frame_.get());
      if (!r) return r;
    }
  }

  Result<void> onVideoFrame(AVFrame* in, int64_t capture_us) {
    if (capture_us <= last_video_capture_us_) return {};  // not after the previous frame: drop
    if (last_video_capture_us_) frame_us_ = std::clamp<int64_t>(capture_us - last_video_capture_us_, 1000, 200'000);
    last_video_capture_us_ = capture_us;
    // The same decision for every rung: a key frame on the first frame of each segment.
    const int64_t msn = capture_us / cfg_.segment_us;
    const bool key = msn != last_key_msn_;
    last_key_msn_ = msn;
    for (auto& r : rungs_) {
      AVCodecContext* c = r.enc.get();
      r.sws.reset(sws_getCachedContext(r.sws.release(), in->width, in->height, static_cast<AVPixelFormat>(in->format),
                                       c->width, c->height, c->pix_fmt, SWS_BILINEAR, nullptr, nullptr, nullptr));
      if (!r.sws) return makeError(code::kInternal, "no scaler for this input");
      if (av_frame_make_writable(r.scaled.get()) < 0) return makeError(code::kInternal, "frame not writable");
      sws_scale(r.sws.get(), in->data, in->linesize, 0, in->height, r.scaled->data, r.scaled->linesize);
      r.scaled->pts = av_rescale_q(capture_us - stream_start_us_, kUs, kVideoTb);
      r.scaled->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
      r.captures.push_back(capture_us);
      int err = avcodec_send_frame(c, r.scaled.get());
      if (err < 0) return ffFailure("encode " + cfg_.rungs[&r - rungs_.data()].name, err);
      if (auto res = drainEncoder(c, *r.track, &r); !res) return res;
    }
    return {};
  }

  Result<void> onAudioFrame(AVFrame* in, int64_t capture_us) {
    AVCodecContext* c = aenc_.get();
    if (!swr_) {
      SwrContext* s = nullptr;
      int err = swr_alloc_set_opts2(&s, &c->ch_layout, c->sample_fmt, c->sample_rate, &in->ch_layout,
                                    static_cast<AVSampleFormat>(in->format), in->sample_rate, 0, nullptr);
      if (err < 0 || swr_init(s) < 0) {
        swr_free(&s);
        return makeError(code::kInternal, "no resampler for this audio");
      }
      swr_.reset(s);
    }
    // Resync when the audio drifts from where the samples in hand say it is.
    const int64_t expected = audio_next_capture_us_ +
                             av_rescale(av_audio_fifo_size(fifo_.get()), 1'000'000, c->sample_rate);
    if (!audio_next_capture_us_ || std::llabs(capture_us - expected) > 100'000) {
      av_audio_fifo_reset(fifo_.get());
      audio_next_capture_us_ = capture_us;
    }
    const int max_out = swr_get_out_samples(swr_.get(), in->nb_samples);
    ff::Frame conv = ff::makeFrame();
    conv->format = c->sample_fmt;
    conv->sample_rate = c->sample_rate;
    av_channel_layout_copy(&conv->ch_layout, &c->ch_layout);
    conv->nb_samples = max_out;
    if (av_frame_get_buffer(conv.get(), 0) < 0) return makeError(code::kInternal, "audio buffer");
    const int got = swr_convert(swr_.get(), conv->data, max_out, const_cast<const uint8_t**>(in->extended_data), in->nb_samples);
    if (got > 0) av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(conv->data), got);
    while (av_audio_fifo_size(fifo_.get()) >= c->frame_size) {
      ff::Frame f = ff::makeFrame();
      f->nb_samples = c->frame_size;
      f->format = c->sample_fmt;
      f->sample_rate = c->sample_rate;
      av_channel_layout_copy(&f->ch_layout, &c->ch_layout);
      if (av_frame_get_buffer(f.get(), 0) < 0) return makeError(code::kInternal, "audio buffer");
      av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(f->data), c->frame_size);
      f->pts = av_rescale(audio_next_capture_us_ - stream_start_us_, c->sample_rate, 1'000'000);
      audio_captures_.push_back(audio_next_capture_us_);
      audio_next_capture_us_ += av_rescale(c->frame_size, 1'000'000, c->sample_rate);
      int err = avcodec_send_frame(c, f.get());
      if (err < 0) return ffFailure("encode AAC", err);
      if (auto r = drainEncoder(c, *audio_track_); !r) return r;
    }
    return {};
  }

  // Takes what an encoder has and hands it to its track, with the capture
  // time of the frame it came from (encoders here do not reorder).
  Result<void> drainEncoder(AVCodecContext* enc, TrackPackager& track, RungState* rung = nullptr) {
    const bool audio = enc == aenc_.get();
    for (;;) {
      const int err = avcodec_receive_packet(enc, pkt_.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return {};
      if (err < 0) return ffFailure("encoder output", err);
      auto& captures = audio || !rung ? audio_captures_ : rung->captures;
      int64_t cap = last_video_capture_us_;
      if (!captures.empty()) {
        cap = captures.front();
        captures.erase(captures.begin());
      }
      pkt_->duration = audio ? enc->frame_size : av_rescale_q(frame_us_, kUs, kVideoTb);
      const bool key = (pkt_->flags & AV_PKT_FLAG_KEY) != 0;
      const int64_t sample_us = audio ? av_rescale(enc->frame_size, 1'000'000, enc->sample_rate) : frame_us_;
      auto r = track.write(pkt_.get(), cap, key, sample_us);
      av_packet_unref(pkt_.get());
      if (!r) return r;
    }
  }

  PipelineConfig cfg_;
  PackageSink& sink_;
  const Clock& clock_;
  ff::CodecCtx vdec_, adec_, aenc_;
  std::vector<RungState> rungs_;
  std::unique_ptr<TrackPackager> audio_track_;
  std::unique_ptr<TrackPackager> pass_;  // the source's own video (PipelineConfig::passthrough)
  int64_t key_reorder_us_ = 0;           // pts - dts of its last key frame
  int64_t last_pass_capture_us_ = 0;
  ff::Swr swr_;
  ff::Fifo fifo_;
  std::vector<int64_t> audio_captures_;
  ff::Frame frame_;
  ff::Packet pkt_;
  bool anchored_ = false;
  int64_t anchor_pts_us_ = 0;
  int64_t anchor_capture_us_ = 0;
  int64_t last_pts_us_ = 0;
  int64_t last_capture_us_ = 0;
  int64_t stream_start_us_ = 0;
  int64_t last_video_capture_us_ = 0;
  int64_t last_key_msn_ = -1;
  int64_t frame_us_ = 33'333;
  double frame_rate_ = 30;
  int64_t audio_next_capture_us_ = 0;
  PipelineStats stats_;
};

}  // namespace

Result<std::unique_ptr<Pipeline>> Pipeline::create(const PipelineConfig& config, const SourceInfo& source,
                                                   PackageSink& sink, const Clock& clock) {
  if (config.rungs.empty() && source.audio == AudioCodec::kNone) return makeError(code::kInvalidParams, "no rungs");
  if (config.part_us <= 0 || config.segment_us < config.part_us)
    return makeError(code::kInvalidParams, "parts must be positive and no longer than segments");
  // FFmpeg's chatter would drown the server's logs. Once: the level is a
  // global, and ingests create pipelines on their own threads.
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_ERROR); });
  auto p = std::make_unique<PipelineImpl>(config, sink, clock);
  if (auto r = p->init(source); !r) return r.error();
  return std::unique_ptr<Pipeline>(std::move(p));
}

}  // namespace tutti::media
