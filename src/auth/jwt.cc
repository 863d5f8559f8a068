#include "tutti/auth/jwt.h"

#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>  // ECDSA_SIG only (DER <-> R||S); not the deprecated EC_KEY API
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tutti/core/base64.h"
#include "tutti/core/log.h"
#include "tutti/protocol/codes.h"

namespace tutti::auth {
namespace {

namespace json = boost::json;

// --- OpenSSL ownership -------------------------------------------------------

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using MdPtr = std::unique_ptr<EVP_MD, Deleter<EVP_MD_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using MacPtr = std::unique_ptr<EVP_MAC, Deleter<EVP_MAC_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Deleter<EVP_MAC_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

// OpenSSL reports failures on a per-thread error queue. verify() runs on
// worker threads that also drive TLS, where a stale entry would be blamed on
// the next SSL call; so every OpenSSL use here removes what it added.
class ErrMark {
 public:
  ErrMark() { ERR_set_mark(); }
  ~ErrMark() { ERR_pop_to_mark(); }
  ErrMark(const ErrMark&) = delete;
  ErrMark& operator=(const ErrMark&) = delete;
};

// A PEM password callback that refuses: the default one would prompt on the
// terminal for an encrypted key.
int noPassword(char*, int, int, void*) { return -1; }

// ES256 (RFC 7518 3.4): the JOSE signature is R and S, each 32 bytes big-endian.
constexpr size_t kEs256CoordBytes = 32;
constexpr size_t kEs256SigBytes = 2 * kEs256CoordBytes;
constexpr size_t kHs256MacBytes = 32;
constexpr int kMinRsaBits = 2048;  // RFC 7518 3.3: "2048 bits or larger MUST be used"

Error invalidParams(std::string message) { return makeError(code::kInvalidParams, std::move(message)); }

// --- keys --------------------------------------------------------------------

Result<void> checkKeyType(EVP_PKEY* pkey, Alg alg) {
  if (alg == Alg::kRS256) {
    if (!EVP_PKEY_is_a(pkey, "RSA")) return invalidParams("RS256 needs an RSA key");
    if (EVP_PKEY_get_bits(pkey) < kMinRsaBits) return invalidParams("RS256 key below 2048 bits");
    return {};
  }
  if (alg == Alg::kES256) {
    if (!EVP_PKEY_is_a(pkey, "EC")) return invalidParams("ES256 needs an EC key");
    std::array<char, 64> group{};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, group.data(), group.size(), &len) != 1) {
      return invalidParams("ES256 key has no named curve");
    }
    std::string_view name(group.data(), len);
    if (name != "prime256v1" && name != "P-256") return invalidParams("ES256 needs a P-256 key");
    return {};
  }
  return invalidParams("HS256 takes a secret, not a key");
}

Result<PkeyPtr> loadKey(std::string_view pem, Alg alg, bool private_key) {
  ErrMark mark;
  if (pem.empty() || pem.size() > INT_MAX) return invalidParams("key PEM is empty");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return makeError(code::kInternal, "BIO_new_mem_buf failed");
  PkeyPtr pkey(private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr)
                           : PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassword, nullptr));
  if (!pkey) {
    return invalidParams(private_key ? "cannot read the private key PEM (unencrypted PKCS#8 or traditional)"
                                     : "cannot read the public key PEM (expected BEGIN PUBLIC KEY)");
  }
  if (auto r = checkKeyType(pkey.get(), alg); !r) return r.error();
  return pkey;
}

// --- primitives --------------------------------------------------------------

// HMAC-SHA256 of data; nullopt only if OpenSSL fails.
std::optional<std::array<unsigned char, kHs256MacBytes>> hmacSha256(EVP_MAC* mac, std::string_view key,
                                                                    std::string_view data) {
  ErrMark mark;
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) return std::nullopt;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  std::array<unsigned char, kHs256MacBytes> out{};
  size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size()) {
    return std::nullopt;
  }
  return out;
}

// JOSE R||S (64 bytes) -> DER ECDSA-Sig-Value, as EVP verification expects.
std::optional<std::string> es256JoseToDer(std::string_view raw) {
  if (raw.size() != kEs256SigBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BnPtr r(BN_bin2bn(p, kEs256CoordBytes, nullptr));
  BnPtr s(BN_bin2bn(p + kEs256CoordBytes, kEs256CoordBytes, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return std::nullopt;
  return der;
}

// DER ECDSA-Sig-Value -> JOSE R||S, each left-padded to 32 bytes.
std::optional<std::string> es256DerToJose(const unsigned char* der, size_t len) {
  const unsigned char* p = der;
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(kEs256SigBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kEs256CoordBytes) != static_cast<int>(kEs256CoordBytes) ||
      BN_bn2binpad(s, out + kEs256CoordBytes, kEs256CoordBytes) != static_cast<int>(kEs256CoordBytes)) {
    return std::nullopt;
  }
  return raw;
}

// RSASSA-PKCS1-v1_5 (the RSA default) or ECDSA over SHA-256; sig in the form
// EVP expects (DER for ECDSA).
bool digestVerify(EVP_PKEY* pkey, const EVP_MD* md, std::string_view data, std::string_view sig) {
  ErrMark mark;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

Result<std::string> signBytes(std::string_view data, Alg alg, std::string_view key) {
  ErrMark mark;
  if (alg == Alg::kHS256) {
    if (key.empty()) return invalidParams("HS256 secret is empty");
    MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac) return makeError(code::kInternal, "HMAC unavailable");
    auto tag = hmacSha256(mac.get(), key, data);
    if (!tag) return makeError(code::kInternal, "HMAC failed");
    return std::string(reinterpret_cast<const char*>(tag->data()), tag->size());
  }
  auto pkey = loadKey(key, alg, /*private_key=*/true);
  if (!pkey) return pkey.error();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, pkey->get(), nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
    return makeError(code::kInternal, "signing setup failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()) != 1) {
    return makeError(code::kInternal, "signing failed");
  }
  sig.resize(len);
  if (alg == Alg::kES256) {
    auto raw = es256DerToJose(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
    if (!raw) return makeError(code::kInternal, "ECDSA signature conversion failed");
    return std::move(*raw);
  }
  return sig;
}

// --- JSON and claims -----------------------------------------------------------

// Standard JSON only, default depth limit (32): nesting cannot exhaust the
// stack. Duplicate names: Boost.JSON keeps the last one, which RFC 7515 4
// allows. Invalid UTF-8 is refused.
std::optional<json::object> parseObject(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

bool iequalsAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// A NumericDate (RFC 7519 2): any JSON number. Fractions are floored; values
// beyond int64 saturate, so a huge exp means "never" rather than wrapping.
std::optional<int64_t> numericDate(const json::value& v) {
  if (const auto* i = v.if_int64()) return *i;
  if (const auto* u = v.if_uint64()) {
    return *u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(*u);
  }
  if (const auto* d = v.if_double()) {
    if (std::isnan(*d)) return std::nullopt;
    if (*d >= 9.2e18) return INT64_MAX;  // just below 2^63, exactly representable
    if (*d <= -9.2e18) return INT64_MIN;
    return static_cast<int64_t>(std::floor(*d));
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> stringArray(const json::value& v) {
  const auto* arr = v.if_array();
  if (!arr) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(arr->size());
  for (const auto& item : *arr) {
    const auto* s = item.if_string();
    if (!s) return std::nullopt;
    out.emplace_back(s->data(), s->size());
  }
  return out;
}

// Type checks (kTokenMalformed) then presence checks (kTokenMissingClaim).
Result<Claims> claimsFrom(const json::object& payload) {
  auto malformed = [](const char* what) { return makeError(code::kTokenMalformed, what); };
  Claims c;
  bool has_sub = false;
  bool has_exp = false;
  if (const auto* v = payload.if_contains("sub")) {
    const auto* s = v->if_string();
    if (!s) return malformed("claim sub is not a string");
    c.sub.assign(s->data(), s->size());
    has_sub = !c.sub.empty();
  }
  if (const auto* v = payload.if_contains("exp")) {
    auto t = numericDate(*v);
    if (!t) return malformed("claim exp is not a number");
    c.exp = *t;
    has_exp = true;
  }
  if (const auto* v = payload.if_contains("nbf")) {
    c.nbf = numericDate(*v);
    if (!c.nbf) return malformed("claim nbf is not a number");
  }
  if (const auto* v = payload.if_contains("iat")) {
    c.iat = numericDate(*v);
    if (!c.iat) return malformed("claim iat is not a number");
  }
  if (const auto* v = payload.if_contains("subscribe")) {
    auto list = stringArray(*v);
    if (!list) return malformed("claim subscribe is not an array of strings");
    c.subscribe = std::move(*list);
  }
  if (const auto* v = payload.if_contains("publish")) {
    auto list = stringArray(*v);
    if (!list) return malformed("claim publish is not an array of strings");
    c.publish = std::move(*list);
  }
  if (const auto* v = payload.if_contains("windows")) {
    auto list = stringArray(*v);
    if (!list) return malformed("claim windows is not an array of strings");
    c.windows = std::move(*list);
  }
  if (const auto* v = payload.if_contains("edge")) {
    if (!v->is_bool()) return malformed("claim edge is not a boolean");
    c.edge = v->get_bool();
  }
  if (!has_sub) return makeError(code::kTokenMissingClaim, "claim sub is missing or empty");
  if (!has_exp) return makeError(code::kTokenMissingClaim, "claim exp is missing");
  return c;
}

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

int64_t saturatingSub(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? INT64_MIN : INT64_MAX;
  return r;
}


}  // namespace

// --- public --------------------------------------------------------------------

std::optional<Alg> parseAlg(std::string_view name) {
  if (name == "HS256") return Alg::kHS256;
  if (name == "RS256") return Alg::kRS256;
  if (name == "ES256") return Alg::kES256;
  return std::nullopt;
}

std::string_view algName(Alg alg) {
  switch (alg) {
    case Alg::kHS256: return "HS256";
    case Alg::kRS256: return "RS256";
    case Alg::kES256: return "ES256";
  }
  return "?";
}

std::string_view failureReason(int c) {
  switch (c) {
    case code::kTokenMalformed: return "malformed";
    case code::kTokenAlgNone: return "alg_none";
    case code::kTokenAlgMismatch: return "alg_mismatch";
    case code::kTokenBadSignature: return "bad_signature";
    case code::kTokenExpired: return "expired";
    case code::kTokenNotYetValid: return "not_yet_valid";
    case code::kAnonymousRefused: return "anonymous_refused";
    case code::kTokenMissingClaim: return "missing_claim";
    default: return "other";
  }
}

std::string base64UrlEncode(std::string_view bytes) { return base64Url(bytes); }

std::optional<std::string> base64UrlDecode(std::string_view text) { return tutti::base64UrlDecode(text); }

struct JwtVerifier::Keys {
  std::string secret;  // HS256
  MacPtr hmac;         // HS256; fetched once, shared read-only
  MdPtr sha256;        // RS256/ES256; fetched once, shared read-only
  PkeyPtr pkey;        // RS256/ES256 public key

  ~Keys() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

JwtVerifier::JwtVerifier(Alg alg, int64_t leeway_s, std::unique_ptr<const Keys> keys)
    : alg_(alg), leeway_s_(leeway_s), keys_(std::move(keys)) {}

JwtVerifier::~JwtVerifier() = default;

Result<std::shared_ptr<const JwtVerifier>> JwtVerifier::create(VerifierConfig cfg) {
  ErrMark mark;
  if (cfg.leeway_s < 0) return invalidParams("leeway_s is negative");
  auto keys = std::make_unique<Keys>();
  if (cfg.alg == Alg::kHS256) {
    if (cfg.secret.empty()) return invalidParams("HS256 secret is empty");
    if (cfg.secret.size() < kHs256MacBytes) {
      // RFC 7518 3.2 asks for a key of at least the hash size. Short secrets
      // still work (demo configs use them) but are guessable offline.
      log::warn("HS256 secret shorter than 32 bytes", {{"bytes", std::to_string(cfg.secret.size())}});
    }
    keys->hmac.reset(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!keys->hmac) return makeError(code::kInternal, "HMAC unavailable");
    keys->secret = std::move(cfg.secret);
  } else {
    auto pkey = loadKey(cfg.public_key_pem, cfg.alg, /*private_key=*/false);
    if (!pkey) return pkey.error();
    keys->pkey = std::move(*pkey);
    keys->sha256.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!keys->sha256) return makeError(code::kInternal, "SHA256 unavailable");
  }
  return std::shared_ptr<const JwtVerifier>(new JwtVerifier(cfg.alg, cfg.leeway_s, std::move(keys)));
}

Result<Claims> JwtVerifier::verify(std::string_view token, int64_t now_s) const {
  auto malformed = [](const char* what) { return makeError(code::kTokenMalformed, what); };

  // 1. Shape and header.
  if (token.size() > kMaxTokenBytes) return malformed("token is longer than 16384 bytes");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return malformed("token is not three dot-separated parts");
  }
  const std::string_view signing_input = token.substr(0, dot2);
  auto header_text = base64UrlDecode(token.substr(0, dot1));
  if (!header_text) return malformed("token header is not base64url");
  auto header = parseObject(*header_text);
  if (!header) return malformed("token header is not a JSON object");
  const auto* alg_value = header->if_contains("alg");
  const auto* alg_text = alg_value ? alg_value->if_string() : nullptr;
  if (!alg_text) return malformed("token header has no string alg");
  const std::string_view alg(alg_text->data(), alg_text->size());

  // 2-4. Algorithm, before anything touches the signature.
  if (iequalsAscii(alg, "none")) return makeError(code::kTokenAlgNone, "alg none is refused");
  if (const auto* typ = header->if_contains("typ")) {
    const auto* s = typ->if_string();
    if (!s || !iequalsAscii(std::string_view(s->data(), s->size()), "JWT")) {
      return malformed("token typ is not JWT");
    }
  }
  // RFC 7515 4.1.11: extensions listed in crit must be understood; we know none.
  if (header->contains("crit")) return malformed("token header crit is not supported");
  if (parseAlg(alg) != alg_) {
    return makeError(code::kTokenAlgMismatch, "token alg is not " + std::string(algName(alg_)));
  }

  // 5. Signature.
  auto payload_text = base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload_text) return malformed("token payload is not base64url");
  auto sig = base64UrlDecode(token.substr(dot2 + 1));
  if (!sig) return malformed("token signature is not base64url");
  bool good = false;
  switch (alg_) {
    case Alg::kHS256: {
      if (sig->size() != kHs256MacBytes) break;
      auto tag = hmacSha256(keys_->hmac.get(), keys_->secret, signing_input);
      good = tag && CRYPTO_memcmp(tag->data(), sig->data(), tag->size()) == 0;
      break;
    }
    case Alg::kRS256:
      good = static_cast<int>(sig->size()) == EVP_PKEY_get_size(keys_->pkey.get()) &&
             digestVerify(keys_->pkey.get(), keys_->sha256.get(), signing_input, *sig);
      break;
    case Alg::kES256: {
      auto der = es256JoseToDer(*sig);  // nullopt unless exactly 64 bytes
      good = der && digestVerify(keys_->pkey.get(), keys_->sha256.get(), signing_input, *der);
      break;
    }
  }
  if (!good) return makeError(code::kTokenBadSignature, "token signature does not verify");

  // 6-7. Claims, now that they are authenticated.
  auto payload = parseObject(*payload_text);
  if (!payload) return malformed("token payload is not a JSON object");
  auto claims = claimsFrom(*payload);
  if (!claims) return claims;

  // 8. Time, saturating so that extreme claims cannot wrap around.
  if (now_s >= saturatingAdd(claims->exp, leeway_s_)) {
    return makeError(code::kTokenExpired, "token has expired");
  }
  if (claims->nbf && now_s < saturatingSub(*claims->nbf, leeway_s_)) {
    return makeError(code::kTokenNotYetValid, "token is not valid yet (nbf)");
  }
  if (claims->iat && *claims->iat > saturatingAdd(now_s, leeway_s_)) {
    return makeError(code::kTokenNotYetValid, "token is issued in the future (iat)");
  }
  return claims;
}

Result<std::string> signRaw(std::string_view header_json, std::string_view payload_json, Alg alg,
                            std::string_view key) {
  std::string token = base64UrlEncode(header_json);
  token += '.';
  token += base64UrlEncode(payload_json);
  auto sig = signBytes(token, alg, key);
  if (!sig) return sig.error();
  token += '.';
  token += base64UrlEncode(*sig);
  return token;
}

Result<std::string> sign(const Claims& claims, Alg alg, std::string_view key) {
  json::object header;
  header["alg"] = algName(alg);
  header["typ"] = "JWT";
  json::object payload;
  payload["sub"] = claims.sub;
  payload["exp"] = claims.exp;
  if (claims.nbf) payload["nbf"] = *claims.nbf;
  if (claims.iat) payload["iat"] = *claims.iat;
  auto strings = [](const std::vector<std::string>& list) {
    json::array arr;
    for (const auto& s : list) arr.emplace_back(s);
    return arr;
  };
  // Absent lists mean "nothing" (docs/protocol.md), so empty ones are left out.
  if (!claims.subscribe.empty()) payload["subscribe"] = strings(claims.subscribe);
  if (!claims.publish.empty()) payload["publish"] = strings(claims.publish);
  if (!claims.windows.empty()) payload["windows"] = strings(claims.windows);
  if (claims.edge) payload["edge"] = true;
  return signRaw(json::serialize(header), json::serialize(payload), alg, key);
}

Result<KeyPair> generateKeyPair(Alg alg) {
  ErrMark mark;
  PkeyPtr pkey;
  if (alg == Alg::kRS256) {
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kMinRsaBits)));
  } else if (alg == Alg::kES256) {
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  } else {
    return invalidParams("HS256 uses a shared secret, not a key pair");
  }
  if (!pkey) return makeError(code::kInternal, "key generation failed");
  auto toPem = [&](bool private_key) -> std::optional<std::string> {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio) return std::nullopt;
    int ok = private_key
                 ? PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr)
                 : PEM_write_bio_PUBKEY(bio.get(), pkey.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    if (ok != 1 || len <= 0 || !data) return std::nullopt;
    return std::string(data, static_cast<size_t>(len));
  };
  auto priv = toPem(true);
  auto pub = toPem(false);
  if (!priv || !pub) return makeError(code::kInternal, "PEM encoding failed");
  return KeyPair{std::move(*priv), std::move(*pub)};
}

}  // namespace tutti::auth
