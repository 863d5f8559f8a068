#pragma once
// The server side of RTMP (Adobe's RTMP specification 1.0, plus what OBS and
// the ffmpeg CLI actually send) as a pure state machine: bytes from the
// client go into feed(), bytes for the client come out of takeOutput(), and
// what the client publishes reaches a Listener. No sockets, threads, clocks
// or FFmpeg here: the origin's socket code drives it.
//
// Scope: ingest only. A client may connect, create a stream and publish one
// stream (H.264 video in FLV AVC packets, AAC audio); play is refused.
//
// Handshake: the simple one (S0 = version 3, S1 = time 0, version 0 and
// pseudo-random bytes, S2 = C1 echoed). Clients that know the digest
// ("complex", Flash Player 9) handshake only verify the server's digest when
// S1 carries a non-zero version: the ffmpeg CLI checks it only when it plays
// (rtmp_handshake: `is_input && serverdata[5] >= 3`) and OBS's librtmp only
// when it has a SWF hash to prove and S1's version is non-zero. With version 0
// in S1 every client falls back to the echo, so no HMAC is needed.
//
// Thread: one session belongs to one connection's worker; every call on it,
// and every Listener callback (made synchronously from inside feed()), is on
// that thread. A Listener must not call feed() on the same session.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tutti/core/result.h"

namespace tutti::media::rtmp {

// Bounds on what a client can make the session hold. Any violation makes
// feed() return an error and the session dead.
struct Limits {
  // Largest message (after reassembly from chunks). A 1080p key frame from
  // OBS at 6-8 Mbit/s is 0.5-2 MiB; 8 MiB leaves room for 4K key frames while
  // bounding what one message can pin.
  uint32_t max_message_bytes = 8u << 20;
  // Largest Set Chunk Size accepted from the client. RTMP allows up to
  // 2^31-1; nothing needs chunks above a message's size, and chunks are
  // streamed, not buffered, so this only caps nonsense.
  uint32_t max_chunk_size = 16u << 20;
  // Chunk stream ids the client may use (each keeps a header for type 1-3
  // chunks). The ffmpeg CLI uses five; 64 is generous.
  size_t max_chunk_streams = 64;
  // Declared lengths of the messages being reassembled at once, summed over
  // chunk streams (interleaved audio and video plus a command). Bounds the
  // session's reassembly memory: a client cannot open 64 streams of 8 MiB.
  // (Buffers grow with the bytes received, not with the declared length.)
  size_t max_pending_bytes = 16u << 20;
  // Command and data messages (AMF0) above this are refused: connect or
  // onMetaData take a few hundred bytes to a few KiB.
  uint32_t max_command_bytes = 64u << 10;
  // Bytes buffered before the handshake completes: not configurable. The
  // session holds at most C0+C1 (1 + 1536 bytes) to echo C1 in S2; C2 is
  // counted off and dropped, and anything after C2 is parsed as chunks under
  // the limits above, so a client cannot make it buffer more.
  static constexpr size_t kHandshakeBufferBytes = 1537;
};

// What @setDataFrame/onMetaData announced (0 where absent). Codec ids are
// FLV's: video 7 = AVC, audio 10 = AAC (strings "avc1"/"mp4a", sent by some
// encoders, are mapped to 7/10).
struct Metadata {
  double width = 0, height = 0, frame_rate = 0;
  double video_codec_id = 0, audio_codec_id = 0;
  double video_data_rate_kbps = 0, audio_data_rate_kbps = 0;
  double audio_sample_rate = 0, audio_channels = 0;  // channels: 2 when "stereo" is true, else 1 if present
  std::string encoder;
};

// One FLV AVC video packet. Times are milliseconds on the session's extended
// timeline: the 32-bit RTMP timestamp unwrapped into 64 bits, so it keeps
// increasing across the 49.7-day wrap.
struct VideoFrame {
  int64_t dts_ms = 0;
  int32_t cts_ms = 0;  // composition time offset: pts = dts + cts
  bool keyframe = false;
  bool config = false;           // data: AVCDecoderConfigurationRecord
  bool end_of_sequence = false;  // AVC end of sequence; data is empty
  // Else AVCC NAL units (length-prefixed, as sent; not validated here).
  // Points into the session's buffer: valid only during the callback.
  std::string_view data;
};

// One FLV AAC audio packet (times as for VideoFrame).
struct AudioFrame {
  int64_t dts_ms = 0;
  bool config = false;    // data: AudioSpecificConfig
  std::string_view data;  // else one raw AAC frame; valid only during the callback
};

// Upward notifications, called synchronously from inside feed().
class Listener {
 public:
  virtual ~Listener() = default;
  // publish(stream_key) on application `app` (connect's "app", e.g. "live";
  // query strings are passed through as sent). false refuses: the client is
  // told NetStream.Publish.BadName and the session wants to close.
  virtual bool onPublish(std::string_view app, std::string_view stream_key) = 0;
  virtual void onMetadata(const Metadata& m) {}
  virtual void onVideo(const VideoFrame& f) = 0;
  virtual void onAudio(const AudioFrame& f) = 0;
  // Something the session ignores (a codec other than AVC/AAC, an enhanced
  // RTMP packet, an unknown message type), each reported once per session.
  virtual void onUnsupported(std::string_view what) {}
  // The published stream ended (FCUnpublish, deleteStream or closeStream).
  // Not called when the connection just drops: the driver knows that.
  virtual void onUnpublish() = 0;
};

class ServerSession {
 public:
  // `listener` must outlive the session.
  explicit ServerSession(Listener& listener, Limits limits = {});
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // Consumes all n bytes (any split of the stream gives the same callbacks
  // and output), or fails on a protocol violation or a broken limit. After a
  // failure the session is dead: every later feed() returns the same error;
  // the driver should flush takeOutput() and close.
  Result<void> feed(const char* data, size_t n);

  // The bytes to send to the client since the last call (may be empty).
  std::string takeOutput();

  // Between an accepted publish and its unpublish.
  bool publishing() const;
  // The driver should flush the output and close the connection: after a
  // refused publish, a play request, or a failure.
  bool wantsClose() const;
  // connect's "app" and the published stream key (empty until known).
  const std::string& app() const;
  const std::string& streamKey() const;
  // Bytes received so far (what Acknowledgements count).
  uint64_t bytesReceived() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tutti::media::rtmp
