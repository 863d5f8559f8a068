#include "tutti/netem/link_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace tutti::netem {

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t Rng::uniformInt(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  // Modulo bias is below 2^-40 for the spans used here (µs of jitter).
  return lo + static_cast<int64_t>(next() % span);
}

LinkModel::LinkModel(LinkConfig config, uint64_t seed, int64_t now_us)
    : config_(std::move(config)), rng_(seed) {
  resetShaper(now_us);
}

void LinkModel::reconfigure(LinkConfig config, int64_t now_us) {
  const bool shaper_changed = config.rate_bps != config_.rate_bps ||
                              config.burst_bytes != config_.burst_bytes ||
                              config.trace != config_.trace;
  config_ = std::move(config);
  if (shaper_changed) resetShaper(std::max(now_us, last_departure_us_));
}

void LinkModel::resetShaper(int64_t now_us) {
  tokens_ = static_cast<double>(std::max<int64_t>(config_.burst_bytes, 1));
  tokens_at_us_ = now_us;
  trace_start_us_ = now_us;
  next_opportunity_ = 0;
  left_bytes_ = 0;
}

int64_t LinkModel::sendStream(int64_t now_us, int64_t bytes, StreamState& stream) {
  const int64_t departure = shape(now_us, bytes);
  const int64_t release = std::max(departure + propagationUs(), stream.last_release_us);
  stream.last_release_us = release;
  return release;
}

DatagramVerdict LinkModel::sendDatagram(int64_t now_us, int64_t bytes) {
  DatagramVerdict v;
  // Always draw the same number of values per datagram, so one knob does not
  // change the pattern another one produces for the same seed.
  const double loss_draw = rng_.uniform01();
  const double reorder_draw = rng_.uniform01();
  const double duplicate_draw = rng_.uniform01();
  if (loss_draw < config_.loss) {
    v.fate = DatagramVerdict::Fate::kLost;
    return v;
  }
  if (bytes > roomBytes(now_us)) {
    v.fate = DatagramVerdict::Fate::kQueueFull;
    return v;
  }
  int64_t release = shape(now_us, bytes) + propagationUs();
  v.reordered = reorder_draw < config_.reorder;
  if (v.reordered) {
    release += config_.reorder_delay_us;
  } else {
    release = std::max(release, last_in_order_release_us_);
    last_in_order_release_us_ = release;
  }
  v.duplicated = duplicate_draw < config_.duplicate;
  v.release_us = release;
  return v;
}

int64_t LinkModel::queuedBytes(int64_t now_us) {
  dropDeparted(now_us);
  return queued_bytes_;
}

int64_t LinkModel::roomBytes(int64_t now_us) {
  // Without a bandwidth limit nothing ever waits, so nothing fills a queue.
  const bool limited = config_.trace || config_.rate_bps > 0;
  if (config_.queue_bytes <= 0 || !limited) return std::numeric_limits<int64_t>::max();
  return std::max<int64_t>(0, config_.queue_bytes - queuedBytes(now_us));
}

std::optional<int64_t> LinkModel::nextDepartureUs(int64_t now_us) {
  dropDeparted(now_us);
  if (queue_.empty()) return std::nullopt;
  return queue_.front().departure_us;
}

void LinkModel::dropDeparted(int64_t now_us) {
  while (!queue_.empty() && queue_.front().departure_us <= now_us) {
    queued_bytes_ -= queue_.front().bytes;
    queue_.pop_front();
  }
}

int64_t LinkModel::shape(int64_t now_us, int64_t bytes) {
  // FIFO: service starts when the chunk arrives or the one ahead has left.
  const int64_t start = std::max(now_us, last_departure_us_);
  int64_t departure = start;
  if (bytes > 0) {
    if (config_.trace) {
      departure = shapeTrace(now_us, start, bytes);
    } else if (config_.rate_bps > 0) {
      departure = shapeTokenBucket(start, bytes);
    }
  }
  last_departure_us_ = departure;
  if (departure > now_us && bytes > 0) {
    dropDeparted(now_us);
    queue_.push_back({departure, bytes});
    queued_bytes_ += bytes;
  }
  return departure;
}

int64_t LinkModel::shapeTokenBucket(int64_t start_us, int64_t bytes) {
  const double bytes_per_us = static_cast<double>(config_.rate_bps) / 8e6;
  const double burst = static_cast<double>(std::max<int64_t>(config_.burst_bytes, 1));
  if (start_us > tokens_at_us_) {
    tokens_ = std::min(burst, tokens_ + static_cast<double>(start_us - tokens_at_us_) * bytes_per_us);
    tokens_at_us_ = start_us;
  }
  const double need = static_cast<double>(bytes);
  if (tokens_ >= need) {
    tokens_ -= need;
    return start_us;
  }
  // Wait until the bucket has refilled enough; a chunk larger than the burst
  // simply takes bytes / rate (the bucket goes through zero meanwhile).
  const auto wait_us = static_cast<int64_t>(std::ceil((need - tokens_) / bytes_per_us));
  tokens_ = std::max(0.0, tokens_ + static_cast<double>(wait_us) * bytes_per_us - need);
  tokens_at_us_ = start_us + wait_us;
  return start_us + wait_us;
}

int64_t LinkModel::opportunityUs(int64_t k) const {
  const auto& ms = config_.trace->opportunitiesMs();
  const auto n = static_cast<int64_t>(ms.size());
  return trace_start_us_ + ((k / n) * config_.trace->periodMs() + ms[static_cast<size_t>(k % n)]) * 1000;
}

int64_t LinkModel::firstOpportunityAtOrAfter(int64_t t_us) const {
  const auto& ms = config_.trace->opportunitiesMs();
  const auto n = static_cast<int64_t>(ms.size());
  const int64_t period = config_.trace->periodMs();
  // Round up to whole ms: opportunities happen on millisecond boundaries.
  const int64_t rel_ms = t_us <= trace_start_us_ ? 0 : (t_us - trace_start_us_ + 999) / 1000;
  const int64_t cycle = rel_ms / period;
  // Timestamps equal to the period belong to the previous cycle but happen
  // at the same time as the next cycle's timestamp 0; they come first.
  if (cycle > 0) {
    auto it = std::lower_bound(ms.begin(), ms.end(), rel_ms - (cycle - 1) * period);
    if (it != ms.end()) return (cycle - 1) * n + (it - ms.begin());
  }
  auto it = std::lower_bound(ms.begin(), ms.end(), rel_ms - cycle * period);
  return cycle * n + (it - ms.begin());  // found: rel_ms - cycle * period < period = ms.back()
}

int64_t LinkModel::shapeTrace(int64_t now_us, int64_t start_us, int64_t bytes) {
  int64_t departure = start_us;
  // The rest of the last used opportunity serves this chunk only if the chunk
  // was already waiting when that opportunity came (Mahimahi splits packets
  // across opportunities the same way).
  if (left_bytes_ > 0 && now_us <= left_at_us_) {
    const int64_t use = std::min(left_bytes_, bytes);
    left_bytes_ -= use;
    bytes -= use;
    departure = left_at_us_;
  }
  if (bytes > 0) {
    int64_t k = std::max(next_opportunity_, firstOpportunityAtOrAfter(start_us));
    for (; bytes > 0; ++k) {
      const int64_t use = std::min(kPacketBytes, bytes);
      bytes -= use;
      departure = opportunityUs(k);
      left_bytes_ = kPacketBytes - use;
      left_at_us_ = departure;
    }
    next_opportunity_ = k;
  }
  return departure;
}

int64_t LinkModel::propagationUs() {
  int64_t d = config_.delay_us;
  if (config_.jitter_us > 0) d += rng_.uniformInt(-config_.jitter_us, config_.jitter_us);
  return std::max<int64_t>(d, 0);
}

}  // namespace tutti::netem
