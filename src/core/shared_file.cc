#include "tutti/core/shared_file.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace tutti {
namespace {

std::atomic<int64_t> g_live{0};

// A quarter of the descriptor limit, at most 8192: the rest is for sockets.
int64_t computeBudget() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 1024;
  return std::clamp<int64_t>(static_cast<int64_t>(r.rlim_cur) / 4, 0, 8192);
}

}  // namespace

int64_t SharedFile::budget() {
  static const int64_t b = computeBudget();
  return b;
}

int64_t SharedFile::live() { return g_live.load(std::memory_order_relaxed); }

std::shared_ptr<const SharedFile> SharedFile::create(std::string_view bytes) {
  if (g_live.fetch_add(1, std::memory_order_relaxed) >= budget()) {
    g_live.fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  const int fd = memfd_create("tutti-body", MFD_CLOEXEC);
  if (fd < 0) {
    g_live.fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      g_live.fetch_sub(1, std::memory_order_relaxed);
      return nullptr;
    }
    at += static_cast<size_t>(n);
  }
  return std::shared_ptr<const SharedFile>(new SharedFile(fd, bytes.size()));
}

SharedFile::~SharedFile() {
  ::close(fd_);
  g_live.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace tutti
