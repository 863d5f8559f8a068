// Backpressure: a reader that stops reading is cut (close 4005) once its
// outgoing queue passes outgoing_buffer_bytes; nobody else notices, and the
// server's memory stays bounded.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/raw_ws_client.h"
#include "test/common/wait.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {
namespace {

constexpr char kConfig[] = R"(
[server]
workers = 2

[limits]
publish_rate_per_s = 100000
publish_burst = 100000
outgoing_buffer_bytes = 65536

[[rooms]]
prefix = ""
history_size = 200
)";

TEST(SlowConsumer, IsCutWith4005WhileOthersReceiveEverythingAndMemoryStaysBounded) {
  constexpr int kMessages = 2000;
  constexpr size_t kDataBytes = 16 * 1024;  // 2000 x 16 KiB = 32 MiB pushed to each subscriber
  auto server = startServer(kConfig);
  ASSERT_TRUE(server);

  RawWsClient slow;
  RawWsClient::Options tiny;
  tiny.receive_buffer_bytes = 4096;
  ASSERT_TRUE(slow.connect(server->port(), tiny).ok());
  auto hello = slow.connectCommand();
  ASSERT_TRUE(hello && hello->contains("result")) << (hello ? boost::json::serialize(*hello) : "no reply");
  ASSERT_TRUE(slow.sendText(R"({"id":2,"method":"subscribe","params":{"room":"feed:1"}})").ok());
  ASSERT_TRUE(slow.readReply(2).has_value());
  // From here on `slow` never reads.

  // Collectors outlive the clients whose callbacks write into them.
  std::vector<std::unique_ptr<Collector>> collectors;
  std::vector<std::unique_ptr<sdk::Client>> subs;
  for (int i = 0; i < 2; ++i) {
    subs.push_back(std::make_unique<sdk::Client>(clientOptions(*server)));
    collectors.push_back(std::make_unique<Collector>());
    ASSERT_TRUE(await(subs[i]->subscribe("feed:1", collectors[i]->handlers())).ok());
  }
  sdk::Client pub(clientOptions(*server));
  ASSERT_TRUE(await(pub.connect()).ok());

  const int64_t rss_before = server->rssBytes();
  ASSERT_GT(rss_before, 0);
  int64_t rss_peak = rss_before;
  const std::string filler(kDataBytes, 'x');
  bool slow_checked = false;
  // Paced so that the SDK subscribers, which do read, never have more than
  // kChunk messages outstanding: 3 x 16.5 KiB stays under the server's 64 KiB
  // queue limit even while all of them wait behind a write in flight (4 did
  // not), so only the reader that stopped reading may pass it.
  constexpr int kChunk = 3;
  for (int n = 0; n < kMessages; n += kChunk) {
    const int end = std::min(n + kChunk, kMessages);
    std::vector<std::future<Result<sdk::PublishAck>>> acks;
    for (int k = n; k < end; ++k)
      acks.push_back(pub.publish("feed:1", "{\"n\":" + std::to_string(k) + ",\"fill\":\"" + filler + "\"}"));
    for (auto& f : acks) {
      auto a = await(f);
      ASSERT_TRUE(a.ok()) << a.error().code << " " << a.error().message;
    }
    for (auto& c : collectors) ASSERT_TRUE(c->waitPubs(end, 10000)) << "at " << n;
    if (n % 99 == 0) rss_peak = std::max(rss_peak, server->rssBytes());
    // The server can send the close frame only after the write stuck in the
    // slow reader's socket completes, and it cuts the socket after a grace
    // period (3 s): so the moment the cut is counted (looked at after every
    // chunk, well inside the grace), the reader wakes up and drains what it
    // had, then must find close 4005.
    if (!slow_checked && metricValue(server->port(), "tutti_slow_consumers_total").value_or(0) >= 1) {
      slow_checked = true;
      WsEvent closed = slow.waitClosed(10000);
      ASSERT_EQ(closed.kind, WsEvent::Kind::kClosed) << "kind " << static_cast<int>(closed.kind) << " " << closed.error;
      EXPECT_EQ(closed.close_code, code::kCloseSlowConsumer) << closed.close_reason;
      EXPECT_LT(n, kMessages / 2) << "the cut came late";
    }
  }
  EXPECT_TRUE(slow_checked) << "the reader that never reads was not cut";

  for (int i = 0; i < 2; ++i) {
    if (!collectors[i]->waitPubs(kMessages, 20000)) {
      auto k = subs[i]->counters();
      FAIL() << "subscriber " << i << " got " << collectors[i]->pubCount() << " of " << kMessages
             << "; state " << sdk::stateName(subs[i]->state()) << ", last close " << subs[i]->lastClose().code
             << " " << subs[i]->lastClose().reason << ", reconnects " << k.reconnects << ", gaps "
             << k.gaps_detected << ", recoveries ok/failed " << k.recoveries_ok << "/" << k.recoveries_failed;
    }
    EXPECT_EQ(subs[i]->counters().reconnects, 0u) << "subscriber " << i << " that reads was cut";
    auto got = collectors[i]->pubs();
    ASSERT_EQ(got.size(), static_cast<size_t>(kMessages));
    for (int k = 0; k < kMessages; ++k) ASSERT_EQ(got[k].offset, static_cast<uint64_t>(k + 1));
  }
  rss_peak = std::max(rss_peak, server->rssBytes());
  EXPECT_LT(rss_peak - rss_before, 50LL * 1024 * 1024)
      << "RSS grew from " << rss_before << " to " << rss_peak << " bytes";

  EXPECT_GE(metricValue(server->port(), "tutti_slow_consumers_total").value_or(0), 1);
}

}  // namespace
}  // namespace tutti::test
