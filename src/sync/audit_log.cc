#include "tutti/sync/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

namespace tutti::sync {
namespace {

const std::string kZeroHash(64, '0');
constexpr std::string_view kHashKey = ",\"hash\":\"";

std::string sha256Hex(std::string_view a, std::string_view b) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, "\n", 1);
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::string sealAuditLine(uint64_t seq, const std::string& prev_hash, std::string_view payload_fields) {
  std::string body = "{\"seq\":" + std::to_string(seq) + ",\"prev\":\"" + prev_hash + "\"";
  if (!payload_fields.empty()) {
    body += ',';
    body.append(payload_fields);
  }
  body += '}';
  const std::string h = sha256Hex(prev_hash, body);
  body.pop_back();
  body.append(kHashKey);
  body += h;
  body += "\"}";
  return body;
}

AuditVerdict verifyAuditText(std::string_view text) {
  AuditVerdict v;
  std::string prev = kZeroHash;
  uint64_t expect_seq = 1;
  size_t pos = 0;
  uint64_t line_no = 0;
  auto fail = [&](std::string reason) {
    v.ok = false;
    v.broken_line = line_no;
    v.reason = std::move(reason);
    return v;
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return (++line_no, fail("last line is not terminated (torn write?)"));
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const size_t hk = line.rfind(kHashKey);
    if (hk == std::string_view::npos || line.size() < hk + kHashKey.size() + 66 || line.substr(line.size() - 2) != "\"}")
      return fail("no hash member at the end of the line");
    const std::string_view stored = line.substr(hk + kHashKey.size(), line.size() - 2 - hk - kHashKey.size());
    std::string body(line.substr(0, hk));
    body += '}';
    boost::system::error_code ec;
    auto parsed = boost::json::parse(body, ec);
    if (ec || !parsed.is_object()) return fail("line is not a JSON object");
    auto& o = parsed.get_object();
    auto* seq = o.if_contains("seq");
    auto* p = o.if_contains("prev");
    if (!seq || !(seq->is_uint64() || seq->is_int64()) || !p || !p->is_string()) return fail("seq or prev missing");
    const uint64_t s = seq->is_uint64() ? seq->get_uint64() : static_cast<uint64_t>(seq->get_int64());
    if (s != expect_seq) return fail("seq " + std::to_string(s) + " where " + std::to_string(expect_seq) + " was expected");
    if (p->get_string() != prev) return fail("prev does not match the hash of the line before");
    const std::string h = sha256Hex(prev, body);
    if (h != stored) return fail("hash does not match the line's content");
    prev = h;
    ++expect_seq;
  }
  v.ok = true;
  v.lines = line_no;
  v.last_hash = prev;
  return v;
}

AuditVerdict verifyAuditFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    AuditVerdict v;
    v.reason = "cannot read " + path;
    return v;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return verifyAuditText(ss.str());
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path) {
  auto v = verifyAuditFile(path);
  std::unique_ptr<AuditLog> log(new AuditLog());
  if (v.ok) {
    log->seq_ = v.lines;
    log->prev_ = v.last_hash;
  } else if (v.reason.rfind("cannot read", 0) == 0) {
    log->seq_ = 0;
    log->prev_ = kZeroHash;
  } else {
    return makeError(1002, "audit log " + path + " is broken at line " + std::to_string(v.broken_line) + ": " + v.reason);
  }
  log->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log->fd_ < 0) return makeError(1002, "cannot open audit log " + path);
  // One writer per file: two processes appending would interleave two chains.
  if (::flock(log->fd_, LOCK_EX | LOCK_NB) != 0)
    return makeError(1002, "audit log " + path + " is in use by another process");
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::string> AuditLog::append(std::string_view payload_fields) {
  std::lock_guard lock(mu_);
  std::string line = sealAuditLine(seq_ + 1, prev_, payload_fields);
  const std::string hash = line.substr(line.size() - 66, 64);
  line += '\n';
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0) return makeError(100, "audit log write failed");
    off += static_cast<size_t>(n);
  }
  ++seq_;
  prev_ = hash;
  return hash;
}

uint64_t AuditLog::lastSeq() const {
  std::lock_guard lock(mu_);
  return seq_;
}

std::string AuditLog::lastHash() const {
  std::lock_guard lock(mu_);
  return prev_;
}

}  // namespace tutti::sync
