#pragma once
// Commitment levels from the validators' votes.
//
//   confirmed   more than 2/3 of the epoch stake voted for the slot itself: a slot of the
//               voter's tower (each vote carries the whole tower, so a vote counts for every
//               slot in it; a vote for a descendant alone does not count).
//   finalized   the highest slot that more than 2/3 of the stake holds as its tower's root
//               (sorted by root, highest first, the root at which the stake adds up past 2/3:
//               every validator with that root or a higher one has it rooted, since roots of
//               honest validators lie on one chain).
//
// A voter counts once per slot, with the stake of its first vote that named the slot. Slots
// at or below prune_to() are forgotten; at most max_slots are tracked (the lowest goes first:
// a slot that has waited longest is the least likely to be confirmed now).
//
// Threads and memory: one thread owns a tracker (the consensus tile). on_vote allocates a
// slot's entry the first time a vote names it (at most max_slots at once); nothing here
// blocks. Newly confirmed slots are queued in slot order within a vote and taken with
// take_confirmed().

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include <riptide/consensus/tower.hpp>

namespace riptide::consensus {

struct voter_root {
  std::uint64_t stake = 0;
  std::optional<std::uint64_t> root;
};

// The highest root that more than 2/3 of total_stake holds (or a higher one); nullopt if none.
[[nodiscard]] std::optional<std::uint64_t> super_majority_root(std::span<const voter_root> voters,
                                                               std::uint64_t total_stake);

class confirmation_tracker {
 public:
  // Throws std::invalid_argument for total_stake, max_voters or max_slots 0.
  confirmation_tracker(std::uint64_t total_stake, std::size_t max_voters, std::size_t max_slots = 1024);

  // Validator `voter` (< max_voters; others are ignored, false) has this tower: every slot of
  // it above prune_to() counts as voted by it, its root for finalized().
  bool on_vote(std::size_t voter, std::uint64_t stake, std::span<const lockout> votes,
               std::optional<std::uint64_t> root);

  [[nodiscard]] bool is_confirmed(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::optional<std::uint64_t> highest_confirmed() const noexcept { return highest_confirmed_; }
  [[nodiscard]] std::optional<std::uint64_t> finalized() const;
  // Stake that voted for `slot` (0 if untracked).
  [[nodiscard]] std::uint64_t voted_stake(std::uint64_t slot) const noexcept;

  // Slots confirmed since the last call, in the order they became confirmed.
  std::vector<std::uint64_t> take_confirmed();
  // Forget slots at or below `slot` (the local root moved).
  void prune_to(std::uint64_t slot);
  [[nodiscard]] std::size_t tracked() const noexcept { return slots_.size(); }

 private:
  struct slot_votes {
    std::uint64_t stake = 0;
    bool confirmed = false;
    std::vector<bool> voters;
  };
  std::uint64_t total_stake_;
  std::size_t max_voters_;
  std::size_t max_slots_;
  std::optional<std::uint64_t> pruned_;
  std::map<std::uint64_t, slot_votes> slots_;
  std::vector<voter_root> roots_;
  std::optional<std::uint64_t> highest_confirmed_;
  std::vector<std::uint64_t> newly_confirmed_;
};

}  // namespace riptide::consensus
