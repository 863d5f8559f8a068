// The one translation unit of test/common that includes Beast: the HTTP client
// and RawWsClient.

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <deque>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "test/common/http_client.h"
#include "test/common/raw_ws_client.h"
#include "tutti/protocol/codes.h"

namespace tutti::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

Error err(std::string msg) { return makeError(code::kInternal, std::move(msg)); }

tcp::endpoint loopback(uint16_t port) { return tcp::endpoint(asio::ip::address_v4::loopback(), port); }

}  // namespace

// ---------------------------------------------------------------- HTTP

HttpResponse httpRequest(uint16_t port, std::string_view method, std::string_view target,
                         std::string_view body, const Headers& headers, int64_t timeout_ms) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  http::request<http::string_body> req;
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.body() = std::string(body);
    req.prepare_payload();
  }
  HttpResponse out;
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  stream.async_connect(loopback(port), [&](beast::error_code ec) {
    if (ec) {
      out.error = "connect: " + ec.message();
      return;
    }
    http::async_write(stream, req, [&](beast::error_code ec, size_t) {
      if (ec) {
        out.error = "write: " + ec.message();
        return;
      }
      http::async_read(stream, buf, res, [&](beast::error_code ec, size_t) {
        if (ec) {
          out.error = "read: " + ec.message();
          return;
        }
        out.status = static_cast<int>(res.result_int());
        out.body = std::move(res.body());
        out.content_type = std::string(res[http::field::content_type]);
        for (const auto& f : res) {
          std::string name(f.name_string());
          for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          out.headers.emplace_back(std::move(name), std::string(f.value()));
        }
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

HttpResponse httpGet(uint16_t port, std::string_view target, const Headers& headers, int64_t timeout_ms) {
  return httpRequest(port, "GET", target, {}, headers, timeout_ms);
}

HttpResponse httpPost(uint16_t port, std::string_view target, std::string_view body, const Headers& headers,
                      int64_t timeout_ms) {
  Headers h = headers;
  bool has_type = false;
  for (const auto& [name, value] : h) has_type |= beast::iequals(name, "content-type");
  if (!has_type) h.emplace_back("Content-Type", "application/json");
  return httpRequest(port, "POST", target, body, h, timeout_ms);
}

std::optional<double> parseMetric(std::string_view text, std::string_view series) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.size() <= series.size() || line.substr(0, series.size()) != series) continue;
    if (line[series.size()] != ' ') continue;
    std::string value(line.substr(series.size() + 1));
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

std::optional<double> metricValue(uint16_t port, std::string_view series) {
  HttpResponse r = httpGet(port, "/metrics");
  if (r.status != 200) return std::nullopt;
  return parseMetric(r.body, series);
}

// ---------------------------------------------------------------- RawWsClient

struct RawWsClient::Impl {
  asio::io_context ioc;
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer rbuf;
  std::deque<WsEvent> frames;       // received, not yet returned
  std::deque<std::string> lines;    // split lines of the text frame being consumed
  std::optional<WsEvent> end;       // kClosed / kError once the connection ended

  // Runs the io_context on this thread until cond() or the deadline.
  template <typename Cond>
  bool runUntil(Cond cond, int64_t timeout_ms) {
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    while (!cond()) {
      auto left = deadline - SteadyClock::now();
      if (left <= SteadyClock::duration::zero()) return cond();
      if (ioc.stopped()) ioc.restart();
      if (ioc.run_one_for(left) == 0 && ioc.stopped() && !cond()) {
        // Nothing left to run: cond() cannot become true.
        return false;
      }
    }
    return true;
  }

  // One read is always pending while the connection lives; its completions
  // queue frames that readFrame() hands out.
  void startRead() {
    ws->async_read(rbuf, [this](beast::error_code ec, size_t) {
      if (ec) {
        WsEvent e;
        const websocket::close_reason& r = ws->reason();
        // A close frame that arrived counts even if the teardown after it
        // failed (a server that resets the socket right after its close frame).
        if (ec == websocket::error::closed || r.code != websocket::close_code::none) {
          e.kind = WsEvent::Kind::kClosed;
          e.close_code = r.code == websocket::close_code::none ? 1005 : static_cast<int>(r.code);
          e.close_reason = std::string(r.reason.data(), r.reason.size());
          if (ec != websocket::error::closed) e.error = ec.message();
        } else {
          e.kind = WsEvent::Kind::kError;
          e.error = ec.message();
        }
        end = std::move(e);
        return;
      }
      WsEvent e;
      e.kind = ws->got_text() ? WsEvent::Kind::kText : WsEvent::Kind::kBinary;
      e.data = beast::buffers_to_string(rbuf.cdata());
      rbuf.consume(rbuf.size());
      frames.push_back(std::move(e));
      startRead();
    });
  }

  Result<void> send(bool text, std::string_view data, int64_t timeout_ms) {
    if (!ws) return err("not connected");
    if (end) return err("connection ended");
    bool done = false;
    beast::error_code wec;
    ws->text(text);
    ws->async_write(asio::buffer(data.data(), data.size()), [&](beast::error_code ec, size_t) {
      done = true;
      wec = ec;
    });
    if (!runUntil([&] { return done; }, timeout_ms)) {
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);  // abort the write
      runUntil([&] { return done; }, 1000);
      return err("write timed out");
    }
    if (wec) return err("write: " + wec.message());
    return Result<void>();
  }
};

RawWsClient::RawWsClient() : impl_(std::make_unique<Impl>()) {}

RawWsClient::~RawWsClient() {
  if (impl_->ws) {
    beast::error_code ignored;
    beast::get_lowest_layer(*impl_->ws).socket().close(ignored);
  }
}

Result<void> RawWsClient::connect(uint16_t port, Options options) {
  Impl& m = *impl_;
  m.ws.emplace(m.ioc);
  auto& sock = beast::get_lowest_layer(*m.ws).socket();
  beast::error_code ec;
  sock.open(tcp::v4(), ec);
  if (ec) return err("socket: " + ec.message());
  if (options.receive_buffer_bytes > 0)
    sock.set_option(asio::socket_base::receive_buffer_size(options.receive_buffer_bytes), ec);
  m.ws->read_message_max(256 * 1024 * 1024);
  // Masked client frames go out in write_buffer_bytes pieces (4 KiB by
  // default); one piece per frame lets a test put a whole oversized frame on
  // the wire before the server reacts to its header.
  m.ws->write_buffer_bytes(1024 * 1024);
  bool done = false;
  beast::error_code result;
  beast::get_lowest_layer(*m.ws).expires_after(std::chrono::milliseconds(options.timeout_ms));
  beast::get_lowest_layer(*m.ws).async_connect(loopback(port), [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    m.ws->async_handshake("127.0.0.1:" + std::to_string(port), options.target, [&](beast::error_code ec) {
      result = ec;
      done = true;
    });
  });
  if (!m.runUntil([&] { return done; }, options.timeout_ms + 1000)) return err("connect timed out");
  if (result) return err("connect: " + result.message());
  beast::get_lowest_layer(*m.ws).expires_never();
  m.startRead();
  return Result<void>();
}

Result<void> RawWsClient::sendText(std::string_view text, int64_t timeout_ms) {
  return impl_->send(true, text, timeout_ms);
}

Result<void> RawWsClient::sendBinary(std::string_view bytes, int64_t timeout_ms) {
  return impl_->send(false, bytes, timeout_ms);
}

WsEvent RawWsClient::readFrame(int64_t timeout_ms) {
  Impl& m = *impl_;
  if (!m.ws) return WsEvent{WsEvent::Kind::kError, {}, 0, {}, "not connected"};
  m.runUntil([&] { return !m.frames.empty() || m.end.has_value(); }, timeout_ms);
  if (!m.frames.empty()) {
    WsEvent e = std::move(m.frames.front());
    m.frames.pop_front();
    return e;
  }
  if (m.end) return *m.end;
  return WsEvent{};  // kTimeout
}

WsEvent RawWsClient::readLine(int64_t timeout_ms) {
  Impl& m = *impl_;
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (m.lines.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    WsEvent e = readFrame(std::max<int64_t>(0, left));
    if (e.kind != WsEvent::Kind::kText) return e;
    std::string_view rest = e.data;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty()) m.lines.emplace_back(line);
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  WsEvent e;
  e.kind = WsEvent::Kind::kText;
  e.data = std::move(m.lines.front());
  m.lines.pop_front();
  return e;
}

std::optional<json::object> RawWsClient::readJsonUntil(const std::function<bool(const json::object&)>& pred,
                                                       int64_t timeout_ms) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left < 0) return std::nullopt;
    WsEvent e = readLine(left);
    if (e.kind != WsEvent::Kind::kText) return std::nullopt;
    boost::system::error_code ec;
    json::value v = json::parse(e.data, ec);
    if (ec || !v.is_object()) continue;
    if (pred(v.as_object())) return std::move(v.as_object());
  }
}

std::optional<json::object> RawWsClient::readReply(uint64_t id, int64_t timeout_ms) {
  return readJsonUntil(
      [id](const json::object& o) {
        auto it = o.find("id");
        if (it == o.end() || o.contains("push")) return false;
        const json::value& v = it->value();
        return (v.is_uint64() && v.get_uint64() == id) ||
               (v.is_int64() && v.get_int64() >= 0 && static_cast<uint64_t>(v.get_int64()) == id);
      },
      timeout_ms);
}

WsEvent RawWsClient::waitClosed(int64_t timeout_ms) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left < 0) return WsEvent{};
    impl_->lines.clear();
    WsEvent e = readFrame(left);
    if (e.kind == WsEvent::Kind::kClosed || e.kind == WsEvent::Kind::kError ||
        e.kind == WsEvent::Kind::kTimeout)
      return e;
  }
}

std::optional<json::object> RawWsClient::connectCommand(std::string_view token, uint64_t id, int64_t timeout_ms) {
  json::object params;
  if (!token.empty()) params["token"] = token;
  json::object cmd;
  cmd["id"] = id;
  cmd["method"] = "connect";
  cmd["params"] = std::move(params);
  if (!sendText(json::serialize(cmd))) return std::nullopt;
  return readReply(id, timeout_ms);
}

void RawWsClient::close(int code) {
  Impl& m = *impl_;
  if (!m.ws || m.end) return;
  bool done = false;
  m.ws->async_close(websocket::close_reason(static_cast<uint16_t>(code)), [&](beast::error_code) { done = true; });
  m.runUntil([&] { return done && m.end.has_value(); }, 2000);
  beast::error_code ignored;
  beast::get_lowest_layer(*m.ws).socket().close(ignored);
}

bool RawWsClient::ended() const { return impl_->end.has_value(); }

}  // namespace tutti::test
