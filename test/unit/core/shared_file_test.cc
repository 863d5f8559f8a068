#include "tutti/core/shared_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tutti {
namespace {

std::string readAll(int fd, size_t n) {
  std::string out(n, '\0');
  EXPECT_EQ(::pread(fd, out.data(), n, 0), static_cast<ssize_t>(n));
  return out;
}

TEST(SharedFile, HoldsTheBytesAndClosesWithItsLastHolder) {
  std::string bytes(100'000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31);
  const int64_t before = SharedFile::live();
  auto f = SharedFile::create(bytes);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), bytes.size());
  EXPECT_EQ(readAll(f->fd(), bytes.size()), bytes);
  EXPECT_EQ(SharedFile::live(), before + 1);
  const int fd = f->fd();
  auto copy = f;
  f.reset();
  EXPECT_NE(::fcntl(fd, F_GETFD), -1) << "still held by the copy";
  copy.reset();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "closed with the last holder";
  EXPECT_EQ(SharedFile::live(), before);
}

TEST(SharedFile, RefusesPastItsDescriptorBudget) {
  ASSERT_GT(SharedFile::budget(), 0);
  std::vector<std::shared_ptr<const SharedFile>> held;
  while (static_cast<int64_t>(held.size()) < SharedFile::budget() + 5) {
    auto f = SharedFile::create("x");
    if (!f) break;
    held.push_back(std::move(f));
  }
  EXPECT_EQ(SharedFile::live(), SharedFile::budget()) << "created up to the budget, not past it";
  EXPECT_FALSE(SharedFile::create("y"));
  held.clear();
  EXPECT_TRUE(SharedFile::create("z")) << "and again once some are gone";
}

}  // namespace
}  // namespace tutti
