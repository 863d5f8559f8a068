#include "tutti/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tutti/protocol/codes.h"

namespace tutti::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";  // 32 bytes
constexpr char kHeaderHs[] = R"({"alg":"HS256","typ":"JWT"})";

// Key generation (RSA especially) is slow: one pair per algorithm per process.
const KeyPair& keysFor(Alg alg) {
  static const KeyPair rs = generateKeyPair(Alg::kRS256).value();
  static const KeyPair es = generateKeyPair(Alg::kES256).value();
  static const KeyPair hs{kSecret, kSecret};
  switch (alg) {
    case Alg::kRS256: return rs;
    case Alg::kES256: return es;
    case Alg::kHS256: break;
  }
  return hs;
}

// A second, unrelated key of the same kind.
const KeyPair& otherKeysFor(Alg alg) {
  static const KeyPair rs = generateKeyPair(Alg::kRS256).value();
  static const KeyPair es = generateKeyPair(Alg::kES256).value();
  static const KeyPair hs{"another secret, also 32 bytes ok", ""};
  switch (alg) {
    case Alg::kRS256: return rs;
    case Alg::kES256: return es;
    case Alg::kHS256: break;
  }
  return hs;
}

VerifierConfig configOf(Alg alg, std::string secret, std::string public_key_pem, int64_t leeway_s = 5) {
  VerifierConfig cfg;
  cfg.alg = alg;
  cfg.secret = std::move(secret);
  cfg.public_key_pem = std::move(public_key_pem);
  cfg.leeway_s = leeway_s;
  return cfg;
}

std::shared_ptr<const JwtVerifier> verifierFor(Alg alg, int64_t leeway_s = 5) {
  auto v = JwtVerifier::create(alg == Alg::kHS256 ? configOf(alg, kSecret, "", leeway_s)
                                                  : configOf(alg, "", keysFor(alg).public_pem, leeway_s));
  EXPECT_TRUE(v.ok()) << v.error().message;
  return v.value();
}

Claims sampleClaims() {
  Claims c;
  c.sub = "user-42";
  c.exp = kNow + 3600;
  c.iat = kNow - 10;
  c.nbf = kNow - 10;
  c.subscribe = {"table:*", "lobby"};
  c.publish = {"table:7"};
  return c;
}

// Signs `payload` with the HS256 test secret under the standard header.
std::string hsToken(std::string_view payload, std::string_view header = kHeaderHs) {
  return signRaw(header, payload, Alg::kHS256, kSecret).value();
}

int codeOf(const Result<Claims>& r) { return r.ok() ? 0 : r.error().code; }

int verifyHs(std::string_view token, int64_t now = kNow) {
  return codeOf(verifierFor(Alg::kHS256)->verify(token, now));
}

std::string withPart(const std::string& token, int index, std::string_view part) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = token.find('.', start)) != std::string::npos; start = dot + 1) {
    parts.push_back(token.substr(start, dot - start));
  }
  parts.push_back(token.substr(start));
  parts.at(index) = part;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string partOf(const std::string& token, int index) {
  size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  return token.substr(start, token.find('.', start) - start);
}

// --- names, reasons, base64url ----------------------------------------------

TEST(Alg, ParsesJoseNamesCaseSensitively) {
  for (Alg a : {Alg::kHS256, Alg::kRS256, Alg::kES256}) EXPECT_EQ(parseAlg(algName(a)), a);
  EXPECT_FALSE(parseAlg("hs256"));
  EXPECT_FALSE(parseAlg("HS512"));
  EXPECT_FALSE(parseAlg("none"));
  EXPECT_FALSE(parseAlg(""));
}

TEST(FailureReason, NamesEachAuthCodeForMetrics) {
  EXPECT_EQ(failureReason(code::kTokenMalformed), "malformed");
  EXPECT_EQ(failureReason(code::kTokenAlgNone), "alg_none");
  EXPECT_EQ(failureReason(code::kTokenAlgMismatch), "alg_mismatch");
  EXPECT_EQ(failureReason(code::kTokenBadSignature), "bad_signature");
  EXPECT_EQ(failureReason(code::kTokenExpired), "expired");
  EXPECT_EQ(failureReason(code::kTokenNotYetValid), "not_yet_valid");
  EXPECT_EQ(failureReason(code::kAnonymousRefused), "anonymous_refused");
  EXPECT_EQ(failureReason(code::kTokenMissingClaim), "missing_claim");
  EXPECT_EQ(failureReason(code::kPermissionDenied), "other");
  EXPECT_EQ(failureReason(0), "other");
}

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64UrlEncode(""), "");
  EXPECT_EQ(base64UrlEncode("f"), "Zg");
  EXPECT_EQ(base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64Url, DecodesEveryByteValueAndLengthBack) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); ++n) {
    std::string bytes = all.substr(all.size() - n);
    EXPECT_EQ(base64UrlDecode(base64UrlEncode(bytes)), bytes) << n;
  }
}

TEST(Base64Url, RefusesPaddingWhitespaceAndTheStandardAlphabet) {
  EXPECT_FALSE(base64UrlDecode("Zg=="));
  EXPECT_FALSE(base64UrlDecode("Zm8="));
  EXPECT_FALSE(base64UrlDecode("Zm9v\n"));
  EXPECT_FALSE(base64UrlDecode(" Zm9v"));
  EXPECT_FALSE(base64UrlDecode("+/8"));
  EXPECT_FALSE(base64UrlDecode(std::string_view("Zm\0v", 4)));
  EXPECT_FALSE(base64UrlDecode("Zm9v\xc3\xa9"));
}

TEST(Base64Url, RefusesALengthOfFourNPlusOne) {
  EXPECT_FALSE(base64UrlDecode("Z"));
  EXPECT_FALSE(base64UrlDecode("Zm9vY"));
}

TEST(Base64Url, RefusesNonCanonicalTrailingBits) {
  EXPECT_EQ(base64UrlDecode("Zg"), "f");
  EXPECT_FALSE(base64UrlDecode("Zh"));  // same byte, low bits set
  EXPECT_EQ(base64UrlDecode("Zm8"), "fo");
  EXPECT_FALSE(base64UrlDecode("Zm9"));
}

// --- every algorithm ----------------------------------------------------------

class EveryAlg : public testing::TestWithParam<Alg> {};

INSTANTIATE_TEST_SUITE_P(JwtVerifier, EveryAlg, testing::Values(Alg::kHS256, Alg::kRS256, Alg::kES256),
                         [](const auto& info) { return std::string(algName(info.param)); });

TEST_P(EveryAlg, RoundTripsAllClaims) {
  auto token = sign(sampleClaims(), GetParam(), keysFor(GetParam()).private_pem);
  ASSERT_TRUE(token.ok()) << token.error().message;
  auto claims = verifierFor(GetParam())->verify(*token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(*claims, sampleClaims());
}

TEST_P(EveryAlg, RoundTripsMinimalClaimsWithEmptyLists) {
  Claims c;
  c.sub = "u";
  c.exp = kNow + 1;
  auto token = sign(c, GetParam(), keysFor(GetParam()).private_pem).value();
  auto claims = verifierFor(GetParam())->verify(token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(*claims, c);
}

TEST_P(EveryAlg, RefusesATamperedPayload) {
  auto token = sign(sampleClaims(), GetParam(), keysFor(GetParam()).private_pem).value();
  Claims more = sampleClaims();
  more.publish = {"*"};
  auto forged_payload = partOf(sign(more, GetParam(), keysFor(GetParam()).private_pem).value(), 1);
  EXPECT_EQ(codeOf(verifierFor(GetParam())->verify(withPart(token, 1, forged_payload), kNow)),
            code::kTokenBadSignature);
}

TEST_P(EveryAlg, RefusesATokenSignedWithAnotherKey) {
  auto token = sign(sampleClaims(), GetParam(), otherKeysFor(GetParam()).private_pem).value();
  EXPECT_EQ(codeOf(verifierFor(GetParam())->verify(token, kNow)), code::kTokenBadSignature);
}

TEST_P(EveryAlg, RefusesTruncatedAndEmptySignatures) {
  auto token = sign(sampleClaims(), GetParam(), keysFor(GetParam()).private_pem).value();
  auto sig = *base64UrlDecode(partOf(token, 2));
  auto v = verifierFor(GetParam());
  auto withSig = [&](std::string_view bytes) { return withPart(token, 2, base64UrlEncode(bytes)); };
  EXPECT_EQ(codeOf(v->verify(withSig(sig.substr(0, sig.size() - 1)), kNow)), code::kTokenBadSignature);
  EXPECT_EQ(codeOf(v->verify(withSig(sig.substr(1)), kNow)), code::kTokenBadSignature);
  EXPECT_EQ(codeOf(v->verify(withSig(""), kNow)), code::kTokenBadSignature);
  EXPECT_EQ(codeOf(v->verify(withSig(sig + '\0'), kNow)), code::kTokenBadSignature);
  EXPECT_EQ(codeOf(v->verify(withSig(std::string(1, '\0') + sig), kNow)), code::kTokenBadSignature);
}

TEST_P(EveryAlg, RefusesAlgNoneEvenWithoutSignature) {
  auto v = verifierFor(GetParam());
  auto payload = base64UrlEncode(R"({"sub":"admin","exp":99999999999,"publish":["*"]})");
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    auto header = base64UrlEncode(std::string(R"({"alg":")") + alg + R"("})");
    EXPECT_EQ(codeOf(v->verify(header + "." + payload + ".", kNow)), code::kTokenAlgNone) << alg;
    EXPECT_EQ(codeOf(v->verify(header + "." + payload + ".c2ln", kNow)), code::kTokenAlgNone) << alg;
  }
}

TEST_P(EveryAlg, RefusesAnExpiredForgedTokenAsBadSignatureNotExpired) {
  Claims c = sampleClaims();
  c.exp = kNow - 3600;
  auto token = sign(c, GetParam(), otherKeysFor(GetParam()).private_pem).value();
  EXPECT_EQ(codeOf(verifierFor(GetParam())->verify(token, kNow)), code::kTokenBadSignature);
}

TEST_P(EveryAlg, LeavesTheOpenSslErrorQueueAsItFoundIt) {
  ERR_clear_error();
  auto token = sign(sampleClaims(), GetParam(), otherKeysFor(GetParam()).private_pem).value();
  EXPECT_FALSE(verifierFor(GetParam())->verify(token, kNow).ok());
  if (GetParam() != Alg::kHS256) {
    EXPECT_FALSE(sign(sampleClaims(), GetParam(), "not a key").ok());
    EXPECT_FALSE(JwtVerifier::create(configOf(GetParam(), "", "not a key")).ok());
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_P(EveryAlg, VerifiesConcurrentlyFromManyThreads) {
  auto v = verifierFor(GetParam());
  auto good = sign(sampleClaims(), GetParam(), keysFor(GetParam()).private_pem).value();
  auto bad = sign(sampleClaims(), GetParam(), otherKeysFor(GetParam()).private_pem).value();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!v->verify(good, kNow).ok()) ++failures;
        if (codeOf(v->verify(bad, kNow)) != code::kTokenBadSignature) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- algorithm specifics ------------------------------------------------------

TEST(JwtVerifier, Es256SignatureIsSixtyFourRawBytes) {
  for (int i = 0; i < 20; ++i) {  // DER length varies with leading zeros; R||S must not
    auto token = sign(sampleClaims(), Alg::kES256, keysFor(Alg::kES256).private_pem).value();
    EXPECT_EQ(base64UrlDecode(partOf(token, 2))->size(), 64u);
  }
}

TEST(JwtVerifier, Rs256SignatureIsTheModulusSize) {
  auto token = sign(sampleClaims(), Alg::kRS256, keysFor(Alg::kRS256).private_pem).value();
  EXPECT_EQ(base64UrlDecode(partOf(token, 2))->size(), 256u);
}

TEST(JwtVerifier, HmacSignatureIsThirtyTwoBytes) {
  auto token = sign(sampleClaims(), Alg::kHS256, kSecret).value();
  EXPECT_EQ(base64UrlDecode(partOf(token, 2))->size(), 32u);
}

TEST(JwtVerifier, RefusesAnHs256TokenAtAnRs256VerifierAsAlgMismatch) {
  auto token = sign(sampleClaims(), Alg::kHS256, kSecret).value();
  EXPECT_EQ(codeOf(verifierFor(Alg::kRS256)->verify(token, kNow)), code::kTokenAlgMismatch);
}

TEST(JwtVerifier, RefusesHs256SignedWithThePublicKeyAsSecret) {
  // The classic key-confusion attack: the RSA public key is public.
  auto token = sign(sampleClaims(), Alg::kHS256, keysFor(Alg::kRS256).public_pem).value();
  EXPECT_EQ(codeOf(verifierFor(Alg::kRS256)->verify(token, kNow)), code::kTokenAlgMismatch);
}

TEST(JwtVerifier, RefusesOtherAlgorithmsAndOtherSpellingsAsAlgMismatch) {
  for (const char* alg : {"HS512", "hs256", "RS256", "ES256", "PS256", ""}) {
    auto token = hsToken(R"({"sub":"u","exp":99999999999})", std::string(R"({"alg":")") + alg + R"("})");
    EXPECT_EQ(verifyHs(token), code::kTokenAlgMismatch) << alg;
  }
}

TEST(JwtVerifier, RefusesAnEs256SignatureInDerForm) {
  auto token = sign(sampleClaims(), Alg::kES256, keysFor(Alg::kES256).private_pem).value();
  auto raw = *base64UrlDecode(partOf(token, 2));
  // A minimal DER SEQUENCE of the same R and S, as a naive signer would send.
  auto integer = [](std::string v) {
    while (v.size() > 1 && v[0] == 0) v.erase(0, 1);
    if (static_cast<unsigned char>(v[0]) & 0x80) v.insert(0, 1, '\0');
    return std::string{'\x02', static_cast<char>(v.size())} + v;
  };
  std::string body = integer(raw.substr(0, 32)) + integer(raw.substr(32));
  std::string der = std::string{'\x30', static_cast<char>(body.size())} + body;
  EXPECT_EQ(codeOf(verifierFor(Alg::kES256)->verify(withPart(token, 2, base64UrlEncode(der)), kNow)),
            code::kTokenBadSignature);
}

// --- malformed ------------------------------------------------------------------

TEST(JwtVerifier, RefusesTokensThatAreNotThreeParts) {
  auto token = hsToken(R"({"sub":"u","exp":99999999999})");
  EXPECT_EQ(verifyHs(""), code::kTokenMalformed);
  EXPECT_EQ(verifyHs(".."), code::kTokenMalformed);
  EXPECT_EQ(verifyHs("abc"), code::kTokenMalformed);
  EXPECT_EQ(verifyHs(token.substr(0, token.rfind('.'))), code::kTokenMalformed);
  EXPECT_EQ(verifyHs(token + ".AAAA"), code::kTokenMalformed);
  EXPECT_EQ(verifyHs(token + "."), code::kTokenMalformed);
}

TEST(JwtVerifier, RefusesBadBase64InAnyPartAsMalformed) {
  auto token = hsToken(R"({"sub":"u","exp":99999999999})");
  for (int part = 0; part < 3; ++part) {
    for (std::string_view bad : {"a+b/", "YQ==", "Y", "Zh", "a b"}) {
      EXPECT_EQ(verifyHs(withPart(token, part, bad)), code::kTokenMalformed) << part << " " << bad;
    }
  }
}

TEST(JwtVerifier, RefusesAHeaderThatIsNotAJsonObject) {
  for (std::string_view header : {"[]", "null", "\"HS256\"", "{", "{\"alg\":\"HS256\",}", "", "\xff\xfe"}) {
    EXPECT_EQ(verifyHs(hsToken(R"({"sub":"u","exp":99999999999})", header)), code::kTokenMalformed) << header;
  }
}

TEST(JwtVerifier, RefusesAHeaderWithoutAStringAlg) {
  for (std::string_view header :
       {R"({"typ":"JWT"})", R"({"alg":null})", R"({"alg":256})", R"({"alg":["HS256"]})"}) {
    EXPECT_EQ(verifyHs(hsToken(R"({"sub":"u","exp":99999999999})", header)), code::kTokenMalformed) << header;
  }
}

TEST(JwtVerifier, AcceptsTypJwtInAnyCaseAndRefusesOtherTyps) {
  auto payload = R"({"sub":"u","exp":99999999999})";
  EXPECT_EQ(verifyHs(hsToken(payload, R"({"alg":"HS256"})")), 0);
  EXPECT_EQ(verifyHs(hsToken(payload, R"({"alg":"HS256","typ":"jwt"})")), 0);
  EXPECT_EQ(verifyHs(hsToken(payload, R"({"alg":"HS256","typ":"JOSE"})")), code::kTokenMalformed);
  EXPECT_EQ(verifyHs(hsToken(payload, R"({"alg":"HS256","typ":1})")), code::kTokenMalformed);
}

TEST(JwtVerifier, RefusesCriticalHeaderExtensions) {
  auto token = hsToken(R"({"sub":"u","exp":99999999999})", R"({"alg":"HS256","crit":["b64"],"b64":false})");
  EXPECT_EQ(verifyHs(token), code::kTokenMalformed);
}

TEST(JwtVerifier, RefusesASignedPayloadThatIsNotAJsonObject) {
  for (std::string_view payload : {"[]", "42", "{\"sub\":", "", "{\"sub\":\"\xc3\"}"}) {
    EXPECT_EQ(verifyHs(hsToken(payload)), code::kTokenMalformed) << payload;
  }
}

TEST(JwtVerifier, RefusesClaimsOfTheWrongType) {
  for (std::string_view payload : {
           R"({"sub":42,"exp":99999999999})",
           R"({"sub":null,"exp":99999999999})",
           R"({"sub":"u","exp":"99999999999"})",
           R"({"sub":"u","exp":true})",
           R"({"sub":"u","exp":null})",
           R"({"sub":"u","exp":99999999999,"nbf":"0"})",
           R"({"sub":"u","exp":99999999999,"iat":{}})",
           R"({"sub":"u","exp":99999999999,"subscribe":"room"})",
           R"({"sub":"u","exp":99999999999,"subscribe":["a",1]})",
           R"({"sub":"u","exp":99999999999,"publish":[null]})",
           R"({"sub":"u","exp":99999999999,"publish":[["a"]]})",
       }) {
    EXPECT_EQ(verifyHs(hsToken(payload)), code::kTokenMalformed) << payload;
  }
}

TEST(JwtVerifier, RefusesTokensAboveTheSizeLimit) {
  Claims c = sampleClaims();
  c.subscribe.assign(2000, "room:abcdefgh");
  auto token = sign(c, Alg::kHS256, kSecret).value();
  ASSERT_GT(token.size(), kMaxTokenBytes);
  EXPECT_EQ(verifyHs(token), code::kTokenMalformed);
}

TEST(JwtVerifier, RefusesDeeplyNestedJsonWithoutCrashing) {
  std::string deep =
      R"({"sub":"u","exp":99999999999,"x":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_EQ(verifyHs(hsToken(deep)), code::kTokenMalformed);
  std::string deep_header = R"({"alg":"HS256","x":)" + std::string(3000, '{') + "}";
  EXPECT_EQ(verifyHs(hsToken(R"({"sub":"u","exp":99999999999})", deep_header)), code::kTokenMalformed);
}

// --- claims -----------------------------------------------------------------------

TEST(JwtVerifier, RefusesAMissingOrEmptySubOrExpAsMissingClaim) {
  EXPECT_EQ(verifyHs(hsToken(R"({"exp":99999999999})")), code::kTokenMissingClaim);
  EXPECT_EQ(verifyHs(hsToken(R"({"sub":"","exp":99999999999})")), code::kTokenMissingClaim);
  EXPECT_EQ(verifyHs(hsToken(R"({"sub":"u"})")), code::kTokenMissingClaim);
  EXPECT_EQ(verifyHs(hsToken(R"({})")), code::kTokenMissingClaim);
}

TEST(JwtVerifier, IgnoresUnknownClaims) {
  auto claims = verifierFor(Alg::kHS256)
                    ->verify(hsToken(R"({"sub":"u","exp":99999999999,"aud":"x","extra":{"a":[1,2]}})"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ(claims->sub, "u");
}

TEST(JwtVerifier, AcceptsFractionalAndHugeNumericDates) {
  auto v = verifierFor(Alg::kHS256);
  auto fractional = v->verify(hsToken(R"({"sub":"u","exp":1700000100.75,"nbf":1.5e9})"), kNow);
  ASSERT_TRUE(fractional.ok()) << fractional.error().message;
  EXPECT_EQ(fractional->exp, 1700000100);
  EXPECT_EQ(fractional->nbf, 1'500'000'000);
  auto huge = v->verify(hsToken(R"({"sub":"u","exp":18446744073709551615,"nbf":-1e300})"), kNow);
  ASSERT_TRUE(huge.ok()) << huge.error().message;
  EXPECT_EQ(huge->exp, INT64_MAX);
  EXPECT_EQ(huge->nbf, INT64_MIN);
  EXPECT_EQ(codeOf(v->verify(hsToken(R"({"sub":"u","exp":1e300})"), kNow)), 0);
  EXPECT_EQ(codeOf(v->verify(hsToken(R"({"sub":"u","exp":-1e300})"), kNow)), code::kTokenExpired);
  EXPECT_EQ(codeOf(v->verify(hsToken(R"({"sub":"u","exp":-9223372036854775808})"), kNow)),
            code::kTokenExpired);
  EXPECT_EQ(
      codeOf(v->verify(hsToken(R"({"sub":"u","exp":99999999999,"iat":-9223372036854775808})"), INT64_MAX)),
      code::kTokenExpired);
}

// --- time -------------------------------------------------------------------------

TEST(JwtVerifier, AcceptsUntilExpPlusLeewayAndRefusesFromThen) {
  auto v = verifierFor(Alg::kHS256, /*leeway_s=*/5);
  auto token = hsToken(R"({"sub":"u","exp":1000})");
  EXPECT_EQ(codeOf(v->verify(token, 1004)), 0);
  EXPECT_EQ(codeOf(v->verify(token, 1005)), code::kTokenExpired);
  EXPECT_EQ(codeOf(verifierFor(Alg::kHS256, 0)->verify(token, 999)), 0);
  EXPECT_EQ(codeOf(verifierFor(Alg::kHS256, 0)->verify(token, 1000)), code::kTokenExpired);
}

TEST(JwtVerifier, AcceptsFromNbfMinusLeewayAndRefusesBefore) {
  auto v = verifierFor(Alg::kHS256, /*leeway_s=*/5);
  auto token = hsToken(R"({"sub":"u","exp":5000,"nbf":1000})");
  EXPECT_EQ(codeOf(v->verify(token, 995)), 0);
  EXPECT_EQ(codeOf(v->verify(token, 994)), code::kTokenNotYetValid);
  EXPECT_EQ(codeOf(verifierFor(Alg::kHS256, 0)->verify(token, 1000)), 0);
  EXPECT_EQ(codeOf(verifierFor(Alg::kHS256, 0)->verify(token, 999)), code::kTokenNotYetValid);
}

TEST(JwtVerifier, RefusesIatMoreThanLeewayInTheFuture) {
  auto v = verifierFor(Alg::kHS256, /*leeway_s=*/5);
  auto token = hsToken(R"({"sub":"u","exp":5000,"iat":1000})");
  EXPECT_EQ(codeOf(v->verify(token, 995)), 0);
  EXPECT_EQ(codeOf(v->verify(token, 994)), code::kTokenNotYetValid);
}

TEST(JwtVerifier, ChecksTheSignatureBeforeTheClaims) {
  auto token = hsToken(R"({"sub":42})");
  auto forged = withPart(token, 2, base64UrlEncode(std::string(32, 'x')));
  EXPECT_EQ(verifyHs(token), code::kTokenMalformed);
  EXPECT_EQ(verifyHs(forged), code::kTokenBadSignature);
}

// --- create, sign, keys --------------------------------------------------------

TEST(JwtVerifier, RefusesUnusableKeysAtCreate) {
  auto codeOfCreate = [](VerifierConfig cfg) {
    auto r = JwtVerifier::create(std::move(cfg));
    return r.ok() ? 0 : r.error().code;
  };
  EXPECT_EQ(codeOfCreate(configOf(Alg::kHS256, "", "")), code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kHS256, kSecret, "", -1)), code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kRS256, "", "")), code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kRS256, "", "-----BEGIN PUBLIC KEY-----\nAAAA\n")),
            code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kRS256, "", keysFor(Alg::kES256).public_pem)), code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kES256, "", keysFor(Alg::kRS256).public_pem)), code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kES256, "", keysFor(Alg::kES256).private_pem)), code::kInvalidParams);
  EXPECT_EQ(codeOfCreate(configOf(Alg::kES256, "", keysFor(Alg::kES256).public_pem)), 0);
}

TEST(Sign, RefusesKeysThatDoNotFitTheAlgorithm) {
  EXPECT_EQ(sign(sampleClaims(), Alg::kHS256, "").error().code, code::kInvalidParams);
  EXPECT_EQ(sign(sampleClaims(), Alg::kRS256, "garbage").error().code, code::kInvalidParams);
  EXPECT_EQ(sign(sampleClaims(), Alg::kRS256, keysFor(Alg::kES256).private_pem).error().code,
            code::kInvalidParams);
  EXPECT_EQ(sign(sampleClaims(), Alg::kES256, keysFor(Alg::kRS256).private_pem).error().code,
            code::kInvalidParams);
  EXPECT_EQ(sign(sampleClaims(), Alg::kES256, keysFor(Alg::kES256).public_pem).error().code,
            code::kInvalidParams);
}

TEST(Sign, ProducesTheStandardHeader) {
  auto token = sign(sampleClaims(), Alg::kES256, keysFor(Alg::kES256).private_pem).value();
  EXPECT_EQ(base64UrlDecode(partOf(token, 0)), R"({"alg":"ES256","typ":"JWT"})");
}

TEST(Sign, MatchesTheRfc7515HmacExample) {
  // RFC 7515 appendix A.1: the key, header and payload bytes, and the expected signature.
  auto key = base64UrlDecode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  ASSERT_TRUE(key);
  std::string header = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
  std::string payload = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
  auto token = signRaw(header, payload, Alg::kHS256, *key).value();
  EXPECT_EQ(partOf(token, 2), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
}

TEST(GenerateKeyPair, WritesPkcs8AndSubjectPublicKeyInfoPems) {
  for (Alg alg : {Alg::kRS256, Alg::kES256}) {
    const KeyPair& kp = keysFor(alg);
    EXPECT_EQ(kp.private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
    EXPECT_EQ(kp.public_pem.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  }
  EXPECT_EQ(generateKeyPair(Alg::kHS256).error().code, code::kInvalidParams);
}

}  // namespace
}  // namespace tutti::auth
