#include "tutti/sync/room.h"

#include <algorithm>

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
    std::optional<int64_t> at;
    if (in.at_us) at = in.at_us;
    else if (in.delay_us) at = now_us + *in.delay_us;
    else if (policy_.delivery == Delivery::kDelay) at = now_us + currentDelayUs();
    else if (policy_.delivery == Delivery::kAt) at = now_us;
    auto pf = protocol::encodePub(name_, seq_.epoch(), offset, now_us, in.data_json, at, in.media_ts_us);
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

void Room::reportDelay(size_t worker, int64_t owd_us) {
  if (owd_us <= 0) delay_reports_.erase(worker);
  else delay_reports_[worker] = owd_us;
}

int64_t Room::currentDelayUs() const {
  if (!policy_.delay_adaptive) return policy_.delay_us;
  int64_t worst = 0;
  for (const auto& [_, v] : delay_reports_) worst = std::max(worst, v);
  return std::clamp(worst + policy_.delay_margin_us, policy_.delay_min_us, policy_.delay_max_us);
}

Result<WindowSpec> Room::openWindow(const std::string& id, std::optional<int64_t> opens_at_us,
                                    std::optional<int64_t> closes_at_us, std::optional<int64_t> duration_us,
                                    int64_t now_us) {
  if (windows_.count(id)) return makeError(1301, "window " + id + " already exists in " + name_);
  WindowSpec spec;
  spec.id = id;
  spec.opens_at_us = opens_at_us.value_or(now_us);
  spec.closes_at_us = closes_at_us ? *closes_at_us : spec.opens_at_us + duration_us.value_or(0);
  if (spec.closes_at_us <= spec.opens_at_us) return makeError(1302, "window closes before it opens");
  if (spec.closes_at_us <= now_us) return makeError(1302, "window closes in the past");
  if (spec.closes_at_us - spec.opens_at_us > policy_.fairness.max_duration_us)
    return makeError(1302, "window longer than allowed");
  if (spec.opens_at_us < now_us - 3'600'000'000LL) return makeError(1302, "window opens too far in the past");
  spec.settles_at_us = spec.closes_at_us + policy_.fairness.grace_us;
  windows_.emplace(id, FairWindow(spec, policy_.fairness));
  last_activity_us_ = now_us;
  return spec;
}

FairWindow* Room::window(const std::string& id) {
  auto it = windows_.find(id);
  return it == windows_.end() ? nullptr : &it->second;
}

std::vector<protocol::ClientInfo> Room::presence() const {
  std::vector<protocol::ClientInfo> out;
  out.reserve(presence_.size());
  for (const auto& [_, info] : presence_) out.push_back(info);
  return out;
}

bool Room::expire(int64_t now_us) {
  history_.trim(now_us);
  return now_us - last_activity_us_ > policy_.idle_ttl_us && presence_.empty() && windows_.empty();
}

}  // namespace tutti::sync
