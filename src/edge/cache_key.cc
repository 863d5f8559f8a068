#include "tutti/edge/cache_key.h"

#include <optional>

#include "tutti/edge/codes.h"

namespace tutti::edge {

namespace {

std::string_view fileName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// A decimal that fits 64 bits; leading zeros allowed (the origin allows them),
// and dropped by the caller's std::to_string.
std::optional<uint64_t> decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// One of _HLS_msn / _HLS_part: a repeat with the same value merges.
Result<void> setOnce(std::optional<uint64_t>& slot, std::string_view name, std::string_view value) {
  const auto v = decimal(value);
  if (!v) return makeError(code::kBadRequest, std::string(name) + " is not a decimal integer");
  if (slot && *slot != *v) return makeError(code::kBadRequest, std::string(name) + " given twice with two values");
  slot = v;
  return {};
}

bool pathOk(std::string_view path) {
  if (!path.starts_with('/')) return false;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

}  // namespace

ObjectKind classifyPath(std::string_view path) {
  const std::string_view file = fileName(path);
  if (file.ends_with(".m3u8")) return ObjectKind::kPlaylist;
  if (file.starts_with("part-") && file.ends_with(".m4s")) return ObjectKind::kPart;
  if (file.starts_with("seg-") && file.ends_with(".m4s")) return ObjectKind::kSegment;
  if (file.starts_with("init") && file.ends_with(".mp4")) return ObjectKind::kInit;
  return ObjectKind::kOther;
}

Result<CacheKey> cacheKey(std::string_view path, std::string_view query) {
  if (!pathOk(path)) {
    return makeError(code::kBadRequest, "path must start with '/' and hold no space, control, '?' or '#'");
  }
  CacheKey out;
  out.kind = classifyPath(path);
  out.key = std::string(path);
  if (out.kind != ObjectKind::kPlaylist) return out;

  if (query.starts_with('?')) query.remove_prefix(1);
  std::optional<uint64_t> msn, part;
  std::string_view skip;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (name == "_HLS_msn") {
      if (auto r = setOnce(msn, name, value); !r) return r.error();
    } else if (name == "_HLS_part") {
      if (auto r = setOnce(part, name, value); !r) return r.error();
    } else if (name == "_HLS_skip" && (value == "YES" || value == "v2")) {
      skip = value;
    }
  }
  if (part && !msn) return makeError(code::kBadRequest, "_HLS_part without _HLS_msn");

  char sep = '?';
  auto append = [&](std::string_view name, std::string_view value) {
    out.key += sep;
    out.key += name;
    out.key += '=';
    out.key += value;
    sep = '&';
  };
  if (msn) append("_HLS_msn", std::to_string(*msn));
  if (part) append("_HLS_part", std::to_string(*part));
  if (!skip.empty()) append("_HLS_skip", skip);
  out.blocking = msn.has_value();
  return out;
}

}  // namespace tutti::edge
