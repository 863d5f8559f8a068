#pragma once
// The demo table (docs/web.md): the game the demo page shows, played by the
// server in one room. A round is a fair betting window `round-N` of
// betting_ms; once it settles (close + the room's grace, every bet judged)
// the result is published with `media_ts` = the capture time at the end of
// the stream's newest part, so a page reveals it with that frame (and, in a
// room whose rule names the stream, it is on the video timeline too); then
// pause_ms and the next round. The window's own `window_open` and
// `window_summary` publications frame each round.
//
// Thread: runs on worker 0, by its timers; start() and stop() from the
// server's control thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "context.h"

namespace tutti::server {

class DemoTable {
 public:
  DemoTable(ServerContext& ctx, DemoConfig config);
  ~DemoTable();
  void start();
  // No new round after this; a round in flight ends at its next step.
  void stop();

  // The winning colour of a roulette number (0 green, the red set, the rest black).
  static const char* colourOf(int number);

 private:
  struct State;
  static void openRound(const std::shared_ptr<State>& s);
  static void publishResult(const std::shared_ptr<State>& s, const std::string& round);
  std::shared_ptr<State> state_;
};

}  // namespace tutti::server
