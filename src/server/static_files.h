#pragma once
// The web pages (docs/web.md) as files under one root directory: "/" is
// index.html, "/admin" is admin/index.html, any other path the file of that
// name. Never outside the root: a path with "..", a backslash, a NUL, a
// percent escape or a hidden segment is not found, and symlinks are not
// followed out of it. Thread: any (stateless but for the root).

#include <optional>
#include <string>
#include <string_view>

#include "tutti/net/transport.h"

namespace tutti::server {

class StaticFiles {
 public:
  explicit StaticFiles(std::string root) : root_(std::move(root)) {}
  // The response for a GET or HEAD of `path`, or nothing when no file answers it.
  std::optional<net::HttpResponse> get(std::string_view path) const;
  // The file path under the root that `path` names, or nothing for a path
  // that may not be served. Exposed for tests.
  static std::optional<std::string> resolve(std::string_view path);
  static std::string_view contentType(std::string_view file);

 private:
  std::string root_;
};

}  // namespace tutti::server
