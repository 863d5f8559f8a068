#include "tutti/core/base64.h"

#include <gtest/gtest.h>

namespace tutti {
namespace {

TEST(Base64, EncodesTheRfc4648TestVectors) {
  // RFC 4648, section 10.
  const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* std64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  const char* url64[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (size_t i = 0; i < std::size(in); ++i) {
    EXPECT_EQ(base64(in[i]), std64[i]) << in[i];
    EXPECT_EQ(base64Url(in[i]), url64[i]) << in[i];
  }
}

TEST(Base64, UsesEachAlphabetsLastTwoCharacters) {
  EXPECT_EQ(base64("\xfb\xff"), "+/8=");
  EXPECT_EQ(base64Url("\xfb\xff"), "-_8");
}

TEST(Base64, DecodesWhatItEncodesInBothAlphabets) {
  const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xfb\xff"};
  for (const char* s : in) {
    EXPECT_EQ(base64Decode(base64(s)), std::string(s)) << s;
    EXPECT_EQ(base64UrlDecode(base64Url(s)), std::string(s)) << s;
  }
  EXPECT_EQ(base64Decode("YWRtaW46c2VjcmV0"), std::string("admin:secret"));
}

TEST(Base64, RefusesAnythingButTheOneCanonicalEncoding) {
  EXPECT_FALSE(base64Decode("Zg"));      // padding missing
  EXPECT_FALSE(base64Decode("Zg="));     // not a multiple of 4
  EXPECT_FALSE(base64Decode("Zh=="));    // unused bits set
  EXPECT_FALSE(base64Decode("Zg=a"));    // '=' inside
  EXPECT_FALSE(base64Decode("Zm9v\n"));  // whitespace
  EXPECT_FALSE(base64Decode("-_8="));    // the url alphabet
  EXPECT_FALSE(base64UrlDecode("Zg=="));  // padding in base64url
  EXPECT_FALSE(base64UrlDecode("+/8"));   // the standard alphabet
  EXPECT_FALSE(base64UrlDecode("Z"));     // 4n+1 characters
}

}  // namespace
}  // namespace tutti
