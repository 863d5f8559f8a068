#include "tutti/edge/http_edge.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <optional>

#include "tutti/core/log.h"
#include "tutti/edge/cache_key.h"
#include "tutti/edge/hash_ring.h"
#include "tutti/net/http_fetch.h"
#include "tutti/net/worker.h"

namespace tutti::edge {
namespace {

using Shared = std::shared_ptr<const CachedResponse>;

net::HttpResponse plain(int status, std::string text) {
  net::HttpResponse r{status, "text/plain", std::move(text) + "\n", {}};
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// A stored answer as sent to a viewer: its own fields, minus those the
// writer sets (length, type, connection), plus Age and where it came from.
net::HttpResponse render(const CachedResponse& c, int64_t age_us, const char* via) {
  net::HttpResponse r{c.status, c.content_type.empty() ? "application/octet-stream" : c.content_type, "", {}};
  for (const auto& [k, v] : c.headers) {
    if (iequals(k, "content-length") || iequals(k, "content-type") || iequals(k, "connection") ||
        iequals(k, "transfer-encoding") || iequals(k, "keep-alive") || iequals(k, "server") || iequals(k, "date") ||
        iequals(k, "age"))
      continue;
    r.headers.emplace_back(k, v);
  }
  r.headers.emplace_back("Age", std::to_string(std::max<int64_t>(0, age_us) / 1'000'000));
  r.headers.emplace_back("X-Cache", via);
  if (c.body && !c.body->empty()) r.pieces = {c.body};
  return r;
}

}  // namespace

struct HttpEdge::Impl : std::enable_shared_from_this<Impl> {
  Impl(EdgeConfig cfg, std::vector<net::Worker*> ws, const Clock& clk, metrics::Registry& reg,
       std::unique_ptr<Cache> c, Coalescer<Shared> co, HashRing r)
      : config(std::move(cfg)), workers(std::move(ws)), clock(clk), registry(reg), cache(std::move(c)),
        coalescer(std::move(co)), ring(std::move(r)) {}

  EdgeConfig config;
  std::vector<net::Worker*> workers;
  const Clock& clock;
  metrics::Registry& registry;
  std::vector<std::unique_ptr<net::HttpFetcher>> fetchers;  // one per worker, used on it only
  std::atomic<bool> stopped{false};

  std::mutex mu;  // guards everything below
  std::unique_ptr<Cache> cache;
  Coalescer<Shared> coalescer;
  HashRing ring;
  std::map<std::string, HealthTracker, std::less<>> health;  // by origin name
  std::map<std::string, metrics::Gauge*, std::less<>> up_gauges;
  metrics::Counter* upstream_ok = nullptr;
  metrics::Counter* upstream_failed = nullptr;
  metrics::Counter* served_stale = nullptr;
  metrics::Counter* bad_requests = nullptr;

  const Upstream* origin(std::string_view name) const {
    for (const auto& o : config.origins)
      if (o.name() == name) return &o;
    return nullptr;
  }

  // Upstreams to try for key, best first: the ring's owner among the healthy
  // ones, then the next healthy one. Every origin when none is healthy (a
  // probe may be behind the truth; the fetch will tell).
  std::vector<const Upstream*> candidates(std::string_view key) {
    std::vector<const Upstream*> out;
    for (auto name : ring.order(key, config.origins.size())) {
      auto h = health.find(name);
      if (h != health.end() && h->second.up()) out.push_back(origin(name));
    }
    if (out.empty())
      for (auto name : ring.order(key, config.origins.size())) out.push_back(origin(name));
    if (out.size() > 2) out.resize(2);
    return out;
  }

  void reply(size_t worker, const net::HttpReply& r, net::HttpResponse resp) {
    workers[worker]->post([r, resp = std::move(resp)]() mutable { r(std::move(resp)); });
  }

  void handle(const net::HttpRequest& req, size_t worker, net::HttpReply done) {
    if (req.method != "GET") return done(plain(405, "use GET"));
    auto key = cacheKey(req.path, req.query);
    if (!key) {
      bad_requests->inc();
      return done(plain(400, key.error().message));
    }
    bool lead = false;
    Coalescer<Shared>::Ticket ticket;
    std::optional<net::HttpResponse> hit_answer;
    {
      std::lock_guard lock(mu);
      const auto hit = cache->lookup(key->key);
      if (hit.state == Freshness::kFresh || hit.state == Freshness::kRevalidate) {
        hit_answer = render(*hit.response, hit.age_us, "HIT");
        // Within stale-while-revalidate: served, and refreshed once behind it.
        if (hit.state == Freshness::kRevalidate && coalescer.waiters(key->key) == 0) {
          ticket = coalescer.join(key->key, nullptr);
          lead = ticket.role == Coalescer<Shared>::Role::kLeader;
        }
      } else {
        ticket = coalescer.join(key->key, [self = shared_from_this(), worker, done](const Result<Shared>& r) {
          if (!r) {
            const int status = r.error().code == code::kFetchTimeout ? 504 : 502;
            return self->reply(worker, done, plain(status, r.error().message));
          }
          const auto& c = **r;
          const bool stale = c.stale_until_us > 0 && self->clock.monoUs() >= c.fresh_until_us;
          self->reply(worker, done, render(c, c.ageUs(self->clock.monoUs()), stale ? "STALE" : "MISS"));
        });
        if (ticket.role == Coalescer<Shared>::Role::kBusy) hit_answer = plain(503, "edge busy: too many requests waiting");
        lead = ticket.role == Coalescer<Shared>::Role::kLeader;
      }
    }
    if (hit_answer) done(std::move(*hit_answer));
    if (lead) fetch(*key, worker, ticket.flight, 0);
  }

  // Fetches key from its attempt-th candidate, on `worker`.
  void fetch(const CacheKey& key, size_t worker, uint64_t flight, size_t attempt) {
    const Upstream* up = nullptr;
    {
      std::lock_guard lock(mu);
      auto c = candidates(key.key);
      if (attempt < c.size()) up = c[attempt];
    }
    if (!up) return fail(key, flight, makeError(code::kFetchTimeout, "no origin answered"));
    net::FetchOptions opts;
    opts.timeout_ms = config.coalescer.fetch_timeout_us / 1000;
    opts.max_body_bytes = config.cache.max_object_bytes;
    auto self = shared_from_this();
    const std::string name = up->name();
    fetchers[worker]->get(up->host, up->port, key.key, opts,
                          [self, key, worker, flight, attempt, name](Result<net::FetchResponse> r) {
                            self->onFetched(key, worker, flight, attempt, name, std::move(r));
                          });
  }

  void onFetched(const CacheKey& key, size_t worker, uint64_t flight, size_t attempt, const std::string& name,
                 Result<net::FetchResponse> r) {
    // A 5xx other than the origin's own "not produced in time" (503 for a
    // held request) is the upstream failing: the next origin, or stale.
    const bool failed = !r || (r->status >= 500 && r->status != 503);
    if (failed) {
      upstream_failed->inc();
      log::warn("edge: upstream failed", {{"origin", name}, {"key", key.key},
                                          {"error", r ? "status " + std::to_string(r->status) : r.error().message}});
      if (!r) {
        std::lock_guard lock(mu);
        noteHealth(name, false);
      }
      if (attempt + 1 < config.origins.size() && !stopped) return fetch(key, worker, flight, attempt + 1);
      return fail(key, flight, r ? makeError(code::kFetchTimeout, "origin answered " + std::to_string(r->status))
                                 : r.error());
    }
    upstream_ok->inc();
    UpstreamResponse ur;
    ur.status = r->status;
    ur.content_type = r->header("content-type");
    ur.headers = std::move(r->headers);
    ur.body = std::move(r->body);
    std::lock_guard lock(mu);
    noteHealth(name, true);
    StoreHints hints;
    hints.may_appear_soon = key.mayAppearSoon();
    // Waiters get the answer even when it is not stored (no-store, too large).
    auto answer = std::make_shared<CachedResponse>();
    answer->status = ur.status;
    answer->content_type = ur.content_type;
    answer->headers = ur.headers;
    answer->body = ur.body ? ur.body : std::make_shared<const std::string>();
    answer->stored_us = clock.monoUs();
    answer->fresh_until_us = answer->stored_us + 1;
    cache->store(key.key, std::move(ur), hints);
    coalescer.complete(key.key, flight, Result<Shared>(Shared(std::move(answer))));
  }

  // Every upstream failed: what the cache may still serve, else the error.
  void fail(const CacheKey& key, uint64_t flight, Error e) {
    std::lock_guard lock(mu);
    if (auto stale = cache->staleIfError(key.key)) {
      served_stale->inc();
      coalescer.complete(key.key, flight, Result<Shared>(std::move(stale)));
      return;
    }
    coalescer.complete(key.key, flight, Result<Shared>(std::move(e)));
  }

  void noteHealth(const std::string& name, bool ok) {
    auto h = health.find(name);
    if (h == health.end() || !h->second.record(ok)) return;
    const bool up = h->second.up();
    up_gauges[name]->set(up ? 1 : 0);
    log::warn(up ? "edge: origin up" : "edge: origin down", {{"origin", name}});
  }

  void probe() {
    if (stopped) return;
    auto self = shared_from_this();
    for (const auto& o : config.origins) {
      net::FetchOptions opts;
      opts.timeout_ms = config.probe_timeout_ms;
      opts.max_body_bytes = 4096;
      const std::string name = o.name();
      fetchers[0]->get(o.host, o.port, "/healthz", opts, [self, name](Result<net::FetchResponse> r) {
        std::lock_guard lock(self->mu);
        self->noteHealth(name, r && r->status == 200);
      });
    }
    workers[0]->postAfter(config.probe_interval_ms * 1000, [self] { self->probe(); });
  }

  void expireLoop() {
    if (stopped) return;
    {
      std::lock_guard lock(mu);
      coalescer.expire();
    }
    auto self = shared_from_this();
    workers[0]->postAfter(200'000, [self] { self->expireLoop(); });
  }
};

Result<std::unique_ptr<HttpEdge>> HttpEdge::create(EdgeConfig config, std::vector<net::Worker*> workers,
                                                    const Clock& clock, metrics::Registry& registry) {
  if (config.origins.empty()) return makeError(code::kBadConfig, "edge: no origins");
  if (workers.empty()) return makeError(code::kBadConfig, "edge: no workers");
  auto cache = Cache::create(config.cache, clock, registry);
  if (!cache) return cache.error();
  auto co = Coalescer<Shared>::create(config.coalescer, clock, registry);
  if (!co) return co.error();
  auto ring = HashRing::create();
  if (!ring) return ring.error();
  for (const auto& o : config.origins)
    if (auto a = ring->add(o.name()); !a) return a.error();
  auto impl = std::make_shared<Impl>(config, workers, clock, registry, std::move(*cache), std::move(*co), std::move(*ring));
  for (auto* w : workers) impl->fetchers.push_back(std::make_unique<net::HttpFetcher>(*w));
  for (const auto& o : impl->config.origins) {
    auto h = HealthTracker::create(config.health, clock);
    if (!h) return h.error();
    impl->health.emplace(o.name(), std::move(*h));
    auto& g = registry.gauge("tutti_edge_origin_up", "Whether the edge counts this origin as up (health probes and fetches)",
                             {{"origin", o.name()}});
    g.set(config.health.initially_up ? 1 : 0);
    impl->up_gauges[o.name()] = &g;
  }
  impl->upstream_ok = &registry.counter("tutti_edge_upstream_answers_total", "Upstream answers by outcome", {{"outcome", "ok"}});
  impl->upstream_failed = &registry.counter("tutti_edge_upstream_answers_total", "Upstream answers by outcome", {{"outcome", "failed"}});
  impl->served_stale = &registry.counter("tutti_edge_served_stale_total", "Answers served stale because every upstream failed");
  impl->bad_requests = &registry.counter("tutti_edge_bad_requests_total", "Requests refused before any upstream (400)");
  return std::unique_ptr<HttpEdge>(new HttpEdge(std::move(impl)));
}

HttpEdge::HttpEdge(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpEdge::~HttpEdge() { stop(); }

void HttpEdge::handle(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  impl_->handle(req, worker, std::move(reply));
}

void HttpEdge::start() {
  auto impl = impl_;
  impl->workers[0]->post([impl] {
    impl->probe();
    impl->expireLoop();
  });
}

void HttpEdge::stop() { impl_->stopped = true; }

std::string HttpEdge::statusJson() {
  std::lock_guard lock(impl_->mu);
  std::string s = "{\"origins\":[";
  bool first = true;
  for (const auto& [name, h] : impl_->health) {
    if (!first) s += ',';
    first = false;
    s += "{\"origin\":\"" + name + "\",\"up\":" + (h.up() ? "true" : "false") +
         ",\"since_us\":" + std::to_string(h.changedAtWallUs()) + "}";
  }
  s += "],\"cache\":{\"bytes\":" + std::to_string(impl_->cache->bytes()) +
       ",\"objects\":" + std::to_string(impl_->cache->objects()) + "},\"in_flight\":" +
       std::to_string(impl_->coalescer.flights()) + "}";
  return s;
}

}  // namespace tutti::edge
