// libFuzzer target: arbitrary bytes as a token (and, signed, as a token's
// payload or header), verified under each algorithm.
// Untrusted input must never crash, leak or throw, and every refusal must be
// one of the auth codes (docs/protocol.md). Also checks that base64url
// decoding accepts at most one encoding per byte string.
//
// The RSA and EC keys below were generated for this file only (the corpus in
// corpus/jwt/ holds tokens signed with their private halves, which were then
// thrown away); they protect nothing.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tutti/auth/jwt.h"
#include "tutti/protocol/codes.h"

namespace {

using tutti::auth::Alg;
using tutti::auth::JwtVerifier;

constexpr int64_t kNow = 1'700'000'000;  // corpus tokens are valid at this time
constexpr char kSecret[] = "fuzz-secret-fuzz-secret-32-bytes";
constexpr char kRsaPublicPem[] = R"(
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlETV/hjJ77TRWY7QbTbw
FOeQb4f0PzGbNJuRHWALGOzg7wQU54go2EnZG66kqKwfJxhvehxcT5VkU7sYZO59
HgjvK3Og+G9k4UvWCkmnrN5WO/r25BDPVeA6zK9/2tGZxjXJ57bVDY5pEA5GGbEL
L9E1cri+z1AAAJG+YJX+Eh+0oyHJ/WGw8QdrX3Y9WZZf/a7vXevnVwhYtjw2C7np
jg80NYizHu/ZAhOLQsHlYlxATrzcef87H2enD6NPhCwkd1buHzyJTiLaLsfIUeqW
GUysA5WM54uUOtowAJuo5ZbCA0Q6megOuSNUKaHeZTp9UnnUWJpSRJI3ZMLJWo2p
7wIDAQAB
-----END PUBLIC KEY-----
)";
constexpr char kEcPublicPem[] = R"(
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEz9vTOk4Sug9SPawFJk3rn5swdefC
Gl6KDk8GCufYpCR8erpVJug/hjrFflGO1p+LKa64og0qDh577UxyUfVQ8g==
-----END PUBLIC KEY-----
)";

std::shared_ptr<const JwtVerifier> make(Alg alg) {
  tutti::auth::VerifierConfig cfg;
  cfg.alg = alg;
  cfg.secret = kSecret;
  cfg.public_key_pem = alg == Alg::kRS256 ? kRsaPublicPem : kEcPublicPem;
  auto v = JwtVerifier::create(cfg);
  if (!v.ok()) {
    std::fprintf(stderr, "jwt_fuzz: cannot create the %s verifier: %s\n",
                 std::string(tutti::auth::algName(alg)).c_str(), v.error().message.c_str());
    std::abort();
  }
  return v.value();
}

bool isAuthRefusal(int c) {
  return c >= tutti::code::kTokenMalformed && c <= tutti::code::kTokenMissingClaim &&
         c != tutti::code::kAnonymousRefused && c != tutti::code::kPermissionDenied;
}

void check(const JwtVerifier& v, std::string_view token) {
  auto claims = v.verify(token, kNow);
  if (claims.ok()) {
    // Accepted: the contract says sub is present and the token is live.
    if (claims->sub.empty() || kNow - v.leewayS() >= claims->exp) __builtin_trap();
  } else if (!isAuthRefusal(claims.error().code) ||
             tutti::auth::failureReason(claims.error().code) == "other") {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const JwtVerifier> verifiers[] = {make(Alg::kHS256), make(Alg::kRS256),
                                                                 make(Alg::kES256)};
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Random bytes almost never carry a valid signature, which would leave the
  // claims parser (reached only after the signature) unfuzzed; so the input
  // is also tried as an HS256-signed payload and as an HS256-signed header.
  auto as_payload = tutti::auth::signRaw(R"({"alg":"HS256"})", input, Alg::kHS256, kSecret);
  auto as_header = tutti::auth::signRaw(input, R"({"sub":"u","exp":4102444800})", Alg::kHS256, kSecret);
  if (!as_payload.ok() || !as_header.ok()) __builtin_trap();
  const std::string_view tokens[] = {input, *as_payload, *as_header};

  for (const auto& v : verifiers) {
    for (std::string_view token : tokens) check(*v, token);
  }

  if (auto bytes = tutti::auth::base64UrlDecode(input)) {
    if (tutti::auth::base64UrlEncode(*bytes) != input) __builtin_trap();
  }
  return 0;
}
