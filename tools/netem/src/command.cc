#include "tutti/netem/command.h"

#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "tutti/core/log.h"
#include "tutti/protocol/codes.h"

namespace tutti::netem {

namespace {

Error flagError(const std::string& message) { return makeError(code::kInvalidParams, message); }

Result<int64_t> parseCount(const std::string& flag, const std::string& text, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < 0 || v > max) {
    return flagError(flag + " wants a whole number from 0 to " + std::to_string(max) + ", got \"" + text + "\"");
  }
  return v;
}

Result<double> parseProbability(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(v >= 0.0 && v <= 1.0)) {
    return flagError(flag + " wants a probability from 0 to 1, got \"" + text + "\"");
  }
  return v;
}

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

Result<HostPort> parseHostPort(const std::string& flag, const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return flagError(flag + " wants HOST:PORT, got \"" + text + "\"");
  auto port = parseCount(flag + " port", text.substr(colon + 1), 65535);
  if (!port) return port.error();
  std::string host = text.substr(0, colon);
  // [::1]:8080 names an IPv6 host.
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return HostPort{host, static_cast<uint16_t>(*port)};
}

}  // namespace

std::string netemUsage() {
  return "usage: tutti netem --listen HOST:PORT --target HOST:PORT [--udp]\n"
         "         [--delay-ms N | --delay-up-ms N --delay-down-ms N] [--jitter-ms N]\n"
         "         [--rate-kbps N] [--burst-bytes N] [--trace-up FILE] [--trace-down FILE]\n"
         "         [--queue-bytes N] [--loss P] [--reorder P] [--duplicate P] [--seed N]\n"
         "  up = client -> target, down = target -> client; delay, jitter, rate and queue apply to both\n"
         "  directions unless split; traces are Mahimahi files (one ms timestamp per 1500-byte\n"
         "  delivery opportunity) and replace --rate-kbps for their direction; --loss, --reorder\n"
         "  and --duplicate need --udp. Prints \"listening on HOST:PORT\" first; SIGINT/SIGTERM stop it.\n";
}

Result<NetemOptions> parseNetemArgs(const std::vector<std::string>& args) {
  NetemOptions o;
  bool have_listen = false, have_target = false, have_delay = false, have_split_delay = false;
  bool have_datagram_knob = false;
  constexpr int64_t kMaxMs = 3'600'000;  // an hour: anything above is a typo
  ProxyConfig& p = o.proxy;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      o.help = true;
      return o;
    }
    if (flag == "--udp") {
      o.udp = true;
      continue;
    }
    if (i + 1 >= args.size()) {
      return flagError(flag.rfind("--", 0) == 0 ? flag + " needs a value" : "unexpected \"" + flag + "\"");
    }
    const std::string& value = args[++i];
    if (flag == "--listen" || flag == "--target") {
      auto hp = parseHostPort(flag, value);
      if (!hp) return hp.error();
      if (flag == "--listen") {
        p.listen_host = hp->host;
        p.listen_port = hp->port;
        have_listen = true;
      } else {
        if (hp->port == 0) return flagError("--target needs a port above 0");
        p.target_host = hp->host;
        p.target_port = hp->port;
        have_target = true;
      }
    } else if (flag == "--delay-ms" || flag == "--delay-up-ms" || flag == "--delay-down-ms" || flag == "--jitter-ms") {
      auto ms = parseCount(flag, value, kMaxMs);
      if (!ms) return ms.error();
      const int64_t us = *ms * 1000;
      if (flag == "--delay-ms") {
        p.up.delay_us = p.down.delay_us = us;
        have_delay = true;
      } else if (flag == "--delay-up-ms") {
        p.up.delay_us = us;
        have_split_delay = true;
      } else if (flag == "--delay-down-ms") {
        p.down.delay_us = us;
        have_split_delay = true;
      } else {
        p.up.jitter_us = p.down.jitter_us = us;
      }
    } else if (flag == "--rate-kbps") {
      auto kbps = parseCount(flag, value, 100'000'000);
      if (!kbps) return kbps.error();
      p.up.rate_bps = p.down.rate_bps = *kbps * 1000;
    } else if (flag == "--burst-bytes") {
      auto b = parseCount(flag, value, int64_t{1} << 30);
      if (!b) return b.error();
      if (*b == 0) return flagError("--burst-bytes must be above 0");
      p.up.burst_bytes = p.down.burst_bytes = *b;
    } else if (flag == "--queue-bytes") {
      auto b = parseCount(flag, value, int64_t{1} << 30);
      if (!b) return b.error();
      p.up.queue_bytes = p.down.queue_bytes = *b;
    } else if (flag == "--trace-up" || flag == "--trace-down") {
      auto t = Trace::load(value);
      if (!t) return flagError(flag + ": " + t.error().message);
      auto trace = std::make_shared<const Trace>(std::move(*t));
      (flag == "--trace-up" ? p.up : p.down).trace = std::move(trace);
    } else if (flag == "--loss" || flag == "--reorder" || flag == "--duplicate") {
      auto prob = parseProbability(flag, value);
      if (!prob) return prob.error();
      double LinkConfig::*field = flag == "--loss"      ? &LinkConfig::loss
                                  : flag == "--reorder" ? &LinkConfig::reorder
                                                        : &LinkConfig::duplicate;
      p.up.*field = p.down.*field = *prob;
      have_datagram_knob = true;
    } else if (flag == "--seed") {
      auto s = parseCount(flag, value, std::numeric_limits<int64_t>::max());
      if (!s) return s.error();
      p.seed = static_cast<uint64_t>(*s);
    } else {
      return flagError("unknown flag \"" + flag + "\"");
    }
  }
  if (!have_listen) return flagError("--listen HOST:PORT is required");
  if (!have_target) return flagError("--target HOST:PORT is required");
  if (have_delay && have_split_delay) return flagError("use either --delay-ms or --delay-up-ms/--delay-down-ms");
  if (have_datagram_knob && !o.udp) return flagError("--loss, --reorder and --duplicate need --udp");
  return o;
}

int runNetemCommand(const std::vector<std::string>& args) {
  auto parsed = parseNetemArgs(args);
  if (!parsed) {
    std::fprintf(stderr, "tutti netem: %s\n%s", parsed.error().message.c_str(), netemUsage().c_str());
    return 2;
  }
  if (parsed->help) {
    std::printf("%s", netemUsage().c_str());
    return 0;
  }
  const NetemOptions& o = *parsed;

  // Block the stop signals before the proxy's thread exists (it inherits the
  // mask); this thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto proxy = o.udp ? Proxy::startUdp(o.proxy) : Proxy::startTcp(o.proxy);
  if (!proxy) {
    std::fprintf(stderr, "tutti netem: %s\n", proxy.error().message.c_str());
    return 1;
  }
  const std::string addr = o.proxy.listen_host + ":" + std::to_string((*proxy)->port());
  // The first stdout line: tests and scripts read the bound port from it.
  std::printf("listening on %s\n", addr.c_str());
  std::fflush(stdout);
  log::info("netem listening",
            {{"addr", addr},
             {"target", o.proxy.target_host + ":" + std::to_string(o.proxy.target_port)},
             {"mode", o.udp ? "udp" : "tcp"},
             {"delay_up_ms", std::to_string(o.proxy.up.delay_us / 1000)},
             {"delay_down_ms", std::to_string(o.proxy.down.delay_us / 1000)},
             {"jitter_ms", std::to_string(o.proxy.up.jitter_us / 1000)}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::info("netem stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*proxy)->stop();
  return 0;
}

}  // namespace tutti::netem
