#include "tutti/media/rtmp.h"

#include <algorithm>
#include <bitset>
#include <cstring>
#include <initializer_list>
#include <utility>
#include <vector>

#include "tutti/media/amf0.h"
#include "tutti/protocol/codes.h"

namespace tutti::media::rtmp {

namespace {

constexpr size_t kHandshakeBytes = 1536;  // C1, C2, S1, S2
constexpr uint8_t kRtmpVersion = 3;
constexpr uint32_t kDefaultChunkSize = 128;   // both directions until Set Chunk Size
constexpr uint32_t kServerChunkSize = 4096;   // ours after connect: a 1 KiB audio frame is one chunk
constexpr uint32_t kWindowAckSize = 2'500'000;  // what we ask the client to ack (FMS's value)
constexpr uint32_t kPeerBandwidth = 2'500'000;
constexpr uint8_t kPeerBandwidthDynamic = 2;
constexpr uint32_t kNoTimestamp = 0xFFFFFF;  // the 24-bit field that says "extended timestamp follows"
// A message buffer larger than this is released after its message instead
// of kept for the next one, so that idle chunk streams hold little.
constexpr size_t kKeepBufferBytes = 256u << 10;
// What a new message's buffer reserves at most before its bytes arrive: a
// declared length is only a claim, so memory follows the bytes received
// (amortised doubling beyond this) and a client cannot pin the pending limit
// per connection by declaring lengths it never sends.
constexpr size_t kReserveBytes = 64u << 10;

// Message type ids.
enum : uint8_t {
  kSetChunkSize = 1,
  kAbort = 2,
  kAcknowledgement = 3,
  kUserControl = 4,
  kWindowAckSizeMsg = 5,
  kSetPeerBandwidth = 6,
  kAudio = 8,
  kVideo = 9,
  kAmf3Data = 15,
  kAmf3Command = 17,
  kAmf0Data = 18,
  kAmf0Command = 20,
};

// User control event types.
enum : uint16_t { kStreamBegin = 0, kPingRequest = 6, kPingResponse = 7 };

// The chunk stream ids we send on: protocol control, NetConnection
// commands, NetStream status (the split FMS and most servers use).
constexpr uint8_t kCsidControl = 2, kCsidCommand = 3, kCsidStream = 5;

constexpr uint8_t kAvcCodecId = 7;
constexpr uint8_t kAacSoundFormat = 10;

// Message header length by chunk format (type) 0-3.
constexpr size_t kMessageHeaderBytes[4] = {11, 7, 3, 0};

uint32_t be24(const unsigned char* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }
uint32_t be32(const unsigned char* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
uint32_t le32(const unsigned char* p) { return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0]; }
const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

void putBe16(std::string& o, uint32_t v) {
  o.push_back(static_cast<char>((v >> 8) & 0xFF));
  o.push_back(static_cast<char>(v & 0xFF));
}
void putBe24(std::string& o, uint32_t v) {
  o.push_back(static_cast<char>((v >> 16) & 0xFF));
  putBe16(o, v);
}
void putBe32(std::string& o, uint32_t v) {
  putBe16(o, v >> 16);
  putBe16(o, v);
}
void putLe32(std::string& o, uint32_t v) {
  for (int s = 0; s < 32; s += 8) o.push_back(static_cast<char>((v >> s) & 0xFF));
}

const char* videoCodecName(unsigned id) {
  switch (id) {
    case 2: return "Sorenson H.263";
    case 3: return "Screen video";
    case 4: return "On2 VP6";
    case 5: return "On2 VP6 with alpha";
    case 6: return "Screen video v2";
    case 12: return "HEVC (non-standard FLV id 12)";
    default: return "unknown";
  }
}

const char* audioCodecName(unsigned id) {
  switch (id) {
    case 0: return "linear PCM";
    case 1: return "ADPCM";
    case 2: return "MP3";
    case 3: return "linear PCM, little endian";
    case 4: case 5: case 6: return "Nellymoser";
    case 7: return "G.711 A-law";
    case 8: return "G.711 mu-law";
    case 11: return "Speex";
    case 14: return "MP3 8 kHz";
    case 15: return "device-specific";
    default: return "unknown";
  }
}

// FLV codec ids are numbers; a few encoders send FourCC strings instead.
double codecId(const amf0::Value* v) {
  if (!v) return 0;
  if (v->isNumber()) return v->asNumber();
  if (v->asString() == "avc1") return kAvcCodecId;
  if (v->asString() == "mp4a") return kAacSoundFormat;
  return 0;
}

}  // namespace

// Per chunk stream id: the last header (what type 1-3 chunks inherit) and
// the message being reassembled.
struct ChunkStream {
  uint32_t csid = 0;
  bool extended = false;   // the last type 0-2 header carried an extended timestamp
  uint32_t timestamp = 0;  // absolute timestamp of the current/last message
  uint32_t ts_field = 0;   // the last timestamp/delta field: what a type 3 new message adds
  uint32_t length = 0;
  uint8_t type = 0;
  uint32_t stream_id = 0;
  bool in_message = false;  // buf holds part of a message of `length` bytes
  std::string buf;
};

struct ServerSession::Impl {
  enum class Phase { kC0C1, kC2, kChunkHeader, kPayload };

  Impl(Listener& l, Limits lim) : listener(l), limits(lim) {}

  Listener& listener;
  Limits limits;

  Phase phase = Phase::kC0C1;
  std::string c0c1;  // at most Limits::kHandshakeBufferBytes
  size_t c2_left = kHandshakeBytes;

  // The chunk header being read: basic (1-3) + message (0-11) + extended
  // timestamp (0-4) bytes.
  unsigned char hdr[18] = {};
  size_t hdr_len = 0;
  ChunkStream* cur = nullptr;  // the stream whose chunk payload is being read
  size_t chunk_left = 0;
  std::vector<std::unique_ptr<ChunkStream>> streams;  // unique_ptr: cur stays valid
  size_t pending = 0;  // declared lengths of the messages in reassembly

  uint32_t in_chunk_size = kDefaultChunkSize;
  uint32_t out_chunk_size = kDefaultChunkSize;
  uint64_t received = 0;
  uint64_t last_ack = 0;
  uint32_t window = 0;  // the client's Window Acknowledgement Size; 0 = none asked

  std::string out;
  bool failed = false;
  Error error;
  bool wants_close = false;

  bool connected = false;
  bool publishing = false;
  std::string app;
  std::string key;
  uint32_t next_stream_id = 1;

  // Unwrapping the 32-bit millisecond timestamps into one 64-bit timeline.
  bool have_ts = false;
  uint32_t last_ts = 0;
  int64_t ext_ts = 0;

  std::bitset<16> video_reported, audio_reported;
  std::bitset<256> type_reported;
  std::vector<std::string> other_reported;

  // --- input

  Result<void> feed(const char* data, size_t n);
  Result<size_t> consume(const char* p, size_t n);
  Result<size_t> needHeaderBytes();
  Result<void> startChunk();
  Result<void> dispatch(ChunkStream& cs);
  // Drops the message in reassembly on cs (in_message must be true).
  void abortMessage(ChunkStream& cs);
  void releaseBuffer(ChunkStream& cs);
  Result<void> handleMessage(uint8_t type, uint32_t stream_id, uint32_t timestamp, std::string_view payload);
  Result<void> handleCommand(uint32_t stream_id, std::string_view payload);
  void handleData(std::string_view payload);
  Result<void> handleVideo(uint32_t timestamp, std::string_view payload);
  Result<void> handleAudio(uint32_t timestamp, std::string_view payload);

  ChunkStream* findStream(uint32_t csid) {
    for (auto& s : streams)
      if (s->csid == csid) return s.get();
    return nullptr;
  }
  Error fail(std::string why) {
    failed = true;
    wants_close = true;
    error = makeError(code::kBadRequest, "rtmp: " + std::move(why));
    return error;
  }
  int64_t extend(uint32_t ts) {
    if (!have_ts) {
      have_ts = true;
      ext_ts = ts;
    } else {
      ext_ts += static_cast<int32_t>(ts - last_ts);  // modular difference: crosses the wrap
    }
    last_ts = ts;
    return ext_ts;
  }
  void unsupportedOnce(std::string what) {
    if (std::find(other_reported.begin(), other_reported.end(), what) != other_reported.end()) return;
    other_reported.push_back(what);  // a fixed handful of texts: bounded
    listener.onUnsupported(what);
  }
  void unpublish() {
    if (!publishing) return;
    publishing = false;
    listener.onUnpublish();
  }

  // --- output

  void writeS0S1S2();
  void writeMessage(uint8_t csid, uint8_t type, uint32_t stream_id, std::string_view payload);
  void writeControl(uint8_t type, uint32_t value) {
    std::string p;
    putBe32(p, value);
    writeMessage(kCsidControl, type, 0, p);
  }
  void writeUserControl(uint16_t event, std::string_view data) {
    std::string p;
    putBe16(p, event);
    p.append(data);
    writeMessage(kCsidControl, kUserControl, 0, p);
  }
  void writeCommand(uint8_t csid, uint32_t stream_id, std::initializer_list<amf0::Value> values) {
    std::string p;
    for (const auto& v : values) amf0::encode(p, v);
    writeMessage(csid, kAmf0Command, stream_id, p);
  }
  void writeStatus(uint32_t stream_id, std::string_view level, std::string_view code, std::string description) {
    writeCommand(kCsidStream, stream_id,
                 {amf0::Value::string("onStatus"), amf0::Value::number(0), amf0::Value::null(),
                  amf0::Value::object({{"level", amf0::Value::string(std::string(level))},
                                       {"code", amf0::Value::string(std::string(code))},
                                       {"description", amf0::Value::string(std::move(description))}})});
  }
  void maybeAck() {
    if (window == 0 || received - last_ack < window) return;
    last_ack = received;
    writeControl(kAcknowledgement, static_cast<uint32_t>(received));  // the sequence number wraps at 4 GiB
  }
};

// --- feeding

Result<void> ServerSession::Impl::feed(const char* data, size_t n) {
  if (failed) return error;
  size_t pos = 0;
  while (pos < n) {
    // Never cross an acknowledgement boundary inside one step, and stop after
    // each message (consume() returns early), so that acks land at the same
    // byte whatever the split of the input.
    size_t step = n - pos;
    if (window != 0) {
      const uint64_t next_ack = last_ack + window;
      if (next_ack > received) step = static_cast<size_t>(std::min<uint64_t>(step, next_ack - received));
    }
    auto used = consume(data + pos, step);
    if (!used) return used.error();
    if (*used == 0) return fail("internal: the parser made no progress");
    pos += *used;
    received += *used;
    maybeAck();
  }
  return {};
}

// Consumes up to n bytes; returns early after a complete message.
Result<size_t> ServerSession::Impl::consume(const char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    switch (phase) {
      case Phase::kC0C1: {
        const size_t take = std::min(n - i, Limits::kHandshakeBufferBytes - c0c1.size());
        c0c1.append(p + i, take);
        i += take;
        const auto version = static_cast<uint8_t>(c0c1[0]);
        if (version != kRtmpVersion)
          return fail("client asked for RTMP version " + std::to_string(version) + "; only 3 (plain RTMP) is served");
        if (c0c1.size() == Limits::kHandshakeBufferBytes) {
          writeS0S1S2();
          std::string().swap(c0c1);
          phase = Phase::kC2;
        }
        break;
      }
      case Phase::kC2: {
        // C2 should echo S1; clients differ (the digest handshake signs it
        // instead), and nothing depends on it, so it is not checked.
        const size_t take = std::min(n - i, c2_left);
        i += take;
        c2_left -= take;
        if (c2_left == 0) phase = Phase::kChunkHeader;
        break;
      }
      case Phase::kChunkHeader: {
        // Read until the header is complete; act on it at once, even when
        // its last byte is the last of this input (a zero-length message is
        // complete at its header).
        for (;;) {
          auto need = needHeaderBytes();
          if (!need) return need.error();
          if (hdr_len == *need) break;
          if (i == n) return i;
          const size_t take = std::min(n - i, *need - hdr_len);
          std::memcpy(hdr + hdr_len, p + i, take);
          hdr_len += take;
          i += take;
        }
        auto started = startChunk();
        if (!started) return started.error();
        hdr_len = 0;
        if (chunk_left == 0) {
          auto r = dispatch(*cur);
          if (!r) return r.error();
          return i;
        }
        phase = Phase::kPayload;
        break;
      }
      case Phase::kPayload: {
        const size_t take = std::min(n - i, chunk_left);
        cur->buf.append(p + i, take);
        i += take;
        chunk_left -= take;
        if (chunk_left == 0) {
          phase = Phase::kChunkHeader;
          if (cur->buf.size() == cur->length) {
            auto r = dispatch(*cur);
            if (!r) return r.error();
            return i;
          }
        }
        break;
      }
    }
  }
  return i;
}

// The header length implied by the bytes read so far (it grows as the basic
// header, the timestamp field and the chunk stream's state become known).
Result<size_t> ServerSession::Impl::needHeaderBytes() {
  if (hdr_len == 0) return size_t{1};
  const unsigned fmt = hdr[0] >> 6;
  const unsigned low = hdr[0] & 0x3F;
  const size_t basic = low == 0 ? 2 : low == 1 ? 3 : 1;
  if (hdr_len < basic) return basic;
  const size_t need = basic + kMessageHeaderBytes[fmt];
  if (fmt < 3) {
    if (hdr_len < basic + 3) return need;  // timestamp field not read yet
    return be24(hdr + basic) == kNoTimestamp ? need + 4 : need;
  }
  const uint32_t csid = low == 0 ? 64 + hdr[1] : low == 1 ? 64 + hdr[1] + (uint32_t{hdr[2]} << 8) : low;
  const ChunkStream* cs = findStream(csid);
  if (cs == nullptr) return fail("type 3 chunk on chunk stream " + std::to_string(csid) + " with no previous header");
  return cs->extended ? need + 4 : need;
}

// Applies the complete header in hdr[0, hdr_len): finds or creates the chunk
// stream, updates its header state and starts or continues its message.
Result<void> ServerSession::Impl::startChunk() {
  const unsigned fmt = hdr[0] >> 6;
  const unsigned low = hdr[0] & 0x3F;
  const size_t basic = low == 0 ? 2 : low == 1 ? 3 : 1;
  const uint32_t csid = low == 0 ? 64 + hdr[1] : low == 1 ? 64 + hdr[1] + (uint32_t{hdr[2]} << 8) : low;
  const unsigned char* m = hdr + basic;

  ChunkStream* cs = findStream(csid);
  if (cs == nullptr) {
    if (fmt != 0)
      return fail("type " + std::to_string(fmt) + " chunk on chunk stream " + std::to_string(csid) +
                  " with no previous header");
    if (streams.size() >= limits.max_chunk_streams)
      return fail("more than " + std::to_string(limits.max_chunk_streams) + " chunk streams");
    streams.push_back(std::make_unique<ChunkStream>());
    cs = streams.back().get();
    cs->csid = csid;
  }
  if (fmt < 3 && cs->in_message)
    return fail("type " + std::to_string(fmt) + " chunk on chunk stream " + std::to_string(csid) + " after " +
                std::to_string(cs->buf.size()) + " of " + std::to_string(cs->length) + " bytes of a message");

  if (fmt < 3) {
    uint32_t field = be24(m);
    cs->extended = field == kNoTimestamp;
    if (cs->extended) field = be32(m + kMessageHeaderBytes[fmt]);
    if (fmt <= 1) {
      cs->length = be24(m + 3);
      cs->type = m[6];
    }
    if (fmt == 0) {
      cs->stream_id = le32(m + 7);
      cs->timestamp = field;
    } else {
      cs->timestamp += field;  // a delta; modular arithmetic, the wrap is handled upstream
    }
    cs->ts_field = field;
  } else if (!cs->in_message) {
    // A type 3 chunk that starts a message repeats the last header, and its
    // timestamp advances by the last field (FFmpeg and librtmp read it so,
    // and write type 3 only when that is right). An extended timestamp, when
    // present, carries the field again.
    if (cs->extended) cs->ts_field = be32(m);
    cs->timestamp += cs->ts_field;
  }
  // (A type 3 continuation's extended timestamp repeats the message's; skipped.)

  if (!cs->in_message) {
    if (cs->length > limits.max_message_bytes)
      return fail("message of " + std::to_string(cs->length) + " bytes is above the limit of " +
                  std::to_string(limits.max_message_bytes));
    const bool amf = cs->type == kAmf0Command || cs->type == kAmf3Command || cs->type == kAmf0Data ||
                     cs->type == kAmf3Data;
    if (amf && cs->length > limits.max_command_bytes)
      return fail("command/data message of " + std::to_string(cs->length) + " bytes is above the limit of " +
                  std::to_string(limits.max_command_bytes));
    if (pending + cs->length > limits.max_pending_bytes)
      return fail("messages in reassembly would hold " + std::to_string(pending + cs->length) +
                  " bytes, above the limit of " + std::to_string(limits.max_pending_bytes));
    pending += cs->length;
    cs->in_message = true;
    cs->buf.clear();
    cs->buf.reserve(std::min<size_t>(cs->length, kReserveBytes));
  }
  cur = cs;
  chunk_left = std::min<size_t>(in_chunk_size, cs->length - cs->buf.size());
  return {};
}

// The message is out of reassembly before it is handled (an Abort naming
// its own chunk stream finds nothing to drop); its bytes are released after.
Result<void> ServerSession::Impl::dispatch(ChunkStream& cs) {
  cs.in_message = false;
  pending -= cs.length;
  auto r = handleMessage(cs.type, cs.stream_id, cs.timestamp, cs.buf);
  releaseBuffer(cs);
  return r;
}

void ServerSession::Impl::abortMessage(ChunkStream& cs) {
  cs.in_message = false;
  pending -= cs.length;
  releaseBuffer(cs);
}

void ServerSession::Impl::releaseBuffer(ChunkStream& cs) {
  cs.buf.clear();
  if (cs.buf.capacity() > kKeepBufferBytes) std::string().swap(cs.buf);
}

Result<void> ServerSession::Impl::handleMessage(uint8_t type, uint32_t stream_id, uint32_t timestamp,
                                                std::string_view payload) {
  const unsigned char* p = bytes(payload);
  switch (type) {
    case kSetChunkSize: {
      if (payload.size() < 4) return fail("Set Chunk Size shorter than 4 bytes");
      const uint32_t size = be32(p);
      if (size == 0 || size > 0x7FFFFFFF) return fail("Set Chunk Size of " + std::to_string(size) + " is invalid");
      if (size > limits.max_chunk_size)
        return fail("Set Chunk Size of " + std::to_string(size) + " is above the limit of " +
                    std::to_string(limits.max_chunk_size));
      in_chunk_size = size;
      return {};
    }
    case kAbort: {
      if (payload.size() < 4) return fail("Abort shorter than 4 bytes");
      ChunkStream* cs = findStream(be32(p));
      if (cs != nullptr && cs->in_message) abortMessage(*cs);
      return {};
    }
    case kAcknowledgement:
    case kSetPeerBandwidth:
      return {};  // we do not throttle our few output bytes on the client's acks
    case kWindowAckSizeMsg:
      if (payload.size() < 4) return fail("Window Acknowledgement Size shorter than 4 bytes");
      window = be32(p);
      return {};
    case kUserControl: {
      if (payload.size() < 2) return fail("User Control message shorter than 2 bytes");
      const uint16_t event = static_cast<uint16_t>((p[0] << 8) | p[1]);
      if (event == kPingRequest) {
        if (payload.size() < 6) return fail("PingRequest shorter than 6 bytes");
        writeUserControl(kPingResponse, payload.substr(2, 4));
      }
      return {};  // SetBufferLength, PingResponse, ...: nothing to do for a publisher
    }
    case kAmf0Command:
      return handleCommand(stream_id, payload);
    case kAmf3Command:
      // AMF3 commands begin with a format byte of 0 and continue in AMF0.
      if (payload.empty()) return {};
      if (p[0] != 0) {
        unsupportedOnce("AMF3-encoded command");
        return {};
      }
      return handleCommand(stream_id, payload.substr(1));
    case kAmf0Data:
      handleData(payload);
      return {};
    case kAmf3Data:
      if (!payload.empty() && p[0] == 0) handleData(payload.substr(1));
      return {};
    case kVideo:
      return handleVideo(timestamp, payload);
    case kAudio:
      return handleAudio(timestamp, payload);
    default:
      // Shared objects, aggregates and unknown types are ignored.
      if (!type_reported.test(type)) {
        type_reported.set(type);
        listener.onUnsupported("RTMP message type " + std::to_string(type));
      }
      return {};
  }
}

Result<void> ServerSession::Impl::handleCommand(uint32_t stream_id, std::string_view payload) {
  auto decoded = amf0::decodeAll(payload);
  if (!decoded) return fail("undecodable command: " + decoded.error().message);
  const std::vector<amf0::Value>& v = *decoded;
  if (v.empty() || !v[0].isString()) return fail("command without a name");
  const std::string_view name = v[0].asString();
  const double tid = v.size() > 1 ? v[1].asNumber() : 0;
  auto arg = [&](size_t i) -> const amf0::Value& {
    static const amf0::Value kNull;
    return i < v.size() ? v[i] : kNull;
  };
  using amf0::Value;

  if (name == "connect") {
    if (connected) return fail("connect received twice");
    connected = true;
    if (const Value* a = arg(2).find("app")) app = std::string(a->asString());
    // The order FMS uses and clients expect: window, bandwidth, chunk size, result.
    writeControl(kWindowAckSizeMsg, kWindowAckSize);
    std::string bw;
    putBe32(bw, kPeerBandwidth);
    bw.push_back(static_cast<char>(kPeerBandwidthDynamic));
    writeMessage(kCsidControl, kSetPeerBandwidth, 0, bw);
    writeControl(kSetChunkSize, kServerChunkSize);
    out_chunk_size = kServerChunkSize;
    writeCommand(kCsidCommand, 0,
                 {Value::string("_result"), Value::number(tid),
                  Value::object({{"fmsVer", Value::string("FMS/3,0,1,123")}, {"capabilities", Value::number(31)}}),
                  Value::object({{"level", Value::string("status")},
                                 {"code", Value::string("NetConnection.Connect.Success")},
                                 {"description", Value::string("Connection succeeded.")},
                                 {"objectEncoding", Value::number(0)}})});
    return {};
  }
  const bool needs_connect = name == "releaseStream" || name == "FCPublish" || name == "createStream" ||
                             name == "publish" || name == "play";
  if (needs_connect && !connected) return fail(std::string(name) + " before connect");

  if (name == "releaseStream") {
    writeCommand(kCsidCommand, 0, {Value::string("_result"), Value::number(tid), Value::null(), Value::undefined()});
  } else if (name == "FCPublish") {
    writeCommand(kCsidCommand, 0,
                 {Value::string("onFCPublish"), Value::number(0), Value::null(),
                  Value::object({{"code", Value::string("NetStream.Publish.Start")},
                                 {"description", Value::string(std::string(arg(3).asString()))}})});
  } else if (name == "createStream") {
    const uint32_t id = next_stream_id;
    if (next_stream_id < 0x7FFFFFFF) ++next_stream_id;
    writeCommand(kCsidCommand, 0, {Value::string("_result"), Value::number(tid), Value::null(), Value::number(id)});
  } else if (name == "publish") {
    const std::string stream_key(arg(3).asString());
    if (publishing) {
      writeStatus(stream_id, "error", "NetStream.Publish.BadName", "this connection is already publishing");
      wants_close = true;
    } else if (stream_key.empty() || !listener.onPublish(app, stream_key)) {
      writeStatus(stream_id, "error", "NetStream.Publish.BadName", "publishing " + stream_key + " is not allowed");
      wants_close = true;
    } else {
      publishing = true;
      key = stream_key;
      std::string id;
      putBe32(id, stream_id);
      writeUserControl(kStreamBegin, id);
      writeStatus(stream_id, "status", "NetStream.Publish.Start", stream_key + " is now published.");
    }
  } else if (name == "FCUnpublish" || name == "deleteStream" || name == "closeStream") {
    unpublish();
  } else if (name == "play") {
    unsupportedOnce("play (this server only ingests)");
    writeStatus(stream_id, "error", "NetStream.Play.Failed", "this server does not play streams");
    wants_close = true;
  }
  // Anything else (_checkbw, getStreamLength, a client's own calls) gets no
  // answer: an _error would make the ffmpeg CLI give up.
  return {};
}

void ServerSession::Impl::handleData(std::string_view payload) {
  if (!publishing) return;
  // Metadata is advisory: a data message we cannot read is dropped, not fatal.
  auto decoded = amf0::decodeAll(payload);
  if (!decoded) {
    unsupportedOnce("undecodable data message");
    return;
  }
  const std::vector<amf0::Value>& v = *decoded;
  size_t i = 0;
  if (i < v.size() && v[i].asString() == "@setDataFrame") ++i;
  if (i + 1 >= v.size() || v[i].asString() != "onMetaData" || !v[i + 1].isMap()) return;
  const amf0::Value& m = v[i + 1];
  auto num = [&](std::string_view k) {
    const amf0::Value* x = m.find(k);
    return x ? x->asNumber() : 0.0;
  };
  Metadata md;
  md.width = num("width");
  md.height = num("height");
  md.frame_rate = m.find("framerate") ? num("framerate") : num("videoframerate");
  md.video_codec_id = codecId(m.find("videocodecid"));
  md.audio_codec_id = codecId(m.find("audiocodecid"));
  md.video_data_rate_kbps = num("videodatarate");
  md.audio_data_rate_kbps = num("audiodatarate");
  md.audio_sample_rate = num("audiosamplerate");
  if (const amf0::Value* ch = m.find("audiochannels"); ch && ch->isNumber())
    md.audio_channels = ch->asNumber();
  else if (const amf0::Value* st = m.find("stereo"); st && st->isBoolean())
    md.audio_channels = st->asBoolean() ? 2 : 1;
  if (const amf0::Value* e = m.find("encoder")) md.encoder = std::string(e->asString());
  listener.onMetadata(md);
}

Result<void> ServerSession::Impl::handleVideo(uint32_t timestamp, std::string_view payload) {
  if (!publishing || payload.empty()) return {};  // some encoders send empty media messages
  const unsigned char* p = bytes(payload);
  if (p[0] & 0x80) {
    unsupportedOnce("enhanced RTMP video (HEVC/AV1/VP9 by FourCC)");
    return {};
  }
  const unsigned frame_type = p[0] >> 4;
  const unsigned codec = p[0] & 0x0F;
  if (frame_type == 5) return {};  // video info/command frame: no picture
  if (codec != kAvcCodecId) {
    if (!video_reported.test(codec)) {
      video_reported.set(codec);
      listener.onUnsupported("video codec id " + std::to_string(codec) + " (" + videoCodecName(codec) + ")");
    }
    return {};
  }
  if (payload.size() < 5) return fail("AVC video message of " + std::to_string(payload.size()) + " bytes has no room for its 5-byte header");
  const unsigned packet_type = p[1];
  if (packet_type > 2) {
    unsupportedOnce("AVC packet type above 2");
    return {};
  }
  uint32_t cts = be24(p + 2);
  if (cts & 0x800000) cts |= 0xFF000000u;  // sign-extend the 24-bit field
  VideoFrame f;
  f.dts_ms = extend(timestamp);
  f.cts_ms = static_cast<int32_t>(cts);
  f.keyframe = frame_type == 1;
  f.config = packet_type == 0;
  f.end_of_sequence = packet_type == 2;
  f.data = payload.substr(5);
  listener.onVideo(f);
  return {};
}

Result<void> ServerSession::Impl::handleAudio(uint32_t timestamp, std::string_view payload) {
  if (!publishing || payload.empty()) return {};
  const unsigned char* p = bytes(payload);
  const unsigned format = p[0] >> 4;
  if (format == 9) {
    unsupportedOnce("enhanced RTMP audio (by FourCC)");
    return {};
  }
  if (format != kAacSoundFormat) {
    if (!audio_reported.test(format)) {
      audio_reported.set(format);
      listener.onUnsupported("audio format " + std::to_string(format) + " (" + audioCodecName(format) + ")");
    }
    return {};
  }
  if (payload.size() < 2) return fail("AAC audio message of 1 byte has no packet type");
  const unsigned packet_type = p[1];
  if (packet_type > 1) {
    unsupportedOnce("AAC packet type above 1");
    return {};
  }
  AudioFrame f;
  f.dts_ms = extend(timestamp);
  f.config = packet_type == 0;
  f.data = payload.substr(2);
  listener.onAudio(f);
  return {};
}

// --- writing

void ServerSession::Impl::writeS0S1S2() {
  out.reserve(out.size() + 1 + 2 * kHandshakeBytes);
  out.push_back(static_cast<char>(kRtmpVersion));
  // S1: time 0, version 0 (which tells digest-capable clients not to look
  // for a server digest), then filler. The filler only has to differ between
  // peers; it is derived from C1 (FNV-1a seed, xorshift64*) so that a
  // session's output depends on its input alone.
  uint64_t seed = 0xcbf29ce484222325ull;
  for (size_t i = 1; i < c0c1.size(); ++i) seed = (seed ^ static_cast<uint8_t>(c0c1[i])) * 0x100000001b3ull;
  out.append(8, '\0');
  for (size_t i = 8; i < kHandshakeBytes; ++i) {
    seed ^= seed >> 12;
    seed ^= seed << 25;
    seed ^= seed >> 27;
    out.push_back(static_cast<char>((seed * 0x2545F4914F6CDD1Dull) >> 56));
  }
  // S2: C1 echoed.
  out.append(c0c1, 1, kHandshakeBytes);
}

// Every message goes out with a type 0 header (timestamp 0) and type 3
// continuations: the server sends few messages, so header compression is not
// worth its state.
void ServerSession::Impl::writeMessage(uint8_t csid, uint8_t type, uint32_t stream_id, std::string_view payload) {
  out.push_back(static_cast<char>(csid));  // format 0, csid < 64
  putBe24(out, 0);
  putBe24(out, static_cast<uint32_t>(payload.size()));
  out.push_back(static_cast<char>(type));
  putLe32(out, stream_id);
  size_t off = 0;
  do {
    const size_t take = std::min<size_t>(out_chunk_size, payload.size() - off);
    if (off > 0) out.push_back(static_cast<char>(0xC0 | csid));
    out.append(payload.substr(off, take));
    off += take;
  } while (off < payload.size());
}

// --- the public face

ServerSession::ServerSession(Listener& listener, Limits limits) : impl_(std::make_unique<Impl>(listener, limits)) {}
ServerSession::~ServerSession() = default;

Result<void> ServerSession::feed(const char* data, size_t n) { return impl_->feed(data, n); }

std::string ServerSession::takeOutput() {
  std::string o;
  o.swap(impl_->out);
  return o;
}

bool ServerSession::publishing() const { return impl_->publishing; }
bool ServerSession::wantsClose() const { return impl_->wants_close; }
const std::string& ServerSession::app() const { return impl_->app; }
const std::string& ServerSession::streamKey() const { return impl_->key; }
uint64_t ServerSession::bytesReceived() const { return impl_->received; }

}  // namespace tutti::media::rtmp
