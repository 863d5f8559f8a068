#include "tutti/net/http_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tutti::net {
namespace {

using Status = HttpRequestParser::Status;
using Limits = HttpRequestParser::Limits;
using Headers = std::vector<std::pair<std::string, std::string>>;

// The status a fresh parser answers for `text` given all at once (kError expected).
int errorOf(std::string_view text, Limits limits = {}) {
  HttpRequestParser p(limits);
  const Status st = p.parse(text);
  EXPECT_EQ(st, Status::kError) << "for: " << text;
  EXPECT_FALSE(p.keepAlive());
  EXPECT_FALSE(p.error().empty());
  return st == Status::kError ? p.errorStatus() : 0;
}

// Fed as a session would: a prefix, then the whole buffer; every split
// point before the end must say kIncomplete and the whole the same as a
// fresh parse of it. Returns the body a fresh parse reads.
std::string expectSameAtEverySplit(std::string_view text, Limits limits = {}) {
  HttpRequestParser whole(limits);
  EXPECT_EQ(whole.parse(text), Status::kComplete);
  for (size_t k = 0; k < text.size(); ++k) {
    HttpRequestParser p(limits);
    EXPECT_EQ(p.parse(text.substr(0, k)), Status::kIncomplete) << "split at " << k;
    EXPECT_EQ(p.parse(text), Status::kComplete) << "split at " << k;
    EXPECT_EQ(p.consumed(), whole.consumed()) << "split at " << k;
    EXPECT_EQ(p.request().body, whole.request().body) << "split at " << k;
    EXPECT_EQ(p.request().path, whole.request().path) << "split at " << k;
  }
  return whole.request().body;
}

TEST(HttpRequestParser, ReadsASimpleGetWithPathQueryAndLowerCasedTrimmedHeaders) {
  const std::string text =
      "GET /hls/room/index.m3u8?_HLS_msn=7&_HLS_part=2 HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "X-Custom-Thing:   spaced value \t\r\n"
      "ACCEPT:*/*\r\n"
      "\r\n";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(text), Status::kComplete);
  const HttpRequest& r = p.request();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/hls/room/index.m3u8?_HLS_msn=7&_HLS_part=2");
  EXPECT_EQ(r.path, "/hls/room/index.m3u8");
  EXPECT_EQ(r.query, "_HLS_msn=7&_HLS_part=2");
  EXPECT_EQ(r.headers, (Headers{{"host", "example.com"}, {"x-custom-thing", "spaced value"}, {"accept", "*/*"}}));
  EXPECT_EQ(r.header("Host"), "example.com");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(p.consumed(), text.size());
  EXPECT_EQ(p.version(), 11u);
  EXPECT_TRUE(p.keepAlive());
  EXPECT_TRUE(p.headComplete());
  EXPECT_FALSE(p.expectsContinue());
  EXPECT_FALSE(p.websocketUpgrade());
  EXPECT_EQ(p.errorStatus(), 0);
}

TEST(HttpRequestParser, ReadsAQueryAloneAndAnEmptyQuery) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().path, "/a");
  EXPECT_EQ(p.request().query, "");
  p.clear();
  ASSERT_EQ(p.parse("GET /?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().path, "/");
  EXPECT_EQ(p.request().query, "x=1");
}

TEST(HttpRequestParser, IsIncompleteUntilTheLastByteArrivesOneByteAtATime) {
  const std::string text =
      "POST /api/publish?room=r1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
  HttpRequestParser p({});
  for (size_t n = 0; n < text.size(); ++n) {
    ASSERT_EQ(p.parse(std::string_view(text).substr(0, n)), Status::kIncomplete) << "after " << n << " bytes";
    EXPECT_EQ(p.headComplete(), n >= text.size() - 11) << "after " << n << " bytes";
  }
  ASSERT_EQ(p.parse(text), Status::kComplete);
  HttpRequestParser fresh({});
  ASSERT_EQ(fresh.parse(text), Status::kComplete);
  EXPECT_EQ(p.consumed(), text.size());
  EXPECT_EQ(p.consumed(), fresh.consumed());
  EXPECT_EQ(p.request().method, "POST");
  EXPECT_EQ(p.request().path, "/api/publish");
  EXPECT_EQ(p.request().query, "room=r1");
  EXPECT_EQ(p.request().body, "hello world");
  EXPECT_EQ(p.request().headers, fresh.request().headers);
  EXPECT_EQ(p.request().headers.size(), 3u);
}

TEST(HttpRequestParser, TakesPipelinedRequestsOneAtATime) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /b?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third_part = "GET /c HTTP/1.1\r\nHo";
  const std::string buf = first + second + third_part;
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(buf), Status::kComplete);
  EXPECT_EQ(p.request().path, "/a");
  EXPECT_EQ(p.consumed(), first.size());

  p.clear();
  std::string_view rest = std::string_view(buf).substr(first.size());
  ASSERT_EQ(p.parse(rest), Status::kComplete);
  EXPECT_EQ(p.request().method, "POST");
  EXPECT_EQ(p.request().path, "/b");
  EXPECT_EQ(p.request().query, "q");
  EXPECT_EQ(p.request().body, "abc");
  EXPECT_EQ(p.request().headers, (Headers{{"host", "h"}, {"content-length", "3"}}));
  EXPECT_EQ(p.consumed(), second.size());

  p.clear();
  rest.remove_prefix(second.size());
  EXPECT_EQ(p.parse(rest), Status::kIncomplete);
  EXPECT_FALSE(p.headComplete());
  EXPECT_TRUE(p.request().headers.empty());
}

TEST(HttpRequestParser, ClearForgetsTheLastRequestEntirely) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET /x HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
                    "Expect: 100-continue\r\n\r\n"),
            Status::kComplete);
  EXPECT_TRUE(p.websocketUpgrade());
  EXPECT_TRUE(p.expectsContinue());
  p.clear();
  ASSERT_EQ(p.parse("GET /y HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().path, "/y");
  EXPECT_EQ(p.request().headers, (Headers{{"host", "h"}}));
  EXPECT_EQ(p.version(), 11u);
  EXPECT_FALSE(p.websocketUpgrade());
  EXPECT_FALSE(p.expectsContinue());
  EXPECT_TRUE(p.keepAlive());
}

TEST(HttpRequestParser, SkipsEmptyLinesBeforeTheRequestLine) {
  const std::string text = "\r\n\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(text), Status::kComplete);
  EXPECT_EQ(p.request().method, "GET");
  EXPECT_EQ(p.request().path, "/after");
  EXPECT_EQ(p.consumed(), text.size());
  expectSameAtEverySplit(text);

  HttpRequestParser only_blank({});
  EXPECT_EQ(only_blank.parse("\r\n\r\n"), Status::kIncomplete);
  EXPECT_FALSE(only_blank.headComplete());
}

TEST(HttpRequestParser, AcceptsBareLineFeedsAsLineEnds) {
  const std::string text = "POST /lf HTTP/1.1\nHost: h\nX-A: 1 \nContent-Length: 2\n\nhiGET";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(text), Status::kComplete);
  EXPECT_EQ(p.request().path, "/lf");
  EXPECT_EQ(p.request().headers, (Headers{{"host", "h"}, {"x-a", "1"}, {"content-length", "2"}}));
  EXPECT_EQ(p.request().body, "hi");
  EXPECT_EQ(p.consumed(), text.size() - 3);
}

TEST(HttpRequestParser, TakesExactlyContentLengthBytesOfBody) {
  const std::string head = "PUT /seg/1.m4s HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  const std::string text = head + "helloGET / HTTP/1.1\r\n";
  HttpRequestParser p({});
  for (size_t n = head.size(); n < head.size() + 5; ++n)
    ASSERT_EQ(p.parse(std::string_view(text).substr(0, n)), Status::kIncomplete) << n;
  EXPECT_TRUE(p.headComplete());
  ASSERT_EQ(p.parse(text), Status::kComplete);
  EXPECT_EQ(p.request().body, "hello");
  EXPECT_EQ(p.consumed(), head.size() + 5);
}

TEST(HttpRequestParser, AcceptsRepeatedEqualContentLengthsAndZero) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 003\r\n\r\nabcd"),
            Status::kComplete);
  EXPECT_EQ(p.request().body, "abc");
  p.clear();
  const std::string zero = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(p.parse(zero), Status::kComplete);
  EXPECT_EQ(p.request().body, "");
  EXPECT_EQ(p.consumed(), zero.size());
}

TEST(HttpRequestParser, DecodesAChunkedBodyWithExtensionsAndTrailersSplitAnywhere) {
  const std::string request =
      "POST /upload HTTP/1.1\r\n"
      "Host: h\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "5;name=value\r\n"
      "hello\r\n"
      "1 ; ext=\"quoted\"\r\n"
      " \r\n"
      "A\r\n"
      "0123456789\r\n"
      "0;last\r\n"
      "X-Checksum: abc\r\n"
      "X-Other: 1\r\n"
      "\r\n";
  const std::string text = request + "GET / HTTP/1.1\r\n";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(text), Status::kComplete);
  EXPECT_EQ(p.request().body, "hello 0123456789");
  EXPECT_EQ(p.consumed(), request.size());
  EXPECT_EQ(p.request().headers, (Headers{{"host", "h"}, {"transfer-encoding", "chunked"}}));
  EXPECT_EQ(expectSameAtEverySplit(request), "hello 0123456789");
}

TEST(HttpRequestParser, AcceptsAChunkedBodyWithBareLineFeedsAndAnEmptyBody) {
  HttpRequestParser p({});
  const std::string lf = "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: Chunked\n\n2\nab\n0\n\n";
  ASSERT_EQ(p.parse(lf), Status::kComplete);
  EXPECT_EQ(p.request().body, "ab");
  EXPECT_EQ(p.consumed(), lf.size());
  p.clear();
  const std::string empty = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  ASSERT_EQ(p.parse(empty), Status::kComplete);
  EXPECT_EQ(p.request().body, "");
  EXPECT_EQ(p.consumed(), empty.size());
}

TEST(HttpRequestParser, EndsAChunkedRequestAtItsEndEvenWithMuchPipelinedAfterIt) {
  // Only what the chunked body used counts against its bound, not the
  // pipelined bytes a read brought in behind it.
  const Limits limits{.max_head_bytes = 1024, .max_body_bytes = 16};
  const std::string request = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  const std::string text = request + std::string(2 * 16 + 64 * 1024 + 100, 'x');
  HttpRequestParser p(limits);
  ASSERT_EQ(p.parse(text), Status::kComplete);
  EXPECT_EQ(p.request().body, "abc");
  EXPECT_EQ(p.consumed(), request.size());
}

TEST(HttpRequestParser, ClosesHttp10ByDefaultAndKeepsItAliveWhenAsked) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET /old HTTP/1.0\r\n\r\n"), Status::kComplete);  // no Host needed
  EXPECT_EQ(p.version(), 10u);
  EXPECT_FALSE(p.keepAlive());
  p.clear();
  ASSERT_EQ(p.parse("GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.version(), 10u);
  EXPECT_TRUE(p.keepAlive());
  p.clear();
  ASSERT_EQ(p.parse("GET /old HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), Status::kComplete);
  EXPECT_FALSE(p.keepAlive());
}

TEST(HttpRequestParser, KeepsHttp11AliveUnlessConnectionClose) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"), Status::kComplete);
  EXPECT_TRUE(p.keepAlive());
  p.clear();
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.version(), 11u);
  EXPECT_FALSE(p.keepAlive());
  p.clear();
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo,  close ,bar\r\n\r\n"), Status::kComplete);
  EXPECT_FALSE(p.keepAlive());
}

TEST(HttpRequestParser, ReadsALaterHttp1MinorVersionAsHttp11) {
  // RFC 9110 6.2: a higher minor version within a major version we implement
  // is processed as the highest minor we conform to.
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.version(), 11u);
  EXPECT_TRUE(p.keepAlive());
}

TEST(HttpRequestParser, SaysTheClientExpects100ContinueOnceTheHeadIsIn) {
  const std::string head = "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(head), Status::kIncomplete);
  EXPECT_TRUE(p.headComplete());
  EXPECT_TRUE(p.expectsContinue());
  ASSERT_EQ(p.parse(head + "data"), Status::kComplete);
  EXPECT_EQ(p.request().body, "data");
  EXPECT_TRUE(p.expectsContinue());

  HttpRequestParser other({});
  ASSERT_EQ(other.parse("POST /up HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\n\r\n"), Status::kComplete);
  EXPECT_FALSE(other.expectsContinue());
}

TEST(HttpRequestParser, DetectsAWebSocketUpgradeFromTheConnectionListCaseInsensitively) {
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x80";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(upgrade), Status::kComplete);
  EXPECT_TRUE(p.websocketUpgrade());
  EXPECT_EQ(p.request().path, "/ws");
  EXPECT_EQ(p.request().header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(p.consumed(), upgrade.size() - 2);  // the frame bytes after it are not the request's

  HttpRequestParser no_connection({});
  ASSERT_EQ(no_connection.parse("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"), Status::kComplete);
  EXPECT_FALSE(no_connection.websocketUpgrade());

  HttpRequestParser other_protocol({});
  ASSERT_EQ(other_protocol.parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
            Status::kComplete);
  EXPECT_FALSE(other_protocol.websocketUpgrade());

  HttpRequestParser not_a_list_item({});
  ASSERT_EQ(not_a_list_item.parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgraded\r\nUpgrade: websocket\r\n\r\n"),
            Status::kComplete);
  EXPECT_FALSE(not_a_list_item.websocketUpgrade());
}

TEST(HttpRequestParser, TakesThePathAndQueryOfAnAbsoluteFormTarget) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET http://example.com:8080/hls/a.m3u8?_HLS_msn=3 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            Status::kComplete);
  EXPECT_EQ(p.request().target, "http://example.com:8080/hls/a.m3u8?_HLS_msn=3");
  EXPECT_EQ(p.request().path, "/hls/a.m3u8");
  EXPECT_EQ(p.request().query, "_HLS_msn=3");
  p.clear();
  ASSERT_EQ(p.parse("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().path, "/");
  EXPECT_EQ(p.request().query, "");
  p.clear();
  ASSERT_EQ(p.parse("GET http://example.com?a=b HTTP/1.1\r\nHost: example.com\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().path, "/");
  EXPECT_EQ(p.request().query, "a=b");
}

TEST(HttpRequestParser, AcceptsAsteriskOnlyForOptions) {
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().method, "OPTIONS");
  EXPECT_EQ(p.request().target, "*");
  EXPECT_EQ(p.request().path, "*");
  EXPECT_EQ(p.request().query, "");
  EXPECT_EQ(errorOf("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesAMalformedRequestLineWith400) {
  EXPECT_EQ(errorOf("GET /\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / extra HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET relative/path HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET ftp://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("garbage\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesALowerCaseOrGarbageVersionWith400) {
  EXPECT_EQ(errorOf("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / FTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesAnotherMajorVersionWith505) {
  EXPECT_EQ(errorOf("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(errorOf("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(errorOf("GET / HTTP/3.0\r\n\r\n"), 505);
}

TEST(HttpRequestParser, RefusesAnHttp11RequestWithoutExactlyOneHost) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesWhitespaceBeforeAFieldColonWith400) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 0\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesObsoleteLineFoldingWith400) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n  two\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesControlCharactersInAFieldValueWith400) {
  EXPECT_EQ(errorOf(std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01" "b\r\n\r\n")), 400);
  EXPECT_EQ(errorOf(std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n")), 400);
  EXPECT_EQ(errorOf(std::string_view("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n", 37)), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n"), 400);
  // A tab and obs-text are allowed.
  HttpRequestParser p({});
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\xe9\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().header("x-a"), "a\tb\xe9");
}

TEST(HttpRequestParser, RefusesConflictingOrNonDigitContentLengthWith400) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3a\r\n\r\nabc"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesContentLengthWithTransferEncodingWith400) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "0\r\n\r\n"),
            400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                    "0\r\n\r\n"),
            400);
}

TEST(HttpRequestParser, RefusesAnEmptyTransferEncodingWith400) {
  // Present but naming no coding: it must not fall back to the Content-Length beside it.
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesATransferCodingOtherThanChunkedWith501) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501);
}

TEST(HttpRequestParser, RefusesTransferEncodingInAnHttp10RequestWith400) {
  EXPECT_EQ(errorOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesAHeadOverTheLimitWith431BeforeItsEndArrives) {
  const Limits limits{.max_head_bytes = 64, .max_body_bytes = 1024};
  const std::string text = "GET /" + std::string(100, 'a');  // no line end at all
  HttpRequestParser p(limits);
  EXPECT_EQ(p.parse(std::string_view(text).substr(0, 64)), Status::kIncomplete);
  EXPECT_EQ(p.parse(std::string_view(text).substr(0, 65)), Status::kError);
  EXPECT_EQ(p.errorStatus(), 431);
  // Sticky: more bytes do not revive it.
  EXPECT_EQ(p.parse(text + " HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kError);
  EXPECT_EQ(p.errorStatus(), 431);
}

TEST(HttpRequestParser, RefusesAHeadOverTheLimitWith431WhenItsEndIsThere) {
  const Limits limits{.max_head_bytes = 64, .max_body_bytes = 1024};
  const std::string fits = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(64 - 36, 'p') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 64u);
  HttpRequestParser p(limits);
  EXPECT_EQ(p.parse(fits), Status::kComplete);
  const std::string over = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(64 - 35, 'p') + "\r\n\r\n";
  EXPECT_EQ(errorOf(over, limits), 431);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(200, 'p') + "\r\n\r\n", limits), 431);
}

TEST(HttpRequestParser, RefusesMoreThan100FieldsWith431) {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 1; i < 100; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  HttpRequestParser p({});
  ASSERT_EQ(p.parse(head + "\r\n"), Status::kComplete);
  EXPECT_EQ(p.request().headers.size(), 100u);
  EXPECT_EQ(errorOf(head + "X-100: v\r\n\r\n"), 431);
}

TEST(HttpRequestParser, RefusesAContentLengthOverTheBodyLimitWith413AsSoonAsTheHeadIsIn) {
  const Limits limits{.max_head_bytes = 1024, .max_body_bytes = 10};
  HttpRequestParser p(limits);
  EXPECT_EQ(p.parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"), Status::kError);
  EXPECT_EQ(p.errorStatus(), 413);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999\r\n\r\n", limits), 413);
  HttpRequestParser at_limit(limits);
  EXPECT_EQ(at_limit.parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"), Status::kComplete);
  EXPECT_EQ(at_limit.request().body, "0123456789");
}

TEST(HttpRequestParser, RefusesAChunkedBodyOverTheLimitWith413) {
  const Limits limits{.max_head_bytes = 1024, .max_body_bytes = 10};
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  HttpRequestParser at_limit(limits);
  ASSERT_EQ(at_limit.parse(head + "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"), Status::kComplete);
  EXPECT_EQ(at_limit.request().body, "abcdefghij");
  // Refused as soon as the chunk size says so, before its data.
  EXPECT_EQ(errorOf(head + "6\r\nabcdef\r\n5\r\n", limits), 413);
  EXPECT_EQ(errorOf(head + "fffffff\r\n", limits), 413);
}

TEST(HttpRequestParser, RefusesChunkedEncodingOverheadBeyondItsBoundWith413) {
  // One-byte chunks with long extensions: the encoded body is bounded too.
  const Limits limits{.max_head_bytes = 1024, .max_body_bytes = 1000};
  std::string text = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 100; ++i) text += "1;" + std::string(1000, 'e') + "\r\nx\r\n";
  EXPECT_EQ(errorOf(text, limits), 413);
}

TEST(HttpRequestParser, RefusesABadChunkSizeWith400) {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(errorOf(head + "zz\r\n"), 400);
  EXPECT_EQ(errorOf(head + "\r\n"), 400);
  EXPECT_EQ(errorOf(head + ";ext\r\n"), 400);
  EXPECT_EQ(errorOf(head + "-1\r\n"), 400);
  EXPECT_EQ(errorOf(head + "0x5\r\nhello\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(head + "0000000000000005\r\nhello\r\n0\r\n\r\n"), 400);  // 16 digits
  EXPECT_EQ(errorOf(head + "5;a\x01" "b\r\nhello\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(head + std::string(1100, '0')), 400);  // a size line that never ends
}

TEST(HttpRequestParser, RefusesChunkDataNotFollowedByCrlfWith400) {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(errorOf(head + "3\r\nabcX\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(head + "3\r\nabc\r\r\n0\r\n\r\n"), 400);
  // Known as soon as two bytes after the data are not a line end.
  EXPECT_EQ(errorOf(head + "3\r\nabcXY"), 400);
  HttpRequestParser p({});
  EXPECT_EQ(p.parse(head + "3\r\nabc\r"), Status::kIncomplete);
}

TEST(HttpRequestParser, RefusesAMalformedTrailerFieldWith400) {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(errorOf(head + "0\r\nno colon\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(head + "0\r\nX-A: a\x01\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RefusesATrailerOverTheHeadLimitWith431WhereverItIsSplit) {
  const Limits limits{.max_head_bytes = 64, .max_body_bytes = 1024};
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  // Many short trailer lines, and one long one whose end has or has not arrived.
  std::string many = head + "0\r\n";
  for (int i = 0; i < 10; ++i) many += "X-T: 12345\r\n";
  EXPECT_EQ(errorOf(many + "\r\n", limits), 431);
  const std::string long_line = head + "0\r\nX-T: " + std::string(100, 'v');
  EXPECT_EQ(errorOf(long_line, limits), 431);
  EXPECT_EQ(errorOf(long_line + "\r\n\r\n", limits), 431);
  HttpRequestParser fits(limits);
  EXPECT_EQ(fits.parse(head + "0\r\nX-T: 1\r\n\r\n"), Status::kComplete);
}

TEST(HttpRequestParser, GivesTheReasonPhraseOfKnownStatuses) {
  EXPECT_EQ(httpReason(200), "OK");
  EXPECT_EQ(httpReason(404), "Not Found");
  EXPECT_EQ(httpReason(413), "Payload Too Large");
  EXPECT_EQ(httpReason(431), "Request Header Fields Too Large");
  EXPECT_EQ(httpReason(505), "HTTP Version Not Supported");
  EXPECT_EQ(httpReason(299), "");
  EXPECT_EQ(httpReason(0), "");
  EXPECT_EQ(httpReason(-1), "");
}

}  // namespace
}  // namespace tutti::net
