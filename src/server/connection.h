#pragma once
// The protocol logic of one WebSocket client (docs/protocol.md): connect and
// auth, subscriptions with recovery, publishes, presence, limits.
// Thread: the worker that owns the socket, for its whole life. Broker answers
// come back on the same worker and find the connection through a weak_ptr,
// since it may have gone meanwhile.

#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "context.h"
#include "hub.h"
#include "tutti/core/token_bucket.h"
#include "tutti/net/transport.h"
#include "tutti/protocol/codec.h"

namespace tutti::server {

class Connection final : public net::WsHandler, public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerContext& ctx, WorkerHub& hub);
  ~Connection() override;

  // net::WsHandler
  void onOpen(net::WsConnection& conn) override;
  void onText(std::string_view frame) override;
  void onBinary(size_t bytes) override;
  void onClosed(int code) override;
  void onRtt(int64_t rtt_us) override;

  // Called by the hub: one publication for a live subscription.
  void deliverPublication(Subscription& sub, const sync::Publication& p);
  void deliverFrame(const broker::Frame& frame);

  // Server-initiated close (API disconnect, shutdown).
  void closeWith(int code, const std::string& reason);

  // Closes with 4004 once the connect token has expired (called each second).
  void checkTokenExpiry(int64_t now_s);

  // This client's one-way delay estimate from the server's own round-trip
  // probes (min recent rtt / 2), -1 before the first.
  int64_t owdUs() const;
  net::RttStats rtt() const;
  // What the client last reported of its clock sync (via `time`), -1 = unknown.
  struct SyncTelemetry {
    int64_t rtt_us = -1;
    int64_t offset_us = -1;
    int64_t uncertainty_us = -1;
  };
  const SyncTelemetry& syncTelemetry() const { return telemetry_; }
  bool subscribedTo(const std::string& room) const { return subs_.count(room) > 0; }

  const std::string& user() const { return user_; }
  const std::string& client() const { return client_; }
  const std::string& session() const { return session_; }

 private:
  void handle(protocol::Command& cmd);
  void onConnect(uint64_t id, protocol::ConnectParams& p);
  void onSubscribe(uint64_t id, protocol::SubscribeParams& p);
  void onUnsubscribe(uint64_t id, const std::string& room);
  void onPublish(uint64_t id, protocol::PublishParams& p);
  void onPresence(uint64_t id, const std::string& room);
  void onTime(uint64_t id, const protocol::TimeParams& p);
  void onWindowOpen(uint64_t id, protocol::WindowOpenParams& p);
  void onAction(uint64_t id, protocol::ActionParams& p);
  void onPresenceRelay(uint64_t id, protocol::PresenceRelayParams& p);
  void onDelayReport(uint64_t id, const protocol::DelayReportParams& p);
  void subscribed(uint64_t id, const std::string& room, uint64_t generation, sync::SubscribeSnapshot snap);
  void subscribeFailed(uint64_t id, const std::string& room, uint64_t generation, const Error& e);

  void reply(uint64_t id, std::string_view result_json);
  void replyError(uint64_t id, const Error& e);
  void protocolError(uint64_t id, const Error& e);
  void send(std::string bytes);
  bool mayAccess(const std::string& room, bool publish) const;

  ServerContext& ctx_;
  WorkerHub& hub_;
  net::WsConnection* conn_ = nullptr;  // null once closed
  bool counted_ip_ = false;
  bool connected_ = false;
  bool anonymous_ = true;
  // The token says this connection is an edge (claim `edge`): it may forward
  // commands for its clients (`relay`), and per-connection limits meant for
  // one end user (publish rate, rooms) do not apply: the edge applies them to
  // each of its clients.
  bool is_edge_ = false;
  int64_t token_exp_s_ = 0;  // 0: no token
  std::string user_;
  std::string session_;
  std::string client_;
  std::vector<std::string> may_subscribe_;
  std::vector<std::string> may_publish_;
  std::vector<std::string> may_open_windows_;
  int64_t frame_received_us_ = 0;  // server time the current frame was read
  SyncTelemetry telemetry_;
  std::unordered_map<std::string, Subscription> subs_;  // node-based: Subscription* stay valid
  uint64_t next_generation_ = 1;
  // An edge's clients listed in rooms' presence through this connection
  // (room, session): they leave when it closes.
  std::set<std::pair<std::string, std::string>> relayed_presence_;
  int64_t protocol_errors_ = 0;
  TokenBucket publish_bucket_;
};

}  // namespace tutti::server
