#pragma once
// HTTP routes: the server-to-server API (docs/api.md), the operations
// endpoints (/healthz, /readyz, /metrics) and the web pages (docs/web.md). Thread: the worker of the HTTP
// session; broker answers come back to that worker before the reply.

#include "context.h"
#include "static_files.h"
#include "tutti/net/transport.h"

namespace tutti::server {

class Api {
 public:
  explicit Api(ServerContext& ctx) : ctx_(ctx), pages_(ctx.config.web.root) {}
  void handle(net::HttpRequest req, size_t worker, net::HttpReply reply);

 private:
  void publish(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  void history(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  void presence(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  void rooms(size_t worker, net::HttpReply reply);
  void stats(size_t worker, net::HttpReply reply);
  void disconnect(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  void openWindow(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  void latency(const net::HttpRequest& req, size_t worker, net::HttpReply reply);
  void mediaEvent(const net::HttpRequest& req, net::HttpReply reply);
  void mediaStreams(net::HttpReply reply);
  net::HttpResponse directory(const net::HttpRequest& req) const;
  bool authorised(const net::HttpRequest& req) const;

  ServerContext& ctx_;
  StaticFiles pages_;
};

}  // namespace tutti::server
