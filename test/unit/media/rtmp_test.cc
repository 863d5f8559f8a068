#include "tutti/media/rtmp.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tutti/media/amf0.h"

using tutti::media::amf0::Value;
using tutti::media::rtmp::AudioFrame;
using tutti::media::rtmp::Limits;
using tutti::media::rtmp::Metadata;
using tutti::media::rtmp::ServerSession;
using tutti::media::rtmp::VideoFrame;

namespace {

// ---------------------------------------------------------------------------
// What a client would send: the handshake and messages cut into chunks.

constexpr size_t kSig = 1536;

std::string c0c1() {
  std::string s(1, '\x03');
  for (size_t i = 0; i < kSig; ++i) s.push_back(static_cast<char>(i < 8 ? 0 : (i * 7 + 3) & 0xFF));
  return s;
}
std::string c2() { return std::string(kSig, '\x5A'); }
std::string handshake() { return c0c1() + c2(); }

void be(std::string& o, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::string basicHeader(int fmt, uint32_t csid) {
  std::string o;
  if (csid < 64) {
    o.push_back(static_cast<char>((fmt << 6) | csid));
  } else if (csid < 320) {
    o.push_back(static_cast<char>(fmt << 6));
    o.push_back(static_cast<char>(csid - 64));
  } else {
    o.push_back(static_cast<char>((fmt << 6) | 1));
    o.push_back(static_cast<char>((csid - 64) & 0xFF));
    o.push_back(static_cast<char>((csid - 64) >> 8));
  }
  return o;
}

// One message to chunk. `field` is the timestamp (fmt 0) or delta (fmt 1, 2)
// in the first chunk's header; for fmt 3 it is the field the server already
// holds, written again as an extended timestamp when it needs one.
struct Msg {
  uint32_t csid = 3;
  int fmt = 0;
  uint32_t field = 0;
  uint8_t type = 20;
  uint32_t stream_id = 0;
  std::string payload;
};

// The chunks of one message, the way FFmpeg writes them: continuation chunks
// are type 3 and repeat an extended timestamp.
std::vector<std::string> chunksOf(const Msg& m, size_t chunk_size) {
  const bool ext = m.field >= 0xFFFFFF;
  const uint32_t f24 = ext ? 0xFFFFFF : m.field;
  std::string h = basicHeader(m.fmt, m.csid);
  if (m.fmt <= 2) be(h, f24, 3);
  if (m.fmt <= 1) {
    be(h, m.payload.size(), 3);
    h.push_back(static_cast<char>(m.type));
  }
  if (m.fmt == 0)
    for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((m.stream_id >> (8 * i)) & 0xFF));
  if (ext) be(h, m.field, 4);
  std::vector<std::string> out;
  size_t off = 0;
  do {
    const size_t take = std::min(chunk_size, m.payload.size() - off);
    std::string c = off == 0 ? h : basicHeader(3, m.csid);
    if (off > 0 && ext) be(c, m.field, 4);
    c.append(m.payload, off, take);
    out.push_back(c);
    off += take;
  } while (off < m.payload.size());
  return out;
}

std::string chunked(const Msg& m, size_t chunk_size = 128) {
  std::string s;
  for (auto& c : chunksOf(m, chunk_size)) s += c;
  return s;
}

std::string amf(std::initializer_list<Value> values) {
  std::string p;
  for (const auto& v : values) tutti::media::amf0::encode(p, v);
  return p;
}

std::string command(std::initializer_list<Value> values, uint32_t stream_id = 0, uint32_t csid = 3) {
  Msg m;
  m.csid = csid;
  m.type = 20;
  m.stream_id = stream_id;
  m.payload = amf(values);
  return chunked(m);
}

std::string connectCmd(const std::string& app = "live") {
  return command({Value::string("connect"), Value::number(1),
                  Value::object({{"app", Value::string(app)},
                                 {"type", Value::string("nonprivate")},
                                 {"flashVer", Value::string("FMLE/3.0 (compatible; FMSc/1.0)")},
                                 {"tcUrl", Value::string("rtmp://127.0.0.1/" + app)}})});
}

std::string publishSequence(const std::string& key = "testkey") {
  return connectCmd() +
         command({Value::string("releaseStream"), Value::number(2), Value::null(), Value::string(key)}) +
         command({Value::string("FCPublish"), Value::number(3), Value::null(), Value::string(key)}) +
         command({Value::string("createStream"), Value::number(4), Value::null()}) +
         command({Value::string("publish"), Value::number(5), Value::null(), Value::string(key), Value::string("live")},
                 1, 8);
}

std::string control(uint8_t type, std::string payload) {
  Msg m;
  m.csid = 2;
  m.type = type;
  m.payload = std::move(payload);
  return chunked(m);
}

std::string u32(uint32_t v) {
  std::string s;
  be(s, v, 4);
  return s;
}

// FLV video tag body: frame type/codec, AVC packet type, 24-bit cts, data.
std::string avc(bool key, int packet_type, int32_t cts, const std::string& data) {
  std::string p;
  p.push_back(static_cast<char>(((key ? 1 : 2) << 4) | 7));
  p.push_back(static_cast<char>(packet_type));
  be(p, static_cast<uint32_t>(cts) & 0xFFFFFF, 3);
  return p + data;
}

// FLV audio tag body: AAC, 44 kHz, 16-bit, stereo; packet type; data.
std::string aac(int packet_type, const std::string& data) {
  std::string p;
  p.push_back(static_cast<char>(0xAF));
  p.push_back(static_cast<char>(packet_type));
  return p + data;
}

Msg video(uint32_t ts, std::string payload, int fmt = 0, uint32_t csid = 6) {
  Msg m;
  m.csid = csid;
  m.fmt = fmt;
  m.field = ts;
  m.type = 9;
  m.stream_id = 1;
  m.payload = std::move(payload);
  return m;
}

Msg audio(uint32_t ts, std::string payload, int fmt = 0, uint32_t csid = 4) {
  Msg m = video(ts, std::move(payload), fmt, csid);
  m.type = 8;
  return m;
}

// A string literal with its embedded NULs.
template <size_t N>
std::string bin(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 17 + (i >> 8)) & 0xFF);
  return s;
}

// ---------------------------------------------------------------------------
// Reading the server's output as a client would.

struct ServerMessage {
  uint32_t csid = 0;
  uint8_t type = 0;
  uint32_t stream_id = 0;
  uint32_t timestamp = 0;
  std::string payload;
};

struct Parsed {
  std::string handshake;  // S0 S1 S2
  std::vector<ServerMessage> messages;
  bool complete = false;  // no partial chunk at the end
};

uint32_t rd(const std::string& s, size_t at, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

// A general chunk reader (formats 0-3, extended timestamps, Set Chunk Size).
Parsed parseServer(const std::string& all) {
  Parsed r;
  if (all.size() < 1 + 2 * kSig) return r;
  r.handshake = all.substr(0, 1 + 2 * kSig);
  size_t pos = r.handshake.size();
  struct Cs {
    ServerMessage m;
    uint32_t length = 0;
    uint32_t field = 0;
    bool ext = false;
    std::string buf;
  };
  std::map<uint32_t, Cs> cs;
  size_t chunk = 128;
  while (pos < all.size()) {
    const int fmt = static_cast<uint8_t>(all[pos]) >> 6;
    uint32_t id = static_cast<uint8_t>(all[pos]) & 0x3F;
    size_t p = pos + 1;
    if (id == 0) {
      if (p + 1 > all.size()) return r;
      id = 64 + static_cast<uint8_t>(all[p]);
      p += 1;
    } else if (id == 1) {
      if (p + 2 > all.size()) return r;
      id = 64 + static_cast<uint8_t>(all[p]) + 256 * static_cast<uint8_t>(all[p + 1]);
      p += 2;
    }
    Cs& c = cs[id];
    const size_t mh[4] = {11, 7, 3, 0};
    if (p + mh[fmt] > all.size()) return r;
    if (fmt < 3) {
      c.field = rd(all, p, 3);
      c.ext = c.field == 0xFFFFFF;
      if (fmt <= 1) {
        c.length = rd(all, p + 3, 3);
        c.m.type = static_cast<uint8_t>(all[p + 6]);
      }
      if (fmt == 0)
        c.m.stream_id = static_cast<uint8_t>(all[p + 7]) | static_cast<uint8_t>(all[p + 8]) << 8 |
                        static_cast<uint8_t>(all[p + 9]) << 16 | static_cast<uint32_t>(static_cast<uint8_t>(all[p + 10])) << 24;
    }
    p += mh[fmt];
    if (c.ext) {
      if (p + 4 > all.size()) return r;
      if (fmt < 3) c.field = rd(all, p, 4);
      p += 4;
    }
    if (c.buf.empty()) c.m.timestamp = fmt == 0 ? c.field : c.m.timestamp + c.field;
    const size_t take = std::min<size_t>(chunk, c.length - c.buf.size());
    if (p + take > all.size()) return r;
    c.buf.append(all, p, take);
    pos = p + take;
    if (c.buf.size() == c.length) {
      c.m.csid = id;
      c.m.payload = c.buf;
      c.buf.clear();
      if (c.m.type == 1) chunk = rd(c.m.payload, 0, 4);
      r.messages.push_back(c.m);
    }
  }
  r.complete = true;
  return r;
}

std::vector<Value> decoded(const ServerMessage& m) {
  auto v = tutti::media::amf0::decodeAll(m.payload);
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : std::vector<Value>{};
}

// The AMF0 commands in the output, decoded.
std::vector<std::vector<Value>> commands(const Parsed& p) {
  std::vector<std::vector<Value>> out;
  for (const auto& m : p.messages)
    if (m.type == 20) out.push_back(decoded(m));
  return out;
}

const std::vector<Value>* findCommand(const std::vector<std::vector<Value>>& cmds, std::string_view name, double tid) {
  for (const auto& c : cmds)
    if (c.size() >= 2 && c[0].asString() == name && c[1].asNumber() == tid) return &c;
  return nullptr;
}

std::string statusCode(const std::vector<Value>& c) {
  if (c.size() < 4 || c[0].asString() != "onStatus" || !c[3].find("code")) return "";
  return std::string(c[3].find("code")->asString());
}

// ---------------------------------------------------------------------------
// A listener that records everything (copies: the views die with the call).

struct Event {
  std::string kind;  // video, audio, publish, metadata, unsupported, unpublish
  int64_t dts = 0;
  int32_t cts = 0;
  bool keyframe = false, config = false, eos = false;
  std::string data;
  bool operator==(const Event& o) const {
    return kind == o.kind && dts == o.dts && cts == o.cts && keyframe == o.keyframe && config == o.config &&
           eos == o.eos && data == o.data;
  }
};

struct Recorder : tutti::media::rtmp::Listener {
  bool accept = true;
  std::vector<Event> events;
  std::vector<std::pair<std::string, std::string>> publishes;
  std::optional<Metadata> metadata;
  std::vector<std::string> unsupported;
  int unpublishes = 0;

  bool onPublish(std::string_view app, std::string_view key) override {
    publishes.emplace_back(app, key);
    events.push_back({"publish", 0, 0, false, false, false, std::string(app) + "/" + std::string(key)});
    return accept;
  }
  void onMetadata(const Metadata& m) override {
    metadata = m;
    events.push_back({"metadata", 0, 0, false, false, false, std::to_string(m.width)});
  }
  void onVideo(const VideoFrame& f) override {
    events.push_back({"video", f.dts_ms, f.cts_ms, f.keyframe, f.config, f.end_of_sequence, std::string(f.data)});
  }
  void onAudio(const AudioFrame& f) override {
    events.push_back({"audio", f.dts_ms, 0, false, f.config, false, std::string(f.data)});
  }
  void onUnsupported(std::string_view what) override {
    unsupported.emplace_back(what);
    events.push_back({"unsupported", 0, 0, false, false, false, std::string(what)});
  }
  void onUnpublish() override {
    ++unpublishes;
    events.push_back({"unpublish", 0, 0, false, false, false, ""});
  }
  std::vector<Event> of(const std::string& kind) const {
    std::vector<Event> r;
    for (const auto& e : events)
      if (e.kind == kind) r.push_back(e);
    return r;
  }
};

struct Harness {
  explicit Harness(Limits limits = {}) : session(rec, limits) {}
  tutti::Result<void> feed(const std::string& b) {
    auto r = session.feed(b.data(), b.size());
    out += session.takeOutput();
    return r;
  }
  void publish() {
    auto r = feed(handshake() + publishSequence());
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(session.publishing());
  }
  Parsed parsed() const { return parseServer(out); }

  Recorder rec;
  ServerSession session;
  std::string out;
};

}  // namespace

// --- handshake

TEST(RtmpHandshake, AnswersC0C1WithS0S1AndEchoesC1InS2) {
  Harness h;
  ASSERT_TRUE(h.feed(c0c1()).ok());
  ASSERT_EQ(h.out.size(), 1 + 2 * kSig);
  EXPECT_EQ(h.out[0], '\x03');
  // S1: time and the version field zero (no server digest to look for).
  EXPECT_EQ(h.out.substr(1, 8), std::string(8, '\0'));
  EXPECT_NE(h.out.substr(9, kSig - 8), std::string(kSig - 8, '\0'));
  EXPECT_EQ(h.out.substr(1 + kSig), c0c1().substr(1));
  // C2 completes the handshake without more output.
  ASSERT_TRUE(h.feed(c2()).ok());
  EXPECT_EQ(h.out.size(), 1 + 2 * kSig);
}

TEST(RtmpHandshake, WaitsForTheWholeC1BeforeAnswering) {
  Harness h;
  ASSERT_TRUE(h.feed(c0c1().substr(0, 1000)).ok());
  EXPECT_TRUE(h.out.empty());
  ASSERT_TRUE(h.feed(c0c1().substr(1000)).ok());
  EXPECT_EQ(h.out.size(), 1 + 2 * kSig);
}

TEST(RtmpHandshake, RefusesAVersionOtherThan3AndStaysDead) {
  Harness h;
  std::string bad = c0c1();
  bad[0] = '\x06';  // RTMPE
  auto r = h.feed(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("version 6"), std::string::npos) << r.error().message;
  EXPECT_TRUE(h.out.empty());
  EXPECT_TRUE(h.session.wantsClose());
  auto again = h.feed(c0c1());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, r.error().message);
}

// --- commands

TEST(RtmpCommands, ConnectIsAnsweredWithWindowBandwidthChunkSizeAndSuccess) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + connectCmd("live")).ok());
  Parsed p = h.parsed();
  ASSERT_TRUE(p.complete);
  ASSERT_EQ(p.messages.size(), 4u);
  EXPECT_EQ(p.messages[0].type, 5);  // Window Acknowledgement Size
  EXPECT_EQ(rd(p.messages[0].payload, 0, 4), 2'500'000u);
  EXPECT_EQ(p.messages[1].type, 6);  // Set Peer Bandwidth, dynamic
  EXPECT_EQ(p.messages[1].payload.size(), 5u);
  EXPECT_EQ(p.messages[1].payload[4], 2);
  EXPECT_EQ(p.messages[2].type, 1);  // Set Chunk Size
  EXPECT_EQ(rd(p.messages[2].payload, 0, 4), 4096u);
  auto result = decoded(p.messages[3]);
  ASSERT_EQ(result.size(), 4u);
  EXPECT_EQ(result[0].asString(), "_result");
  EXPECT_EQ(result[1].asNumber(), 1);
  EXPECT_EQ(result[3].find("code")->asString(), "NetConnection.Connect.Success");
  EXPECT_EQ(result[3].find("level")->asString(), "status");
  EXPECT_EQ(h.session.app(), "live");
}

TEST(RtmpCommands, TheServerChunksItsRepliesAtTheSizeItAnnounced) {
  // After connect the server announces 4096: a reply above 128 bytes must
  // then go out as one chunk (a client reading at 128 would misparse it).
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + connectCmd(std::string(300, 'a'))).ok());
  ASSERT_TRUE(h.feed(command({Value::string("FCPublish"), Value::number(3), Value::null(),
                              Value::string(std::string(500, 'k'))}))
                  .ok());
  Parsed p = h.parsed();
  ASSERT_TRUE(p.complete);
  auto cmds = commands(p);
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[1][0].asString(), "onFCPublish");
  EXPECT_EQ(cmds[1][3].find("description")->asString(), std::string(500, 'k'));
  // The onFCPublish message (over 500 bytes) went out as a single chunk.
  const size_t header = 12;
  EXPECT_EQ(h.out.size() - (1 + 2 * kSig), (16 + 16 + 17 + header + p.messages[3].payload.size()) +
                                                (header + p.messages[4].payload.size()));
}

TEST(RtmpCommands, ReleaseStreamFCPublishAndCreateStreamAreAnswered) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + publishSequence()).ok());
  auto cmds = commands(h.parsed());
  ASSERT_NE(findCommand(cmds, "_result", 2), nullptr);  // releaseStream
  const auto* fc = findCommand(cmds, "onFCPublish", 0);
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ((*fc)[3].find("description")->asString(), "testkey");
  const auto* cs = findCommand(cmds, "_result", 4);
  ASSERT_NE(cs, nullptr);
  ASSERT_EQ(cs->size(), 4u);
  EXPECT_EQ((*cs)[3].asNumber(), 1);  // the stream id
}

TEST(RtmpCommands, CreateStreamHandsOutDistinctStreamIds) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + connectCmd() + command({Value::string("createStream"), Value::number(7), Value::null()}) +
                     command({Value::string("createStream"), Value::number(8), Value::null()}))
                  .ok());
  auto cmds = commands(h.parsed());
  ASSERT_NE(findCommand(cmds, "_result", 7), nullptr);
  ASSERT_NE(findCommand(cmds, "_result", 8), nullptr);
  EXPECT_NE((*findCommand(cmds, "_result", 7))[3].asNumber(), (*findCommand(cmds, "_result", 8))[3].asNumber());
}

TEST(RtmpCommands, PublishAsksTheListenerAndStartsTheStream) {
  Harness h;
  h.publish();
  ASSERT_EQ(h.rec.publishes.size(), 1u);
  EXPECT_EQ(h.rec.publishes[0].first, "live");
  EXPECT_EQ(h.rec.publishes[0].second, "testkey");
  EXPECT_EQ(h.session.streamKey(), "testkey");
  EXPECT_FALSE(h.session.wantsClose());
  Parsed p = h.parsed();
  ASSERT_TRUE(p.complete);
  // Stream Begin for stream 1, then onStatus Publish.Start on stream 1.
  bool begin = false;
  for (const auto& m : p.messages)
    if (m.type == 4 && rd(m.payload, 0, 2) == 0 && rd(m.payload, 2, 4) == 1) begin = true;
  EXPECT_TRUE(begin);
  const ServerMessage& last = p.messages.back();
  EXPECT_EQ(last.stream_id, 1u);
  auto status = decoded(last);
  EXPECT_EQ(statusCode(status), "NetStream.Publish.Start");
  EXPECT_EQ(status[3].find("level")->asString(), "status");
}

TEST(RtmpCommands, ARefusedPublishSaysBadNameAndWantsClose) {
  Harness h;
  h.rec.accept = false;
  ASSERT_TRUE(h.feed(handshake() + publishSequence("wrongkey")).ok());
  EXPECT_FALSE(h.session.publishing());
  EXPECT_TRUE(h.session.wantsClose());
  auto status = decoded(h.parsed().messages.back());
  EXPECT_EQ(statusCode(status), "NetStream.Publish.BadName");
  EXPECT_EQ(status[3].find("level")->asString(), "error");
  // Media sent anyway is not delivered.
  ASSERT_TRUE(h.feed(chunked(video(0, avc(true, 0, 0, "cfg")))).ok());
  EXPECT_TRUE(h.rec.of("video").empty());
}

TEST(RtmpCommands, AnEmptyStreamKeyIsRefusedWithoutAskingTheListener) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + publishSequence("")).ok());
  EXPECT_TRUE(h.rec.publishes.empty());
  EXPECT_TRUE(h.session.wantsClose());
  EXPECT_EQ(statusCode(decoded(h.parsed().messages.back())), "NetStream.Publish.BadName");
}

TEST(RtmpCommands, FCUnpublishAndDeleteStreamEndThePublishOnce) {
  Harness h;
  h.publish();
  ASSERT_TRUE(h.feed(command({Value::string("FCUnpublish"), Value::number(6), Value::null(), Value::string("testkey")})).ok());
  EXPECT_FALSE(h.session.publishing());
  ASSERT_TRUE(h.feed(command({Value::string("deleteStream"), Value::number(7), Value::null(), Value::number(1)})).ok());
  EXPECT_EQ(h.rec.unpublishes, 1);
}

TEST(RtmpCommands, DeleteStreamAloneEndsThePublish) {
  Harness h;
  h.publish();
  ASSERT_TRUE(h.feed(command({Value::string("deleteStream"), Value::number(6), Value::null(), Value::number(1)})).ok());
  EXPECT_FALSE(h.session.publishing());
  EXPECT_EQ(h.rec.unpublishes, 1);
}

TEST(RtmpCommands, PublishBeforeConnectIsAnError) {
  Harness h;
  auto r = h.feed(handshake() +
                  command({Value::string("publish"), Value::number(5), Value::null(), Value::string("k"), Value::string("live")}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("before connect"), std::string::npos);
  EXPECT_TRUE(h.rec.publishes.empty());
}

TEST(RtmpCommands, ConnectTwiceIsAnError) {
  Harness h;
  EXPECT_FALSE(h.feed(handshake() + connectCmd() + connectCmd()).ok());
}

TEST(RtmpCommands, PlayIsRefusedAndTheSessionWantsClose) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + connectCmd() +
                     command({Value::string("play"), Value::number(4), Value::null(), Value::string("k")}, 1, 8))
                  .ok());
  EXPECT_TRUE(h.session.wantsClose());
  EXPECT_EQ(statusCode(decoded(h.parsed().messages.back())), "NetStream.Play.Failed");
}

TEST(RtmpCommands, UnknownCommandsGetNoAnswer) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + connectCmd()).ok());
  const size_t before = h.out.size();
  ASSERT_TRUE(h.feed(command({Value::string("_checkbw"), Value::number(9), Value::null()})).ok());
  EXPECT_EQ(h.out.size(), before);
}

TEST(RtmpCommands, AnUndecodableCommandIsAnError) {
  Harness h;
  Msg m;
  m.payload = bin("\x02\x00\x07" "connect" "\x0B");  // a date marker after the name
  auto r = h.feed(handshake() + chunked(m));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("undecodable command"), std::string::npos);
}

TEST(RtmpCommands, AnAmf3CommandWithAnAmf0BodyIsUnderstood) {
  Harness h;
  Msg m;
  m.type = 17;
  m.payload = std::string(1, '\0') + amf({Value::string("connect"), Value::number(1), Value::object({{"app", Value::string("x")}})});
  ASSERT_TRUE(h.feed(handshake() + chunked(m)).ok());
  EXPECT_EQ(h.session.app(), "x");
}

// --- chunk stream

TEST(RtmpChunks, ReassemblesAMessageSplitOverManyChunks) {
  Harness h;
  h.publish();
  const std::string nalus = pattern(10000, 1);
  const std::string wire = chunked(video(40, avc(true, 1, 0, nalus)));
  EXPECT_GT(wire.size(), 10005u + 78);  // 79 chunks of 128 bytes: 78 continuation headers
  ASSERT_TRUE(h.feed(wire).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].data, nalus);
  EXPECT_EQ(v[0].dts, 40);
  EXPECT_TRUE(v[0].keyframe);
}

TEST(RtmpChunks, HonoursSetChunkSizeFromTheClient) {
  Harness h;
  h.publish();
  ASSERT_TRUE(h.feed(control(1, u32(4096))).ok());
  const std::string a = pattern(5000, 2), b = pattern(300, 3);
  ASSERT_TRUE(h.feed(chunked(video(0, avc(true, 1, 0, a)), 4096) + chunked(video(33, avc(false, 1, 0, b)), 4096)).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].data, a);
  EXPECT_EQ(v[1].data, b);
}

TEST(RtmpChunks, ReassemblesInterleavedChunkStreams) {
  Harness h;
  h.publish();
  const std::string vd = pattern(1000, 4), ad = pattern(600, 5);
  auto vc = chunksOf(video(100, avc(true, 1, 0, vd)), 128);
  auto ac = chunksOf(audio(90, aac(1, ad)), 128);
  std::string wire;
  for (size_t i = 0; i < std::max(vc.size(), ac.size()); ++i) {
    if (i < ac.size()) wire += ac[i];
    if (i < vc.size()) wire += vc[i];
  }
  ASSERT_TRUE(h.feed(wire).ok());
  auto v = h.rec.of("video");
  auto a = h.rec.of("audio");
  ASSERT_EQ(v.size(), 1u);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(v[0].data, vd);
  EXPECT_EQ(a[0].data, ad);
  EXPECT_EQ(a[0].dts, 90);
  EXPECT_EQ(v[0].dts, 100);
}

TEST(RtmpChunks, AppliesTheTimestampDeltasOfHeaderTypes1To3) {
  Harness h;
  h.publish();
  const std::string p = avc(false, 1, 0, "abcd");
  std::string wire = chunked(video(1000, p, 0));
  wire += chunked(video(33, p, 1));                               // delta, same length
  wire += chunked(video(33, avc(false, 1, 0, "efgh"), 2));        // delta only
  wire += chunked(video(33, avc(false, 1, 0, "ijkl"), 3));        // nothing: repeats delta 33
  wire += chunked(video(20, avc(false, 1, 0, "much longer"), 1)); // delta with a new length
  ASSERT_TRUE(h.feed(wire).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].dts, 1000);
  EXPECT_EQ(v[1].dts, 1033);
  EXPECT_EQ(v[2].dts, 1066);
  EXPECT_EQ(v[3].dts, 1099);
  EXPECT_EQ(v[3].data, "ijkl");
  EXPECT_EQ(v[4].dts, 1119);
  EXPECT_EQ(v[4].data, "much longer");
}

TEST(RtmpChunks, ReadsExtendedTimestampsIncludingOnType3Chunks) {
  Harness h;
  h.publish();
  const uint32_t ts = 0x01000000;  // above 0xFFFFFF: extended
  const std::string big = pattern(700, 6);
  // Six chunks, each continuation carrying the extended timestamp again.
  ASSERT_TRUE(h.feed(chunked(video(ts, avc(true, 1, 0, big)))).ok());
  // A type 3 header starting a new message reuses the last field (the
  // absolute timestamp, for type 0) as its delta, with the extended field.
  ASSERT_TRUE(h.feed(chunked(video(ts, avc(false, 1, 0, pattern(700, 7)), 3))).ok());
  // Then a delta that itself needs the extended field, on a type 1 header.
  ASSERT_TRUE(h.feed(chunked(video(0x01000005, avc(false, 1, 0, "x"), 1))).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].data, big);
  EXPECT_EQ(v[0].dts, int64_t{ts});
  EXPECT_EQ(v[1].dts, int64_t{2} * ts);
  EXPECT_EQ(v[1].data, pattern(700, 7));
  EXPECT_EQ(v[2].dts, int64_t{2} * ts + 0x01000005);
}

TEST(RtmpChunks, AcceptsTwoAndThreeByteChunkStreamIds) {
  Harness h;
  h.publish();
  ASSERT_TRUE(h.feed(chunked(video(10, avc(true, 1, 0, pattern(300, 8)), 0, 100)) +
                     chunked(audio(11, aac(1, pattern(200, 9)), 0, 400)) +
                     chunked(video(12, avc(false, 1, 0, "y"), 0, 65599)))
                  .ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].data, pattern(300, 8));
  EXPECT_EQ(v[1].dts, 12);
  ASSERT_EQ(h.rec.of("audio").size(), 1u);
  EXPECT_EQ(h.rec.of("audio")[0].data, pattern(200, 9));
}

TEST(RtmpChunks, AZeroLengthMessageIsCompleteAtItsHeader) {
  Harness h;
  h.publish();
  ASSERT_TRUE(h.feed(chunked(video(5, ""))).ok());  // empty video: ignored, not waited on
  ASSERT_TRUE(h.feed(chunked(video(6, avc(false, 1, 0, "z")))).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].data, "z");
}

TEST(RtmpChunks, AType3ChunkWithNoPreviousHeaderIsAnError) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake()).ok());
  auto r = h.feed(basicHeader(3, 9) + "abc");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no previous header"), std::string::npos) << r.error().message;
}

TEST(RtmpChunks, AType1ChunkOnANewChunkStreamIsAnError) {
  Harness h;
  h.publish();
  EXPECT_FALSE(h.feed(chunked(video(33, "abcdef", 1, 30))).ok());
}

TEST(RtmpChunks, ANewHeaderInsideAMessageIsAnError) {
  Harness h;
  h.publish();
  auto parts = chunksOf(video(0, avc(true, 1, 0, pattern(500, 1))), 128);
  auto r = h.feed(parts[0] + chunked(video(0, avc(true, 1, 0, "x"))));  // same csid 6, type 0
  ASSERT_FALSE(r.ok());
}

TEST(RtmpChunks, UnknownMessageTypesAreIgnoredNotFatal) {
  Harness h;
  h.publish();
  Msg agg = video(0, pattern(40, 1));
  agg.type = 22;  // aggregate
  Msg odd = video(0, "????");
  odd.type = 99;
  ASSERT_TRUE(h.feed(chunked(agg) + chunked(odd) + chunked(agg) + chunked(video(7, avc(true, 1, 0, "ok")))).ok());
  EXPECT_EQ(h.rec.unsupported.size(), 2u);  // each type once
  ASSERT_EQ(h.rec.of("video").size(), 1u);
  EXPECT_TRUE(h.session.publishing());
}

TEST(RtmpChunks, AbortDropsAPartialMessage) {
  Harness h;
  h.publish();
  auto parts = chunksOf(video(0, avc(true, 1, 0, pattern(500, 1))), 128);
  ASSERT_TRUE(h.feed(parts[0] + parts[1] + control(2, u32(6)) + chunked(video(50, avc(true, 1, 0, "fresh")))).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].data, "fresh");
  EXPECT_EQ(v[0].dts, 50);
}

TEST(RtmpChunks, AbortedMessagesGiveBackTheirReassemblyBudget) {
  Limits l;
  l.max_pending_bytes = 3000;
  Harness h(l);
  h.publish();
  for (int i = 0; i < 10; ++i) {
    auto parts = chunksOf(video(0, avc(true, 1, 0, pattern(2500, i))), 128);
    ASSERT_TRUE(h.feed(parts[0] + parts[1] + control(2, u32(6))).ok()) << i;
  }
  // An Abort naming its own chunk stream (2) drops nothing and breaks nothing:
  // the budget is intact for tiny and for large messages after it.
  ASSERT_TRUE(h.feed(control(2, u32(2))).ok());
  Msg tiny = video(0, "?");
  tiny.type = 99;
  ASSERT_TRUE(h.feed(chunked(tiny)).ok());
  ASSERT_TRUE(h.feed(chunked(video(1, avc(true, 1, 0, pattern(2500, 99))))).ok());
  ASSERT_EQ(h.rec.of("video").size(), 1u);
  EXPECT_EQ(h.rec.of("video")[0].data, pattern(2500, 99));
}

// --- protocol control

TEST(RtmpControl, AcknowledgementsAreSentAsTheWindowRequires) {
  Harness h;
  h.publish();
  const uint32_t window = 5000;
  ASSERT_TRUE(h.feed(control(5, u32(window))).ok());
  const size_t before = h.parsed().messages.size();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.feed(chunked(video(i * 33, avc(i == 0, 1, 0, pattern(3000, i))))).ok());
  const uint64_t total = h.session.bytesReceived();
  Parsed p = h.parsed();
  ASSERT_TRUE(p.complete);
  std::vector<uint32_t> acks;
  for (size_t i = before; i < p.messages.size(); ++i)
    if (p.messages[i].type == 3) acks.push_back(rd(p.messages[i].payload, 0, 4));
  ASSERT_GE(acks.size(), 5u);
  for (size_t i = 1; i < acks.size(); ++i) EXPECT_EQ(acks[i] - acks[i - 1], window);
  EXPECT_LE(acks.back(), total);
  EXPECT_LT(total - acks.back(), window);
}

TEST(RtmpControl, NoAcknowledgementsWithoutAWindow) {
  Harness h;
  h.publish();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.feed(chunked(video(i * 33, avc(i == 0, 1, 0, pattern(3000, i))))).ok());
  for (const auto& m : h.parsed().messages) EXPECT_NE(m.type, 3);
}

TEST(RtmpControl, AnswersPingRequestWithPingResponse) {
  Harness h;
  h.publish();
  std::string ping;
  be(ping, 6, 2);
  be(ping, 0x12345678, 4);
  ASSERT_TRUE(h.feed(control(4, ping)).ok());
  const Parsed p = h.parsed();
  const ServerMessage& last = p.messages.back();
  EXPECT_EQ(last.type, 4);
  EXPECT_EQ(rd(last.payload, 0, 2), 7u);
  EXPECT_EQ(rd(last.payload, 2, 4), 0x12345678u);
}

TEST(RtmpControl, MalformedControlMessagesAreErrors) {
  for (uint8_t type : {1, 2, 4, 5}) {
    Harness h;
    ASSERT_TRUE(h.feed(handshake()).ok());
    EXPECT_FALSE(h.feed(control(type, "x")).ok()) << int(type);
  }
  Harness zero;
  ASSERT_TRUE(zero.feed(handshake()).ok());
  EXPECT_FALSE(zero.feed(control(1, u32(0))).ok());
}

// --- metadata and media

TEST(RtmpMedia, SetDataFrameMetadataReachesTheListener) {
  Harness h;
  h.publish();
  Msg m;
  m.csid = 4;
  m.type = 18;
  m.stream_id = 1;
  m.payload = amf({Value::string("@setDataFrame"), Value::string("onMetaData"),
                   Value::ecmaArray({{"duration", Value::number(0)},
                                     {"width", Value::number(320)},
                                     {"height", Value::number(240)},
                                     {"framerate", Value::number(30)},
                                     {"videocodecid", Value::number(7)},
                                     {"audiocodecid", Value::string("mp4a")},
                                     {"audiosamplerate", Value::number(48000)},
                                     {"stereo", Value::boolean(false)},
                                     {"encoder", Value::string("Lavf59.27.100")}})});
  ASSERT_TRUE(h.feed(chunked(m)).ok());
  ASSERT_TRUE(h.rec.metadata.has_value());
  const Metadata& md = *h.rec.metadata;
  EXPECT_EQ(md.width, 320);
  EXPECT_EQ(md.height, 240);
  EXPECT_EQ(md.frame_rate, 30);
  EXPECT_EQ(md.video_codec_id, 7);
  EXPECT_EQ(md.audio_codec_id, 10);
  EXPECT_EQ(md.audio_sample_rate, 48000);
  EXPECT_EQ(md.audio_channels, 1);
  EXPECT_EQ(md.encoder, "Lavf59.27.100");
}

TEST(RtmpMedia, UndecodableMetadataIsDroppedNotFatal) {
  Harness h;
  h.publish();
  Msg m;
  m.type = 18;
  m.payload = bin("\x02\x00\x0A" "onMetaData" "\x08\x00");  // truncated ECMA array
  ASSERT_TRUE(h.feed(chunked(m)).ok());
  EXPECT_FALSE(h.rec.metadata.has_value());
  EXPECT_TRUE(h.session.publishing());
}

TEST(RtmpMedia, AvcPacketsBecomeVideoFrames) {
  Harness h;
  h.publish();
  const std::string record = bin("\x01\x64\x00\x1F\xFF\xE1");
  const std::string idr = bin("\0\0\0\x02\x65\x88"), p = bin("\0\0\0\x01\x41");
  ASSERT_TRUE(h.feed(chunked(video(0, avc(true, 0, 0, record))) + chunked(video(0, avc(true, 1, 67, idr))) +
                     chunked(video(33, avc(false, 1, -33, p))) + chunked(video(66, avc(false, 2, 0, ""))))
                  .ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_TRUE(v[0].config);
  EXPECT_TRUE(v[0].keyframe);
  EXPECT_EQ(v[0].data, record);
  EXPECT_FALSE(v[1].config);
  EXPECT_TRUE(v[1].keyframe);
  EXPECT_EQ(v[1].cts, 67);
  EXPECT_EQ(v[1].data, idr);
  EXPECT_FALSE(v[2].keyframe);
  EXPECT_EQ(v[2].cts, -33);  // 24-bit signed
  EXPECT_EQ(v[2].dts, 33);
  EXPECT_EQ(v[2].data, p);
  EXPECT_TRUE(v[3].eos);
  EXPECT_TRUE(v[3].data.empty());
}

TEST(RtmpMedia, AacPacketsBecomeAudioFrames) {
  Harness h;
  h.publish();
  ASSERT_TRUE(h.feed(chunked(audio(0, aac(0, "\x11\x90"))) + chunked(audio(21, aac(1, pattern(300, 3))))).ok());
  auto a = h.rec.of("audio");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(a[0].config);
  EXPECT_EQ(a[0].data, "\x11\x90");
  EXPECT_FALSE(a[1].config);
  EXPECT_EQ(a[1].dts, 21);
  EXPECT_EQ(a[1].data, pattern(300, 3));
}

TEST(RtmpMedia, OtherCodecsAreReportedOnceAndIgnored) {
  Harness h;
  h.publish();
  std::string wire;
  for (int i = 0; i < 3; ++i) {
    wire += chunked(video(i * 33, std::string("\x14", 1) + "vp6 data"));  // inter frame, codec 4 (VP6)
    wire += chunked(audio(i * 26, std::string("\x2F", 1) + "mp3 data"));  // MP3
    wire += chunked(video(i * 33, std::string("\x9C", 1) + "hvc1data"));  // enhanced RTMP
  }
  ASSERT_TRUE(h.feed(wire).ok());
  EXPECT_TRUE(h.rec.of("video").empty());
  EXPECT_TRUE(h.rec.of("audio").empty());
  ASSERT_EQ(h.rec.unsupported.size(), 3u);
  EXPECT_NE(h.rec.unsupported[0].find("VP6"), std::string::npos);
  EXPECT_NE(h.rec.unsupported[1].find("MP3"), std::string::npos);
  EXPECT_TRUE(h.session.publishing());
}

TEST(RtmpMedia, ATruncatedAvcHeaderIsAnError) {
  Harness h;
  h.publish();
  EXPECT_FALSE(h.feed(chunked(video(0, "\x17\x01"))).ok());
}

TEST(RtmpMedia, MediaBeforePublishIsIgnored) {
  Harness h;
  ASSERT_TRUE(h.feed(handshake() + connectCmd() + chunked(video(0, avc(true, 0, 0, "cfg")))).ok());
  EXPECT_TRUE(h.rec.of("video").empty());
}

TEST(RtmpTimestamps, KeepIncreasingAcrossThe32BitWrap) {
  Harness h;
  h.publish();
  std::string wire = chunked(video(0xFFFFFF00u, avc(true, 1, 0, "a")));
  for (int i = 0; i < 20; ++i) wire += chunked(video(40, avc(false, 1, 0, "b"), 2));  // deltas cross 2^32
  wire += chunked(audio(0xFFFFFFF0u, aac(1, "c")));  // absolute, just before the wrap: slightly in the past
  wire += chunked(video(0x00000400u, avc(false, 1, 0, "d")));  // absolute, after the wrap
  ASSERT_TRUE(h.feed(wire).ok());
  auto v = h.rec.of("video");
  ASSERT_EQ(v.size(), 22u);
  EXPECT_EQ(v[0].dts, int64_t{0xFFFFFF00});
  for (size_t i = 1; i < 21; ++i) EXPECT_EQ(v[i].dts - v[i - 1].dts, 40) << i;
  EXPECT_GT(v[20].dts, int64_t{1} << 32);
  EXPECT_EQ(v[21].dts, (int64_t{1} << 32) + 0x400);
  auto a = h.rec.of("audio");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].dts, int64_t{0xFFFFFFF0});
}

// --- limits

TEST(RtmpLimits, AMessageAboveTheMaximumIsAnError) {
  Limits l;
  l.max_message_bytes = 10000;
  Harness h(l);
  h.publish();
  auto r = h.feed(chunked(video(0, avc(true, 1, 0, pattern(10000, 1)))));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("above the limit"), std::string::npos) << r.error().message;
  EXPECT_TRUE(h.session.wantsClose());
  EXPECT_FALSE(h.feed(chunked(video(0, avc(true, 1, 0, "x")))).ok());
}

TEST(RtmpLimits, TheDeclaredLengthIsRefusedBeforeItsBytesArrive) {
  Harness h;
  h.publish();
  // A header declaring 16 MiB - 1 bytes, with no payload behind it.
  std::string hdr = basicHeader(0, 6);
  be(hdr, 0, 3);
  be(hdr, 0xFFFFFF, 3);
  hdr.push_back(9);
  hdr += std::string("\x01\0\0\0", 4);
  EXPECT_FALSE(h.feed(hdr).ok());
}

TEST(RtmpLimits, TooManyChunkStreamsIsAnError) {
  Limits l;
  l.max_chunk_streams = 4;
  Harness h(l);
  ASSERT_TRUE(h.feed(handshake() + connectCmd()).ok());  // csid 3
  ASSERT_TRUE(h.feed(chunked(video(0, "a", 0, 10)) + chunked(video(0, "a", 0, 11)) + chunked(video(0, "a", 0, 12))).ok());
  auto r = h.feed(chunked(video(0, "a", 0, 13)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("chunk streams"), std::string::npos);
}

TEST(RtmpLimits, SetChunkSizeAboveTheLimitIsAnError) {
  Limits l;
  l.max_chunk_size = 65536;
  Harness h(l);
  ASSERT_TRUE(h.feed(handshake()).ok());
  ASSERT_TRUE(h.feed(control(1, u32(65536))).ok());
  auto r = h.feed(control(1, u32(65537)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("Set Chunk Size"), std::string::npos);
}

TEST(RtmpLimits, MessagesInReassemblyAreBoundedTogether) {
  Limits l;
  l.max_pending_bytes = 3000;
  Harness h(l);
  h.publish();
  // Two 1000+ byte messages open at once fit; a third does not.
  auto a = chunksOf(video(0, avc(true, 1, 0, pattern(1200, 1)), 0, 10), 128);
  auto b = chunksOf(video(0, avc(true, 1, 0, pattern(1200, 2)), 0, 11), 128);
  auto c = chunksOf(video(0, avc(true, 1, 0, pattern(1200, 3)), 0, 12), 128);
  ASSERT_TRUE(h.feed(a[0] + b[0]).ok());
  EXPECT_FALSE(h.feed(c[0]).ok());
}

TEST(RtmpLimits, AnOversizedCommandIsAnError) {
  Limits l;
  l.max_command_bytes = 1000;
  Harness h(l);
  ASSERT_TRUE(h.feed(handshake()).ok());
  EXPECT_FALSE(h.feed(command({Value::string("connect"), Value::number(1), Value::string(std::string(2000, 'x'))})).ok());
}

// --- splitting

namespace {

// A whole publishing session: window acks, pings, metadata, media over
// several chunk streams with every header type and an extended timestamp.
std::string fullSession() {
  std::string s = handshake() + control(5, u32(2000)) + publishSequence() + control(1, u32(300));
  std::string ping;
  be(ping, 6, 2);
  be(ping, 99, 4);
  s += control(4, ping);
  Msg meta;
  meta.csid = 4;
  meta.type = 18;
  meta.stream_id = 1;
  meta.payload = amf({Value::string("@setDataFrame"), Value::string("onMetaData"),
                      Value::ecmaArray({{"width", Value::number(640)}, {"videocodecid", Value::number(7)}})});
  s += chunked(meta, 300);
  s += chunked(video(0, avc(true, 0, 0, "config")), 300);
  s += chunked(audio(0, aac(0, "\x12\x10")), 300);
  for (int i = 0; i < 12; ++i) {
    s += chunked(video(33, avc(i % 5 == 0, 1, 33, pattern(700 + i, i)), 1), 300);
    s += chunked(audio(21, aac(1, pattern(200, i)), i == 0 ? 1 : 3), 300);
  }
  s += chunked(video(0x01000000, avc(false, 1, 0, pattern(900, 1))), 300);
  s += command({Value::string("FCUnpublish"), Value::number(6), Value::null(), Value::string("testkey")});
  return s;
}

struct Outcome {
  bool ok = false;
  std::vector<Event> events;
  std::string output;
};

Outcome run(const std::string& wire, const std::vector<size_t>& cuts) {
  Harness h;
  Outcome o;
  o.ok = true;
  size_t prev = 0;
  for (size_t c : cuts) {
    if (!h.feed(wire.substr(prev, c - prev)).ok()) o.ok = false;
    prev = c;
  }
  if (!h.feed(wire.substr(prev)).ok()) o.ok = false;
  o.events = h.rec.events;
  o.output = h.out;
  return o;
}

}  // namespace

TEST(RtmpFeeding, OneByteAtATimeGivesTheSameResultAsAllAtOnce) {
  const std::string wire = fullSession();
  Outcome whole = run(wire, {});
  ASSERT_TRUE(whole.ok);
  ASSERT_GT(whole.events.size(), 25u);
  std::vector<size_t> every;
  for (size_t i = 1; i < wire.size(); ++i) every.push_back(i);
  Outcome bytes = run(wire, every);
  ASSERT_TRUE(bytes.ok);
  EXPECT_TRUE(bytes.events == whole.events);
  EXPECT_EQ(bytes.output, whole.output);  // acks and replies at the same bytes
  Parsed p = parseServer(whole.output);
  ASSERT_TRUE(p.complete);
  int acks = 0;
  for (const auto& m : p.messages) acks += m.type == 3;
  EXPECT_GT(acks, 3);
}

TEST(RtmpFeeding, RandomSplitsGiveTheSameResultAsAllAtOnce) {
  const std::string wire = fullSession();
  Outcome whole = run(wire, {});
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> cuts;
    size_t at = 0;
    for (;;) {
      at += 1 + rng() % 700;
      if (at >= wire.size()) break;
      cuts.push_back(at);
    }
    Outcome o = run(wire, cuts);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.events == whole.events) << "round " << round;
    EXPECT_EQ(o.output, whole.output) << "round " << round;
  }
}

// Also writes the fuzz seed corpus when TUTTI_RTMP_CORPUS_DIR is set (the
// files in test/fuzz/corpus/rtmp come from here).
TEST(RtmpFeeding, AValidPublishingSessionRunsEndToEnd) {
  const std::string wire = fullSession();
  Harness h;
  ASSERT_TRUE(h.feed(wire).ok());
  EXPECT_EQ(h.rec.publishes.size(), 1u);
  EXPECT_EQ(h.rec.of("video").size(), 14u);
  EXPECT_EQ(h.rec.of("audio").size(), 13u);
  EXPECT_EQ(h.rec.unpublishes, 1);
  ASSERT_TRUE(h.rec.metadata.has_value());
  EXPECT_EQ(h.rec.metadata->width, 640);

  if (const char* dir = std::getenv("TUTTI_RTMP_CORPUS_DIR")) {
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    auto put = [&](const std::string& name, const std::string& bytes) {
      std::ofstream(fs::path(dir) / name, std::ios::binary) << bytes;
    };
    // test/fuzz/rtmp_fuzz.cc reads three bytes first: flags (bit 0: feed a
    // handshake of its own first, bit 1: accept publish) and two split points.
    auto seed = [](int flags, const std::string& body) {
      return std::string{static_cast<char>(flags), '\x40', '\x9C'} + body;
    };
    const std::string after = wire.substr(2 * kSig + 1);
    std::string ping;
    be(ping, 6, 2);
    be(ping, 1, 4);
    const std::string compact = publishSequence() + control(5, u32(300)) + control(4, ping) +
                                chunked(video(0, avc(true, 0, 0, "cfg"))) + chunked(audio(0, aac(0, "\x12\x10"))) +
                                chunked(video(0x01000000, avc(true, 1, 0, pattern(200, 1)))) +
                                chunked(audio(21, aac(1, "aa"), 1)) + chunked(audio(21, aac(1, "bb"), 3)) +
                                command({Value::string("deleteStream"), Value::number(6), Value::null(), Value::number(1)});
    put("compact-session", seed(3, compact));
    put("compact-session-refused", seed(1, compact));
    put("full-session", seed(2, wire));
    put("full-session-refused", seed(0, wire));
    put("truncated-in-handshake", seed(2, wire.substr(0, 2000)));
    put("truncated-in-connect", seed(2, wire.substr(0, 2 * kSig + 1 + 60)));
    put("truncated-in-media", seed(2, wire.substr(0, wire.size() * 2 / 3)));
    put("chunks-after-handshake", seed(3, after));
    put("chunks-truncated", seed(3, after.substr(0, after.size() / 2)));
  }
}
