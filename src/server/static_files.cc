#include "static_files.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <sys/stat.h>

namespace tutti::server {

std::optional<std::string> StaticFiles::resolve(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.size() > 512) return std::nullopt;
  if (path == "/") return std::string("index.html");
  std::string rel(path.substr(1));
  if (!rel.empty() && rel.back() == '/') rel += "index.html";
  if (rel == "admin") rel = "admin/index.html";
  size_t start = 0;
  while (start <= rel.size()) {
    const size_t end = std::min(rel.find('/', start), rel.size());
    const std::string_view seg(rel.data() + start, end - start);
    // Empty, hidden ("." and ".." included) segments never name a page.
    if (seg.empty() || seg.front() == '.') return std::nullopt;
    for (char c : seg)
      if (c == '\\' || c == '%' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return std::nullopt;
    start = end + 1;
  }
  return rel;
}

std::string_view StaticFiles::contentType(std::string_view file) {
  const auto dot = file.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view{} : file.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "woff2") return "font/woff2";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::optional<net::HttpResponse> StaticFiles::get(std::string_view path) const {
  if (root_.empty()) return std::nullopt;
  const auto rel = resolve(path);
  if (!rel) return std::nullopt;
  // The real path must stay under the real root (no symlink out of it).
  char root_real[PATH_MAX], file_real[PATH_MAX];
  const std::string file = root_ + "/" + *rel;
  if (!::realpath(root_.c_str(), root_real) || !::realpath(file.c_str(), file_real)) return std::nullopt;
  const std::string r(root_real), f(file_real);
  if (f.size() <= r.size() || f.compare(0, r.size(), r) != 0 || f[r.size()] != '/') return std::nullopt;
  struct stat st {};
  if (::stat(file_real, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024 * 1024) return std::nullopt;
  FILE* in = std::fopen(file_real, "rb");
  if (!in) return std::nullopt;
  std::string body(static_cast<size_t>(st.st_size), '\0');
  const size_t n = std::fread(body.data(), 1, body.size(), in);
  std::fclose(in);
  body.resize(n);
  net::HttpResponse res{200, std::string(contentType(*rel)), std::move(body), {}};
  // Pages are rebuilt in place (no content hashes in their names): the
  // browser revalidates every time rather than showing an old build.
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return res;
}

}  // namespace tutti::server
