#pragma once
// Structured logs with levels, one line per event in logfmt:
//   ts=2026-11-28T05:53:09.123456Z level=info msg="listening" addr=127.0.0.1:8080
// Thread-safe: a line is formatted on the calling thread and written with one
// write(2), so lines from workers never interleave.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tutti::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void setLevel(Level level);
Level level();
// Parses "debug", "info", "warn", "error", "off"; returns false if unknown.
bool parseLevel(std::string_view text, Level& out);

using Field = std::pair<std::string_view, std::string>;
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline bool enabled(Level l) { return l >= level(); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::kDebug)) write(Level::kDebug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::kInfo)) write(Level::kInfo, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::kWarn)) write(Level::kWarn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { if (enabled(Level::kError)) write(Level::kError, m, f); }

}  // namespace tutti::log
