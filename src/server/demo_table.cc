#include "demo_table.h"

#include <algorithm>

#include "tutti/core/log.h"
#include "tutti/media/origin.h"

namespace tutti::server {

struct DemoTable::State {
  ServerContext& ctx;
  DemoConfig cfg;
  std::atomic<bool> stopped{false};
  uint64_t round = 0;  // worker 0 only
  std::mt19937 rng{std::random_device{}()};
  State(ServerContext& c, DemoConfig d) : ctx(c), cfg(std::move(d)) {}
  broker::Executor& loop() { return *ctx.executors[0]; }
};

DemoTable::DemoTable(ServerContext& ctx, DemoConfig config) : state_(std::make_shared<State>(ctx, std::move(config))) {}

DemoTable::~DemoTable() { stop(); }

void DemoTable::start() {
  auto s = state_;
  log::info("demo table", {{"room", s->cfg.table}, {"stream", s->cfg.stream},
                           {"betting_ms", std::to_string(s->cfg.betting_ms)}});
  s->loop().post([s] { openRound(s); });
}

void DemoTable::stop() { state_->stopped = true; }

const char* DemoTable::colourOf(int number) {
  static constexpr int kRed[] = {1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36};
  if (number == 0) return "green";
  return std::find(std::begin(kRed), std::end(kRed), number) != std::end(kRed) ? "red" : "black";
}

void DemoTable::openRound(const std::shared_ptr<State>& s) {
  if (s->stopped) return;
  const std::string id = "round-" + std::to_string(++s->round);
  broker::WindowRequest wr;
  wr.room = s->cfg.table;
  wr.window = id;
  wr.duration_us = s->cfg.betting_ms * 1000;
  wr.worker = 0;
  wr.opened_by = "demo";
  s->ctx.broker->openWindow(std::move(wr), [s, id](Result<sync::WindowSpec> r) {
    if (s->stopped) return;
    if (!r) {
      // An id taken (a room kept from before): the next number.
      log::warn("demo table: round not opened", {{"round", id}, {"error", r.error().message}});
      s->loop().postAfter(1'000'000, [s] { openRound(s); });
      return;
    }
    // The result after the window's summary (published at settles_at): a
    // tenth of a second later, so every bet is judged before the number.
    const int64_t until_settled = std::max<int64_t>(0, r->settles_at_us + 100'000 - s->ctx.clock.wallUs());
    s->loop().postAfter(until_settled, [s, id] { publishResult(s, id); });
  });
}

void DemoTable::publishResult(const std::shared_ptr<State>& s, const std::string& round) {
  if (s->stopped) return;
  const int number = std::uniform_int_distribution<int>(0, 36)(s->rng);
  std::optional<int64_t> media_ts;
  if (s->ctx.origin)
    for (const auto& st : s->ctx.origin->streams())
      if (st.name == s->cfg.stream) media_ts = st.newest_capture_us;
  broker::PublishRequest pr;
  pr.room = s->cfg.table;
  pr.worker = 0;
  pr.data_json = "{\"type\":\"result\",\"round\":\"" + round + "\",\"number\":" + std::to_string(number) +
                 ",\"color\":\"" + colourOf(number) + "\"}";
  pr.media_ts_us = media_ts;
  const bool pin = media_ts && s->ctx.pinsMedia(pr.room);
  std::string data = pr.data_json;
  s->ctx.broker->publish(std::move(pr), [s, media_ts, pin, data](Result<broker::PublishResult> r) {
    if (!r) log::warn("demo table: result not published", {{"error", r.error().message}});
    else if (pin) s->ctx.toMediaTimeline(s->cfg.table, *r, *media_ts, data);
    if (!s->stopped) s->loop().postAfter(s->cfg.pause_ms * 1000, [s] { openRound(s); });
  });
}

}  // namespace tutti::server
