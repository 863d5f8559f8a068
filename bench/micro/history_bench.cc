// A room's history ring: the append every ordered message makes (bounded, so
// at steady state each append also evicts the oldest), and the read a
// recovering subscriber makes (covers + after, as Room::subscribe does).

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "payload.h"
#include "tutti/protocol/codec.h"
#include "tutti/sync/history.h"

namespace tutti::sync {
namespace {

// One encoded push frame of 100 data bytes, shared by every entry: history
// holds references, so the frame's size does not matter here, only the
// reference count traffic of the copy.
Publication samplePub(uint64_t offset) {
  static const auto pf =
      protocol::encodePub(bench::kRoom, bench::kEpoch, offset, 1'764'316'800'000'000, bench::jsonData(100));
  static const Frame frame = std::make_shared<const std::string>(pf.bytes);
  Publication p;
  p.offset = offset;
  p.ts_us = 1'764'316'800'000'000;
  p.frame = frame;
  p.data_pos = static_cast<uint32_t>(pf.data_pos);
  p.data_len = static_cast<uint32_t>(pf.data_len);
  return p;
}

History fullHistory(size_t max_size) {
  History h(max_size, 300'000'000);
  for (uint64_t o = 1; o <= max_size; ++o) h.append(samplePub(o));
  return h;
}

// Append to a full history of range(0) entries (Room::publish copies the
// publication in, keeping its own for the fan-out). An item is one append.
void BM_HistoryAppend(benchmark::State& state) {
  const auto max_size = static_cast<size_t>(state.range(0));
  History h = fullHistory(max_size);
  Publication p = samplePub(0);
  uint64_t offset = h.lastOffset() + 1;
  for (auto _ : state) {
    p.offset = offset++;
    benchmark::DoNotOptimize(h.append(p));
  }
  if (h.size() != max_size || h.lastOffset() != offset - 1) state.SkipWithError("append refused");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistoryAppend)->ArgName("max_size")->Arg(100)->Arg(1000)->Arg(10000);

// A subscriber recovering the last range(1) messages from a full history of
// range(0). An item is one replayed publication.
void BM_HistoryRecover(benchmark::State& state) {
  const auto max_size = static_cast<size_t>(state.range(0));
  const auto missed = static_cast<uint64_t>(state.range(1));
  const History h = fullHistory(max_size);
  const uint64_t top = h.lastOffset();
  const uint64_t after = top - missed;
  for (auto _ : state) {
    if (!h.covers(after, top)) {
      state.SkipWithError("history does not cover the range");
      break;
    }
    auto replay = h.after(after, static_cast<size_t>(-1));
    benchmark::DoNotOptimize(replay.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_HistoryRecover)
    ->ArgNames({"max_size", "missed"})
    ->Args({1000, 1})
    ->Args({1000, 10})
    ->Args({1000, 100})
    ->Args({1000, 1000});

}  // namespace
}  // namespace tutti::sync
