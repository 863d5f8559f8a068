// The wire codec on the per-message path: decoding a client's publish frame
// (one line, or a batch of lines in one frame), encoding the push line every
// subscriber gets (once per message, shared by all), and the publisher's ack.
//
// The WebSocket framing itself is Beast's (src/net/session.cc), not Tutti's
// own code, so it is not measured here.

#include <benchmark/benchmark.h>

#include <string>

#include "payload.h"
#include "tutti/protocol/codec.h"

namespace tutti::protocol {
namespace {

// A publish command as the SDKs send it, with `data` of data_bytes bytes.
std::string publishLine(uint64_t id, size_t data_bytes) {
  return R"({"id":)" + std::to_string(id) + R"(,"method":"publish","params":{"room":")" + bench::kRoom +
         R"(","data":)" + bench::jsonData(data_bytes) + R"(,"client_msg_id":"m-)" + std::to_string(id) + R"("}})";
}

// encodePub for range(0) data bytes, without and with `at`. An item is one
// push frame; bytes are the frame's bytes.
void BM_EncodePub(benchmark::State& state) {
  const std::string data = bench::jsonData(static_cast<size_t>(state.range(0)));
  uint64_t offset = 1;
  size_t frame_bytes = 0;
  for (auto _ : state) {
    auto f = encodePub(bench::kRoom, bench::kEpoch, offset++, 1'764'316'800'000'000, data);
    frame_bytes = f.bytes.size();
    benchmark::DoNotOptimize(f.bytes.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame_bytes));
  state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}
BENCHMARK(BM_EncodePub)->ArgName("data")->Arg(100)->Arg(1000);

void BM_EncodePubAt(benchmark::State& state) {
  const std::string data = bench::jsonData(static_cast<size_t>(state.range(0)));
  uint64_t offset = 1;
  size_t frame_bytes = 0;
  for (auto _ : state) {
    auto f = encodePub(bench::kRoom, bench::kEpoch, offset++, 1'764'316'800'000'000, data, 1'764'316'800'500'000);
    frame_bytes = f.bytes.size();
    benchmark::DoNotOptimize(f.bytes.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame_bytes));
}
BENCHMARK(BM_EncodePubAt)->ArgName("data")->Arg(100);

// decodeFrame of one text frame holding range(0) publish lines of range(1)
// data bytes (Boost.JSON parse, validation, `data` re-serialised). An item is
// one decoded command; bytes are the frame's bytes.
void BM_DecodeFramePublish(benchmark::State& state) {
  const auto lines = static_cast<size_t>(state.range(0));
  std::string frame;
  for (size_t i = 0; i < lines; ++i) {
    if (i) frame += '\n';
    frame += publishLine(i + 1, static_cast<size_t>(state.range(1)));
  }
  for (auto _ : state) {
    auto decoded = decodeFrame(frame, 1000);
    benchmark::DoNotOptimize(decoded.data());
    if (decoded.size() != lines || !decoded.back().command) {
      state.SkipWithError("publish frame did not decode");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
}
BENCHMARK(BM_DecodeFramePublish)->ArgNames({"lines", "data"})->Args({1, 100})->Args({16, 100})->Args({1, 1000});

// The publisher's ack: {"id":N,"result":{"room":..,"epoch":..,"offset":..,"ts":..}}
// (the result object is built by Connection, which is not public; a fixed
// body of the same size stands for it).
void BM_EncodeResultAck(benchmark::State& state) {
  const std::string result =
      R"({"room":"game:table-42","epoch":"9f86d081884c7d65","offset":123456,"ts":1764316800000000})";
  uint64_t id = 1;
  for (auto _ : state) {
    auto s = encodeResult(id++, result);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeResultAck);

}  // namespace
}  // namespace tutti::protocol
