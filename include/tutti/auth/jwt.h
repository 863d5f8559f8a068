#pragma once
// JSON Web Tokens (compact JWS, RFC 7515/7519) for the connect command:
// verification on the server, signing for tests, `tutti token` and the demo.
// docs/protocol.md "Tokens (JWT)" defines the claims; tutti/protocol/codes.h
// the refusal codes.
//
// The server trusts exactly one algorithm, fixed in config (never taken from
// the token), so a token cannot pick its own verification method.
//
// Order of checks in verify(), which decides the code of a token with several
// faults:
//   1. shape: length <= kMaxTokenBytes, three strict base64url parts,
//      header a JSON object with a string "alg"        -> kTokenMalformed
//   2. alg "none" in any case                           -> kTokenAlgNone
//   3. typ (if present) is "JWT", no "crit" extensions  -> kTokenMalformed
//   4. alg is the configured one                        -> kTokenAlgMismatch
//   5. signature                                        -> kTokenBadSignature
//   6. payload a JSON object, claims of the right types -> kTokenMalformed
//   7. sub (non-empty) and exp present                  -> kTokenMissingClaim
//   8. exp, then nbf, then iat against now and leeway   -> kTokenExpired /
//                                                          kTokenNotYetValid
// The payload JSON is parsed only once the signature holds (step 6 after 5):
// unauthenticated bytes reach the base64 decoder and the header parser only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::auth {

enum class Alg { kHS256, kRS256, kES256 };

// Exact, case-sensitive JOSE names ("HS256", "RS256", "ES256"), as RFC 7518.
std::optional<Alg> parseAlg(std::string_view name);
std::string_view algName(Alg alg);

// Tokens above this are refused as malformed before any decoding. A token
// carries room patterns, so it may be a few KiB; 16 KiB bounds the work an
// unauthenticated client can ask for.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

struct Claims {
  std::string sub;                     // user id; required, non-empty
  int64_t exp = 0;                     // expiry, seconds since the Unix epoch; required
  std::optional<int64_t> nbf, iat;     // seconds since the Unix epoch
  std::vector<std::string> subscribe;  // room patterns (see permissions.h); absent = none
  std::vector<std::string> publish;    // rooms to publish to and act in windows of
  std::vector<std::string> windows;    // rooms in which this user may open fair windows
  // The bearer is an edge (docs/edge.md): it may forward commands for its own
  // clients (`relay` in publish, window_open and action). Absent = false.
  bool edge = false;

  bool operator==(const Claims&) const = default;
};

struct VerifierConfig {
  Alg alg = Alg::kHS256;       // the only algorithm accepted
  std::string secret;          // HS256 shared secret (raw bytes); must not be empty
  std::string public_key_pem;  // RS256 (RSA >= 2048 bits) / ES256 (P-256) public key,
                               // PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY")
  int64_t leeway_s = 5;        // clock skew tolerated between issuer and server; >= 0
};

// Immutable after create(). verify() is const, keeps no state between calls
// and may be called concurrently from any number of threads (OpenSSL 3 key
// objects are safe to share read-only; each call uses its own contexts).
class JwtVerifier {
 public:
  // Error kInvalidParams on an empty secret, an unreadable PEM, a key of the
  // wrong type for `alg` (or too weak), or a negative leeway.
  static Result<std::shared_ptr<const JwtVerifier>> create(VerifierConfig cfg);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // now_s: the caller's wall clock, seconds since the Unix epoch. Never
  // throws for any input (bad_alloc aside), never aborts. On error the code is
  // one of the kToken* codes; the message is safe to send to the client.
  Result<Claims> verify(std::string_view token, int64_t now_s) const;

  Alg alg() const { return alg_; }
  int64_t leewayS() const { return leeway_s_; }

 private:
  struct Keys;  // OpenSSL objects, kept out of this header
  JwtVerifier(Alg alg, int64_t leeway_s, std::unique_ptr<const Keys> keys);

  const Alg alg_;
  const int64_t leeway_s_;
  const std::unique_ptr<const Keys> keys_;
};

// Metric label for an auth error code: 1101 "malformed", 1102 "alg_none",
// 1103 "alg_mismatch", 1104 "bad_signature", 1105 "expired",
// 1106 "not_yet_valid", 1107 "anonymous_refused", 1109 "missing_claim",
// anything else "other".
std::string_view failureReason(int code);

// Signs claims with header {"alg":...,"typ":"JWT"}. key: the secret for HS256,
// a private key PEM (PKCS#8 or traditional, unencrypted) for RS256/ES256.
// Error kInvalidParams on an unusable key.
Result<std::string> sign(const Claims& claims, Alg alg, std::string_view key);

// Signs arbitrary header and payload text, not checked for being JSON (tests
// use it to forge tokens a verifier must refuse). `alg` picks the signing
// algorithm whatever the header says.
Result<std::string> signRaw(std::string_view header_json, std::string_view payload_json, Alg alg,
                            std::string_view key);

struct KeyPair {
  std::string private_pem;  // PKCS#8 "BEGIN PRIVATE KEY", unencrypted
  std::string public_pem;   // SubjectPublicKeyInfo "BEGIN PUBLIC KEY"
};
// RSA 2048 for RS256, P-256 for ES256; kInvalidParams for HS256.
Result<KeyPair> generateKeyPair(Alg alg);

// base64url (RFC 4648 section 5) without padding. Decoding is strict: only
// [A-Za-z0-9_-], no '=', no whitespace, no length of 4n+1, and the unused low
// bits of the last character must be zero, so each byte string has exactly
// one accepted encoding (a token cannot be altered without changing bytes).
std::string base64UrlEncode(std::string_view bytes);
std::optional<std::string> base64UrlDecode(std::string_view text);

}  // namespace tutti::auth
