#pragma once
// Immutable bytes in an anonymous in-memory file (memfd), for answers that
// many connections send: the kernel sends them from the file's pages
// (sendfile) without copying them from user memory for each send, which is
// most of the system time of serving a cached part (bench/README.md, "Edge").
//
// The descriptor is closed when the last holder lets go; pages already
// queued on a socket stay valid (the kernel holds its own references).
// Descriptors are a process-wide budget: create() refuses (null) beyond a
// share of RLIMIT_NOFILE, and callers keep the bytes in memory instead.
#include <cstdint>
#include <memory>
#include <string_view>

namespace tutti {

class SharedFile {
 public:
  // The bytes in a new file, or null (no descriptor left in the budget, or
  // the system refused). Thread-safe.
  static std::shared_ptr<const SharedFile> create(std::string_view bytes);
  ~SharedFile();
  SharedFile(const SharedFile&) = delete;
  SharedFile& operator=(const SharedFile&) = delete;

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  // Files alive now, and the most there may be.
  static int64_t live();
  static int64_t budget();

 private:
  SharedFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

}  // namespace tutti
