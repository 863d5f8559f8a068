#include "tutti/net/ws_frame.h"

#include <openssl/evp.h>

#include "tutti/core/base64.h"

#include <array>

namespace tutti::net {

size_t encodeFrameHeader(char* out, WsOpcode op, uint64_t n) {
  out[0] = static_cast<char>(0x80 | static_cast<uint8_t>(op));
  if (n < 126) {
    out[1] = static_cast<char>(n);
    return 2;
  }
  if (n <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(n >> 8);
    out[3] = static_cast<char>(n & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((n >> (8 * (7 - i))) & 0xFF);
  return 10;
}

void appendFrame(std::string& out, WsOpcode op, std::string_view payload) {
  char h[10];
  out.append(h, encodeFrameHeader(h, op, payload.size()));
  out.append(payload);
}

void unmask(char* p, size_t n, uint32_t key) {
  // Eight bytes at a time: the key repeated twice, in memory order.
  uint64_t k8 = (static_cast<uint64_t>(key) << 32) | key;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k8;
    std::memcpy(p + i, &v, 8);
  }
  unsigned char kb[4];
  std::memcpy(kb, &key, 4);
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ kb[i & 3]);
}

void appendClientFrame(std::string& out, WsOpcode op, std::string_view payload, uint32_t mask_key) {
  char h[10];
  const size_t hl = encodeFrameHeader(h, op, payload.size());
  h[1] = static_cast<char>(h[1] | 0x80);
  out.append(h, hl);
  out.append(reinterpret_cast<const char*>(&mask_key), 4);
  const size_t start = out.size();
  out.append(payload);
  unmask(out.data() + start, payload.size(), mask_key);  // masking is the same XOR
}

std::string closePayload(int code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>((code >> 8) & 0xFF));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason.substr(0, 123));
  return p;
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

std::string websocketAccept(std::string_view key) {
  static constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string in(key);
  in += kGuid;
  constexpr size_t kSha1Bytes = 20;
  unsigned char d[kSha1Bytes];
  EVP_Digest(in.data(), in.size(), d, nullptr, EVP_sha1(), nullptr);
  return base64(std::string_view(reinterpret_cast<const char*>(d), kSha1Bytes));
}

bool validUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII runs, eight bytes at a time.
    if (i + 8 <= n) {
      uint64_t v;
      std::memcpy(&v, p + i, 8);
      if ((v & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte first, an overlong lead (C0, C1) or above F4
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

int WsParser::header(const unsigned char* p, size_t n, WsOpcode& op, bool& fin, uint64_t& len, uint32_t& mask) {
  if (n < 2) return 0;
  fin = (p[0] & 0x80) != 0;
  if ((p[0] & 0x70) != 0) return reject("reserved bits set (no extension was negotiated)", 1002);
  const uint8_t code = p[0] & 0x0F;
  if ((code > 2 && code < 8) || code > 10) return reject("reserved opcode " + std::to_string(code), 1002);
  op = static_cast<WsOpcode>(code);
  const bool masked = (p[1] & 0x80) != 0;
  if (role_ == Role::kClient && masked) return reject("masked frame from the server", 1002);
  if (role_ == Role::kServer && !masked) return reject("unmasked frame from a client", 1002);
  const uint8_t l7 = p[1] & 0x7F;
  size_t h = 2;
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
    if (len >> 63) return reject("frame length with the top bit set", 1002);
    h = 10;
  }
  if (code >= 8 && (len > 125 || !fin)) return reject("control frame too long or fragmented", 1002);
  if (len > max_message_) return reject("frame above the size limit", 1009);
  if (masked) {
    if (n < h + 4) return 0;
    std::memcpy(&mask, p + h, 4);
    h += 4;
  }
  return static_cast<int>(h);
}

}  // namespace tutti::net
