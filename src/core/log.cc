#include "tutti/core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace tutti::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

const char* name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    default: return "off";
  }
}

// Quotes a value when it holds spaces, quotes or '=' (logfmt).
void appendValue(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\\') { quote = true; break; }
  if (!quote) { out.append(v); return; }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') { out += '\\'; out += c; }
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  out += '"';
}
}  // namespace

void setLevel(Level l) { g_level.store(static_cast<int>(l)); }
Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool parseLevel(std::string_view t, Level& out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff})
    if (t == name(l)) { out = l; return true; }
  return false;
}

void write(Level l, std::string_view msg, std::initializer_list<Field> fields) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[48];
  const size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts + n, sizeof ts - n, ".%06lldZ", static_cast<long long>(us % 1'000'000));

  std::string line;
  line.reserve(128);
  line += "ts=";
  line += ts;
  line += " level=";
  line += name(l);
  line += " msg=";
  appendValue(line, msg);
  for (const auto& [k, v] : fields) {
    line += ' ';
    line.append(k);
    line += '=';
    appendValue(line, v);
  }
  line += '\n';
  [[maybe_unused]] auto r = ::write(2, line.data(), line.size());
}

}  // namespace tutti::log
