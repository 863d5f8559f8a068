#include "tutti/net/ws_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tutti::net {
namespace {

// A server frame (unmasked), as a server would send it.
std::string serverFrame(uint8_t first, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(first));
  const size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f.push_back(126);
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xFF));
  }
  f.append(payload);
  return f;
}

struct Got {
  WsOpcode op;
  std::string payload;
};

std::vector<Got> feedAll(WsParser& p, std::string bytes, size_t chunk, bool* ok = nullptr) {
  std::vector<Got> got;
  bool good = true;
  for (size_t i = 0; i < bytes.size() && good; i += chunk)
    good = p.feed(bytes.data() + i, std::min(chunk, bytes.size() - i),
                  [&](WsOpcode op, std::string_view pl) { got.push_back({op, std::string(pl)}); });
  if (ok) *ok = good;
  return got;
}

TEST(WsFrame, ClientFramesAreMaskedAndCarryTheLength) {
  for (size_t n : {0u, 5u, 125u, 126u, 65535u, 65536u}) {
    std::string payload(n, 'a');
    std::string out;
    appendClientFrame(out, WsOpcode::kText, payload, 0x01020304);
    ASSERT_GE(out.size(), 2u);
    EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x81);
    EXPECT_TRUE(static_cast<uint8_t>(out[1]) & 0x80) << "mask bit";
    const size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(out.size(), header + 4 + n);
    // Unmasking gives the payload back.
    const unsigned char* key = reinterpret_cast<const unsigned char*>(out.data() + header);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[header + 4 + i] ^ key[i & 3], 'a');
  }
}

TEST(WsFrame, ParsesFramesSplitAnywhere) {
  const std::string big(70000, 'z');
  const std::string bytes = serverFrame(0x81, "hello") + serverFrame(0x82, std::string(300, 'b')) +
                            serverFrame(0x89, "ping!") + serverFrame(0x81, big);
  for (size_t chunk : {1u, 3u, 7u, 1000u, 200000u}) {
    WsParser p;
    auto got = feedAll(p, bytes, chunk);
    ASSERT_EQ(got.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(got[0].payload, "hello");
    EXPECT_EQ(got[1].op, WsOpcode::kBinary);
    EXPECT_EQ(got[1].payload.size(), 300u);
    EXPECT_EQ(got[2].op, WsOpcode::kPing);
    EXPECT_EQ(got[3].payload, big);
    EXPECT_EQ(p.pending(), 0u);
  }
}

TEST(WsFrame, JoinsFragmentsAroundControlFrames) {
  const std::string bytes = serverFrame(0x01, "ab") + serverFrame(0x8A, "") + serverFrame(0x00, "cd") +
                            serverFrame(0x80, "ef");
  WsParser p;
  auto got = feedAll(p, bytes, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].op, WsOpcode::kPong);
  EXPECT_EQ(got[1].op, WsOpcode::kText);
  EXPECT_EQ(got[1].payload, "abcdef");
}

TEST(WsFrame, RefusesWhatAServerMustNotSend) {
  struct Case {
    std::string bytes;
    const char* why;
  } cases[] = {
      {std::string("\x81\x85", 2) + "keyy" + "hello", "masked"},
      {serverFrame(0x83, "x"), "reserved opcode"},
      {serverFrame(0xC1, "x"), "reserved bits"},
      {serverFrame(0x89, std::string(126, 'p')), "long control frame"},
      {serverFrame(0x80, "x"), "continuation without a message"},
  };
  for (const auto& c : cases) {
    WsParser p;
    bool ok = true;
    feedAll(p, c.bytes, 64, &ok);
    EXPECT_FALSE(ok) << c.why;
    EXPECT_FALSE(p.error().empty()) << c.why;
  }
  WsParser small(100);
  bool ok = true;
  feedAll(small, serverFrame(0x81, std::string(101, 'x')), 64, &ok);
  EXPECT_FALSE(ok) << "above the size limit";
}

TEST(WsFrame, UpgradeRequestNamesTheTarget) {
  const auto r = upgradeRequest("127.0.0.1:8080", "/ws");
  EXPECT_TRUE(r.starts_with("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
  EXPECT_NE(r.find("Upgrade: websocket\r\n"), std::string::npos);
  EXPECT_TRUE(r.ends_with("\r\n\r\n"));
}

// --- the server role: masked frames in, unmasked frames out

WsParser serverParser(size_t max = 1u << 20) { return WsParser(max, WsParser::Role::kServer); }

TEST(WsFrame, ServerUnmasksClientFramesOfEveryLengthFedInAnyChunks) {
  std::string payloads[] = {"", "x", std::string(125, 'a'), std::string(126, 'b'), std::string(70000, 'c')};
  for (auto& pl : payloads)
    for (size_t i = 0; i < pl.size(); ++i) pl[i] = static_cast<char>('a' + (i * 7) % 26);
  std::string stream;
  for (const auto& pl : payloads) appendClientFrame(stream, WsOpcode::kText, pl, 0xA1B2C3D4);
  for (size_t chunk : {1u, 3u, 7u, 64u, 4096u, 1u << 20}) {
    WsParser p = serverParser();
    bool ok = false;
    auto got = feedAll(p, stream, chunk, &ok);
    ASSERT_TRUE(ok) << p.error();
    ASSERT_EQ(got.size(), std::size(payloads)) << "chunk " << chunk;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].payload, payloads[i]) << "chunk " << chunk << " frame " << i;
    EXPECT_EQ(p.pending(), 0u);
  }
}

TEST(WsFrame, ServerJoinsFragmentsAroundAControlFrame) {
  // "hel" + ping + "lo" (continuation, FIN): the ping comes through first.
  auto masked = [](uint8_t first, std::string_view pl) {
    std::string f;
    appendClientFrame(f, WsOpcode::kText, pl, 0x11223344);
    f[0] = static_cast<char>(first);
    return f;
  };
  WsParser p = serverParser();
  bool ok = false;
  auto got = feedAll(p, masked(0x01, "hel") + masked(0x89, "pp") + masked(0x80, "lo"), 2, &ok);
  ASSERT_TRUE(ok) << p.error();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].op, WsOpcode::kPing);
  EXPECT_EQ(got[0].payload, "pp");
  EXPECT_EQ(got[1].op, WsOpcode::kText);
  EXPECT_EQ(got[1].payload, "hello");
}

TEST(WsFrame, ServerRefusesUnmaskedFramesAndSaysWhichCloseCode) {
  WsParser p = serverParser();
  bool ok = true;
  feedAll(p, serverFrame(0x81, "hello"), 64, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(p.closeCode(), 1002) << p.error();

  WsParser small = serverParser(100);
  std::string big;
  appendClientFrame(big, WsOpcode::kBinary, std::string(101, 'x'), 1);
  feedAll(small, big, 4096, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(small.closeCode(), 1009) << small.error();

  // Fragments that each fit but together do not.
  WsParser joined = serverParser(100);
  std::string f1, f2;
  appendClientFrame(f1, WsOpcode::kText, std::string(60, 'x'), 1);
  f1[0] = 0x01;  // no FIN
  appendClientFrame(f2, WsOpcode::kContinuation, std::string(60, 'y'), 1);
  feedAll(joined, f1 + f2, 4096, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(joined.closeCode(), 1009) << joined.error();
}

TEST(WsFrame, ServerFramesAreUnmaskedWithTheShortestLength) {
  for (size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    std::string out;
    appendFrame(out, WsOpcode::kBinary, std::string(n, 'z'));
    const size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(out.size(), header + n);
    EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x82);
    WsParser client;  // and a client reads it back
    bool ok = false;
    auto got = feedAll(client, out, 1000, &ok);
    ASSERT_TRUE(ok) << client.error();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload.size(), n);
  }
}

TEST(WsFrame, ClosePayloadCarriesTheCodeAndACutReason) {
  const std::string p = closePayload(4005, std::string(200, 'r'));
  ASSERT_EQ(p.size(), 125u);
  EXPECT_EQ((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]), 4005);
}

TEST(WsFrame, AcceptKeyIsTheRfcExample) {
  // RFC 6455, section 1.3.
  EXPECT_EQ(websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsFrame, Utf8ValidationFollowsTheStandard) {
  EXPECT_TRUE(validUtf8(""));
  EXPECT_TRUE(validUtf8("plain ascii, long enough for the fast path"));
  EXPECT_TRUE(validUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8E\xB2"));  // é € 🎲
  EXPECT_TRUE(validUtf8("\xF4\x8F\xBF\xBF"));                              // U+10FFFF
  EXPECT_FALSE(validUtf8("\xC0\xAF")) << "overlong /";
  EXPECT_FALSE(validUtf8("\xE0\x80\xAF")) << "overlong, three bytes";
  EXPECT_FALSE(validUtf8("\xED\xA0\x80")) << "surrogate";
  EXPECT_FALSE(validUtf8("\xF4\x90\x80\x80")) << "above U+10FFFF";
  EXPECT_FALSE(validUtf8("abc\xC3")) << "truncated";
  EXPECT_FALSE(validUtf8("\x80")) << "lone continuation";
  EXPECT_FALSE(validUtf8("abcdefgh\xFF")) << "after an ASCII run";
}

}  // namespace
}  // namespace tutti::net
