#pragma once
// The merkle tree over a FEC set's shards, with 20-byte nodes: the leader signs its root
// once per FEC set and every shred carries the proof that ties it to that root.
//
//   leaf  = SHA-256(0x00 ‖ shard bytes)[0, 20)
//   inner = SHA-256(0x01 ‖ left ‖ right)[0, 20)
//   A level's odd last node is promoted unchanged to the next level (the same shape as
//   crypto::entry_mixin, which keeps full 32-byte nodes).
//
//   5 leaves:
//   level 3                                 root = J(J(J0, J1), L4)
//                                         /                      \      (J = merkle_join,
//                                                                         L = merkle_leaf)
//   level 2                        J(J0, J1)                       L4   (promoted)
//                                 /         \                       |
//   level 1             J0 = J(L0,L1)     J1 = J(L2,L3)             L4   (promoted)
//                         /     \           /     \                 |
//   level 0             L0       L1       L2       L3               L4
//
//   proof(i): the sibling at each level bottom-up, skipping the levels where i's node is
//   the promoted one (it has no sibling there):
//     proof(1) = [L0, J1, L4]     proof(2) = [L3, J0, L4]     proof(4) = [J(J0, J1)]
//   so a proof holds at most ceil(log2 n) nodes, fewer where promotion cuts it short.
//
// Threads: free functions are pure; a merkle_tree is a plain value with one writer.
// Memory: a merkle_tree holds every node in fixed arrays (≤ 64 leaves); nothing here
// allocates. Failure: build() returns false for 0 or more than 64 leaves; proof() returns
// 0 for an index out of range or an output too short; merkle_root_from_proof() returns
// nullopt for an index out of range or a proof of the wrong length.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace riptide::shred {

constexpr std::size_t merkle_node_bytes = 20;
constexpr std::size_t merkle_max_leaves = 64;
constexpr std::size_t merkle_max_proof_nodes = 6;  // ceil(log2 64)

using merkle_node = std::array<std::uint8_t, merkle_node_bytes>;

merkle_node merkle_leaf(std::span<const std::uint8_t> data) noexcept;
merkle_node merkle_join(const merkle_node& left, const merkle_node& right) noexcept;

// Nodes in the proof of leaf `index` in a tree of `leaf_count` leaves (0 if out of range).
std::size_t merkle_proof_size(std::size_t index, std::size_t leaf_count) noexcept;

class merkle_tree {
 public:
  // An empty tree: leaf_count() 0, root() all zero.
  merkle_tree() noexcept = default;

  // Builds over leaf hashes already computed with merkle_leaf(). False (tree unchanged)
  // unless 1 ≤ leaves.size() ≤ 64.
  [[nodiscard]] bool build_from_leaves(std::span<const merkle_node> leaves) noexcept;
  // Hashes each span with merkle_leaf(), then builds.
  [[nodiscard]] bool build(std::span<const std::span<const std::uint8_t>> leaf_data) noexcept;

  std::size_t leaf_count() const noexcept { return leaf_count_; }
  const merkle_node& root() const noexcept { return root_; }
  // Precondition: index < leaf_count().
  const merkle_node& leaf(std::size_t index) const noexcept { return nodes_[index]; }

  // Writes the proof of leaf `index` to the front of `out` and returns its node count,
  // merkle_proof_size(index, leaf_count()). Returns 0, writing nothing, if index ≥
  // leaf_count() or out is too short (a one-leaf tree's proof is empty as well).
  std::size_t proof(std::size_t index, std::span<merkle_node> out) const noexcept;

 private:
  static constexpr std::size_t max_levels = 7;  // 64 leaves → 7 levels including the root
  static constexpr std::size_t max_nodes = 127;  // Σ level sizes for 64 leaves, the most

  std::array<merkle_node, max_nodes> nodes_{};  // level 0 first, each level after the last
  std::array<std::uint8_t, max_levels> level_offset_{};
  std::array<std::uint8_t, max_levels> level_size_{};
  std::size_t levels_ = 0;
  std::size_t leaf_count_ = 0;
  merkle_node root_{};
};

// The root implied by `leaf` at `index` of `leaf_count` leaves and its proof; nullopt if
// index ≥ leaf_count or proof.size() != merkle_proof_size(index, leaf_count).
std::optional<merkle_node> merkle_root_from_proof(const merkle_node& leaf, std::size_t index,
                                                  std::size_t leaf_count,
                                                  std::span<const merkle_node> proof) noexcept;

// True if the proof ties `leaf` at `index` of `leaf_count` leaves to `root`.
// The root does not commit to leaf_count (a 4-leaf tree's proof of leaf 0 also checks out
// as leaf 0 of 3): take it from signed data, e.g. the FEC set's header, never from the proof.
bool merkle_verify(const merkle_node& root, const merkle_node& leaf, std::size_t index,
                   std::size_t leaf_count, std::span<const merkle_node> proof) noexcept;

}  // namespace riptide::shred
