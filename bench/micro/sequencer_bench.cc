// Ordering a room's publications. Sequencer::assign itself is two additions
// (a floor, to show it never matters); the work of ordering is Room::publish,
// which for each message of a batch that waited together assigns the offset,
// encodes the one push frame every subscriber gets, shares it and appends it
// to history, with de-duplication when the client gave a client_msg_id.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "payload.h"
#include "tutti/sync/room.h"
#include "tutti/sync/sequencer.h"

namespace tutti::sync {
namespace {

void BM_SequencerAssignSingle(benchmark::State& state) {
  Sequencer seq(bench::kEpoch);
  for (auto _ : state) benchmark::DoNotOptimize(seq.assign(1));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SequencerAssignSingle);

// One call per batch of range(0) messages; an item is one offset.
void BM_SequencerAssignBatch(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  Sequencer seq(bench::kEpoch);
  for (auto _ : state) benchmark::DoNotOptimize(seq.assign(n));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SequencerAssignBatch)->Arg(16)->Arg(128);

// Room::publish of a batch of range(0) messages of range(1) data bytes, with
// the default policy (history of 1000, so at steady state every append also
// evicts, and the evicted frame is freed unless a subscriber still holds it).
// An item is one ordered message; bytes are the data bytes ordered.
void publishBatches(benchmark::State& state, bool dedup) {
  const auto batch = static_cast<size_t>(state.range(0));
  const auto data_bytes = static_cast<size_t>(state.range(1));
  Room room(bench::kRoom, bench::kEpoch, RoomPolicy{}, 0);
  std::vector<PublishInput> inputs(batch);
  for (auto& in : inputs) in.data_json = bench::jsonData(data_bytes);

  // Keys as Connection::onPublish builds them ("c" US user US client US
  // client_msg_id). More keys than the cache keeps (10000), so a key has been
  // evicted before it comes round again and no publish is a duplicate.
  std::vector<std::string> keys;
  if (dedup) {
    keys.reserve(1 << 15);
    for (size_t i = 0; i < (1 << 15); ++i)
      keys.push_back("c\x1fuser-1234\x1f" "client-5678\x1fmsg-" + std::to_string(i));
  }
  size_t next_key = 0;

  std::vector<PublishAck> acks;
  std::vector<Publication> ordered;
  int64_t now_us = 1'000'000;
  for (auto _ : state) {
    if (dedup) {
      // Copies into strings that keep their capacity: no allocation.
      for (auto& in : inputs) in.dedup_key = keys[next_key++ & (keys.size() - 1)];
    }
    acks.clear();
    ordered.clear();  // the fan-out is done with its references
    room.publish(inputs, now_us, acks, ordered);
    benchmark::DoNotOptimize(ordered.data());
    now_us += 1000;
  }
  if (dedup && acks.size() == batch && acks.back().duplicate) state.SkipWithError("unexpected duplicate");
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * state.range(0) * state.range(1));
}

void BM_RoomPublish(benchmark::State& state) { publishBatches(state, false); }
BENCHMARK(BM_RoomPublish)->ArgNames({"batch", "data"})->Args({1, 100})->Args({16, 100})->Args({128, 100});

void BM_RoomPublishDedup(benchmark::State& state) { publishBatches(state, true); }
BENCHMARK(BM_RoomPublishDedup)->ArgNames({"batch", "data"})->Args({1, 100})->Args({16, 100});

}  // namespace
}  // namespace tutti::sync
