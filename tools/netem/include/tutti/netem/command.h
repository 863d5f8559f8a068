#pragma once
// `tutti netem`: the command line of the link emulator. src/exe/main.cc
// passes the arguments after "netem" to runNetemCommand.
//
//   tutti netem --listen HOST:PORT --target HOST:PORT [--udp]
//       [--delay-ms N | --delay-up-ms N --delay-down-ms N] [--jitter-ms N]
//       [--rate-kbps N] [--burst-bytes N] [--trace-up FILE] [--trace-down FILE]
//       [--queue-bytes N] [--loss P] [--reorder P] [--duplicate P] [--seed N]

#include <string>
#include <vector>

#include "tutti/core/result.h"
#include "tutti/netem/proxy.h"

namespace tutti::netem {

struct NetemOptions {
  ProxyConfig proxy;
  bool udp = false;
  bool help = false;  // --help: print usage and exit 0
};

// Parses the flags (traces are read here); the error says what is wrong.
Result<NetemOptions> parseNetemArgs(const std::vector<std::string>& args);

std::string netemUsage();

// Parses, starts the proxy, prints "listening on HOST:PORT" as the first
// stdout line (flushed), runs until SIGINT or SIGTERM, stops and returns 0.
// Bad flags, unreadable or malformed traces: a message on stderr and 2.
// Cannot listen: a message and 1. Blocks SIGINT/SIGTERM in the calling
// thread (call it from main before other threads exist).
int runNetemCommand(const std::vector<std::string>& args);

}  // namespace tutti::netem
