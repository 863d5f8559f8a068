#include "test/common/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tutti/protocol/codes.h"

namespace tutti::test {

namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Error err(std::string msg) { return makeError(code::kInternal, std::move(msg)); }

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tutti-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(std::string_view name, std::string_view content) const {
  std::string p = path_ + "/" + std::string(name);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  return p;
}

std::string ServerProcess::withListenOnPort0(std::string_view toml) {
  const std::string kListen = "listen = \"127.0.0.1:0\"";
  std::vector<std::string> lines;
  std::istringstream in{std::string(toml)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  bool in_server = false;
  int server_header = -1;
  bool replaced = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = trim(lines[i]);
    if (!t.empty() && t.front() == '[') {
      in_server = t == "[server]";
      if (in_server) server_header = static_cast<int>(i);
      continue;
    }
    if (in_server && t.rfind("listen", 0) == 0) {
      std::string rest = trim(std::string_view(t).substr(6));
      if (!rest.empty() && rest.front() == '=') {
        // A loopback port named on purpose (a test that restarts a server
        // where its peers expect it) is kept.
        const bool named = rest.find("\"127.0.0.1:") != std::string::npos && rest.find("127.0.0.1:0\"") == std::string::npos;
        if (!named) lines[i] = kListen;
        replaced = true;
      }
    }
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    out += '\n';
    if (static_cast<int>(i) == server_header && !replaced) out += kListen + "\n";
  }
  // Appended, not prepended: top-level keys before the first table stay top-level.
  if (server_header < 0) out += "\n[server]\n" + kListen + "\n";
  return out;
}

ServerProcess::ServerProcess(std::string binary, std::string toml)
    : binary_(std::move(binary)), toml_(std::move(toml)) {
  config_path_ = dir_.write("config.toml", withListenOnPort0(toml_));
  stderr_path_ = dir_.path() + "/stderr.log";
  stdout_path_ = dir_.path() + "/stdout.log";
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    waitExit(5000);
  }
  if (drain_.joinable()) drain_.join();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::string ServerProcess::wsUrl() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/ws"; }

Result<void> ServerProcess::start(int64_t timeout_ms) {
  if (dir_.path().empty()) return err("mkdtemp failed");
  if (::access(binary_.c_str(), X_OK) != 0) return err("server binary not executable: " + binary_);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return err(std::string("pipe2: ") + std::strerror(errno));
  int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err_fd < 0) return err(std::string("open stderr file: ") + std::strerror(errno));

  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls (the test process is multi-threaded).
  std::vector<std::string> args = {binary_, "serve", "--config", config_path_};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();

  const std::string work_dir_str = dir_.path();
  const char* work_dir = work_dir_str.c_str();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    ::close(err_fd);
    return err(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], 1);
    ::dup2(err_fd, 2);
    // Close every other descriptor: a test's client sockets must not live on
    // in the server (a "dropped" connection would stay open through it).
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
    {
      long max_fd = ::sysconf(_SC_OPEN_MAX);
      for (long fd = 3; fd < max_fd; ++fd) ::close(static_cast<int>(fd));
    }
    // Run in the test's own directory: relative paths of the server (the
    // default audit log, tutti-audit.jsonl) stay per test.
    if (::chdir(work_dir) != 0) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  ::close(fds[1]);
  ::close(err_fd);
  stdout_fd_ = fds[0];

  // Read stdout up to the listening line.
  const int64_t deadline = nowMs() + timeout_ms;
  std::string buf;
  const std::string kPrefix = "listening on ";
  for (;;) {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      size_t at = line.find(kPrefix);
      if (at == std::string::npos) continue;
      size_t colon = line.rfind(':');
      int port = colon == std::string::npos ? 0 : std::atoi(line.c_str() + colon + 1);
      if (port <= 0 || port > 65535) return err("bad listening line: " + line);
      port_ = static_cast<uint16_t>(port);
      // Keep draining stdout so the server never blocks on a full pipe.
      std::ofstream(stdout_path_, std::ios::trunc) << buf;
      drain_ = std::thread([this] { drainStdout(); });
      return Result<void>();
    }
    int64_t left = deadline - nowMs();
    if (left <= 0) return err("no 'listening on' line within " + std::to_string(timeout_ms) + " ms; stderr:\n" + stderrTail());
    pollfd p{stdout_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    if (r < 0 && errno != EINTR) return err(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    auto st = waitExit(2000);
    return err("server exited before listening (status " + (st ? std::to_string(*st) : std::string("?")) +
               "); stdout: " + buf + "\nstderr:\n" + stderrTail());
  }
}

void ServerProcess::drainStdout() {
  std::ofstream out(stdout_path_, std::ios::app);
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n > 0) {
      out.write(chunk, n);
      out.flush();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return;  // EOF: the child is gone
    }
  }
}

bool ServerProcess::running() {
  if (pid_ <= 0 || exit_status_) return false;
  return !waitExit(0).has_value();
}

bool ServerProcess::sendSignal(int sig) const { return pid_ > 0 && ::kill(pid_, sig) == 0; }

std::optional<int> ServerProcess::waitExit(int64_t timeout_ms) {
  if (exit_status_) return exit_status_;
  if (pid_ <= 0) return std::nullopt;
  const int64_t deadline = nowMs() + timeout_ms;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      if (WIFEXITED(status)) {
        exit_status_ = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        exit_status_ = 128 + WTERMSIG(status);
      } else {
        continue;  // stopped/continued: not an exit
      }
      return exit_status_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (nowMs() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int64_t ServerProcess::rssBytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;  // "VmRSS:  123 kB"
  }
  return 0;
}

std::string ServerProcess::stderrTail(size_t bytes) const {
  std::ifstream in(stderr_path_, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() > bytes) all.erase(0, all.size() - bytes);
  return all;
}

}  // namespace tutti::test
