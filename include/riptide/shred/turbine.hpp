#pragma once
// Turbine: the per-shred broadcast tree. The leader sends each shred to one root; every node
// that receives it forwards it to its children. The tree is a deterministic, stake-weighted
// shuffle of the cluster (leader excluded) seeded by the shred's identity, so it differs for
// every shred (load and loss spread over the cluster) and every node derives the same tree
// from the same contact table without talking to anyone.
//
// Specification (everything another implementation needs to reproduce a tree bit for bit):
//
//  1. Canonical order. The cluster's nodes are sorted by (stake descending, id ascending as
//     32 unsigned bytes): the staked ones are the epoch's stakes in their canonical order
//     (epoch/stakes.hpp), the zero-stake ones follow by id. Cluster index i means "i-th node
//     in that order". Staked nodes therefore occupy indices [0, staked_count), zero-stake
//     nodes the rest.
//  2. Seed. seed = SHA-256(slot u64 LE ‖ shred index u32 LE ‖ type u8 ‖ leader pubkey[32]),
//     45 bytes in, type 0 = data, 1 = coding (turbine_seed()).
//  3. PRNG. xoshiro256** (Blackman & Vigna; util::xoshiro256ss::from_state and its
//     uniform(), shared with the leader schedule) whose four state words are the seed's bytes
//     read as little-endian u64: s0 = seed[0..8), s1 = [8..16), s2 = [16..24), s3 = [24..32)
//     (an all-zero state, which SHA-256 does not produce in practice, becomes s0 = 1).
//     uniform(b), for b >= 1, is Lemire's multiply-shift with rejection:
//         x = next(); m = x * b (128-bit); if low64(m) < b:
//             t = (2^64 - b) mod b; while low64(m) < t: x = next(); m = x * b
//         return high64(m)
//  4. Shuffle. The leader (if it is in the cluster) is removed. While some stake remains:
//     r = uniform(remaining stake); the next node is the remaining staked node, in canonical
//     order, whose cumulative-stake interval [c, c + stake) contains r; remove it. Then the
//     remaining zero-stake nodes, listed in canonical order as z[0..m), are shuffled
//     Fisher-Yates forward with the same generator: for j = 0..m-1, swap z[j] with
//     z[j + uniform(m - j)] and emit z[j]. Zero-stake nodes thus never precede a staked one.
//  5. Tree. With fanout F >= 1 over the shuffled order s[0..n): s[0] is the root (the leader
//     sends to it); the node at position k has children at positions k·F+1 … k·F+F (those
//     < n), so its parent is at (k-1)/F. Every node but the root has exactly one parent, the
//     levels are full, and depth = the fewest levels that hold n nodes, ⌈log_F((F−1)·n + 1)⌉
//     for F >= 2 (3 for n = 10 000 and F = 200; 14 for F = 2).
//
//     F = 3, n = 13:       leader
//                            │
//                          s[0]                          level 0: root
//                 ┌─────────┼─────────┐
//               s[1]       s[2]      s[3]                level 1: positions 1..F
//             ┌──┼──┐    ┌──┼──┐   ┌──┼──┐
//             4  5  6    7  8  9  10 11 12               level 2: positions F+1..F+F²
//
//     A node's children are a contiguous run of the shuffle, so the hot call hands back a
//     span into it. The levels hold the same positions as the "neighbourhood" layout (child
//     k → k+F, k+2F, …); only who-feeds-whom within a level differs.
//
// Ownership and threads: a turbine_cluster is built once per epoch or contact-table change
// (allocates; throws std::invalid_argument on duplicate ids or a stake total over 2^64-1) and
// is read-only afterwards, so any number of threads may share it. A turbine_tree borrows a
// cluster (which must outlive it), owns all its scratch, sized at construction, and is
// single-owner: one per thread. Its per-shred calls are noexcept and do not allocate.
// Costs per shred, n nodes: compute() O(n log n); root() O(log n); children() draws only as
// far as the caller's own children (at most (n-2)/F + 1 draws when the caller turns out to be
// a leaf). perf/turbine.md has the figures.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <riptide/crypto/types.hpp>
#include <riptide/epoch/stakes.hpp>
#include <riptide/util/prng.hpp>

namespace riptide::shred {

// The shred's kind as it enters the Turbine seed.
enum class turbine_shred_type : std::uint8_t { data = 0, coding = 1 };

// "No such node / position": not in the cluster, the leader, or the root's parent.
constexpr std::uint32_t turbine_npos = 0xffff'ffffu;

// Step 2 of the specification.
crypto::hash32 turbine_seed(std::uint64_t slot, std::uint32_t shred_index,
                            turbine_shred_type type, const crypto::pubkey& leader) noexcept;

class turbine_cluster {
 public:
  // Every member with its stake (0 for those without), any input order; the result is the
  // same for every permutation of `members`.
  explicit turbine_cluster(std::span<const epoch::stake_entry> members);

  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(nodes_.size()); }
  std::uint32_t staked_count() const noexcept { return stakes_.size(); }
  std::uint64_t total_stake() const noexcept { return stakes_.total(); }
  // The node at canonical index `index` (< size()).
  const epoch::stake_entry& node(std::uint32_t index) const noexcept { return nodes_[index]; }
  // Canonical index of `id`, or turbine_npos. O(log n).
  std::uint32_t index_of(const crypto::pubkey& id) const noexcept;

 private:
  friend class turbine_tree;
  epoch::stakes stakes_;                   // the staked members: indices [0, staked_count())
  std::vector<epoch::stake_entry> nodes_;  // canonical order: stakes_, then zero stakes by id
  std::vector<std::uint64_t> fenwick_;     // 1-based Fenwick tree over the staked nodes' stakes
};

class turbine_tree {
 public:
  // Throws std::invalid_argument if fanout is 0.
  turbine_tree(const turbine_cluster& cluster, std::uint32_t fanout);

  std::uint32_t fanout() const noexcept { return fanout_; }

  // Builds the whole tree for one shred; the queries below then describe it.
  void compute(std::uint64_t slot, std::uint32_t shred_index, turbine_shred_type type,
               const crypto::pubkey& leader) noexcept;

  // The hot call: the cluster indices `self` forwards this shred to (empty if self is a leaf,
  // the leader, or turbine_npos). `self` is a canonical index (cluster.index_of(my key), found
  // once). Draws the shuffle only as far as it must. The span points into this object and is
  // valid until its next call; afterwards the queries below describe nothing until the next
  // compute().
  std::span<const std::uint32_t> children(std::uint64_t slot, std::uint32_t shred_index,
                                          turbine_shred_type type, const crypto::pubkey& leader,
                                          std::uint32_t self) noexcept;

  // The leader's hot call: the node it sends this shred to (turbine_npos if the tree is
  // empty). One draw. Like children(), it leaves the queries below describing nothing.
  std::uint32_t root(std::uint64_t slot, std::uint32_t shred_index, turbine_shred_type type,
                     const crypto::pubkey& leader) noexcept;

  // --- queries about the last compute(); nodes are canonical indices -------------------------
  // Nodes in the tree (the cluster minus the leader, if the leader is a member).
  std::uint32_t size() const noexcept { return computed_ ? tree_size_ : 0; }
  // Levels: 0 for an empty tree, 1 for a root alone.
  std::uint32_t depth() const noexcept { return computed_ ? depth_ : 0; }
  // The node the leader sends to, or turbine_npos if the tree is empty.
  std::uint32_t root() const noexcept { return node_at(0); }
  // Node at shuffle position `position`, or turbine_npos.
  std::uint32_t node_at(std::uint32_t position) const noexcept;
  // Shuffle position of `node`, or turbine_npos (the leader, or not a member).
  std::uint32_t position_of(std::uint32_t node) const noexcept;
  std::uint32_t position_of(const crypto::pubkey& id) const noexcept;
  // Parent of `node`, or turbine_npos for the root (fed by the leader) and non-members.
  std::uint32_t parent_of(std::uint32_t node) const noexcept;
  // Children of `node` as a span into the shuffle (empty for leaves and non-members).
  std::span<const std::uint32_t> children_of(std::uint32_t node) const noexcept;
  // Copies up to out.size() children of `node` into `out`; returns how many it has in all.
  std::size_t children_of(std::uint32_t node, std::span<std::uint32_t> out) const noexcept;
  // The whole shuffle, s[0..size()).
  std::span<const std::uint32_t> order() const noexcept;

 private:
  void begin(std::uint64_t slot, std::uint32_t shred_index, turbine_shred_type type,
             const crypto::pubkey& leader) noexcept;
  std::uint32_t draw() noexcept;  // next node of the shuffle; requires drawn_ < tree_size_
  void restore() noexcept;  // puts the Fenwick tree back to the whole cluster's stakes
  std::span<const std::uint32_t> children_at(std::uint32_t position) const noexcept;

  const turbine_cluster& cluster_;
  std::uint32_t fanout_;
  std::vector<std::uint64_t> fenwick_;      // remaining stakes of the current shuffle
  std::vector<std::uint32_t> order_;        // s[0..drawn_)
  std::vector<std::uint32_t> position_;     // by canonical index, valid after compute()
  std::vector<std::uint32_t> zero_;         // zero-stake nodes left to shuffle
  util::xoshiro256ss rng_;                  // seeded per shred (specification step 3)
  std::uint64_t remaining_stake_ = 0;
  std::uint32_t leader_ = turbine_npos;     // canonical index of this shred's leader
  std::uint32_t tree_size_ = 0;
  std::uint32_t drawn_ = 0;
  std::uint32_t zero_count_ = 0;            // entries of zero_ in use, once the tail starts
  std::uint32_t depth_ = 0;
  std::uint32_t fenwick_top_ = 0;           // highest power of two <= staked_count
  bool zero_started_ = false;
  bool fenwick_dirty_ = false;
  bool computed_ = false;
};

}  // namespace riptide::shred
