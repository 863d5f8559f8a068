#pragma once
// An edge's copy of one room as its origin orders it (docs/edge.md, "Rooms at
// the edge"): the origin's epoch and offsets, the position the upstream
// subscription has reached, and the recent publications, bounded like the
// origin's history (the room rule's history_size and history_ttl). It answers
// a local subscriber exactly as the origin's Room::subscribe would, as far as
// what it holds allows; it never invents an offset.
//
// Pure state, no threads: the RelayBroker owns each mirror on the room's home
// worker and calls it only there.

#include <cstdint>
#include <optional>
#include <string>

#include "tutti/protocol/codec.h"
#include "tutti/sync/history.h"
#include "tutti/sync/publication.h"
#include "tutti/sync/room.h"

namespace tutti::broker {

class RoomMirror {
 public:
  RoomMirror(size_t history_size, int64_t history_ttl_us)
      : history_size_(history_size), history_ttl_us_(history_ttl_us), history_(history_size, history_ttl_us) {}

  // The upstream subscription answered (its first reply, or one after an
  // upstream reconnect or gap). recovered: the upstream continues right after
  // top() (it replays up to upstream_top, then goes live) and what the mirror
  // holds stays valid. Otherwise (a first subscribe, or a recovery the origin
  // refused) the mirror restarts empty at {epoch, upstream_top}.
  void upstreamSubscribed(const std::string& epoch, uint64_t upstream_top, bool recovered);

  // Before the first upstream subscription: it will ask the origin to
  // recover from `from` (the first local subscriber's position), so that the
  // mirror covers everything after it once the replay is in.
  void recoverFrom(const protocol::StreamPosition& from) {
    if (started_) return;
    epoch_ = from.epoch;
    top_ = from.offset;
  }

  // The next publication from upstream, in order. False (and nothing kept)
  // when it does not continue the mirror: another epoch, or not top()+1.
  bool append(sync::Publication p, int64_t now_us);

  // Drops publications older than the room's history_ttl.
  void trim(int64_t now_us) { history_.trim(now_us); }

  // Whether the upstream subscription has answered at all.
  bool started() const { return started_; }
  // Whether the mirror has everything up to the top the upstream announced
  // (the replay after a recovery is in): only then may a local subscriber be
  // answered, or it would be told a top the mirror cannot serve yet.
  bool caughtUp() const { return started_ && top_ >= target_; }

  const std::string& epoch() const { return epoch_; }
  // The last offset the mirror has (the position to recover the upstream from).
  uint64_t top() const { return top_; }
  const sync::History& history() const { return history_; }

  // As Room::subscribe: the position a local subscriber starts after, with
  // exact recovery from the mirror when it covers the gap; otherwise
  // recovered false with epoch_changed, offset_ahead or history_exhausted.
  // Only when caughtUp().
  sync::SubscribeSnapshot subscribe(const std::optional<protocol::StreamPosition>& recover) const;

 private:
  size_t history_size_;
  int64_t history_ttl_us_;
  sync::History history_;
  std::string epoch_;
  uint64_t top_ = 0;
  uint64_t target_ = 0;
  bool started_ = false;
};

}  // namespace tutti::broker
