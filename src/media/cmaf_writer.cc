#include "cmaf_writer.h"

#include "tutti/protocol/codes.h"

namespace tutti::media {
namespace {
constexpr int kIoBufferBytes = 64 * 1024;
Error ffFailure(const char* what, int err) { return makeError(code::kInternal, std::string(what) + ": " + ff::errorText(err)); }
}  // namespace

CmafWriter::~CmafWriter() {
  if (oc_) avformat_free_context(oc_);
  if (io_) {
    av_freep(&io_->buffer);
    avio_context_free(&io_);
  }
}

int CmafWriter::onWrite(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<CmafWriter*>(opaque);
  self->out_.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(size));
  return size;
}

Result<std::string> CmafWriter::open(const AVCodecContext* encoder) {
  int err = avformat_alloc_output_context2(&oc_, nullptr, "mp4", nullptr);
  if (err < 0 || !oc_) return ffFailure("mp4 muxer", err);
  auto* buf = static_cast<unsigned char*>(av_malloc(kIoBufferBytes));
  io_ = avio_alloc_context(buf, kIoBufferBytes, 1, this, nullptr, &CmafWriter::onWrite, nullptr);
  if (!io_) return makeError(code::kInternal, "avio_alloc_context failed");
  oc_->pb = io_;
  oc_->flags |= AVFMT_FLAG_CUSTOM_IO;
  AVStream* st = avformat_new_stream(oc_, nullptr);
  if (!st) return makeError(code::kInternal, "avformat_new_stream failed");
  err = avcodec_parameters_from_context(st->codecpar, encoder);
  if (err < 0) return ffFailure("codec parameters", err);
  st->time_base = encoder->time_base;
  encoder_tb_ = encoder->time_base;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "movflags", "+frag_custom+empty_moov+default_base_moof+cmaf+skip_trailer", 0);
  err = avformat_write_header(oc_, &opts);
  av_dict_free(&opts);
  if (err < 0) return ffFailure("mp4 header", err);
  avio_flush(io_);
  std::string init;
  init.swap(out_);
  return init;
}

Result<void> CmafWriter::write(AVPacket* packet) {
  packet->stream_index = 0;
  av_packet_rescale_ts(packet, encoder_tb_, oc_->streams[0]->time_base);
  const int err = av_write_frame(oc_, packet);
  if (err < 0) return ffFailure("mp4 write", err);
  wrote_ = true;
  return {};
}

Result<std::string> CmafWriter::cut() {
  if (wrote_) {
    const int err = av_write_frame(oc_, nullptr);  // frag_custom: ends the fragment here
    if (err < 0) return ffFailure("mp4 fragment", err);
    avio_flush(io_);
    wrote_ = false;
  }
  std::string part;
  part.swap(out_);
  return part;
}

}  // namespace tutti::media
