// The server's WebSocket layer on the wire (RFC 6455), byte by byte from a
// plain TCP socket: the handshake and its refusals, pings, fragments,
// closes, protocol violations (each answered with the close code the RFC
// names and a metric), and a silent peer cut after the idle timeout.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "tutti/net/ws_frame.h"

namespace tutti::test {
namespace {

using net::WsOpcode;

constexpr char kConfig[] = R"(
[server]
workers = 1
rtt_probe_interval_ms = 100

[limits]
max_frame_bytes = 4096
idle_timeout_ms = 1000
connect_timeout_ms = 60000
)";

constexpr char kRfcKey[] = "dGhlIHNhbXBsZSBub25jZQ==";

struct Frame {
  WsOpcode op;
  std::string payload;
};

// A blocking TCP client that writes whatever bytes it is told to.
class Wire {
 public:
  explicit Wire(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Wire() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads until `pred(buffered)` or timeout/EOF. Returns false on timeout.
  bool readUntil(const std::function<bool()>& pred, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || eof_) return pred();
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      in_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  // The HTTP answer to an upgrade request (head only).
  std::string handshake(std::string_view request) {
    write(request);
    readUntil([&] { return in_.find("\r\n\r\n") != std::string::npos; }, 5000);
    const size_t end = in_.find("\r\n\r\n");
    if (end == std::string::npos) return in_;
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    return head;
  }

  bool upgrade() { return handshake(upgradeRequest(kRfcKey)).starts_with("HTTP/1.1 101"); }

  static std::string upgradeRequest(std::string_view key, std::string_view version = "13") {
    return "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
           std::string(key) + "\r\nSec-WebSocket-Version: " + std::string(version) + "\r\n\r\n";
  }

  // The next frame from the server that is not one of its RTT pings.
  std::optional<Frame> next(int timeout_ms = 5000) {
    std::optional<Frame> got;
    auto parse = [&] {
      if (!frames_.empty()) return true;
      if (!in_.empty()) {
        std::string chunk;
        chunk.swap(in_);
        if (!parser_.feed(chunk.data(), chunk.size(), [&](WsOpcode op, std::string_view p) {
              if (op != WsOpcode::kPing) frames_.push_back({op, std::string(p)});
            }))
          ADD_FAILURE() << "server sent a bad frame: " << parser_.error();
      }
      return !frames_.empty();
    };
    readUntil(parse, timeout_ms);
    if (frames_.empty()) return std::nullopt;
    got = frames_.front();
    frames_.erase(frames_.begin());
    return got;
  }

  // True once the server has closed the TCP connection.
  bool waitEof(int timeout_ms) {
    readUntil([&] { return eof_; }, timeout_ms);
    return eof_;
  }

  static std::string frame(uint8_t first, std::string_view payload, bool masked = true) {
    std::string f;
    net::appendClientFrame(f, WsOpcode::kText, payload, 0x37fa213d);
    f[0] = static_cast<char>(first);
    if (!masked) {
      // Unmask and drop the key: the same frame as a server would send it.
      std::string plain;
      net::appendFrame(plain, WsOpcode::kText, payload);
      plain[0] = static_cast<char>(first);
      return plain;
    }
    return f;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
  net::WsParser parser_;
  std::vector<Frame> frames_;
};

int closeCodeOf(const Frame& f) {
  if (f.payload.size() < 2) return 1005;
  return (static_cast<uint8_t>(f.payload[0]) << 8) | static_cast<uint8_t>(f.payload[1]);
}

constexpr char kConnect[] = R"({"id":1,"method":"connect","params":{}})";

TEST(WebSocketWire, HandshakeAnswersWithTheRfcAcceptHash) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Wire w(server->port());
  ASSERT_TRUE(w.connected());
  const std::string head = w.handshake(Wire::upgradeRequest(kRfcKey));
  EXPECT_TRUE(head.starts_with("HTTP/1.1 101 ")) << head;
  EXPECT_NE(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos) << head;
  // And the connection speaks WebSocket afterwards.
  w.write(Wire::frame(0x81, kConnect));
  auto reply = w.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->op, WsOpcode::kText);
  EXPECT_NE(reply->payload.find("\"result\""), std::string::npos) << reply->payload;
}

TEST(WebSocketWire, BadHandshakesAreRefusedWithTheRfcsStatus) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  {
    Wire w(server->port());
    const std::string head = w.handshake(Wire::upgradeRequest(kRfcKey, "8"));
    EXPECT_TRUE(head.starts_with("HTTP/1.1 426 ")) << head;
    EXPECT_NE(head.find("Sec-WebSocket-Version: 13"), std::string::npos) << head;
  }
  {
    Wire w(server->port());
    const std::string head = w.handshake(Wire::upgradeRequest("short"));
    EXPECT_TRUE(head.starts_with("HTTP/1.1 400 ")) << head;
  }
}

TEST(WebSocketWire, PingsAreAnsweredAndFragmentsAroundThemJoined) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Wire w(server->port());
  ASSERT_TRUE(w.upgrade());
  // The connect command in three fragments, a ping between the first two.
  const std::string cmd = kConnect;
  w.write(Wire::frame(0x01, cmd.substr(0, 10)) + Wire::frame(0x89, "are you there") + Wire::frame(0x00, cmd.substr(10, 10)) +
          Wire::frame(0x80, cmd.substr(20)));
  auto pong = w.next();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->op, WsOpcode::kPong);
  EXPECT_EQ(pong->payload, "are you there");
  auto reply = w.next();
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->payload.find("\"result\""), std::string::npos) << reply->payload;
}

TEST(WebSocketWire, ACloseFromThePeerIsEchoedAndTheConnectionEnds) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Wire w(server->port());
  ASSERT_TRUE(w.upgrade());
  w.write(Wire::frame(0x88, net::closePayload(1000, "bye")));
  auto close = w.next();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->op, WsOpcode::kClose);
  EXPECT_EQ(closeCodeOf(*close), 1000);
  EXPECT_TRUE(w.waitEof(3000));
}

TEST(WebSocketWire, ProtocolViolationsCloseWithTheRfcsCodeAndCount) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  struct Case {
    const char* what;
    std::string bytes;
    int code;
  } cases[] = {
      {"unmasked frame", Wire::frame(0x81, kConnect, /*masked=*/false), 1002},
      {"reserved opcode", Wire::frame(0x83, "x"), 1002},
      {"reserved bit", Wire::frame(0xC1, "x"), 1002},
      {"fragmented ping", Wire::frame(0x09, "x"), 1002},
      {"continuation first", Wire::frame(0x80, "x"), 1002},
      {"text that is not UTF-8", Wire::frame(0x81, "caf\xC3"), 1007},
      {"frame above max_frame_bytes", Wire::frame(0x82, std::string(5000, 'x')), 1009},
  };
  double errors_before = metricValue(server->port(), "tutti_ws_protocol_errors_total").value_or(-1);
  ASSERT_GE(errors_before, 0);
  for (const auto& c : cases) {
    Wire w(server->port());
    ASSERT_TRUE(w.upgrade()) << c.what;
    w.write(c.bytes);
    auto close = w.next();
    ASSERT_TRUE(close) << c.what;
    EXPECT_EQ(close->op, WsOpcode::kClose) << c.what;
    EXPECT_EQ(closeCodeOf(*close), c.code) << c.what;
    EXPECT_TRUE(w.waitEof(3000)) << c.what;
  }
  EXPECT_EQ(metricValue(server->port(), "tutti_ws_protocol_errors_total").value_or(-1), errors_before + 6);
  EXPECT_GE(metricValue(server->port(), "tutti_frames_too_large_total").value_or(-1), 1);
  // The server keeps serving.
  Wire ok(server->port());
  ASSERT_TRUE(ok.upgrade());
  ok.write(Wire::frame(0x81, kConnect));
  auto reply = ok.next();
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->payload.find("\"result\""), std::string::npos);
}

TEST(WebSocketWire, APeerThatNeverAnswersIsCutAfterTheIdleTimeout) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Wire w(server->port());
  ASSERT_TRUE(w.upgrade());
  w.write(Wire::frame(0x81, kConnect));
  ASSERT_TRUE(w.next());
  // From here on the peer sends nothing, not even the pongs the server's
  // probes ask for: cut once 1 s passes without a byte from it.
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(w.waitEof(10000));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 900);
}

}  // namespace
}  // namespace tutti::test
