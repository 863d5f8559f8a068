#include "tutti/net/http_parser.h"

#include <algorithm>
#include <array>

namespace tutti::net {
namespace {

constexpr size_t kMaxFields = 100;
constexpr size_t kMaxChunkLine = 1024;  // a chunk-size line with its extensions

// RFC 9110 5.6.2: tchar.
constexpr std::array<bool, 256> tokenChars() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kToken = tokenChars();

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!kToken[static_cast<unsigned char>(c)]) return false;
  return true;
}

// Field values: visible characters, obs-text, spaces and tabs; no other controls.
bool isFieldValue(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// A request target: visible ASCII and obs-text, nothing else.
bool isTarget(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return !s.empty();
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Calls f on each comma-separated element of a field value, trimmed, skipping empty ones.
template <class F>
void eachListItem(std::string_view v, F&& f) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const auto item = trimOws(v.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// One line of `s` from `at`: its content without the line end (CRLF or a
// bare LF), and where the next line starts; false when no line end yet.
bool nextLine(std::string_view s, size_t at, std::string_view& line, size_t& next) {
  const size_t nl = s.find('\n', at);
  if (nl == std::string_view::npos) return false;
  line = s.substr(at, nl - at);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  next = nl + 1;
  return true;
}

}  // namespace

void HttpRequestParser::clear() {
  req_.method.clear();
  req_.target.clear();
  req_.path.clear();
  req_.query.clear();
  req_.headers.clear();
  req_.body.clear();
  scan_from_ = 0;
  head_end_ = 0;
  consumed_ = 0;
  content_length_ = 0;
  chunked_ = false;
  version_ = 11;
  keep_alive_ = true;
  expect_continue_ = false;
  upgrade_ = false;
  error_status_ = 0;
  error_.clear();
}

HttpRequestParser::Status HttpRequestParser::fail(int status, std::string why) {
  error_status_ = status;
  error_ = std::move(why);
  keep_alive_ = false;
  return Status::kError;
}

HttpRequestParser::Status HttpRequestParser::parse(std::string_view in) {
  if (error_status_) return Status::kError;
  if (head_end_ == 0) {
    // The head ends at the first empty line after the request line (empty
    // lines before it are skipped, RFC 9112 2.2).
    size_t at = scan_from_;
    std::string_view line;
    size_t next = 0;
    bool found = false;
    size_t start = 0;  // where the request line begins
    // Leading empty lines are only at the very front: rescan them cheaply.
    while (nextLine(in, start, line, next) && line.empty()) start = next;
    at = std::max(at, start);
    while (nextLine(in, at, line, next)) {
      if (line.empty() && at > start) {
        found = true;
        head_end_ = next;
        break;
      }
      at = next;
    }
    if (!found) {
      scan_from_ = at;
      if (in.size() > limits_.max_head_bytes) return fail(431, "request head too large");
      return Status::kIncomplete;
    }
    if (head_end_ > limits_.max_head_bytes) return fail(431, "request head too large");
    if (auto s = parseHead(in.substr(start, head_end_ - start)); s == Status::kError) return s;
  }
  const std::string_view body = in.substr(head_end_);
  if (chunked_) return parseChunked(body);
  if (body.size() < content_length_) return Status::kIncomplete;
  req_.body.assign(body.data(), static_cast<size_t>(content_length_));
  consumed_ = head_end_ + static_cast<size_t>(content_length_);
  return Status::kComplete;
}

HttpRequestParser::Status HttpRequestParser::parseHead(std::string_view head) {
  std::string_view line;
  size_t next = 0;
  nextLine(head, 0, line, next);
  // request-line = method SP request-target SP HTTP-version
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  const auto method = line.substr(0, sp1);
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = line.substr(sp2 + 1);
  if (!isToken(method)) return fail(400, "malformed method");
  if (!isTarget(target)) return fail(400, "malformed request target");
  if (version == "HTTP/1.1") version_ = 11;
  else if (version == "HTTP/1.0") version_ = 10;
  // A later 1.x minor is answered as the highest we implement (RFC 9110 6.2).
  else if (version.size() == 8 && version.substr(0, 7) == "HTTP/1." && version[7] >= '0' && version[7] <= '9')
    version_ = 11;
  else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.' &&
           version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9')
    return fail(505, "HTTP version not supported");
  else
    return fail(400, "malformed HTTP version");
  req_.method.assign(method);
  req_.target.assign(target);
  // origin-form, absolute-form (its path), asterisk-form for OPTIONS.
  std::string_view path_query = target;
  if (target.front() != '/') {
    if (target == "*" && method == "OPTIONS") {
      path_query = "*";
    } else {
      const size_t scheme = target.find("://");
      if (scheme == std::string_view::npos || !(iequals(target.substr(0, scheme), "http") || iequals(target.substr(0, scheme), "https")))
        return fail(400, "request target must be a path");
      const size_t slash = target.find_first_of("/?", scheme + 3);
      path_query = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  const size_t q = path_query.find('?');
  if (q != std::string_view::npos && path_query.front() == '?') {
    req_.path = "/";
    req_.query.assign(path_query.substr(1));
  } else {
    req_.path.assign(path_query.substr(0, q));
    if (q != std::string_view::npos) req_.query.assign(path_query.substr(q + 1));
  }

  bool have_length = false, have_host = false, conn_upgrade = false, upgrade_ws = false, keep = false, close = false;
  size_t at = next;
  while (nextLine(head, at, line, next) && !line.empty()) {
    at = next;
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete line folding");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail(400, "header field without a colon");
    const auto name = line.substr(0, colon);
    if (!isToken(name)) return fail(400, "malformed header field name");
    const auto value = trimOws(line.substr(colon + 1));
    if (!isFieldValue(value)) return fail(400, "control character in a header field");
    if (req_.headers.size() >= kMaxFields) return fail(431, "too many header fields");
    std::string lname(name);
    for (auto& c : lname) c = lower(c);
    if (lname == "content-length") {
      if (value.empty() || value.size() > 18) return fail(400, "bad Content-Length");
      uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return fail(400, "bad Content-Length");
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (have_length && n != content_length_) return fail(400, "conflicting Content-Length");
      have_length = true;
      content_length_ = n;
    } else if (lname == "transfer-encoding") {
      bool ok = true;
      eachListItem(value, [&](std::string_view item) {
        if (chunked_ || !iequals(item, "chunked")) ok = false;  // chunked, once, and nothing else
        chunked_ = true;
      });
      if (!ok) return fail(501, "only the chunked transfer coding is supported");
      // Present but empty: chunked is not the final coding (RFC 9112 6.3), and
      // letting it pass would let a Content-Length beside it frame the body.
      if (!chunked_) return fail(400, "empty Transfer-Encoding");
    } else if (lname == "connection") {
      eachListItem(value, [&](std::string_view item) {
        if (iequals(item, "close")) close = true;
        else if (iequals(item, "keep-alive")) keep = true;
        else if (iequals(item, "upgrade")) conn_upgrade = true;
      });
    } else if (lname == "upgrade") {
      eachListItem(value, [&](std::string_view item) {
        if (iequals(item, "websocket")) upgrade_ws = true;
      });
    } else if (lname == "expect") {
      if (iequals(value, "100-continue")) expect_continue_ = true;
    } else if (lname == "host") {
      if (have_host) return fail(400, "more than one Host");
      have_host = true;
    }
    req_.headers.emplace_back(std::move(lname), std::string(value));
  }
  if (chunked_ && version_ == 10) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (chunked_ && have_length) return fail(400, "both Content-Length and Transfer-Encoding");
  if (version_ == 11 && !have_host) return fail(400, "an HTTP/1.1 request needs Host");
  if (content_length_ > limits_.max_body_bytes) return fail(413, "body too large");
  keep_alive_ = close ? false : (version_ == 11 || keep);
  upgrade_ = conn_upgrade && upgrade_ws;
  return Status::kIncomplete;
}

HttpRequestParser::Status HttpRequestParser::parseChunked(std::string_view in) {
  // Parsed from the body's start on every call, so the encoded body is
  // bounded (by what it has used: `in` may hold pipelined requests after it).
  req_.body.clear();
  size_t at = 0;
  std::string_view line;
  size_t next = 0;
  for (;;) {
    if (at > 2 * limits_.max_body_bytes + 64 * 1024) return fail(413, "body too large");
    if (!nextLine(in, at, line, next)) {
      if (in.size() - at > kMaxChunkLine) return fail(400, "chunk size line too long");
      return Status::kIncomplete;
    }
    if (next - at > kMaxChunkLine) return fail(400, "chunk size line too long");
    const auto size_text = trimOws(line.substr(0, line.find(';')));
    if (size_text.empty() || size_text.size() > 15) return fail(400, "bad chunk size");
    uint64_t size = 0;
    for (char c : size_text) {
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return fail(400, "bad chunk size");
      size = size * 16 + static_cast<uint64_t>(d);
    }
    if (!isFieldValue(line)) return fail(400, "control character in a chunk extension");
    at = next;
    if (size == 0) {
      // Trailer fields (dropped), then the empty line; all of it within
      // max_head_bytes, whether or not its end has arrived.
      const size_t trailer_start = at;
      for (;;) {
        if (!nextLine(in, at, line, next)) {
          if (in.size() - trailer_start > limits_.max_head_bytes) return fail(431, "trailer too large");
          return Status::kIncomplete;
        }
        if (next - trailer_start > limits_.max_head_bytes) return fail(431, "trailer too large");
        at = next;
        if (line.empty()) break;
        if (line.find(':') == std::string_view::npos || !isFieldValue(line)) return fail(400, "malformed trailer field");
      }
      consumed_ = head_end_ + at;
      return Status::kComplete;
    }
    if (req_.body.size() + size > limits_.max_body_bytes) return fail(413, "body too large");
    if (in.size() - at < size) return Status::kIncomplete;
    req_.body.append(in.data() + at, static_cast<size_t>(size));
    at += static_cast<size_t>(size);
    if (!nextLine(in, at, line, next)) {
      if (in.size() - at >= 2) return fail(400, "chunk data not followed by CRLF");
      return Status::kIncomplete;
    }
    if (!line.empty()) return fail(400, "chunk data not followed by CRLF");
    at = next;
  }
}

std::string_view httpReason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

}  // namespace tutti::net
