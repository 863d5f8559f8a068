// The web pages' server side (docs/web.md, docs/api.md "Web pages") and the
// demo table, against a live server.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "test/common/collector.h"
#include "test/common/harness.h"
#include "test/common/http_client.h"
#include "test/common/wait.h"
#include "tutti/core/base64.h"

namespace tutti::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A page root with an index, an admin page, a script, a hidden file and a
// symlink that points out of the root.
class WebRoot {
 public:
  WebRoot() {
    dir_ = fs::temp_directory_path() / ("tutti-web-" + std::to_string(::getpid()) + "-" + std::to_string(++n_));
    fs::create_directories(dir_ / "admin");
    write("index.html", "<!doctype html><title>table</title>");
    write("admin/index.html", "<!doctype html><title>admin</title>");
    write("demo.js", "export const x = 1;");
    write(".secret", "no");
    write("../outside-" + dir_.filename().string(), "outside");
    fs::create_symlink(dir_.parent_path() / ("outside-" + dir_.filename().string()), dir_ / "escape.txt");
  }
  ~WebRoot() {
    std::error_code ec;
    fs::remove(dir_.parent_path() / ("outside-" + dir_.filename().string()), ec);
    fs::remove_all(dir_, ec);
  }
  std::string path() const { return dir_.string(); }

 private:
  void write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  fs::path dir_;
  static inline int n_ = 0;
};

Headers basic(const std::string& user, const std::string& password) {
  return {{"Authorization", "Basic " + base64(user + ":" + password)}};
}

TEST(WebPages, ServesTheBuiltPagesWithTheirTypes) {
  WebRoot root;
  auto server = startServer("[server]\nworkers = 1\napi_key = \"k\"\n[web]\nroot = \"" + root.path() + "\"\n");
  ASSERT_TRUE(server);
  auto index = httpGet(server->port(), "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<title>table</title>"), std::string::npos);
  EXPECT_EQ(index.header("cache-control"), "no-cache");
  auto js = httpGet(server->port(), "/demo.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, "export const x = 1;");
  EXPECT_EQ(httpGet(server->port(), "/missing.js").status, 404);
  EXPECT_EQ(httpPost(server->port(), "/demo.js", "{}").status, 405);
}

TEST(WebPages, NeverServeAnythingOutsideTheRoot) {
  WebRoot root;
  auto server = startServer("[server]\nworkers = 1\n[web]\nroot = \"" + root.path() + "\"\n");
  ASSERT_TRUE(server);
  // (Under /admin the key is asked for first: no key configured here, 403.)
  EXPECT_EQ(httpGet(server->port(), "/admin/../../etc/passwd").status, 403);
  for (const char* p : {"/../outside", "/.secret", "/escape.txt", "/%2e%2e/etc/passwd",
                        "/a\\..\\b", "//etc/passwd"}) {
    const auto r = httpGet(server->port(), p);
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_EQ(r.body.find("outside"), std::string::npos) << p;
  }
  EXPECT_EQ(httpGet(server->port(), "/healthz").status, 200);
}

TEST(WebPages, AdminPagesAskForTheApiKeyAsBasicPassword) {
  WebRoot root;
  auto server = startServer("[server]\nworkers = 1\napi_key = \"k3y\"\n[web]\nroot = \"" + root.path() + "\"\n");
  ASSERT_TRUE(server);
  auto anon = httpGet(server->port(), "/admin");
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(anon.header("www-authenticate").rfind("Basic ", 0), 0u) << anon.header("www-authenticate");
  EXPECT_EQ(httpGet(server->port(), "/admin/index.html", basic("admin", "wrong")).status, 401);
  EXPECT_EQ(httpGet(server->port(), "/admin", {{"Authorization", "Basic !!notbase64"}}).status, 401);
  auto ok = httpGet(server->port(), "/admin", basic("anyone", "k3y"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("<title>admin</title>"), std::string::npos);
  // The dashboard's own fetches carry the same credentials.
  EXPECT_EQ(httpGet(server->port(), "/api/stats", basic("admin", "k3y")).status, 200);
  EXPECT_EQ(httpGet(server->port(), "/api/stats", basic("admin", "k3")).status, 401);
  EXPECT_GE(metricValue(server->port(), "tutti_api_requests_total{status=\"401\"}").value_or(0), 4);
}

TEST(WebPages, AdminPagesAreOffWithoutAnApiKey) {
  WebRoot root;
  auto server = startServer("[server]\nworkers = 1\n[web]\nroot = \"" + root.path() + "\"\n");
  ASSERT_TRUE(server);
  EXPECT_EQ(httpGet(server->port(), "/admin", basic("admin", "")).status, 403);
  EXPECT_EQ(httpGet(server->port(), "/").status, 200);
}

TEST(WebPages, MediaStreamsIsEmptyWithoutAnOrigin) {
  auto server = startServer("[server]\nworkers = 1\napi_key = \"k\"\n");
  ASSERT_TRUE(server);
  auto r = httpGet(server->port(), "/api/media/streams", {{"X-API-Key", "k"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"streams":[]})");
}

TEST(DemoTable, PlaysRoundsOfAWindowAResultAndASummaryThatBetsCanJoin) {
  auto server = startServer(
      "[server]\nworkers = 2\n[demo]\ntable = \"table:9\"\nbetting_ms = 600\npause_ms = 200\n"
      "[[rooms]]\nprefix = \"table:\"\nwindow_grace_ms = 100\n");
  ASSERT_TRUE(server);
  Collector c;
  sdk::Client player(clientOptions(*server));
  ASSERT_TRUE(await(player.connect()).ok());
  ASSERT_TRUE(await(player.subscribe("table:9", c.handlers())).ok());
  // The first round may have opened before the subscription: act in the
  // first window_open that arrives.
  std::set<std::string> acted;
  std::vector<std::string> kinds;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& p : c.pubs()) {
          auto v = json::parse(p.data).as_object();
          const std::string type(v["type"].as_string());
          const std::string round(v.contains("window") ? v["window"].as_string() : v["round"].as_string());
          if (type == "window_open" && acted.insert(round).second) {
            auto d = await(player.act("table:9", round, R"({"bet":"red","amount":5})"));
            EXPECT_TRUE(d.ok() && d->accepted) << (d.ok() ? d->reason : d.error().message);
          }
        }
        return c.pubCount() >= 10;  // a partial first round, then at least two whole ones
      },
      15000, 20));
  const auto pubs = c.pubs();
  // Offsets without a gap; each round: window_open, then window_summary and
  // result (the result a tenth of a second after the summary).
  std::map<std::string, std::vector<std::string>> rounds;
  for (size_t i = 0; i < pubs.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(pubs[i].offset, pubs[i - 1].offset + 1);
    }
    auto v = json::parse(pubs[i].data).as_object();
    const std::string type(v["type"].as_string());
    const std::string round(v.contains("window") ? v["window"].as_string() : v["round"].as_string());
    rounds[round].push_back(type);
    if (type == "result") {
      const auto n = v["number"].to_number<int>();
      EXPECT_GE(n, 0);
      EXPECT_LE(n, 36);
      // European roulette: 0 green; the red numbers below; the rest black.
      const std::set<int> red = {1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36};
      EXPECT_EQ(std::string(v["color"].as_string()), n == 0 ? "green" : red.count(n) ? "red" : "black") << n;
      EXPECT_FALSE(pubs[i].media_ts_us.has_value());  // no media stream here
    }
    if (type == "window_summary" && acted.count(round)) {
      EXPECT_EQ(v["accepted"].to_number<int>(), 1) << round;
    }
  }
  size_t complete = 0;
  for (auto& [round, types] : rounds)
    if (types.size() == 3 && types[0] == "window_open" &&
        std::set<std::string>(types.begin() + 1, types.end()) == std::set<std::string>{"window_summary", "result"})
      ++complete;
  std::string seen;
  for (auto& [round, types] : rounds) {
    seen += round + ":";
    for (auto& t : types) seen += " " + t;
    seen += "; ";
  }
  EXPECT_GE(complete, 2u) << seen;
}

}  // namespace
}  // namespace tutti::test
