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

}  // namespace
}  // namespace tutti
