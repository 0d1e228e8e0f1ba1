#pragma once
// Heaviest-subtree fork choice (LMD-GHOST) over the tree of replayed blocks.
//
// The tree holds the root and every replayed block that descends from it, one node per slot
// (a leader never makes two blocks for one slot; telling equivocating blocks apart needs a
// block id, which this tree does not key by yet). Each validator's *latest* vote counts, with
// the stake the caller gives it (its epoch stake): when it votes again, its stake moves from
// the old slot to the new one. A node's subtree stake is the stake voted at it plus its
// children's subtree stakes.
//
//   best()                from the root, take the child with the most subtree stake (ties: the
//                         lower slot), until a node without a live child: the fork to build and
//                         vote on. Dead blocks (replay failed) and everything below them are
//                         never chosen.
//   best_from(s)          the same descent from s (the reset target when a switch fails).
//   descends(s, a)        ancestry for the tower's checks (s is a or below it).
//   set_root(r)           r becomes the root; every node not descending from it goes, with
//                         the stake voted on it.
//
// Slots below the root are taken to be on the rooted chain: a pruned fork is forgotten, so
// descends(s, a) with both below the root is a <= s, and any node descends from a slot at or
// below the root.
//
// Threads and memory: one thread owns a fork_choice (the consensus tile); nothing here blocks
// or does I/O. add() allocates one node (at most max_blocks, refused beyond) and vote() may
// grow the voter table to max_voters once: it runs once per replayed block or vote, not per
// packet. Everything else is noexcept.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace riptide::consensus {

// What the tower's checks need of the block tree.
class ancestry {
 public:
  virtual ~ancestry() = default;
  // True when `slot` is `ancestor` or descends from it.
  [[nodiscard]] virtual bool descends(std::uint64_t slot, std::uint64_t ancestor) const noexcept = 0;
};

class fork_choice final : public ancestry {
 public:
  // Throws std::invalid_argument for max_blocks or max_voters 0.
  explicit fork_choice(std::uint64_t root, std::size_t max_blocks = 4096, std::size_t max_voters = 4096);

  enum class add_result : std::uint8_t { added, exists, unknown_parent, not_above_parent, full };
  // A replayed block for `slot` on `parent` (parent must be in the tree, below slot).
  add_result add(std::uint64_t slot, std::uint64_t parent);
  // Replay failed: the block and its subtree are never chosen. False if slot is not in the tree.
  bool mark_dead(std::uint64_t slot) noexcept;

  enum class vote_result : std::uint8_t { applied, stale, unknown_slot, bad_voter };
  // The newest vote of validator `voter` (the caller's index, < max_voters) for `slot`, worth
  // `stake`. stale: not above the voter's latest vote (ignored). unknown_slot: the slot is not
  // in the tree (not replayed yet, or pruned): ignored, the caller offers it again once the
  // block is added.
  vote_result vote(std::size_t voter, std::uint64_t slot, std::uint64_t stake);

  // False if r is not in the tree (nothing changes).
  bool set_root(std::uint64_t r);

  [[nodiscard]] std::uint64_t root() const noexcept { return root_; }
  [[nodiscard]] std::uint64_t best() const noexcept { return best_from(root_); }
  // `slot` itself when it is not in the tree or is dead.
  [[nodiscard]] std::uint64_t best_from(std::uint64_t slot) const noexcept;
  [[nodiscard]] bool descends(std::uint64_t slot, std::uint64_t ancestor) const noexcept override;
  // The greatest common ancestor of a and b, if both are in the tree (or below the root).
  [[nodiscard]] std::optional<std::uint64_t> common_ancestor(std::uint64_t a, std::uint64_t b) const noexcept;

  [[nodiscard]] bool contains(std::uint64_t slot) const noexcept { return nodes_.contains(slot); }
  [[nodiscard]] bool is_dead(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::optional<std::uint64_t> parent(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::uint64_t stake_voted_at(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::uint64_t subtree_stake(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
  // The voter's latest vote slot, if it ever voted.
  [[nodiscard]] std::optional<std::uint64_t> latest_vote(std::size_t voter) const noexcept;

 private:
  struct node {
    std::uint64_t parent = 0;
    bool has_parent = false;  // false for the root
    bool dead = false;
    std::uint64_t voted = 0;   // stake whose latest vote is this slot
    std::uint64_t subtree = 0;  // voted here and below
    std::vector<std::uint64_t> children;
  };
  struct latest {
    std::uint64_t slot = 0;
    std::uint64_t stake = 0;
    bool voted = false;
  };
  // Adds `delta` (may wrap as a negative) to the subtree stake of slot and its ancestors.
  void add_to_path(std::uint64_t slot, std::uint64_t delta) noexcept;
  [[nodiscard]] bool live(const node& n) const noexcept { return !n.dead; }

  std::uint64_t root_;
  std::size_t max_blocks_;
  std::size_t max_voters_;
  std::unordered_map<std::uint64_t, node> nodes_;
  std::vector<latest> votes_;
};

}  // namespace riptide::consensus
