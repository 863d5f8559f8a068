#include "tutti/loadgen/command.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "tutti/loadgen/engine.h"

namespace tutti::loadgen {

namespace {

const char kUsage[] =
    "usage: tutti bench --url ws://HOST:PORT [options]\n"
    "  --protocol tutti|nats|plain   what the server speaks (default tutti)\n"
    "  --scenario fanout|idle|storm  (default fanout)\n"
    "  --rooms R --subscribers S     fanout: R rooms of S subscribers, one publisher each\n"
    "  --rate D[,D2,...]             fanout: deliveries/s asked (all rooms); a list runs steps in turn\n"
    "  --seconds T                   fanout: publishing time per step (default 5)\n"
    "  --p99-limit-ms L              fanout: a step counts for the maximum only with p99 <= L (default 100)\n"
    "  --connections N               idle/storm: connections to open\n"
    "  --size B                      message body bytes (default 100)\n"
    "  --threads N                   I/O threads (default 1)\n"
    "  --sources A,B,...             local addresses to connect from (127.0.0.2, ...)\n"
    "  --server-pid PID              read the server's CPU and memory from /proc\n"
    "  --drain-ms MS                 longest wait for deliveries after a step (default 5000)\n";

struct Args {
  std::map<std::string, std::string> kv;
  std::optional<std::string> get(const std::string& k) const {
    auto it = kv.find(k);
    if (it == kv.end()) return std::nullopt;
    return it->second;
  }
  double num(const std::string& k, double def) const {
    auto v = get(k);
    return v ? std::stod(*v) : def;
  }
};

std::vector<double> numbers(const std::string& list) {
  std::vector<double> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stod(item));
  return out;
}

std::vector<std::string> words(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

std::string fmt(double v, int digits = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string stepJson(const StepResult& r) {
  std::string j = "{";
  auto f = [&](const char* k, const std::string& v) { j += (j.size() > 1 ? ",\"" : "\"") + std::string(k) + "\":" + v; };
  f("asked_deliveries_per_s", fmt(r.asked_deliveries_per_s, 0));
  f("deliveries_per_s", fmt(r.deliveries_per_s, 0));
  f("published", std::to_string(r.published));
  f("delivered", std::to_string(r.delivered));
  f("lost", std::to_string(r.lost));
  f("reordered", std::to_string(r.reordered));
  f("disconnected", std::to_string(r.disconnected));
  f("server_errors", std::to_string(r.server_errors));
  f("publisher_throttled", r.publisher_throttled ? "true" : "false");
  f("p50_ms", fmt(static_cast<double>(r.p50_ns) / 1e6));
  f("p90_ms", fmt(static_cast<double>(r.p90_ns) / 1e6));
  f("p99_ms", fmt(static_cast<double>(r.p99_ns) / 1e6));
  f("p999_ms", fmt(static_cast<double>(r.p999_ns) / 1e6));
  f("max_ms", fmt(static_cast<double>(r.max_ns) / 1e6));
  f("seconds", fmt(r.seconds));
  f("gen_cpu_us_per_delivery", r.delivered ? fmt(r.gen_cpu_s * 1e6 / static_cast<double>(r.delivered)) : "null");
  f("server_cpu_us_per_delivery",
    r.server_cpu_s >= 0 && r.delivered ? fmt(r.server_cpu_s * 1e6 / static_cast<double>(r.delivered)) : "null");
  j += "}";
  return j;
}

void raiseFileLimit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
  }
}

}  // namespace

int runBenchCommand(const std::vector<std::string>& argv) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& k = argv[i];
    if (k == "-h" || k == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!k.starts_with("--") || i + 1 >= argv.size()) {
      std::fprintf(stderr, "tutti bench: bad argument '%s'\n%s", k.c_str(), kUsage);
      return 2;
    }
    a.kv[k.substr(2)] = argv[++i];
  }
  EngineOptions o;
  const auto url = a.get("url").value_or("");
  const size_t hp = url.find("://");
  const std::string hostport = hp == std::string::npos ? url : url.substr(hp + 3);
  const size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "tutti bench: --url ws://HOST:PORT is required\n%s", kUsage);
    return 2;
  }
  o.host = hostport.substr(0, colon);
  o.port = static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1)));
  const auto proto = parseProtocol(a.get("protocol").value_or("tutti"));
  if (!proto) {
    std::fprintf(stderr, "tutti bench: unknown protocol\n");
    return 2;
  }
  o.protocol = *proto;
  o.threads = static_cast<int>(a.num("threads", 1));
  o.body_bytes = static_cast<size_t>(a.num("size", 100));
  if (auto s = a.get("sources")) o.sources = words(*s);
  const int server_pid = static_cast<int>(a.num("server-pid", 0));
  const auto drain_ms = static_cast<int64_t>(a.num("drain-ms", 5000));
  const std::string scenario = a.get("scenario").value_or("fanout");
  raiseFileLimit();

  auto note = [](const std::string& s) { std::fprintf(stderr, "tutti bench: %s\n", s.c_str()); };
  std::string json = "{\"protocol\":\"" + std::string(protocolName(o.protocol)) + "\",\"scenario\":\"" + scenario + "\"";
  Engine engine(o);

  if (scenario == "fanout") {
    const int rooms = static_cast<int>(a.num("rooms", 1));
    const int subs = static_cast<int>(a.num("subscribers", 100));
    const double seconds = a.num("seconds", 5);
    const double p99_limit_ms = a.num("p99-limit-ms", 100);
    const auto rates = numbers(a.get("rate").value_or("100000"));
    note("opening " + std::to_string(rooms) + " rooms x " + std::to_string(subs) + " subscribers");
    for (int r = 0; r < rooms; ++r) {
      if (auto ok = engine.addRoom(static_cast<uint32_t>(r), subs, true, 60000); !ok) {
        note("room " + std::to_string(r) + ": " + ok.error().message);
        std::printf("{\"error\":\"%s\"}\n", ok.error().message.c_str());
        return 1;
      }
    }
    std::string steps = "[";
    double best = 0, best_lossless = 0;
    std::optional<StepResult> best_step;
    int unclean_in_a_row = 0;
    for (double rate : rates) {
      const double per_room = rate / (static_cast<double>(rooms) * subs);
      auto r = engine.step(per_room, seconds, drain_ms, server_pid);
      note("asked " + fmt(rate, 0) + "/s: delivered " + fmt(r.deliveries_per_s, 0) + "/s, lost " + std::to_string(r.lost) +
           ", p99 " + fmt(static_cast<double>(r.p99_ns) / 1e6) + " ms" + (r.last_error.empty() ? "" : ", error: " + r.last_error));
      steps += (steps.size() > 1 ? "," : "") + stepJson(r);
      const bool lossless = r.lost == 0 && r.disconnected == 0;
      const bool clean = lossless && static_cast<double>(r.p99_ns) <= p99_limit_ms * 1e6;
      if (lossless) best_lossless = std::max(best_lossless, r.deliveries_per_s);
      if (clean && r.deliveries_per_s > best) {
        best = r.deliveries_per_s;
        best_step = r;
      }
      // Past saturation: stop climbing after two unclean steps in a row (one
      // may be a host stall), which also spares the drain of a long backlog.
      unclean_in_a_row = lossless ? 0 : unclean_in_a_row + 1;
      if (unclean_in_a_row >= 2) break;
    }
    steps += "]";
    json += ",\"rooms\":" + std::to_string(rooms) + ",\"subscribers\":" + std::to_string(subs);
    json += ",\"p99_limit_ms\":" + fmt(p99_limit_ms, 0);
    json += ",\"max_clean_deliveries_per_s\":" + fmt(best, 0);
    json += ",\"max_lossless_deliveries_per_s\":" + fmt(best_lossless, 0);
    if (best_step && best_step->server_cpu_s >= 0 && best_step->delivered)
      json += ",\"server_cpu_us_per_delivery_at_max\":" +
              fmt(best_step->server_cpu_s * 1e6 / static_cast<double>(best_step->delivered));
    json += ",\"steps\":" + steps;
  } else if (scenario == "idle" || scenario == "storm") {
    const int n = static_cast<int>(a.num("connections", 1000));
    const int64_t rss0 = server_pid > 0 ? processRssBytes(server_pid) : 0;
    note("opening " + std::to_string(n) + " connections");
    auto t = engine.addIdle(n, scenario == "idle", 120000);
    if (!t) {
      note(t.error().message);
      std::printf("{\"error\":\"%s\"}\n", t.error().message.c_str());
      return 1;
    }
    json += ",\"connections\":" + std::to_string(n) + ",\"seconds\":" + fmt(*t) +
            ",\"connects_per_s\":" + fmt(static_cast<double>(n) / *t, 0);
    if (server_pid > 0) {
      std::this_thread::sleep_for(std::chrono::seconds(1));  // let the server settle its buffers
      const int64_t rss1 = processRssBytes(server_pid);
      json += ",\"server_rss_before\":" + std::to_string(rss0) + ",\"server_rss_after\":" + std::to_string(rss1) +
              ",\"server_bytes_per_connection\":" + fmt(static_cast<double>(rss1 - rss0) / n, 0);
    }
  } else {
    std::fprintf(stderr, "tutti bench: unknown scenario '%s'\n", scenario.c_str());
    return 2;
  }
  json += "}";
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace tutti::loadgen
