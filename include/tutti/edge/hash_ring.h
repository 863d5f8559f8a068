#pragma once
// Consistent hashing of cache keys onto parents or origins (Karger et al.
// 1997): each node owns many points (virtual nodes) on a 64-bit ring, and a
// key goes to the owner of the first point at or after the key's hash. So
// every edge sends a given object to the same parent (one copy in the tier,
// one upstream fetch), and adding or removing one of N nodes moves only
// about 1/N of the keys.
//
// The hash is defined here (FNV-1a 64 with a final avalanche step), not
// std::hash: the placement must be the same on every edge, every build and
// every run.
//
// Thread: not thread-safe; const member functions have no side effects, so a
// ring built at start and then only read may be shared.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::edge {

// FNV-1a, 64 bits (offset basis 14695981039346656037, prime 1099511628211).
uint64_t fnv1a64(std::string_view bytes);
// fnv1a64 followed by MurmurHash3's 64-bit finalizer. FNV-1a alone leaves
// similar short strings ("origin-a#1", "origin-a#2") close together in the
// high bits, which would bunch a node's points on the ring.
uint64_t stableHash64(std::string_view bytes);

struct HashRingConfig {
  // Points per node. 160 (Ketama's figure) keeps each node's share within a
  // few percent of 1/N for a handful of nodes; the ring costs 16 bytes a point.
  size_t virtual_nodes = 160;
};

class HashRing {
 public:
  using Healthy = std::function<bool(std::string_view node)>;

  // kBadConfig unless 1 <= virtual_nodes <= 10,000.
  static Result<HashRing> create(HashRingConfig config = {});

  // code::kBadConfig for an empty name, code::kDuplicateNode for a name
  // already there. The placement does not depend on the order of add() calls.
  Result<void> add(std::string node);
  // False when absent.
  bool remove(std::string_view node);

  const std::vector<std::string>& nodes() const { return nodes_; }
  size_t points() const { return points_.size(); }

  // The node for key: the owner of the first point at or after its hash,
  // skipping nodes that healthy() refuses (each node asked at most once).
  // None when the ring is empty or no node is healthy. The view is valid
  // until the next add() or remove().
  std::optional<std::string_view> pick(std::string_view key, const Healthy& healthy = nullptr) const;
  // Up to n distinct nodes in the order the ring walk meets them from key:
  // the owner, then whom to try next (retries, failover). Health is not asked.
  std::vector<std::string_view> order(std::string_view key, size_t n) const;

 private:
  struct Point {
    uint64_t hash = 0;
    uint32_t node = 0;  // index into nodes_
  };
  explicit HashRing(HashRingConfig config) : config_(config) {}
  void rebuild();
  size_t firstPoint(uint64_t hash) const;  // index into points_; points_ not empty

  HashRingConfig config_;
  std::vector<std::string> nodes_;
  std::vector<Point> points_;  // by hash, ties by node name
};

}  // namespace tutti::edge
