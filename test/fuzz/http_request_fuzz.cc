// libFuzzer target: arbitrary bytes as what a client sent on an HTTP/1.1
// connection. Untrusted input must never crash, throw or overflow; every
// verdict must be one of the statuses the session answers, every request
// within its limits, and the verdict must not depend on how the bytes were
// split across reads.
//
// Input layout: the whole input is the connection's bytes. Byte 0 also
// picks where the first read ends (the session parses that prefix, then the
// whole buffer once the rest has arrived). Pipelined requests are taken one
// after another while each completes, as the session does.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tutti/net/http_parser.h"

namespace {

using tutti::net::HttpRequestParser;
using Status = HttpRequestParser::Status;

constexpr HttpRequestParser::Limits kLimits{.max_head_bytes = 2048, .max_body_bytes = 4096};

bool allowedError(int status) {
  return status == 400 || status == 413 || status == 431 || status == 501 || status == 505;
}

void checkInvariants(HttpRequestParser& p, Status st, std::string_view in) {
  if (st == Status::kComplete) {
    if (p.consumed() == 0 || p.consumed() > in.size()) __builtin_trap();
    if (!p.headComplete() || p.errorStatus() != 0) __builtin_trap();
    const auto& r = p.request();
    if (r.body.size() > kLimits.max_body_bytes) __builtin_trap();
    if (r.path.empty() || (r.path[0] != '/' && r.path != "*")) __builtin_trap();
    if (r.method.empty() || r.target.empty()) __builtin_trap();
    if (p.version() != 10 && p.version() != 11) __builtin_trap();
    for (const auto& [name, value] : r.headers) {
      if (name.empty()) __builtin_trap();
      for (char c : name)
        if (c >= 'A' && c <= 'Z') __builtin_trap();  // lower-cased
    }
  } else if (st == Status::kError) {
    if (!allowedError(p.errorStatus()) || p.error().empty() || p.keepAlive()) __builtin_trap();
  } else if (p.errorStatus() != 0) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const uint8_t pick = size > 0 ? data[0] : 0;

  HttpRequestParser whole(kLimits);  // each request given all at once
  HttpRequestParser split(kLimits);  // a prefix first, then all of it
  for (;;) {
    const Status st = whole.parse(rest);
    checkInvariants(whole, st, rest);

    const size_t cut = rest.size() * pick / 255;
    Status st2 = split.parse(rest.substr(0, cut));
    checkInvariants(split, st2, rest.substr(0, cut));
    if (st2 == Status::kIncomplete) {
      st2 = split.parse(rest);
      checkInvariants(split, st2, rest);
    }
    if (st2 != st) __builtin_trap();
    if (st == Status::kError && split.errorStatus() != whole.errorStatus()) __builtin_trap();
    if (st == Status::kComplete &&
        (split.consumed() != whole.consumed() || split.request().body != whole.request().body ||
         split.request().path != whole.request().path || split.request().headers != whole.request().headers ||
         split.keepAlive() != whole.keepAlive() || split.websocketUpgrade() != whole.websocketUpgrade())) {
      __builtin_trap();
    }
    // Deterministic and idempotent: parsing the same bytes again says the same.
    if (whole.parse(rest) != st) __builtin_trap();

    if (st != Status::kComplete || whole.consumed() == 0) break;
    rest.remove_prefix(whole.consumed());
    whole.clear();
    split.clear();
  }
  return 0;
}
