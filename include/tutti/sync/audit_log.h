#pragma once
// The fair-window audit log: JSON lines, each sealed with a SHA-256 chain so
// that changing, inserting or deleting a line is detected at that line.
//
// Line format (one JSON object per line, no newline inside):
//   {"seq":N,"prev":"<hash of line N-1, or 64 zeros>",<payload fields>,"hash":"<H>"}
// where H = hex(SHA-256(prev + "\n" + body)) and body is the line's text with
// the trailing ,"hash":"..." member removed (the closing brace kept).
// Only truncation of the last lines cannot be seen from the file alone; keep
// the last hash elsewhere (the server logs it) to detect that too.
//
// Thread-safe: appends from several home workers are serialised by a mutex
// (decisions are rare next to messages; this is not the fan-out path).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "tutti/core/result.h"

namespace tutti::sync {

class AuditLog {
 public:
  // Opens (or creates) the file and continues its chain; refuses a file whose
  // chain is already broken.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path);
  ~AuditLog();

  // payload_fields: JSON object members without braces, e.g. "\"event\":\"x\",\"n\":1".
  // Returns the new line's hash.
  Result<std::string> append(std::string_view payload_fields);

  uint64_t lastSeq() const;
  std::string lastHash() const;

 private:
  AuditLog() = default;
  mutable std::mutex mu_;
  int fd_ = -1;
  uint64_t seq_ = 0;
  std::string prev_;
};

struct AuditVerdict {
  bool ok = false;
  uint64_t lines = 0;        // lines checked
  uint64_t broken_line = 0;  // 1-based, when !ok
  std::string reason;
  std::string last_hash;
};

// Checks a whole file's chain. Never throws; any byte content is accepted as input.
AuditVerdict verifyAuditFile(const std::string& path);
AuditVerdict verifyAuditText(std::string_view text);

// Builds one sealed line (without newline) from the previous hash and payload.
std::string sealAuditLine(uint64_t seq, const std::string& prev_hash, std::string_view payload_fields);

}  // namespace tutti::sync
