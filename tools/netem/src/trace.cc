#include "tutti/netem/trace.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "tutti/protocol/codes.h"

namespace tutti::netem {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

Error traceError(size_t line, const std::string& what) {
  return makeError(code::kInvalidParams, "trace line " + std::to_string(line) + ": " + what);
}

}  // namespace

Result<Trace> Trace::parse(std::string_view text) {
  std::vector<int64_t> ms;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty()) continue;
    int64_t t = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), t);
    if (ec != std::errc{} || end != line.data() + line.size() || t < 0) {
      return traceError(line_no, "expected a millisecond timestamp (a non-negative integer), got \"" +
                                     std::string(line.substr(0, 40)) + "\"");
    }
    if (!ms.empty() && t < ms.back()) {
      return traceError(line_no, "timestamp " + std::to_string(t) + " is before the previous one (" +
                                     std::to_string(ms.back()) + ")");
    }
    ms.push_back(t);
  }
  if (ms.empty()) return makeError(code::kInvalidParams, "trace is empty: it needs at least one timestamp");
  // A period of 0 would repeat the trace forever within one millisecond.
  if (ms.back() == 0) return makeError(code::kInvalidParams, "trace must last longer than 0 ms");
  return Trace(std::move(ms));
}

Result<Trace> Trace::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(code::kInvalidParams, "cannot read trace file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return makeError(code::kInvalidParams, "cannot read trace file " + path);
  auto t = parse(buf.str());
  if (!t) return makeError(t.error().code, path + ": " + t.error().message);
  return t;
}

double Trace::averageRateBps() const {
  return static_cast<double>(opportunities_ms_.size()) * kPacketBytes * 8 * 1000 /
         static_cast<double>(periodMs());
}

}  // namespace tutti::netem
