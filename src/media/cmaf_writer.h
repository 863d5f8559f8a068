#pragma once
// One CMAF track: FFmpeg's mp4 muxer writing into memory with fragments cut
// by us (movflags frag_custom, FACTS.md). The init segment comes out of
// open(); each cut() returns the moof+mdat written since the previous cut.
// Thread: its owner's.

#include <string>

#include "ff.h"
#include "tutti/core/result.h"

namespace tutti::media {

class CmafWriter {
 public:
  CmafWriter() = default;
  ~CmafWriter();
  CmafWriter(const CmafWriter&) = delete;
  CmafWriter& operator=(const CmafWriter&) = delete;

  // Opens the muxer for the stream an encoder produces; returns the init
  // segment (ftyp + moov).
  Result<std::string> open(const AVCodecContext* encoder);
  // Writes one packet (timestamps in the encoder's time base).
  Result<void> write(AVPacket* packet);
  // Ends the current fragment and returns its bytes (empty if nothing was written).
  Result<std::string> cut();

 private:
  static int onWrite(void* opaque, uint8_t* buf, int size);

  AVFormatContext* oc_ = nullptr;
  AVIOContext* io_ = nullptr;
  AVRational encoder_tb_{1, 90000};
  std::string out_;  // bytes written since the last cut
  bool wrote_ = false;
};

}  // namespace tutti::media
