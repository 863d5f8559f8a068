// Rooms relayed by edges (docs/edge.md, "Rooms at the edge"): a real origin
// and two real edges on loopback. Viewers of either edge and of the origin get
// the same room sequence, field for field; a client whose edge is killed
// recovers through the other edge with nothing missing and nothing twice;
// actions forwarded by an edge are judged by their stamp; the edge answers
// `time` in origin time; a forged token stops at the edge; presence lists a
// room's members wherever they connected.

#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <chrono>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/wait.h"
#include "tutti/netem/proxy.h"
#include "tutti/auth/jwt.h"

namespace tutti::test {
namespace {

constexpr char kSecret[] = "edge-rooms-test-secret-0123456789";

std::string common() {
  return std::string("[limits]\npublish_rate_per_s = 100000\npublish_burst = 100000\nmax_connections_per_ip = 5000\n"
                     "[auth]\nanonymous = false\nalgorithm = \"HS256\"\nsecret = \"") +
         kSecret + "\"\n";
}

std::string originConfig() { return "[server]\nworkers = 2\napi_key = \"k\"\n" + common(); }

std::string edgeConfig(uint16_t origin_port) {
  return "[server]\nworkers = 2\nrole = \"edge\"\napi_key = \"k\"\n" + common() +
         "[edge]\norigins = [\"127.0.0.1:" + std::to_string(origin_port) + "\"]\nprobe_interval_ms = 200\n";
}

std::string token(const std::string& user, std::string_view secret = kSecret) {
  auth::Claims c;
  c.sub = user;
  c.exp = nowS() + 3600;
  c.subscribe = c.publish = c.windows = {"table:*"};
  auto t = auth::sign(c, auth::Alg::kHS256, secret);
  EXPECT_TRUE(t.ok());
  return t.ok() ? *t : std::string();
}

// What a viewer saw: every field of every publication, in arrival order.
struct Seen {
  std::mutex mu;
  std::vector<sdk::Publication> pubs;
  std::vector<sdk::SubscribeResult> subscribed;
  size_t size() {
    std::lock_guard l(mu);
    return pubs.size();
  }
  std::vector<sdk::Publication> copy() {
    std::lock_guard l(mu);
    return pubs;
  }
};

sdk::SubscriptionHandlers recordInto(Seen& seen) {
  sdk::SubscriptionHandlers h;
  h.on_publication = [&seen](const sdk::Publication& p) {
    std::lock_guard l(seen.mu);
    seen.pubs.push_back(p);
  };
  h.on_subscribed = [&seen](const sdk::SubscribeResult& r) {
    std::lock_guard l(seen.mu);
    seen.subscribed.push_back(r);
  };
  return h;
}

std::unique_ptr<sdk::Client> connectTo(const ServerProcess& s, const std::string& user) {
  auto c = std::make_unique<sdk::Client>(clientOptions(s, token(user)));
  auto r = await(c->connect());
  EXPECT_TRUE(r.ok()) << user << ": " << r.error().message;
  return c;
}

// The result of a callback-flavoured SDK call (an Error with code 0 if none
// came within 5 s): call(done) makes the call with `done` as its callback.
template <typename Call>
Result<void> awaitCallback(Call call) {
  auto p = std::make_shared<std::promise<Result<void>>>();
  auto f = p->get_future();
  call(std::function<void(Result<void>)>([p](Result<void> r) { p->set_value(std::move(r)); }));
  return await(f, 5000);
}

// A publisher at the origin: {"n":1}, {"n":2}, ... every 3 ms until stopped.
struct Dealer {
  Dealer(std::unique_ptr<sdk::Client> c, std::string room) : client(std::move(c)) {
    thread = std::thread([this, room = std::move(room)] {
      for (int i = 1; !stop.load(); ++i) {
        auto r = await(client->publish(room, "{\"n\":" + std::to_string(i) + "}"));
        if (!r.ok()) break;
        published = i;
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
  }
  ~Dealer() { finish(); }
  // Stops publishing; the last offset published.
  uint64_t finish() {
    stop = true;
    if (thread.joinable()) thread.join();
    return static_cast<uint64_t>(published.load());
  }
  std::unique_ptr<sdk::Client> client;
  std::atomic<bool> stop{false};
  std::atomic<int> published{0};
  std::thread thread;
};

sdk::SubscribeOptions noHold(std::optional<sdk::Position> recover = std::nullopt) {
  sdk::SubscribeOptions o;
  o.hold_until_at = false;
  o.recover = std::move(recover);
  return o;
}

bool samePublication(const sdk::Publication& a, const sdk::Publication& b) {
  return a.room == b.room && a.epoch == b.epoch && a.offset == b.offset && a.ts == b.ts && a.data == b.data &&
         a.at_us == b.at_us && a.media_ts_us == b.media_ts_us;
}

struct Cluster {
  std::unique_ptr<ServerProcess> origin, a, b;
  bool start(bool two_edges = true) {
    origin = startServer(originConfig());
    if (!origin) return false;
    a = startServer(edgeConfig(origin->port()));
    if (two_edges) b = startServer(edgeConfig(origin->port()));
    return a && (!two_edges || b);
  }
};

TEST(EdgeRooms, ViewersOfBothEdgesAndTheOriginGetTheSameSequence) {
  Cluster cl;
  ASSERT_TRUE(cl.start());
  const std::string room = "table:same";
  Seen at_origin, at_a, at_b;
  auto vo = connectTo(*cl.origin, "vo");
  auto va = connectTo(*cl.a, "va");
  auto vb = connectTo(*cl.b, "vb");
  ASSERT_TRUE(await(vo->subscribe(room, recordInto(at_origin), noHold())).ok());
  ASSERT_TRUE(await(va->subscribe(room, recordInto(at_a), noHold())).ok());
  ASSERT_TRUE(await(vb->subscribe(room, recordInto(at_b), noHold())).ok());

  // Publishers at the origin and at each edge, interleaved; some scheduled,
  // some pinned to a video frame, one retried with the same client_msg_id.
  auto po = connectTo(*cl.origin, "po");
  auto pa = connectTo(*cl.a, "pa");
  auto pb = connectTo(*cl.b, "pb");
  constexpr int kEach = 30;
  std::vector<std::future<Result<sdk::PublishAck>>> acks;
  for (int i = 0; i < kEach; ++i) {
    for (auto* p : {po.get(), pa.get(), pb.get()}) {
      sdk::PublishOptions o;
      o.client_msg_id = p->clientId() + "-m" + std::to_string(i);
      if (i % 5 == 1) o.delay_ms = 250;
      if (i % 7 == 2) o.media_ts_us = 1'700'000'000'000'000 + i;
      if (i % 9 == 3 && !o.delay_ms) o.at_us = p->serverNow().time_us + 100'000;
      acks.push_back(p->publish(room, "{\"i\":" + std::to_string(i) + ",\"f\":1.5,\"s\":\"x\\ny\"}", o));
    }
  }
  std::vector<sdk::PublishAck> got;
  for (auto& f : acks) {
    auto r = await(f);
    ASSERT_TRUE(r.ok()) << r.error().message;
    got.push_back(*r);
  }
  // A retry through an edge of a publish already made: the origin's first ack, no second message.
  {
    sdk::PublishOptions o;
    o.client_msg_id = pa->clientId() + "-m0";
    auto r = await(pa->publish(room, "{\"i\":0,\"f\":1.5,\"s\":\"x\\ny\"}", o));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->duplicate);
    EXPECT_EQ(r->offset, got[1].offset);
  }
  const size_t total = 3 * kEach;
  ASSERT_TRUE(eventually([&] { return at_origin.size() >= total && at_a.size() >= total && at_b.size() >= total; },
                         15000, 20))
      << at_origin.size() << " " << at_a.size() << " " << at_b.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing more may come
  const auto o = at_origin.copy(), ea = at_a.copy(), eb = at_b.copy();
  ASSERT_EQ(o.size(), total);
  ASSERT_EQ(ea.size(), total);
  ASSERT_EQ(eb.size(), total);
  for (size_t i = 0; i < total; ++i) {
    EXPECT_EQ(o[i].offset, i + 1);
    EXPECT_TRUE(samePublication(o[i], ea[i])) << "edge A differs at " << i << ": " << ea[i].data;
    EXPECT_TRUE(samePublication(o[i], eb[i])) << "edge B differs at " << i << ": " << eb[i].data;
  }
  size_t scheduled = 0, pinned = 0;
  for (const auto& p : o) {
    scheduled += p.at_us.has_value();
    pinned += p.media_ts_us.has_value();
  }
  EXPECT_GT(scheduled, 0u);
  EXPECT_GT(pinned, 0u);
  // Each ack names the offset that carries that publisher's message.
  for (const auto& ack : got) EXPECT_EQ(o[ack.offset - 1].ts, ack.ts);
}

TEST(EdgeRooms, AClientWhoseEdgeIsKilledRecoversThroughTheOtherEdge) {
  Cluster cl;
  ASSERT_TRUE(cl.start());
  const std::string room = "table:move";
  Seen first_a1, first_a2;
  auto c1 = connectTo(*cl.a, "c1");
  auto c2 = connectTo(*cl.a, "c2");
  ASSERT_TRUE(await(c1->subscribe(room, recordInto(first_a1), noHold())).ok());
  ASSERT_TRUE(await(c2->subscribe(room, recordInto(first_a2), noHold())).ok());

  // The origin publishes throughout.
  Dealer dealer(connectTo(*cl.origin, "dealer"), room);
  ASSERT_TRUE(eventually([&] { return first_a1.size() >= 50 && first_a2.size() >= 50; }, 10000));
  ASSERT_TRUE(cl.a->sendSignal(SIGKILL));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // publishing goes on meanwhile
  auto seen1 = first_a1.copy();
  auto seen2 = first_a2.copy();
  c1.reset();
  c2.reset();
  ASSERT_FALSE(seen1.empty());
  ASSERT_FALSE(seen2.empty());
  // The one further behind moves first: B's upstream recovers from its
  // position at the origin. The other then recovers from B's mirror.
  if (seen2.back().offset < seen1.back().offset) std::swap(seen1, seen2);
  Seen then1, then2;
  auto m1 = connectTo(*cl.b, "c1");
  auto r1 = await(m1->subscribe(room, recordInto(then1),
                                noHold(sdk::Position{seen1.back().epoch, seen1.back().offset})));
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  EXPECT_EQ(r1->recovered, std::optional<bool>(true)) << r1->reason;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto m2 = connectTo(*cl.b, "c2");
  auto r2 = await(m2->subscribe(room, recordInto(then2),
                                noHold(sdk::Position{seen2.back().epoch, seen2.back().offset})));
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_EQ(r2->recovered, std::optional<bool>(true)) << r2->reason;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t last = dealer.finish();
  ASSERT_GT(last, seen1.back().offset + 20);  // it kept publishing across the move
  ASSERT_TRUE(eventually([&] { return then1.size() > 0 && then1.copy().back().offset >= last &&
                                      then2.size() > 0 && then2.copy().back().offset >= last; },
                         10000));
  for (auto* pair : {&seen1, &seen2}) {
    auto all = *pair;
    auto later = (pair == &seen1 ? then1 : then2).copy();
    all.insert(all.end(), later.begin(), later.end());
    ASSERT_EQ(all.size(), last) << "missing or duplicate messages";
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].offset, i + 1);
      ASSERT_EQ(all[i].data, "{\"n\":" + std::to_string(i + 1) + "}");
    }
  }
}

TEST(EdgeRooms, ActionsForwardedByAnEdgeAreJudgedByTheirStamp) {
  Cluster cl;
  ASSERT_TRUE(cl.start(false));
  const std::string room = "table:bets";
  auto dealer = connectTo(*cl.origin, "dealer");
  auto player = connectTo(*cl.a, "player");
  // Let the player's clock sync with the edge (its connect burst).
  ASSERT_TRUE(eventually([&] { return player->syncStats().samples >= 20; }, 5000));
  const int64_t closes_at = dealer->serverNow().time_us + 800'000;
  sdk::WindowSpec spec;
  spec.closes_at_us = closes_at;
  auto w = await(dealer->openWindow(room, "round-1", spec));
  ASSERT_TRUE(w.ok()) << w.error().message;

  auto waitUntil = [&](int64_t t) {
    while (player->serverNow().time_us < t) std::this_thread::sleep_for(std::chrono::microseconds(200));
  };
  waitUntil(closes_at - 50'000);
  auto early = await(player->act(room, "round-1", "{\"bet\":5}"));
  waitUntil(closes_at + 50'000);
  auto late = await(player->act(room, "round-1", "{\"bet\":6}"));
  ASSERT_TRUE(early.ok()) << early.error().message;
  ASSERT_TRUE(late.ok()) << late.error().message;
  EXPECT_TRUE(early->accepted) << early->reason;
  EXPECT_FALSE(late->accepted);
  EXPECT_EQ(late->reason, "late");
  // The decision was made for the player (not for the edge): a resend of the
  // same action id is recognised as the player's.
  sdk::ActOptions again;
  again.action_id = "dup-1";
  auto d1 = await(player->act(room, "round-1", "{}", again));
  auto d2 = await(player->act(room, "round-1", "{}", again));
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_TRUE(d2->duplicate);

  // A window opened through the edge is the origin's.
  auto w2 = await(player->openWindow(room, "round-2", sdk::WindowSpec{std::nullopt, std::nullopt, 500}));
  ASSERT_TRUE(w2.ok()) << w2.error().message;
  EXPECT_EQ(w2->settles_at - w2->closes_at, w->settles_at - w->closes_at);
}

TEST(EdgeRooms, TheEdgeAnswersTimeInTheOriginsClock) {
  Cluster cl;
  ASSERT_TRUE(cl.start(false));
  auto c = connectTo(*cl.a, "t");
  ASSERT_TRUE(eventually([&] { return c->syncStats().samples >= 50; }, 5000));
  // One machine: the wall clock is the origin's clock, and judges.
  int64_t worst = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t = c->serverNow();
    const int64_t wall = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    worst = std::max(worst, std::abs(t.time_us - wall));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LT(worst, 2000) << "edge clock error " << worst << " us";
  // Answered by the edge itself, whose clock is synced to the origin.
  EXPECT_GT(metricValue(cl.a->port(), "tutti_time_requests_total").value_or(0), 50);
  EXPECT_EQ(metricValue(cl.a->port(), "tutti_edge_upstream_connected").value_or(0), 1);
  EXPECT_LT(metricValue(cl.a->port(), "tutti_edge_clock_uncertainty_us").value_or(1e9), 2000);
}

TEST(EdgeRooms, AForgedTokenIsRefusedAtTheEdgeAndRelayOnlyComesFromEdges) {
  Cluster cl;
  ASSERT_TRUE(cl.start(false));
  auto forged = std::make_unique<sdk::Client>(clientOptions(*cl.a, token("mallory", "not-the-secret-0123456789")));
  auto r = await(forged->connect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 1104);
  // A client that is not an edge cannot speak for someone else.
  auto c = connectTo(*cl.origin, "eve");
  sdk::PublishOptions o;
  o.relay = sdk::Relay{"alice", "alice-client"};
  auto p = await(c->publish("table:x", "{}", o));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, 1108);
  // Nor list someone else in a room's presence.
  auto lr = awaitCallback([&](auto done) {
    c->relayPresence("table:x", true, sdk::PresenceClient{"s-alice", "alice", "alice-client"}, done);
  });
  ASSERT_FALSE(lr.ok());
  EXPECT_EQ(lr.error().code, 1108);
  // Nor stretch a room's adaptive delay.
  auto rr = awaitCallback([&](auto done) { c->reportDelay("table:x", 3'000'000, done); });
  ASSERT_FALSE(rr.ok());
  EXPECT_EQ(rr.error().code, 1108);
}

// Join and leave pushes one subscriber saw, as "+user" / "-user".
struct PresenceLog {
  std::mutex mu;
  std::vector<std::string> events;
  bool has(const std::string& e) {
    std::lock_guard l(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
  size_t count(const std::string& e) {
    std::lock_guard l(mu);
    return static_cast<size_t>(std::count(events.begin(), events.end(), e));
  }
};

sdk::SubscribeOptions withPresence() {
  auto o = noHold();
  o.presence = true;
  return o;
}

sdk::SubscriptionHandlers presenceInto(PresenceLog& log) {
  sdk::SubscriptionHandlers h;
  h.on_join = [&log](const sdk::PresenceClient& c) {
    std::lock_guard l(log.mu);
    log.events.push_back("+" + c.user);
  };
  h.on_leave = [&log](const sdk::PresenceClient& c) {
    std::lock_guard l(log.mu);
    log.events.push_back("-" + c.user);
  };
  return h;
}

// The users a presence query lists, sorted ("" when it failed).
std::vector<std::string> listed(sdk::Client& c, const std::string& room) {
  auto r = await(c.presence(room));
  EXPECT_TRUE(r.ok()) << r.error().message;
  std::vector<std::string> users;
  if (r.ok())
    for (const auto& m : r->clients) users.push_back(m.user);
  std::sort(users.begin(), users.end());
  return users;
}

TEST(EdgeRooms, PresenceIsTheRoomsWhereverItsMembersConnected) {
  Cluster cl;
  ASSERT_TRUE(cl.start());
  const std::string room = "table:presence";
  PresenceLog at_origin, at_a;
  auto wo = connectTo(*cl.origin, "wo");
  auto wa = connectTo(*cl.a, "wa");
  ASSERT_TRUE(await(wo->subscribe(room, presenceInto(at_origin), withPresence())).ok());
  ASSERT_TRUE(await(wa->subscribe(room, presenceInto(at_a), withPresence())).ok());
  // A member of edge A is seen at the origin, and the origin's at edge A.
  ASSERT_TRUE(eventually([&] { return at_origin.has("+wa") && at_a.has("+wa"); }, 5000));
  EXPECT_TRUE(eventually([&] { return listed(*wo, room) == std::vector<std::string>{"wa", "wo"}; }, 5000))
      << "the edge's own upstream connection is not a member";

  // A member of edge B: everyone sees it come and go.
  auto cb = connectTo(*cl.b, "cb");
  ASSERT_TRUE(await(cb->subscribe(room, sdk::SubscriptionHandlers{}, noHold())).ok());
  ASSERT_TRUE(eventually([&] { return at_origin.has("+cb") && at_a.has("+cb"); }, 5000));
  const std::vector<std::string> three{"cb", "wa", "wo"};
  EXPECT_EQ(listed(*wa, room), three);  // asked at edge A
  EXPECT_EQ(listed(*wo, room), three);  // and at the origin
  ASSERT_TRUE(await(cb->unsubscribe(room)).ok());
  ASSERT_TRUE(eventually([&] { return at_origin.has("-cb") && at_a.has("-cb"); }, 5000));
  EXPECT_EQ(listed(*wa, room), (std::vector<std::string>{"wa", "wo"}));

  // Edge B dies with a member: the origin unlists it, and says so everywhere.
  auto cd = connectTo(*cl.b, "cd");
  ASSERT_TRUE(await(cd->subscribe(room, sdk::SubscriptionHandlers{}, noHold())).ok());
  ASSERT_TRUE(eventually([&] { return at_a.has("+cd"); }, 5000));
  ASSERT_TRUE(cl.b->sendSignal(SIGKILL));
  EXPECT_TRUE(eventually([&] { return at_origin.has("-cd") && at_a.has("-cd"); }, 5000));
  EXPECT_EQ(listed(*wo, room), (std::vector<std::string>{"wa", "wo"}));
  // Each event once: the edge's announcements after its own resubscriptions are no news.
  EXPECT_EQ(at_a.count("+wa"), 1u);
  EXPECT_EQ(at_origin.count("+cd"), 1u);
  EXPECT_EQ(at_origin.count("-cd"), 1u);
}

TEST(EdgeRooms, AfterAnOriginRestartTheEdgeListsItsMembersAgain) {
  const uint16_t port = freeLoopbackPort(SOCK_STREAM);
  auto origin = startServer("[server]\nworkers = 2\napi_key = \"k\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
                            "\"\n" + common());
  ASSERT_TRUE(origin);
  auto edge = startServer(edgeConfig(port));
  ASSERT_TRUE(edge);
  const std::string room = "table:restart";
  auto member = connectTo(*edge, "member");
  ASSERT_TRUE(await(member->subscribe(room, sdk::SubscriptionHandlers{}, noHold())).ok());
  auto watcher = connectTo(*origin, "watcher");
  ASSERT_TRUE(await(watcher->subscribe(room, sdk::SubscriptionHandlers{}, noHold())).ok());
  ASSERT_TRUE(eventually([&] { return listed(*watcher, room) == std::vector<std::string>{"member", "watcher"}; }, 5000));
  watcher.reset();
  origin.reset();  // its rooms and presence are gone with it
  origin = startServer("[server]\nworkers = 2\napi_key = \"k\"\nlisten = \"127.0.0.1:" + std::to_string(port) +
                       "\"\n" + common());
  ASSERT_TRUE(origin);
  watcher = connectTo(*origin, "watcher");
  ASSERT_TRUE(await(watcher->subscribe(room, sdk::SubscriptionHandlers{}, noHold())).ok());
  EXPECT_TRUE(eventually([&] { return listed(*watcher, room) == std::vector<std::string>{"member", "watcher"}; }, 10000))
      << "the edge lists its member again on the new origin";
}

// The SDK given a region's two edges (ClientOptions::candidates, as the
// directory lists them) picks one; when that edge dies it moves to the other
// by itself, and its subscription recovers there with nothing missing or twice.
TEST(EdgeRooms, AnSdkGivenBothEdgesMovesToTheOtherByItselfAndMissesNothing) {
  Cluster cl;
  ASSERT_TRUE(cl.start());
  const std::string room = "table:roam";
  auto o = clientOptions(*cl.a, token("roamer"));
  o.url.clear();
  o.candidates = {cl.a->wsUrl(), cl.b->wsUrl()};
  o.candidate_probe_ms = 500;
  o.backoff_min_ms = 50;
  o.backoff_max_ms = 200;
  sdk::Client viewer(o);
  ASSERT_TRUE(await(viewer.connect()).ok());
  Seen seen;
  ASSERT_TRUE(await(viewer.subscribe(room, recordInto(seen), noHold())).ok());
  auto connected = [](const ServerProcess& s) { return metricValue(s.port(), "tutti_connections").value_or(0); };
  ServerProcess* chosen = connected(*cl.a) >= 1 ? cl.a.get() : cl.b.get();
  ServerProcess* other = chosen == cl.a.get() ? cl.b.get() : cl.a.get();
  ASSERT_EQ(connected(*chosen), 1);

  Dealer dealer(connectTo(*cl.origin, "dealer"), room);
  ASSERT_TRUE(eventually([&] { return seen.size() >= 50; }, 10000));
  ASSERT_TRUE(chosen->sendSignal(SIGKILL));
  EXPECT_TRUE(eventually([&] { return connected(*other) >= 1 && viewer.state() == sdk::State::kConnected; }, 10000, 50))
      << "the SDK did not move to the other edge";
  const int before_stop = dealer.published.load();
  ASSERT_TRUE(eventually([&] { return dealer.published.load() > before_stop + 50; }, 10000));
  const uint64_t last = dealer.finish();
  ASSERT_TRUE(eventually([&] { return seen.size() > 0 && seen.copy().back().offset >= last; }, 10000))
      << "got to " << (seen.size() ? seen.copy().back().offset : 0) << " of " << last;
  const auto all = seen.copy();
  ASSERT_EQ(all.size(), last) << "missing or duplicate messages";
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].offset, i + 1);
    ASSERT_EQ(all[i].data, "{\"n\":" + std::to_string(i + 1) + "}");
  }
  // The move was a recovery on the other edge, not a fresh start.
  std::lock_guard l(seen.mu);
  ASSERT_GE(seen.subscribed.size(), 2u);
  EXPECT_EQ(seen.subscribed.back().recovered, std::optional<bool>(true)) << seen.subscribed.back().reason;
}

// Adaptive delay (docs/sync.md) with viewers behind an edge: the origin sees
// only the edge's own short link, so the edge reports how far its viewers are.
TEST(EdgeRooms, AdaptiveDelayCoversTheViewersBehindAnEdge) {
  const std::string rule =
      "[[rooms]]\nprefix = \"table:live:\"\ndelivery = \"delay\"\ndelay_adaptive = true\ndelay_min_ms = 10\n"
      "delay_max_ms = 3000\ndelay_margin_ms = 60\ndelay_percentile = 100\n";
  auto origin = startServer(originConfig() + rule);
  ASSERT_TRUE(origin);
  auto edge = startServer(edgeConfig(origin->port()) + rule);
  ASSERT_TRUE(edge);
  const std::string room = "table:live:1";
  // A viewer 120 ms (each way) from the edge.
  netem::ProxyConfig pc;
  pc.target_port = edge->port();
  pc.up.delay_us = 120'000;
  pc.down.delay_us = 120'000;
  auto link = netem::Proxy::startTcp(pc);
  ASSERT_TRUE(link.ok()) << link.error().message;
  auto far_options = clientOptions(*edge, token("far"));
  far_options.url = "ws://127.0.0.1:" + std::to_string((*link)->port()) + "/ws";
  auto far = std::make_unique<sdk::Client>(far_options);
  ASSERT_TRUE(await(far->connect()).ok());
  Seen at_far;
  ASSERT_TRUE(await(far->subscribe(room, recordInto(at_far))).ok());  // held until `at`, as a player would
  auto dealer = connectTo(*origin, "dealer");
  // The room's delay, as the origin stamps it: `at - ts` of a fresh publication.
  int n = 0;
  auto delaySeenBy = [&](Seen& viewer) -> int64_t {
    auto r = await(dealer->publish(room, "{\"n\":" + std::to_string(++n) + "}"));
    if (!r.ok()) return -1;
    int64_t got = -1;
    eventually([&] {
      for (const auto& p : viewer.copy())
        if (p.offset == r->offset && p.at_us) got = *p.at_us - p.ts;
      return got >= 0;
    }, 5000, 5);
    return got;
  };
  int64_t d = 0;
  // 120 ms one way plus the 60 ms margin (a sanitizer build's slowness must
  // not make the viewer late); without the edge's report, the margin alone.
  EXPECT_TRUE(eventually([&] { return (d = delaySeenBy(at_far)) >= 170'000; }, 15000, 200))
      << "the room delay stayed at " << d << " us: the far viewer behind the edge is not counted";
  EXPECT_LT(d, 450'000) << "120 ms one way plus the 60 ms margin, give or take the probes";
  // And with that delay the far viewer is shown it at `at`, not late.
  const auto shown = at_far.copy();
  ASSERT_FALSE(shown.empty());
  EXPECT_EQ(shown.back().late_us, 0) << "arrived " << shown.back().late_us << " us after its at";
  // The far viewer leaves: the edge withdraws its report and the delay falls back.
  ASSERT_TRUE(await(far->unsubscribe(room)).ok());
  Seen at_near;
  auto near = connectTo(*edge, "near");
  ASSERT_TRUE(await(near->subscribe(room, recordInto(at_near), noHold())).ok());
  EXPECT_TRUE(eventually([&] { return (d = delaySeenBy(at_near)) >= 0 && d < 100'000; }, 15000, 200))
      << "the room delay stayed at " << d << " us after the far viewer left";
}

}  // namespace
}  // namespace tutti::test
