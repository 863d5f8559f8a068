#include "tutti/loadgen/ws_frame.h"

#include <cstring>

namespace tutti::loadgen {

void appendClientFrame(std::string& out, WsOpcode op, std::string_view payload, uint32_t mask_key) {
  const size_t n = payload.size();
  out.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(op)));
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xFF));
  }
  unsigned char key[4];
  std::memcpy(key, &mask_key, 4);
  out.append(reinterpret_cast<const char*>(key), 4);
  const size_t start = out.size();
  out.append(payload);
  char* p = out.data() + start;
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 3]);
}

std::string upgradeRequest(std::string_view host, std::string_view target) {
  std::string r;
  r.reserve(200);
  r += "GET ";
  r += target;
  r += " HTTP/1.1\r\nHost: ";
  r += host;
  // The key only has to be 16 bytes of base64; the generator does not check
  // the server's accept hash (it is measuring, not securing).
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n";
  return r;
}

int WsParser::header(const unsigned char* p, size_t n, WsOpcode& op, bool& fin, uint64_t& len) {
  if (n < 2) return 0;
  fin = (p[0] & 0x80) != 0;
  if ((p[0] & 0x70) != 0) {
    error_ = "reserved bits set (no extension was negotiated)";
    return -1;
  }
  const uint8_t code = p[0] & 0x0F;
  if ((code > 2 && code < 8) || code > 10) {
    error_ = "reserved opcode " + std::to_string(code);
    return -1;
  }
  op = static_cast<WsOpcode>(code);
  if ((p[1] & 0x80) != 0) {
    error_ = "masked frame from the server";
    return -1;
  }
  const uint8_t l7 = p[1] & 0x7F;
  int h = 2;
  if (l7 < 126) {
    len = l7;
  } else if (l7 == 126) {
    if (n < 4) return 0;
    len = (static_cast<uint64_t>(p[2]) << 8) | p[3];
    h = 4;
  } else {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    h = 10;
  }
  if (code >= 8 && (len > 125 || !fin)) {
    error_ = "control frame too long or fragmented";
    return -1;
  }
  if (len > max_message_) {
    error_ = "frame above the size limit";
    return -1;
  }
  return h;
}

}  // namespace tutti::loadgen
