#include "tutti/sync/room.h"

namespace tutti::sync {

Room::Room(std::string name, std::string epoch, RoomPolicy policy, int64_t now_us)
    : name_(std::move(name)),
      policy_(policy),
      seq_(std::move(epoch)),
      history_(policy.history_size, policy.history_ttl_us),
      dedup_(policy.dedup_window_us, policy.dedup_max_entries),
      last_activity_us_(now_us) {}

void Room::publish(std::span<const PublishInput> inputs, int64_t now_us, std::vector<PublishAck>& acks,
                   std::vector<Publication>& ordered) {
  last_activity_us_ = now_us;
  acks.reserve(acks.size() + inputs.size());
  for (const auto& in : inputs) {
    if (!in.dedup_key.empty()) {
      if (const PublishAck* seen = dedup_.find(in.dedup_key, now_us)) {
        PublishAck dup = *seen;
        dup.duplicate = true;
        acks.push_back(dup);
        continue;
      }
    }
    const uint64_t offset = seq_.assign(1);
    auto pf = protocol::encodePub(name_, seq_.epoch(), offset, now_us, in.data_json);
    Publication p;
    p.offset = offset;
    p.ts_us = now_us;
    p.data_pos = static_cast<uint32_t>(pf.data_pos);
    p.data_len = static_cast<uint32_t>(pf.data_len);
    p.frame = std::make_shared<const std::string>(std::move(pf.bytes));
    if (policy_.history_size > 0) history_.append(p);
    PublishAck ack{offset, now_us, false};
    if (!in.dedup_key.empty()) dedup_.insert(in.dedup_key, ack, now_us);
    acks.push_back(ack);
    ordered.push_back(std::move(p));
  }
  history_.trim(now_us);
}

SubscribeSnapshot Room::subscribe(const std::optional<protocol::StreamPosition>& recover) const {
  SubscribeSnapshot s;
  s.epoch = seq_.epoch();
  s.top = seq_.top();
  if (!recover) return s;
  s.recovery_requested = true;
  if (recover->epoch != seq_.epoch()) {
    s.reason = "epoch_changed";
  } else if (recover->offset > seq_.top()) {
    s.reason = "offset_ahead";
  } else if (!history_.covers(recover->offset, seq_.top())) {
    s.reason = "history_exhausted";
  } else {
    s.recovered = true;
    s.replay = history_.after(recover->offset, static_cast<size_t>(-1));
  }
  return s;
}

std::vector<protocol::ClientInfo> Room::presence() const {
  std::vector<protocol::ClientInfo> out;
  out.reserve(presence_.size());
  for (const auto& [_, info] : presence_) out.push_back(info);
  return out;
}

bool Room::expire(int64_t now_us) {
  history_.trim(now_us);
  return now_us - last_activity_us_ > policy_.idle_ttl_us && presence_.empty();
}

}  // namespace tutti::sync
