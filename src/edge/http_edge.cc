#include "tutti/edge/http_edge.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <random>

#include "tutti/core/log.h"
#include "tutti/edge/cache_key.h"
#include "tutti/edge/hash_ring.h"
#include "tutti/net/http_fetch.h"
#include "tutti/net/worker.h"

namespace tutti::edge {
namespace {

using Shared = std::shared_ptr<const CachedResponse>;

// Bodies from this size on are kept in a SharedFile (sendfile); smaller
// ones cost less to copy than a second system call.
constexpr size_t kFileBodyBytes = 8 * 1024;

net::HttpResponse plain(int status, std::string text) {
  net::HttpResponse r{status, "text/plain", std::move(text) + "\n", {}};
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// A stored answer as sent to a viewer: its own fields (formatted when it
// was made: Cache::store and onFetched set wire_fields), plus Age and where
// it came from.
net::HttpResponse render(const CachedResponse& c, int64_t age_us, const char* via) {
  net::HttpResponse r{c.status, c.content_type.empty() ? "application/octet-stream" : c.content_type, "", {}};
  r.fields = c.wire_fields;
  r.headers.reserve(2);
  r.headers.emplace_back("Age", std::to_string(std::max<int64_t>(0, age_us) / 1'000'000));
  r.headers.emplace_back("X-Cache", via);
  if (c.file) r.file = c.file;
  else if (c.body && !c.body->empty()) r.pieces = {c.body};
  return r;
}

}  // namespace

struct HttpEdge::Impl : std::enable_shared_from_this<Impl> {
  Impl(EdgeConfig cfg, std::vector<net::Worker*> ws, const Clock& clk, metrics::Registry& reg,
       std::unique_ptr<Cache> c, Coalescer<Shared> co, HashRing r, HashRing pr)
      : config(std::move(cfg)), workers(std::move(ws)), clock(clk), registry(reg), cache(std::move(c)),
        coalescer(std::move(co)), ring(std::move(r)), parent_ring(std::move(pr)) {}

  EdgeConfig config;
  std::vector<net::Worker*> workers;
  const Clock& clock;
  metrics::Registry& registry;
  std::vector<std::unique_ptr<net::HttpFetcher>> fetchers;  // one per worker, used on it only
  std::atomic<bool> stopped{false};

  std::mutex mu;  // guards everything below
  std::unique_ptr<Cache> cache;
  Coalescer<Shared> coalescer;
  HashRing ring;         // over the origins
  HashRing parent_ring;  // over the parents
  std::map<std::string, HealthTracker, std::less<>> health;  // by upstream name (origins and parents)
  std::map<std::string, metrics::Gauge*, std::less<>> up_gauges;
  metrics::Counter* upstream_ok = nullptr;
  metrics::Counter* upstream_failed = nullptr;
  metrics::Counter* served_stale = nullptr;
  metrics::Counter* bad_requests = nullptr;
  metrics::Counter* loops = nullptr;

  static const Upstream* find(const std::vector<Upstream>& list, std::string_view name) {
    for (const auto& u : list)
      if (u.name() == name) return &u;
    return nullptr;
  }

  bool healthy(std::string_view name) const {
    auto h = health.find(name);
    return h != health.end() && h->second.up();
  }

  // Upstreams to try for key, best first: the key's parent and the next one
  // among the healthy parents, then the ring's owner among the healthy
  // origins and the next one. Every origin when none is healthy (a probe may
  // be behind the truth; the fetch will tell); a parent only when healthy
  // (the origins are there behind it).
  std::vector<const Upstream*> candidates(std::string_view key) const {
    std::vector<const Upstream*> out;
    for (auto name : parent_ring.order(key, config.parents.size()))
      if (out.size() < 2 && healthy(name)) out.push_back(find(config.parents, name));
    const size_t parents = out.size();
    for (auto name : ring.order(key, config.origins.size()))
      if (out.size() < parents + 2 && healthy(name)) out.push_back(find(config.origins, name));
    if (out.size() == parents)
      for (auto name : ring.order(key, config.origins.size()))
        if (out.size() < parents + 2) out.push_back(find(config.origins, name));
    return out;
  }

  // What goes upstream in CDN-Loop: what came in, and this edge. (A viewer's
  // oversized value is not carried: it would lead a shared fetch to refusal.)
  std::string loopField(std::string_view incoming) const {
    if (incoming.empty() || incoming.size() > 512) return config.id;
    return std::string(incoming) + ", " + config.id;
  }

  // Whether this edge is already in a CDN-Loop value (its id as one element).
  bool inLoop(std::string_view field) const {
    while (!field.empty()) {
      const size_t comma = field.find(',');
      auto item = field.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      const auto semi = item.find(';');  // cdn-info parameters
      item = item.substr(0, semi);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item == config.id) return true;
      if (comma == std::string_view::npos) break;
      field.remove_prefix(comma + 1);
    }
    return false;
  }

  void reply(size_t worker, const net::HttpReply& r, net::HttpResponse resp) {
    workers[worker]->post([r, resp = std::move(resp)]() mutable { r(std::move(resp)); });
  }

  void handle(const net::HttpRequest& req, size_t worker, net::HttpReply done) {
    if (req.method != "GET") return done(plain(405, "use GET"));
    const auto incoming_loop = req.header("cdn-loop");
    if (!incoming_loop.empty() && inLoop(incoming_loop)) {
      loops->inc();
      return done(plain(508, "loop detected: this request went through this edge already (CDN-Loop)"));
    }
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
    if (lead) fetch(*key, worker, ticket.flight, 0, loopField(incoming_loop));
  }

  // Fetches key from its attempt-th candidate, on `worker`.
  void fetch(const CacheKey& key, size_t worker, uint64_t flight, size_t attempt, std::string loop) {
    const Upstream* up = nullptr;
    bool last = true;
    {
      std::lock_guard lock(mu);
      auto c = candidates(key.key);
      if (attempt < c.size()) up = c[attempt];
      last = attempt + 1 >= c.size();
    }
    if (!up) return fail(key, flight, makeError(code::kFetchTimeout, "no upstream answered"));
    net::FetchOptions opts;
    opts.timeout_ms = config.coalescer.fetch_timeout_us / 1000;
    opts.max_body_bytes = config.cache.max_object_bytes;
    opts.headers.emplace_back("CDN-Loop", loop);
    auto self = shared_from_this();
    const std::string name = up->name();
    fetchers[worker]->get(up->host, up->port, key.key, opts,
                          [self, key, worker, flight, attempt, last, name, loop = std::move(loop)](Result<net::FetchResponse> r) mutable {
                            self->onFetched(key, worker, flight, attempt, last, name, std::move(loop), std::move(r));
                          });
  }

  void onFetched(const CacheKey& key, size_t worker, uint64_t flight, size_t attempt, bool last, const std::string& name,
                 std::string loop, Result<net::FetchResponse> r) {
    // A 5xx other than the origin's own "not produced in time" (503 for a
    // held request) is the upstream failing: the next upstream, or stale.
    // (508 from a parent: a loop in the tier's configuration; the origins
    // behind it are tried.)
    const bool failed = !r || (r->status >= 500 && r->status != 503);
    if (failed) {
      upstream_failed->inc();
      log::warn("edge: upstream failed", {{"origin", name}, {"key", key.key},
                                          {"error", r ? "status " + std::to_string(r->status) : r.error().message}});
      if (!r) {
        std::lock_guard lock(mu);
        noteHealth(name, false);
      }
      if (!last && !stopped) return fetch(key, worker, flight, attempt + 1, std::move(loop));
      return fail(key, flight, r ? makeError(code::kFetchTimeout, "origin answered " + std::to_string(r->status))
                                 : r.error());
    }
    upstream_ok->inc();
    UpstreamResponse ur;
    ur.status = r->status;
    ur.content_type = r->header("content-type");
    ur.headers = std::move(r->headers);
    ur.body = std::move(r->body);
    // A large body goes into a file, sent by the kernel from its pages to
    // every viewer; the copy in memory is dropped once the waiters have it.
    if (ur.body && ur.body->size() >= kFileBodyBytes) ur.file = SharedFile::create(*ur.body);
    std::lock_guard lock(mu);
    noteHealth(name, true);
    StoreHints hints;
    hints.may_appear_soon = key.mayAppearSoon();
    // Waiters get the answer even when it is not stored (no-store, too large).
    auto answer = std::make_shared<CachedResponse>();
    answer->status = ur.status;
    answer->content_type = ur.content_type;
    answer->headers = ur.headers;
    answer->wire_fields = wireFields(answer->headers);
    answer->body = ur.body ? ur.body : std::make_shared<const std::string>();
    answer->file = ur.file;
    if (ur.file) ur.body = nullptr;
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
    log::warn(up ? "edge: upstream up" : "edge: upstream down", {{"upstream", name}});
  }

  void probe() {
    if (stopped) return;
    auto self = shared_from_this();
    std::vector<const Upstream*> all;
    for (const auto& o : config.origins) all.push_back(&o);
    for (const auto& p : config.parents) all.push_back(&p);
    for (const auto* up : all) {
      const auto& o = *up;
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
  auto parent_ring = HashRing::create();
  if (!parent_ring) return parent_ring.error();
  for (const auto& p : config.parents) {
    if (Impl::find(config.origins, p.name())) return makeError(code::kBadConfig, "edge: " + p.name() + " is both an origin and a parent");
    if (auto a = parent_ring->add(p.name()); !a) return a.error();
  }
  if (config.id.empty()) {
    std::random_device rd;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%08x%08x", rd(), rd());
    config.id = std::string("tutti-") + hex;
  }
  auto impl = std::make_shared<Impl>(config, workers, clock, registry, std::move(*cache), std::move(*co), std::move(*ring),
                                     std::move(*parent_ring));
  for (auto* w : workers) impl->fetchers.push_back(std::make_unique<net::HttpFetcher>(*w));
  auto track = [&](const Upstream& u, const char* series, const char* label, const char* help) -> Result<void> {
    auto h = HealthTracker::create(config.health, clock);
    if (!h) return h.error();
    impl->health.emplace(u.name(), std::move(*h));
    auto& g = registry.gauge(series, help, {{label, u.name()}});
    g.set(config.health.initially_up ? 1 : 0);
    impl->up_gauges[u.name()] = &g;
    return {};
  };
  for (const auto& o : impl->config.origins)
    if (auto t = track(o, "tutti_edge_origin_up", "origin", "Whether the edge counts this origin as up (health probes and fetches)"); !t)
      return t.error();
  for (const auto& p : impl->config.parents)
    if (auto t = track(p, "tutti_edge_parent_up", "parent", "Whether the edge counts this parent edge as up (health probes and fetches)"); !t)
      return t.error();
  impl->loops = &registry.counter("tutti_edge_loops_total", "Requests refused with 508: they had been through this edge (CDN-Loop)");
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
  auto list = [&](const std::vector<Upstream>& ups, const char* field) {
    std::string out = "[";
    for (const auto& u : ups) {
      const auto& h = impl_->health.at(u.name());
      if (out.size() > 1) out += ',';
      out += "{\"" + std::string(field) + "\":\"" + u.name() + "\",\"up\":" + (h.up() ? "true" : "false") +
             ",\"since_us\":" + std::to_string(h.changedAtWallUs()) + "}";
    }
    return out + "]";
  };
  return "{\"id\":\"" + impl_->config.id + "\",\"origins\":" + list(impl_->config.origins, "origin") +
         ",\"parents\":" + list(impl_->config.parents, "parent") + ",\"cache\":{\"bytes\":" +
         std::to_string(impl_->cache->bytes()) + ",\"objects\":" + std::to_string(impl_->cache->objects()) +
         "},\"in_flight\":" + std::to_string(impl_->coalescer.flights()) + "}";
}

}  // namespace tutti::edge
