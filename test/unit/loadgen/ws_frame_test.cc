#include "tutti/loadgen/ws_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tutti::loadgen {
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

std::vector<Got> feedAll(WsParser& p, const std::string& bytes, size_t chunk, bool* ok = nullptr) {
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

}  // namespace
}  // namespace tutti::loadgen
