// `tutti`: one binary, subcommands. This file only parses arguments and
// wires the areas together; each subcommand's logic lives in its area.

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "tutti/auth/jwt.h"
#include "tutti/core/log.h"
#include "tutti/loadgen/command.h"
#include "tutti/media/command.h"
#include "tutti/netem/command.h"
#include "tutti/server/config.h"
#include "tutti/server/server.h"
#include "tutti/sync/audit_log.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: tutti <command> [options]\n"
               "  serve [--config FILE]   run the server (no config: all-in-one on 127.0.0.1:8080)\n"
               "  version                 print the version\n"
               "  token --sub USER [--ttl SECONDS] [--subscribe PATTERN]... [--publish PATTERN]...\n"
               "        [--alg HS256|RS256|ES256] (--secret S | --key PRIVATE_PEM_FILE)\n"
               "                          mint a connection token (docs/protocol.md, Tokens)\n"
               "  keygen --alg RS256|ES256 --out PREFIX   write PREFIX.key (private) and PREFIX.pub\n"
               "  netem --listen HOST:PORT --target HOST:PORT [options]   link emulator (tools/netem/README.md)\n"
               "  bench --url ws://HOST:PORT [options]   load generator (tools/loadgen/README.md)\n"
               "  audit verify FILE       check a fair-window audit log's hash chain\n"
               "  ladder FILE             run the media ladder over FILE as fast as it goes (bench/media/run)\n");
  return 2;
}

// 128 bits from the kernel, hex: the all-in-one mode's API and admin key.
std::string randomKey() {
  unsigned char b[16] = {};
  FILE* f = std::fopen("/dev/urandom", "rb");
  const bool ok = f && std::fread(b, 1, sizeof b, f) == sizeof b;
  if (f) std::fclose(f);
  if (!ok) return {};  // no key: the API and admin pages stay off
  std::string out;
  for (unsigned char c : b) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

int serve(const std::vector<std::string>& args) {
  tutti::server::ServerConfig config;
  // Without a config file: all-in-one on loopback, with the synthetic camera
  // publishing stream "demo", so that the demo shows live video on a bare machine.
  config.media.camera = true;
  bool all_in_one = true;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      auto c = tutti::server::loadConfig(args[++i]);
      if (!c) {
        std::fprintf(stderr, "tutti: %s\n", c.error().message.c_str());
        return 2;
      }
      config = std::move(c.value());
      all_in_one = false;
    } else {
      return usage();
    }
  }
  if (all_in_one) {
    // The demo table plays in table:1, its results pinned to the camera's
    // frames; the admin pages get a fresh key, printed below.
    config.demo.table = "table:1";
    tutti::server::RoomRule table;
    table.prefix = "table:";
    table.presence = true;
    table.media_stream = "demo";
    config.rooms.push_back(table);
    config.server.api_key = randomKey();
  }
  tutti::log::Level level;
  if (!tutti::log::parseLevel(config.server.log_level, level)) {
    std::fprintf(stderr, "tutti: config: server.log_level must be debug, info, warn, error or off\n");
    return 2;
  }
  tutti::log::setLevel(level);

  // Block the stop signals in every thread (workers inherit the mask); this
  // thread waits for them with sigwait and runs the orderly shutdown.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = tutti::server::Server::start(config);
  if (!server) {
    std::fprintf(stderr, "tutti: %s\n", server.error().message.c_str());
    return 1;
  }
  const auto host = config.server.listen.substr(0, config.server.listen.rfind(':'));
  // The first stdout line: tests and scripts read the bound port from it.
  std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>((*server)->port()));
  const std::string base = "http://" + host + ":" + std::to_string((*server)->port());
  if (all_in_one)
    std::printf("demo: %s/\nadmin: %s/admin (user admin, password %s)\n", base.c_str(), base.c_str(),
                config.server.api_key.c_str());
  std::fflush(stdout);
  tutti::log::info("listening", {{"addr", host + ":" + std::to_string((*server)->port())},
                                 {"ws", "ws://" + host + ":" + std::to_string((*server)->port()) + "/ws"},
                                 {"version", TUTTI_VERSION}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  tutti::log::info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*server)->shutdown();
  return 0;
}

std::string readFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

int token(const std::vector<std::string>& args) {
  tutti::auth::Claims claims;
  std::string alg_name = "HS256", secret, key_file;
  int64_t ttl = 3600;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const auto& k = args[i];
    const auto& v = args[i + 1];
    if (k == "--sub") claims.sub = v;
    else if (k == "--ttl") ttl = std::stoll(v);
    else if (k == "--subscribe") claims.subscribe.push_back(v);
    else if (k == "--publish") claims.publish.push_back(v);
    else if (k == "--alg") alg_name = v;
    else if (k == "--secret") secret = v;
    else if (k == "--key") key_file = v;
    else return usage();
  }
  if (args.size() % 2 != 0 || claims.sub.empty()) return usage();
  auto alg = tutti::auth::parseAlg(alg_name);
  if (!alg) return usage();
  const std::string key = *alg == tutti::auth::Alg::kHS256 ? secret : readFile(key_file);
  if (key.empty()) {
    std::fprintf(stderr, "tutti token: need --secret (HS256) or a readable --key file (RS256/ES256)\n");
    return 2;
  }
  const int64_t now = std::time(nullptr);
  claims.iat = now;
  claims.exp = now + ttl;
  auto t = tutti::auth::sign(claims, *alg, key);
  if (!t) {
    std::fprintf(stderr, "tutti token: %s\n", t.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", t->c_str());
  return 0;
}

int keygen(const std::vector<std::string>& args) {
  std::string alg_name, out;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--alg") alg_name = args[i + 1];
    else if (args[i] == "--out") out = args[i + 1];
    else return usage();
  }
  auto alg = tutti::auth::parseAlg(alg_name);
  if (!alg || *alg == tutti::auth::Alg::kHS256 || out.empty()) return usage();
  auto kp = tutti::auth::generateKeyPair(*alg);
  if (!kp) {
    std::fprintf(stderr, "tutti keygen: %s\n", kp.error().message.c_str());
    return 1;
  }
  for (auto [path, text] : {std::pair{out + ".key", kp->private_pem}, std::pair{out + ".pub", kp->public_pem}}) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size()) {
      std::fprintf(stderr, "tutti keygen: cannot write %s\n", path.c_str());
      return 1;
    }
    std::fclose(f);
  }
  std::printf("wrote %s.key and %s.pub\n", out.c_str(), out.c_str());
  return 0;
}

int audit(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "verify") return usage();
  const auto v = tutti::sync::verifyAuditFile(args[1]);
  if (v.ok) {
    std::printf("ok: %llu lines, last hash %s\n", static_cast<unsigned long long>(v.lines), v.last_hash.c_str());
    return 0;
  }
  if (v.broken_line == 0) {
    std::printf("error: %s\n", v.reason.c_str());
    return 2;
  }
  std::printf("broken at line %llu: %s\n", static_cast<unsigned long long>(v.broken_line), v.reason.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "serve") return serve(args);
  if (cmd == "version" || cmd == "--version") {
    std::printf("tutti %s (protocol 1)\n", TUTTI_VERSION);
    return 0;
  }
  if (cmd == "token") return token(args);
  if (cmd == "keygen") return keygen(args);
  if (cmd == "netem") return tutti::netem::runNetemCommand(args);
  if (cmd == "bench") return tutti::loadgen::runBenchCommand(args);
  if (cmd == "audit") return audit(args);
  if (cmd == "ladder") return tutti::media::runLadderCommand(args);
  return usage();
}
