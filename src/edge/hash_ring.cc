#include "tutti/edge/hash_ring.h"

#include <algorithm>

#include "tutti/edge/codes.h"

namespace tutti::edge {

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t stableHash64(std::string_view bytes) {
  uint64_t h = fnv1a64(bytes);
  // MurmurHash3 fmix64: every input bit flips each output bit with p ~ 1/2.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

Result<HashRing> HashRing::create(HashRingConfig config) {
  if (config.virtual_nodes < 1 || config.virtual_nodes > 10'000) {
    return makeError(code::kBadConfig, "hash ring: virtual_nodes must be in [1, 10000]");
  }
  return HashRing(config);
}

Result<void> HashRing::add(std::string node) {
  if (node.empty()) return makeError(code::kBadConfig, "hash ring: empty node name");
  if (std::find(nodes_.begin(), nodes_.end(), node) != nodes_.end()) {
    return makeError(code::kDuplicateNode, "hash ring: node " + node + " added twice");
  }
  nodes_.push_back(std::move(node));
  rebuild();
  return {};
}

bool HashRing::remove(std::string_view node) {
  auto it = std::find(nodes_.begin(), nodes_.end(), node);
  if (it == nodes_.end()) return false;
  nodes_.erase(it);
  rebuild();
  return true;
}

void HashRing::rebuild() {
  points_.clear();
  points_.reserve(nodes_.size() * config_.virtual_nodes);
  std::string label;
  for (uint32_t n = 0; n < nodes_.size(); ++n) {
    for (size_t v = 0; v < config_.virtual_nodes; ++v) {
      label = nodes_[n];
      label += '#';
      label += std::to_string(v);
      points_.push_back({stableHash64(label), n});
    }
  }
  // Ties (two points on one hash) are broken by name, not by index, so the
  // ring is the same whatever order the nodes were added in.
  std::sort(points_.begin(), points_.end(), [&](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : nodes_[a.node] < nodes_[b.node];
  });
}

size_t HashRing::firstPoint(uint64_t hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                             [](const Point& p, uint64_t h) { return p.hash < h; });
  return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());  // wraps around
}

std::optional<std::string_view> HashRing::pick(std::string_view key, const Healthy& healthy) const {
  if (points_.empty()) return std::nullopt;
  const size_t start = firstPoint(stableHash64(key));
  if (!healthy) return nodes_[points_[start].node];
  std::vector<bool> asked(nodes_.size(), false);
  size_t distinct = 0;
  for (size_t i = 0; i < points_.size() && distinct < nodes_.size(); ++i) {
    const uint32_t n = points_[(start + i) % points_.size()].node;
    if (asked[n]) continue;
    asked[n] = true;
    ++distinct;
    if (healthy(nodes_[n])) return nodes_[n];
  }
  return std::nullopt;
}

std::vector<std::string_view> HashRing::order(std::string_view key, size_t n) const {
  std::vector<std::string_view> out;
  if (points_.empty()) return out;
  n = std::min(n, nodes_.size());
  std::vector<bool> seen(nodes_.size(), false);
  const size_t start = firstPoint(stableHash64(key));
  for (size_t i = 0; i < points_.size() && out.size() < n; ++i) {
    const uint32_t node = points_[(start + i) % points_.size()].node;
    if (seen[node]) continue;
    seen[node] = true;
    out.push_back(nodes_[node]);
  }
  return out;
}

}  // namespace tutti::edge
