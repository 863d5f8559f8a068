#pragma once
// The single-node broker: each room lives on a home worker (hash of its name
// modulo the worker count) where its sequencer, history and presence are
// touched without locks. Publishes posted to the home worker while a batch is
// pending join that batch: one sequencing step, one history append, one post
// per subscribed worker (the batched sequencer of STYLE.md).

#include <memory>
#include <vector>

#include "tutti/broker/broker.h"
#include "tutti/core/clock.h"
#include "tutti/sync/audit_log.h"

namespace tutti::broker {

class EmbeddedBroker final : public Broker {
 public:
  // executors[i] and sinks[i] belong to worker i; all must outlive the broker.
  // audit: where window decisions are sealed (may be null: no audit trail).
  EmbeddedBroker(std::vector<Executor*> executors, std::vector<WorkerSink*> sinks, PolicyFn policy,
                 const Clock& clock, sync::AuditLog* audit = nullptr);
  ~EmbeddedBroker() override;

  void publish(PublishRequest req, std::function<void(Result<PublishResult>)> done) override;
  void subscribe(SubscribeRequest req, std::function<void(Result<sync::SubscribeSnapshot>)> done) override;
  void unsubscribe(const std::string& room, size_t worker, const std::string& session) override;
  void presence(const std::string& room, size_t worker,
                std::function<void(Result<std::vector<protocol::ClientInfo>>)> done) override;
  void presenceJoin(const std::string& room, protocol::ClientInfo info, const std::string& via) override;
  void presenceLeave(const std::string& room, const std::string& session, const std::string& via) override;
  void history(const std::string& room, uint64_t since, size_t limit, size_t worker,
               std::function<void(Result<HistoryPage>)> done) override;
  void rooms(size_t worker, std::function<void(std::vector<RoomInfo>)> done) override;
  void tick(size_t worker) override;
  void openWindow(WindowRequest req, std::function<void(Result<sync::WindowSpec>)> done) override;
  void act(ActionRequest req, std::function<void(Result<ActionResult>)> done) override;
  void reportDelay(const std::string& room, size_t worker, int64_t owd_us) override;

  size_t homeOf(const std::string& room) const;

 private:
  struct Shard;
  struct RoomState;
  void drain(size_t home, const std::string& room);
  // Orders inputs in the room and fans the result out; returns the acks.
  std::vector<sync::PublishAck> order(RoomState& st, const std::string& room,
                                      std::vector<sync::PublishInput> inputs);
  // On the room's home worker: list or unlist a session, and push the event.
  void join(RoomState& st, const std::string& room, const protocol::ClientInfo& info);
  void leave(RoomState& st, const std::string& room, const std::string& session);
  void settle(size_t home, const std::string& room, const std::string& window);
  std::string audit(const std::string& fields);
  RoomState& roomState(size_t home, const std::string& room);

  std::vector<Executor*> executors_;
  std::vector<WorkerSink*> sinks_;
  PolicyFn policy_;
  const Clock& clock_;
  sync::AuditLog* audit_;
  std::vector<std::unique_ptr<Shard>> shards_;  // shards_[i] touched only on worker i
};

}  // namespace tutti::broker
