#pragma once
// Runs the real server binary as a child process for integration tests:
// writes the TOML config to a private temp directory, spawns
// `tutti serve --config FILE`, and waits for its first stdout line
// `listening on 127.0.0.1:PORT`. The config always listens on 127.0.0.1:0
// (withListenOnPort0), so tests never collide on ports.
//
// One test thread owns a ServerProcess (not thread-safe). The destructor
// kills the child (SIGKILL) if it still runs and removes the temp directory.
// The child also gets SIGKILL if the test process dies (PR_SET_PDEATHSIG).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "tutti/core/loopback_port.h"
#include "tutti/core/result.h"

namespace tutti::test {

// A private temporary directory (mkdtemp), removed with its files on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

// freeLoopbackPort(type): tutti/core/loopback_port.h.
using tutti::freeLoopbackPort;

class ServerProcess {
 public:
  // binary: path of the `tutti` executable (integration tests pass TUTTI_BINARY).
  // toml: the config; its [server] listen is forced to 127.0.0.1:0.
  ServerProcess(std::string binary, std::string toml);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns the server and waits up to timeout_ms for the listening line.
  // The error says why, with the tail of the server's stderr.
  Result<void> start(int64_t timeout_ms = 15000);

  uint16_t port() const { return port_; }
  std::string wsUrl() const;  // ws://127.0.0.1:PORT/ws
  pid_t pid() const { return pid_; }
  bool running();

  bool sendSignal(int sig) const;
  // Waits for the child to exit: its exit status, 128 + signal number if a
  // signal ended it, nullopt on timeout.
  std::optional<int> waitExit(int64_t timeout_ms);

  // Resident set size from /proc/PID/status (VmRSS); 0 if unreadable.
  int64_t rssBytes() const;

  const std::string& configPath() const { return config_path_; }
  const std::string& stderrPath() const { return stderr_path_; }
  const std::string& stdoutPath() const { return stdout_path_; }
  // The last `bytes` of the server's stderr (for failure messages).
  std::string stderrTail(size_t bytes = 4000) const;

  // The config with `listen = "127.0.0.1:0"` in its [server] table (the
  // table is added, or an existing listen line replaced), except that a
  // listen line naming a loopback port other than 0 is kept (a server
  // restarted where its peers expect it).
  static std::string withListenOnPort0(std::string_view toml);

 private:
  void drainStdout();

  std::string binary_;
  std::string toml_;
  TempDir dir_;
  std::string config_path_;
  std::string stderr_path_;
  std::string stdout_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  std::optional<int> exit_status_;
  std::thread drain_;
};

}  // namespace tutti::test
