#include "tutti/loadgen/protocol.h"

#include <charconv>

namespace tutti::loadgen {

std::optional<Protocol> parseProtocol(std::string_view name) {
  if (name == "tutti") return Protocol::kTutti;
  if (name == "nats") return Protocol::kNats;
  if (name == "plain") return Protocol::kPlain;
  return std::nullopt;
}

const char* protocolName(Protocol p) {
  switch (p) {
    case Protocol::kTutti:
      return "tutti";
    case Protocol::kNats:
      return "nats";
    case Protocol::kPlain:
      return "plain";
  }
  return "?";
}

void appendBody(std::string& out, const Body& b, size_t size) {
  const size_t start = out.size();
  char tmp[64];
  auto put = [&](uint64_t v) {
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    out.append(tmp, r.ptr);
    out.push_back(':');
  };
  put(b.room);
  put(b.seq);
  put(static_cast<uint64_t>(b.send_ns));
  if (out.size() - start < size) out.append(size - (out.size() - start), 'x');
}

std::optional<Body> parseBody(std::string_view s) {
  // Three decimal numbers, each ended by ':' (the generator's hottest path:
  // a plain digit loop, no locale, no overflow games past 19 digits).
  const char* p = s.data();
  const char* end = p + s.size();
  uint64_t v[3];
  for (auto& x : v) {
    const char* start = p;
    uint64_t n = 0;
    while (p < end && static_cast<unsigned>(*p - '0') < 10) n = n * 10 + static_cast<uint64_t>(*p++ - '0');
    if (p == start || p - start > 19 || p == end || *p != ':') return std::nullopt;
    x = n;
    ++p;
  }
  Body b;
  b.room = static_cast<uint32_t>(v[0]);
  b.seq = v[1];
  b.send_ns = static_cast<int64_t>(v[2]);
  return b;
}

std::string roomName(Protocol p, uint32_t room) {
  return (p == Protocol::kNats ? "bench." : "bench:") + std::to_string(room);
}

std::string targetFor(Protocol p, uint32_t room) {
  switch (p) {
    case Protocol::kTutti:
      return "/ws";
    case Protocol::kNats:
      return "/";
    case Protocol::kPlain:
      return "/?room=" + std::to_string(room);
  }
  return "/";
}

std::string openPayload(Protocol p, uint32_t room, bool subscribe) {
  switch (p) {
    case Protocol::kTutti: {
      std::string s = "{\"id\":1,\"method\":\"connect\",\"params\":{\"name\":\"tutti-bench\"}}";
      if (subscribe) s += "\n{\"id\":2,\"method\":\"subscribe\",\"params\":{\"room\":\"" + roomName(p, room) + "\"}}";
      return s;
    }
    case Protocol::kNats: {
      std::string s = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"echo\":false,\"name\":\"tutti-bench\"}\r\n";
      if (subscribe) s += "SUB " + roomName(p, room) + " 1\r\n";
      s += "PING\r\n";
      return s;
    }
    case Protocol::kPlain:
      return {};
  }
  return {};
}

bool batchesPublishes(Protocol p) { return p != Protocol::kPlain; }

void appendPublish(Protocol p, std::string& batch, uint32_t room, std::string_view body) {
  switch (p) {
    case Protocol::kTutti:
      if (!batch.empty()) batch.push_back('\n');
      batch += "{\"method\":\"publish\",\"params\":{\"room\":\"bench:";
      batch += std::to_string(room);
      batch += "\",\"data\":\"";
      batch += body;
      batch += "\"}}";
      return;
    case Protocol::kNats:
      batch += "PUB bench.";
      batch += std::to_string(room);
      batch += ' ';
      batch += std::to_string(body.size());
      batch += "\r\n";
      batch += body;
      batch += "\r\n";
      return;
    case Protocol::kPlain:
      batch += body;
      return;
  }
}

void Reader::noteError(std::string_view line) {
  ++errors_;
  last_error_.assign(line.substr(0, 200));
}

}  // namespace tutti::loadgen
