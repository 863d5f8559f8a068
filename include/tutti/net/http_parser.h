#pragma once
// HTTP/1.1 requests off the wire (RFC 9112), for the server's sessions: no
// I/O here, so the rules are unit-tested and fuzzed on their own.
//
// parse() looks at everything received so far (the request at the front of
// `in`) and says whether a whole request is there, how many bytes it took,
// or what is wrong with it as the status to answer. It keeps no state
// between calls except where to resume the search for the head's end, so a
// session calls it again with more bytes after each read, and clear()s it
// (keeping capacity) before the next request on the connection.
//
// Accepted: origin-form and absolute-form targets (and "*" for OPTIONS),
// HTTP/1.0 and 1.1, a body by Content-Length or chunked transfer coding
// (chunk extensions and trailer fields read and dropped), a bare LF as a
// line end. Refused, as smuggling and abuse guards: both Content-Length
// and Transfer-Encoding, differing Content-Lengths, a transfer coding other
// than chunked (501), whitespace before a field's colon, obsolete line
// folding, control characters, a head over max_head_bytes (431), a body
// over max_body_bytes (413), an HTTP version other than 1.x (505).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tutti/net/transport.h"

namespace tutti::net {

class HttpRequestParser {
 public:
  struct Limits {
    size_t max_head_bytes = 16 * 1024;
    size_t max_body_bytes = 1024 * 1024;
  };
  enum class Status { kIncomplete, kComplete, kError };

  explicit HttpRequestParser(Limits limits) : limits_(limits) {}

  // kComplete: request() holds the request (path, query, lower-cased
  // header names, the body), consumed() the bytes it took from `in`.
  // kError: errorStatus() and error() say what to answer; the connection
  // is closed after that answer (the stream's framing is lost).
  Status parse(std::string_view in);

  HttpRequest& request() { return req_; }
  size_t consumed() const { return consumed_; }
  unsigned version() const { return version_; }  // 10 or 11
  bool keepAlive() const { return keep_alive_; }
  // The client waits for "100 Continue" before it sends the body.
  bool expectsContinue() const { return expect_continue_; }
  // Connection: upgrade and Upgrade: websocket.
  bool websocketUpgrade() const { return upgrade_; }
  // The head is complete (known once parse() has seen its end).
  bool headComplete() const { return head_end_ != 0; }
  int errorStatus() const { return error_status_; }
  const std::string& error() const { return error_; }

  // Ready for the next request; keeps the strings' capacity.
  void clear();

 private:
  Status fail(int status, std::string why);
  Status parseHead(std::string_view head);
  Status parseChunked(std::string_view in);

  Limits limits_;
  HttpRequest req_;
  size_t scan_from_ = 0;   // where the search for the head's end resumes
  size_t head_end_ = 0;    // bytes of the head, its blank line included; 0 until found
  size_t consumed_ = 0;
  uint64_t content_length_ = 0;
  bool chunked_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool upgrade_ = false;
  int error_status_ = 0;
  std::string error_;
};

// The reason phrase of a status code ("OK", "Not Found"; "" when unknown).
std::string_view httpReason(int status);

}  // namespace tutti::net
