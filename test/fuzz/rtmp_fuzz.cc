// Fuzzes the RTMP server session (tutti/media/rtmp.h) with arbitrary client
// bytes: no input may crash it, trip the sanitizers, make it answer with
// output out of proportion to its input, or revive it after a failure.
//
// Input layout: byte 0 holds flags (bit 0: feed a valid handshake first, so
// that mutations reach the chunk layer without spelling out 3073 handshake
// bytes; bit 1: the listener accepts publish), bytes 1-2 place two split
// points, and the rest is the client's stream, fed in three pieces.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tutti/media/rtmp.h"

namespace {

struct FuzzListener : tutti::media::rtmp::Listener {
  bool accept = false;
  size_t touched = 0;
  bool onPublish(std::string_view app, std::string_view key) override {
    touched += app.size() + key.size();
    return accept;
  }
  void onMetadata(const tutti::media::rtmp::Metadata& m) override { touched += m.encoder.size(); }
  // Touch the first and last byte so that ASan checks the views.
  void onVideo(const tutti::media::rtmp::VideoFrame& f) override {
    if (!f.data.empty()) touched += static_cast<uint8_t>(f.data.front()) + static_cast<uint8_t>(f.data.back());
  }
  void onAudio(const tutti::media::rtmp::AudioFrame& f) override {
    if (!f.data.empty()) touched += static_cast<uint8_t>(f.data.front()) + static_cast<uint8_t>(f.data.back());
  }
  void onUnsupported(std::string_view what) override { touched += what.size(); }
  void onUnpublish() override { ++touched; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  std::string_view stream(reinterpret_cast<const char*>(data + 3), size - 3);
  size_t cut1 = stream.empty() ? 0 : data[1] % (stream.size() + 1);
  size_t cut2 = stream.empty() ? 0 : data[2] % (stream.size() + 1);
  if (cut1 > cut2) std::swap(cut1, cut2);

  // Smaller than the defaults so that the limit paths are reached by short
  // inputs; same code paths.
  tutti::media::rtmp::Limits limits;
  limits.max_message_bytes = 1 << 16;
  limits.max_pending_bytes = 1 << 17;
  limits.max_chunk_size = 1 << 16;
  limits.max_chunk_streams = 8;
  limits.max_command_bytes = 1 << 12;

  FuzzListener listener;
  listener.accept = (flags & 2) != 0;
  tutti::media::rtmp::ServerSession session(listener, limits);

  size_t fed = 0, produced = 0;
  bool failed = false;
  std::string first_error;
  auto feed = [&](std::string_view piece) {
    auto r = session.feed(piece.data(), piece.size());
    fed += piece.size();
    produced += session.takeOutput().size();
    if (!r.ok()) {
      if (!session.wantsClose()) __builtin_trap();  // a dead session must ask to close
      if (failed && r.error().message != first_error) __builtin_trap();  // and stay dead, with one error
      if (!failed) first_error = r.error().message;
      failed = true;
    } else if (failed) {
      __builtin_trap();  // no revival after a failure
    }
    // Output stays proportional to input: the handshake answer, the connect
    // reply, and a bounded multiple of the bytes fed (pings, short commands).
    if (produced > 3073 + 1024 + 16 * fed) __builtin_trap();
  };

  if (flags & 1) {
    std::string hs(1 + 2 * 1536, '\0');
    hs[0] = 3;
    feed(hs);
  }
  feed(stream.substr(0, cut1));
  feed(stream.substr(cut1, cut2 - cut1));
  feed(stream.substr(cut2));
  return 0;
}
