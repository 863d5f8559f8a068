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
