#include "tutti/broker/room_mirror.h"

namespace tutti::broker {

void RoomMirror::upstreamSubscribed(const std::string& epoch, uint64_t upstream_top, bool recovered) {
  if (recovered && started_ && epoch == epoch_) {
    target_ = upstream_top;  // the replay brings top_+1 .. upstream_top
    return;
  }
  if (recovered && !started_ && epoch == epoch_) {
    // The first upstream subscription recovered from a local subscriber's
    // position, which was set as top_ (see RelayBroker): the replay follows.
    epoch_ = epoch;
    target_ = upstream_top;
    started_ = true;
    return;
  }
  epoch_ = epoch;
  top_ = upstream_top;
  target_ = upstream_top;
  history_ = sync::History(history_size_, history_ttl_us_);
  started_ = true;
}

bool RoomMirror::append(sync::Publication p, int64_t now_us) {
  if (!started_ || p.offset != top_ + 1) return false;
  top_ = p.offset;
  if (history_size_ > 0) history_.append(std::move(p));
  history_.trim(now_us);
  return true;
}

sync::SubscribeSnapshot RoomMirror::subscribe(const std::optional<protocol::StreamPosition>& recover) const {
  sync::SubscribeSnapshot s;
  s.epoch = epoch_;
  s.top = top_;
  if (!recover) return s;
  s.recovery_requested = true;
  if (recover->epoch != epoch_) {
    s.reason = "epoch_changed";
  } else if (recover->offset > top_) {
    s.reason = "offset_ahead";
  } else if (!history_.covers(recover->offset, top_)) {
    s.reason = "history_exhausted";
  } else {
    s.recovered = true;
    s.replay = history_.after(recover->offset, static_cast<size_t>(-1));
  }
  return s;
}

}  // namespace tutti::broker
