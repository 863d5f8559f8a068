#pragma once
// Test data shared by the micro benchmarks: a publication's `data` as a
// client would send it (a small JSON object), padded to an exact size.

#include <cstddef>
#include <string>

namespace tutti::bench {

// A compact JSON object of exactly `bytes` bytes (at least 32):
// {"kind":"chat","seq":42,"text":"xxxx…"}. Plain ASCII with nothing to
// escape, as most chat and game payloads are.
inline std::string jsonData(size_t bytes) {
  std::string s = R"({"kind":"chat","seq":42,"text":")";
  const size_t fixed = s.size() + 2;  // the closing "}
  s.append(bytes > fixed ? bytes - fixed : 0, 'x');
  s += "\"}";
  return s;
}

// Room and epoch as the broker makes them: a typical name, 16 hex digits.
inline constexpr const char* kRoom = "game:table-42";
inline constexpr const char* kEpoch = "9f86d081884c7d65";

}  // namespace tutti::bench
