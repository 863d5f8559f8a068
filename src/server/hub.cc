#include "hub.h"

#include <algorithm>

#include "connection.h"

namespace tutti::server {

void WorkerHub::addSubscriber(const std::string& room, Connection* c, Subscription* s) {
  rooms_[room].push_back(Subscriber{c, s});
}

void WorkerHub::removeSubscriber(const std::string& room, Connection* c) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  auto& v = it->second;
  auto pos = std::find_if(v.begin(), v.end(), [c](const Subscriber& s) { return s.conn == c; });
  if (pos != v.end()) {
    *pos = v.back();
    v.pop_back();
  }
  if (v.empty()) rooms_.erase(it);
}

std::vector<std::pair<std::string, int64_t>> WorkerHub::delayPercentiles(
    const std::function<double(const std::string&)>& percentile) {
  std::vector<std::pair<std::string, int64_t>> out;
  std::unordered_set<std::string> now;
  for (const auto& [room, subs] : rooms_) {
    const double p = percentile(room);
    if (p < 0) continue;
    std::vector<int64_t> owd;
    for (const auto& s : subs)
      if (int64_t d = s.conn->owdUs(); d >= 0) owd.push_back(d + s.sub->downstream_owd_us);
    if (owd.empty()) continue;
    std::sort(owd.begin(), owd.end());
    const size_t idx = std::min(owd.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(owd.size())));
    out.emplace_back(room, owd[idx]);
    now.insert(room);
  }
  for (const auto& room : reported_)
    if (!now.count(room)) out.emplace_back(room, 0);
  reported_ = std::move(now);
  return out;
}

std::vector<Connection*> WorkerHub::subscribersOf(const std::string& room) const {
  std::vector<Connection*> out;
  auto it = rooms_.find(room);
  if (it != rooms_.end())
    for (const auto& s : it->second) out.push_back(s.conn);
  return out;
}

void WorkerHub::deliver(const std::string& room, const broker::Publications& pubs) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  // Index loop: a send may cut a slow consumer, whose onClosed runs later
  // (asynchronously), so the vector does not change under us here.
  auto& subs = it->second;
  for (size_t i = 0; i < subs.size(); ++i)
    for (const auto& p : *pubs) subs[i].conn->deliverPublication(*subs[i].sub, p);
}

void WorkerHub::presenceEvent(const std::string& room, const broker::Frame& frame) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  for (auto& s : it->second)
    if (s.sub->presence_events) s.conn->deliverFrame(frame);
}

}  // namespace tutti::server
