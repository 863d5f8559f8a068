// The upstream HTTP client (http_fetch.h): Beast's parser over Asio, one
// exchange per connection at a time, idle connections pooled per upstream.

#include "tutti/net/http_fetch.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <deque>
#include <map>

#include "tutti/core/log.h"
#include "tutti/net/worker.h"
#include "tutti/protocol/codes.h"

namespace tutti::net {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

Error fetchError(const std::string& what) { return makeError(code::kInternal, "upstream: " + what); }
}  // namespace

std::string FetchResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

struct HttpFetcher::Impl : std::enable_shared_from_this<Impl> {
  explicit Impl(asio::io_context& io) : io(io) {}
  asio::io_context& io;
  // Idle keep-alive connections by "host:port", most recent at the back.
  std::map<std::string, std::deque<std::unique_ptr<beast::tcp_stream>>> idle;

  struct Exchange {
    std::shared_ptr<Impl> owner;
    std::string upstream;
    std::unique_ptr<beast::tcp_stream> stream;
    bool reused = false;
    http::request<http::empty_body> req;
    beast::flat_buffer buf;
    std::optional<http::response_parser<http::string_body>> parser;
    std::function<void(Result<FetchResponse>)> done;
    FetchOptions options;
    std::string host;
    uint16_t port = 0;
    bool finished = false;

    void finish(Result<FetchResponse> r) {
      if (finished) return;
      finished = true;
      auto d = std::move(done);
      d(std::move(r));
    }
  };

  void start(std::shared_ptr<Exchange> x) {
    auto& pool = idle[x->upstream];
    if (!pool.empty()) {
      x->stream = std::move(pool.back());
      pool.pop_back();
      x->reused = true;
      return send(std::move(x));
    }
    connect(std::move(x));
  }

  void connect(std::shared_ptr<Exchange> x) {
    error_code ec;
    const auto addr = asio::ip::make_address(x->host, ec);
    if (ec) return x->finish(fetchError("bad address " + x->host));
    x->stream = std::make_unique<beast::tcp_stream>(io);
    x->reused = false;
    x->stream->expires_after(std::chrono::milliseconds(x->options.timeout_ms));
    x->stream->async_connect(tcp::endpoint(addr, x->port), [x](error_code e) {
      if (e) return x->finish(fetchError("connect " + x->upstream + ": " + e.message()));
      x->owner->send(x);
    });
  }

  void send(std::shared_ptr<Exchange> x) {
    x->stream->expires_after(std::chrono::milliseconds(x->options.timeout_ms));
    http::async_write(*x->stream, x->req, [x](error_code e, size_t) {
      if (e) return x->owner->retryOrFail(x, "send: " + e.message());
      x->parser.emplace();
      x->parser->header_limit(16 * 1024);
      x->parser->body_limit(static_cast<uint64_t>(x->options.max_body_bytes));
      http::async_read(*x->stream, x->buf, *x->parser, [x](error_code e2, size_t) { x->owner->onRead(x, e2); });
    });
  }

  // A pooled connection the upstream closed meanwhile fails at once: one
  // more try on a fresh connection.
  void retryOrFail(const std::shared_ptr<Exchange>& x, const std::string& what) {
    if (x->reused && !x->finished) {
      log::debug("upstream: pooled connection failed, once more on a new one", {{"upstream", x->upstream}, {"error", what}});
      x->buf.clear();
      return connect(x);
    }
    x->finish(fetchError(what));
  }

  void onRead(const std::shared_ptr<Exchange>& x, error_code e) {
    if (e == http::error::body_limit) return x->finish(fetchError("answer larger than max_body_bytes"));
    if (e == http::error::header_limit) return x->finish(fetchError("answer head too large"));
    if (e == beast::error::timeout) return x->finish(fetchError("timed out"));
    if (e) {
      if (e == http::error::end_of_stream || e == asio::error::eof || e == asio::error::connection_reset)
        return retryOrFail(x, "closed: " + e.message());
      return x->finish(fetchError("bad answer: " + e.message()));
    }
    auto res = x->parser->release();
    FetchResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    out.body = std::make_shared<const std::string>(std::move(res.body()));
    if (res.keep_alive() && x->buf.size() == 0) {
      auto& pool = idle[x->upstream];
      if (pool.size() < kMaxIdlePerUpstream) {
        x->stream->expires_never();
        pool.push_back(std::move(x->stream));
      }
    }
    x->finish(std::move(out));
  }
};

HttpFetcher::HttpFetcher(Worker& worker) : impl_(std::make_shared<Impl>(worker.context())) {}

HttpFetcher::~HttpFetcher() { closeIdle(); }

void HttpFetcher::closeIdle() {
  for (auto& [k, pool] : impl_->idle)
    for (auto& s : pool) {
      error_code ec;
      s->socket().close(ec);
    }
  impl_->idle.clear();
}

void HttpFetcher::get(const std::string& host, uint16_t port, std::string target, FetchOptions options,
                      std::function<void(Result<FetchResponse>)> done) {
  auto x = std::make_shared<Impl::Exchange>();
  x->owner = impl_;
  x->host = host;
  x->port = port;
  x->upstream = host + ":" + std::to_string(port);
  x->done = std::move(done);
  x->options = std::move(options);
  x->req.method(http::verb::get);
  x->req.target(target);
  x->req.version(11);
  x->req.set(http::field::host, x->upstream);
  x->req.set(http::field::user_agent, "tutti-edge/" TUTTI_VERSION);
  for (const auto& [k, v] : x->options.headers) x->req.set(k, v);
  x->req.keep_alive(true);
  impl_->start(std::move(x));
}

}  // namespace tutti::net
