// The server's HTTP/1.1 sessions on the wire (RFC 9112), byte by byte from
// a plain TCP socket: pipelining, "100 Continue", chunked request bodies,
// HEAD, the refusals of unreadable requests (each answered, counted, then
// the connection closed), HTTP/1.0 keep-alive, requests that arrive in
// pieces, and a WebSocket upgrade whose first frame rides in the same write.
//
// Every socket has 5 s receive and send timeouts and every read loop a
// deadline, so a server that stays silent fails a test instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "tutti/net/ws_frame.h"

namespace tutti::test {
namespace {

using net::WsOpcode;

constexpr char kConfig[] = R"(
[server]
workers = 2
api_key = "k"
)";

constexpr char kBadRequests[] = "tutti_http_bad_requests_total";
constexpr int kTimeoutMs = 5000;

// A counter not incremented yet is not listed: 0.
double badRequests(uint16_t port) { return metricValue(port, kBadRequests).value_or(0); }

// One answer as it came off the wire.
struct Answer {
  std::string status_line;  // "HTTP/1.1 200 OK"
  int status = 0;
  std::string head;         // status line to blank line, both included
  Headers headers;          // names lower-cased, in order
  std::string body;
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
  bool has(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return true;
    return false;
  }
};

std::string lowered(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A blocking loopback TCP client that writes whatever bytes it is told to
// and reads answers off the front of what it has received.
class Conn {
 public:
  explicit Conn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{kTimeoutMs / 1000, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool connected() const { return connected_; }
  bool eof() const { return eof_; }
  bool reset() const { return reset_; }
  // Received and not yet taken by readAnswer/readHead.
  std::string& buffered() { return in_; }

  // All of `bytes`, or false.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until `pred()` holds, the peer closes, or kTimeoutMs passes.
  template <class Pred>
  bool readUntil(Pred&& pred, int timeout_ms = kTimeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (eof_ || std::chrono::steady_clock::now() >= deadline) return pred();
      readSome();
    }
    return true;
  }

  // True when the server closes the connection (a read returns 0) within
  // kTimeoutMs; bytes that arrive before that are kept in buffered().
  bool readsEof() {
    readUntil([&] { return eof_; });
    return eof_ && !reset_;
  }

  // True when nothing arrives (no byte, no close) for `ms`.
  bool silentFor(int ms) {
    if (!in_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, ms) == 0;
  }

  // The head at the front of the buffer (status line and fields), taken off it.
  std::optional<Answer> readHead() {
    readUntil([&] { return in_.find("\r\n\r\n") != std::string::npos; });
    const size_t end = in_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    Answer a;
    a.head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    size_t at = a.head.find("\r\n");
    a.status_line = a.head.substr(0, at);
    if (a.status_line.size() >= 12) a.status = std::atoi(a.status_line.substr(9, 3).c_str());
    at += 2;
    while (at < end) {
      const size_t eol = a.head.find("\r\n", at);
      const std::string line = a.head.substr(at, eol - at);
      at = eol + 2;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      a.headers.emplace_back(lowered(line.substr(0, colon)), line.substr(v));
    }
    return a;
  }

  // One whole answer from the front of the buffer: its head, then as many
  // body bytes as its Content-Length says (none for a HEAD's answer, a 1xx,
  // a 204 or a 304; up to the close when it has no length).
  std::optional<Answer> readAnswer(bool head_only = false) {
    auto a = readHead();
    if (!a) return a;
    if (head_only || a->status < 200 || a->status == 204 || a->status == 304) return a;
    if (a->has("transfer-encoding")) {
      ADD_FAILURE() << "a chunked answer, which these tests do not expect:\n" << a->head;
      return std::nullopt;
    }
    if (!a->has("content-length")) {
      readUntil([&] { return eof_; });
      a->body = std::move(in_);
      in_.clear();
      return a;
    }
    const size_t n = std::strtoull(a->header("content-length").c_str(), nullptr, 10);
    readUntil([&] { return in_.size() >= n; });
    if (in_.size() < n) return std::nullopt;
    a->body = in_.substr(0, n);
    in_.erase(0, n);
    return a;
  }

 private:
  void readSome() {
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      eof_ = true;
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      reset_ = errno == ECONNRESET;
      eof_ = true;  // nothing more will come
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  bool reset_ = false;
  std::string in_;
};

std::string get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(extra) + "\r\n";
}

// A publication to /api/publish: its head, to which the caller adds the framing fields.
std::string publishHead(std::string_view framing) {
  return "POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: k\r\nContent-Type: application/json\r\n" +
         std::string(framing) + "\r\n";
}

// The room's history as the API returns it (for checking what a publication carried).
std::string historyOf(uint16_t port, std::string_view room) {
  HttpResponse h = httpGet(port, "/api/history?room=" + std::string(room), {{"X-API-Key", "k"}});
  EXPECT_EQ(h.status, 200) << h.body;
  return h.body;
}

TEST(HttpWire, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/healthz") + get("/healthz") + get("/healthz")));
  for (int i = 0; i < 3; ++i) {
    auto a = c.readAnswer();
    ASSERT_TRUE(a) << "answer " << i << " incomplete; received: " << c.buffered();
    EXPECT_EQ(a->status_line, "HTTP/1.1 200 OK") << a->head;
    EXPECT_EQ(a->header("content-length"), "3") << a->head;
    EXPECT_EQ(a->body, "ok\n");
    EXPECT_FALSE(a->has("connection")) << "a kept-alive HTTP/1.1 answer says nothing of the connection:\n" << a->head;
  }
  // Exactly three answers, and the connection stays open for a fourth.
  EXPECT_TRUE(c.silentFor(200)) << "more than three answers: " << c.buffered();
  ASSERT_TRUE(c.send(get("/healthz")));
  auto fourth = c.readAnswer();
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->status, 200);
}

TEST(HttpWire, PipelinedAnswersKeepTheRequestsOrder) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  // Three different answers, so an answer out of order shows.
  ASSERT_TRUE(c.send(get("/healthz") + get("/no/such/page") + get("/readyz")));
  auto a1 = c.readAnswer();
  auto a2 = c.readAnswer();
  auto a3 = c.readAnswer();
  ASSERT_TRUE(a1 && a2 && a3) << c.buffered();
  EXPECT_EQ(a1->status, 200);
  EXPECT_EQ(a1->body, "ok\n");
  EXPECT_EQ(a2->status, 404);
  EXPECT_NE(a2->body.find("\"error\""), std::string::npos) << a2->body;
  EXPECT_EQ(a3->status, 200);
  EXPECT_EQ(a3->body, "ready\n");
}

TEST(HttpWire, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  const std::string body = R"({"room":"wire","data":{"via":"continue"}})";
  ASSERT_TRUE(c.send(publishHead("Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n")));
  auto interim = c.readHead();
  ASSERT_TRUE(interim) << "no 100 Continue; received: " << c.buffered();
  EXPECT_EQ(interim->head, "HTTP/1.1 100 Continue\r\n\r\n");
  // The final answer waits for the body.
  EXPECT_TRUE(c.silentFor(300)) << "answered before the body: " << c.buffered();
  ASSERT_TRUE(c.send(body));
  auto a = c.readAnswer();
  ASSERT_TRUE(a) << c.buffered();
  EXPECT_EQ(a->status, 200) << a->head << a->body;
  EXPECT_NE(a->body.find("\"offset\":1"), std::string::npos) << a->body;
  EXPECT_NE(historyOf(server->port(), "wire").find(R"({"via":"continue"})"), std::string::npos);
  // The next request on the connection is read as one, not as a body.
  ASSERT_TRUE(c.send(get("/healthz")));
  auto next = c.readAnswer();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "ok\n");
}

TEST(HttpWire, ChunkedRequestBodiesAreAcceptedLikeContentLengthOnes) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  // The reference: the same publication framed by Content-Length.
  const std::string plain = R"({"room":"wire","data":{"n":1}})";
  ASSERT_TRUE(c.send(publishHead("Content-Length: " + std::to_string(plain.size()) + "\r\n") + plain));
  auto first = c.readAnswer();
  ASSERT_TRUE(first) << c.buffered();
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_NE(first->body.find("\"offset\":1"), std::string::npos) << first->body;

  // Three chunks (one with an extension), a trailer field, each in its own write.
  ASSERT_TRUE(c.send(publishHead("Transfer-Encoding: chunked\r\n")));
  for (std::string_view piece : {std::string_view("c\r\n{\"room\":\"wir\r\n"),
                                 std::string_view("11;name=value\r\ne\",\"data\":{\"n\":2}\r\n"),
                                 std::string_view("1\r\n}\r\n0\r\nX-Trailer: dropped\r\n\r\n")}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(c.send(piece));
  }
  auto second = c.readAnswer();
  ASSERT_TRUE(second) << c.buffered();
  EXPECT_EQ(second->status, 200) << second->body;
  EXPECT_NE(second->body.find("\"offset\":2"), std::string::npos) << second->body;
  EXPECT_NE(historyOf(server->port(), "wire").find(R"({"n":2})"), std::string::npos);

  // And with Expect: 100-continue, chunked.
  ASSERT_TRUE(c.send(publishHead("Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n")));
  auto interim = c.readHead();
  ASSERT_TRUE(interim) << c.buffered();
  EXPECT_EQ(interim->head, "HTTP/1.1 100 Continue\r\n\r\n");
  const std::string third = R"({"room":"wire","data":{"n":3}})";
  ASSERT_TRUE(c.send("10\r\n" + third.substr(0, 16) + "\r\n" + "e\r\n" + third.substr(16) + "\r\n0\r\n\r\n"));
  auto a3 = c.readAnswer();
  ASSERT_TRUE(a3) << c.buffered();
  EXPECT_EQ(a3->status, 200) << a3->body;
  EXPECT_NE(a3->body.find("\"offset\":3"), std::string::npos) << a3->body;
}

TEST(HttpWire, HeadAnswersWithTheLengthOfTheBodyButNoBody) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto head = c.readAnswer(/*head_only=*/true);
  ASSERT_TRUE(head) << c.buffered();
  EXPECT_EQ(head->status_line, "HTTP/1.1 200 OK") << head->head;
  EXPECT_GT(std::atoi(head->header("content-length").c_str()), 0) << head->head;
  EXPECT_EQ(head->header("content-type"), "text/plain");
  // No body follows; the next bytes on the connection are the GET's answer.
  EXPECT_TRUE(c.silentFor(200)) << "bytes after a HEAD's answer: " << c.buffered();
  ASSERT_TRUE(c.send(get("/healthz")));
  auto a = c.readAnswer();
  ASSERT_TRUE(a) << c.buffered();
  EXPECT_EQ(a->status_line, "HTTP/1.1 200 OK") << a->head;
  EXPECT_EQ(a->header("content-length"), head->header("content-length"));
  EXPECT_EQ(a->body, "ok\n");
  EXPECT_TRUE(c.buffered().empty()) << c.buffered();
}

TEST(HttpWire, HeadAndGetPipelinedGetTheirOwnAnswers) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get("/readyz")));
  auto head = c.readAnswer(/*head_only=*/true);
  ASSERT_TRUE(head) << c.buffered();
  EXPECT_EQ(head->status, 200);
  // Had the HEAD's answer carried "ok\n", it would sit in front of this one.
  auto a = c.readAnswer();
  ASSERT_TRUE(a) << c.buffered();
  EXPECT_EQ(a->status_line, "HTTP/1.1 200 OK") << a->head;
  EXPECT_EQ(a->body, "ready\n");
}

TEST(HttpWire, AGarbageRequestIsAnsweredWith400ThenTheConnectionCloses) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  const double before = badRequests(server->port());
  {
    Conn c(server->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("THIS IS NOT HTTP AT ALL\r\n\r\n"));
    auto a = c.readAnswer();
    ASSERT_TRUE(a) << c.buffered();
    EXPECT_EQ(a->status_line, "HTTP/1.1 400 Bad Request") << a->head;
    EXPECT_EQ(a->header("content-type"), "application/json");
    EXPECT_EQ(a->header("connection"), "close");
    EXPECT_TRUE(a->body.starts_with(R"({"error":{"code":1000,"message":")")) << a->body;
    EXPECT_TRUE(a->body.ends_with("\"}}")) << a->body;
    EXPECT_TRUE(c.readsEof()) << "connection not closed (reset: " << c.reset() << "); after the answer: " << c.buffered();
    EXPECT_TRUE(c.buffered().empty()) << c.buffered();
  }
  EXPECT_EQ(badRequests(server->port()), before + 1);
  // The server serves the next connection.
  Conn fresh(server->port());
  ASSERT_TRUE(fresh.connected());
  ASSERT_TRUE(fresh.send(get("/healthz")));
  auto a = fresh.readAnswer();
  ASSERT_TRUE(a) << fresh.buffered();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "ok\n");
}

// What the server answers to one unreadable request: the answer, whether
// the connection then closed, and the answer's body.
struct Refusal {
  int status = 0;
  bool closed = false;
  std::string body;
  std::string head;
};
Refusal refusalOf(uint16_t port, std::string_view request) {
  Refusal r;
  Conn c(port);
  if (!c.connected() || !c.send(request)) return r;
  auto a = c.readAnswer();
  if (!a) {
    r.head = "no answer; received: " + c.buffered();
    return r;
  }
  r.status = a->status;
  r.head = a->head;
  r.body = a->body;
  // A reset counts as closed here: the server may close with bytes of the
  // refused request still unread (a head over the limit), and the kernel
  // then resets instead of finishing.
  r.closed = c.readsEof() || c.reset();
  return r;
}

TEST(HttpWire, UnreadableRequestsAreRefusedWithTheirStatusAndCounted) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  const double before = badRequests(port);

  struct Case {
    const char* what;
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"a head over 16 KiB", get("/healthz", "X-Huge: " + std::string(20000, 'a') + "\r\n"), 431},
      {"a transfer coding other than chunked", publishHead("Transfer-Encoding: gzip\r\n"), 501},
      {"HTTP/2.0", "GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505},
      {"both Content-Length and Transfer-Encoding",
       publishHead("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n", 400},
      {"a body over max_frame_bytes", publishHead("Content-Length: 1000000\r\n"), 413},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    const Refusal r = refusalOf(port, k.request);
    EXPECT_EQ(r.status, k.status) << r.head << r.body;
    EXPECT_NE(r.head.find("Content-Type: application/json\r\n"), std::string::npos) << r.head;
    EXPECT_TRUE(r.body.starts_with(R"({"error":)")) << r.body;
    EXPECT_TRUE(r.closed) << "connection not closed after the refusal";
  }
  EXPECT_EQ(badRequests(port), before + static_cast<double>(cases.size()));
}

TEST(HttpWire, Http10ClosesUnlessAskedToKeepAlive) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  {
    Conn c(server->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /healthz HTTP/1.0\r\n\r\n"));
    auto a = c.readAnswer();
    ASSERT_TRUE(a) << c.buffered();
    EXPECT_EQ(a->status_line, "HTTP/1.0 200 OK") << a->head;
    EXPECT_EQ(a->body, "ok\n");
    EXPECT_NE(lowered(a->header("connection")), "keep-alive") << a->head;
    EXPECT_TRUE(c.readsEof()) << "HTTP/1.0 without keep-alive left open; received: " << c.buffered();
  }
  {
    Conn c(server->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto a = c.readAnswer();
    ASSERT_TRUE(a) << c.buffered();
    EXPECT_EQ(a->status_line, "HTTP/1.0 200 OK") << a->head;
    EXPECT_EQ(lowered(a->header("connection")), "keep-alive") << a->head;
    EXPECT_EQ(a->body, "ok\n");
    ASSERT_TRUE(c.send("GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto b = c.readAnswer();
    ASSERT_TRUE(b) << "second request on a kept-alive HTTP/1.0 connection unanswered; received: " << c.buffered();
    EXPECT_EQ(b->status, 200);
    EXPECT_EQ(b->body, "ready\n");
    // A third without keep-alive ends it.
    ASSERT_TRUE(c.send("GET /healthz HTTP/1.0\r\n\r\n"));
    auto d = c.readAnswer();
    ASSERT_TRUE(d) << c.buffered();
    EXPECT_EQ(d->status, 200);
    EXPECT_TRUE(c.readsEof());
  }
}

TEST(HttpWire, Http11ClosesAfterAnAnswerWhenAskedTo) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/healthz", "Connection: close\r\n")));
  auto a = c.readAnswer();
  ASSERT_TRUE(a) << c.buffered();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->header("connection"), "close") << a->head;
  EXPECT_TRUE(c.readsEof());
}

TEST(HttpWire, ARequestInManySmallWritesIsAnsweredNormally) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  const std::string body = R"({"room":"wire","data":"bits"})";
  const std::string request = publishHead("Content-Length: " + std::to_string(body.size()) + "\r\n") + body;
  // 3 bytes a write, 2 ms apart: about 70 writes in well under a second.
  const auto start = std::chrono::steady_clock::now();
  for (size_t at = 0; at < request.size(); at += 3) {
    ASSERT_TRUE(c.send(std::string_view(request).substr(at, 3)));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  auto a = c.readAnswer();
  ASSERT_TRUE(a) << c.buffered();
  EXPECT_EQ(a->status, 200) << a->body;
  EXPECT_NE(a->body.find("\"offset\":1"), std::string::npos) << a->body;
  EXPECT_NE(historyOf(server->port(), "wire").find("\"bits\""), std::string::npos);
}

TEST(HttpWire, AWebSocketUpgradeKeepsTheFramesSentBehindIt) {
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);
  Conn c(server->port());
  ASSERT_TRUE(c.connected());
  // The upgrade, a connect command and a ping in one write.
  std::string bytes =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  net::appendClientFrame(bytes, WsOpcode::kText, R"({"id":1,"method":"connect","params":{}})", 0x37fa213d);
  net::appendClientFrame(bytes, WsOpcode::kPing, "wire", 0x01020304);
  ASSERT_TRUE(c.send(bytes));
  auto head = c.readHead();
  ASSERT_TRUE(head) << c.buffered();
  EXPECT_EQ(head->status_line, "HTTP/1.1 101 Switching Protocols") << head->head;
  EXPECT_EQ(head->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") << head->head;
  EXPECT_EQ(lowered(head->header("upgrade")), "websocket") << head->head;

  // Both frames are answered: the connect's result and the ping's pong.
  net::WsParser parser;
  std::optional<std::string> result, pong;
  std::string parse_error;
  c.readUntil([&] {
    if (!c.buffered().empty()) {
      std::string chunk;
      chunk.swap(c.buffered());
      if (!parser.feed(chunk.data(), chunk.size(), [&](WsOpcode op, std::string_view p) {
            if (op == WsOpcode::kText && !result) result = std::string(p);
            if (op == WsOpcode::kPong) pong = std::string(p);
          }))
        parse_error = parser.error();
    }
    return (result && pong) || !parse_error.empty();
  });
  EXPECT_EQ(parse_error, "");
  ASSERT_TRUE(result) << "no answer to the connect sent behind the upgrade";
  EXPECT_NE(result->find("\"id\":1"), std::string::npos) << *result;
  EXPECT_NE(result->find("\"result\""), std::string::npos) << *result;
  ASSERT_TRUE(pong) << "no pong to the ping sent behind the upgrade";
  EXPECT_EQ(*pong, "wire");
}

}  // namespace
}  // namespace tutti::test
