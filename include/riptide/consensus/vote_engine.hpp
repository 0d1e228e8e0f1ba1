#pragma once
// One validator's consensus: the tower, fork choice and confirmation tracking fed by the
// banks replay froze, and the decision what to vote for and where PoH builds next.
//
//   replay froze a bank ─► on_bank(slot, parent, bank hash, every voter's vote state on it)
//                             │  fork choice: the block, each voter's newest vote (by slot)
//                             │  confirmation: each voter's tower
//   decide(now) ─► decide_vote_and_reset (tower.hpp) ─► vote: our tower records it; the
//                   tower sync to send (bank hash of the slot, timestamp now); a root pushed
//                   out of the tower prunes fork choice and the slots tracked.
//
// Voters are the bank's (bank::bank_forks::add_voter order) with their epoch stakes; `self`
// is ours among them, or none (an unstaked node follows fork choice and never votes). A vote
// state counts for a voter when it is newer (its last voted slot is higher) than the newest
// this engine has seen of that voter, whichever bank it came from: votes landed on any fork
// tell where the voter is. Our own tower counts from the moment we vote (as it will land).
//
// Pure: no threads, no clock (decide takes the time for the vote's timestamp), no I/O; one
// thread owns an engine (the consensus tile). Allocation: fork choice and the confirmation
// tracker grow per block (bounded by max_blocks / max_slots); nothing per packet.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include <riptide/consensus/confirmation.hpp>
#include <riptide/consensus/fork_choice.hpp>
#include <riptide/consensus/tower.hpp>
#include <riptide/consensus/vote.hpp>
#include <riptide/crypto/types.hpp>

namespace riptide::consensus {

struct vote_engine_config {
  std::vector<std::uint64_t> stakes;  // per voter, the bank's voter order; total > 0
  std::optional<std::size_t> self;    // our voter index; none: we never vote
  std::size_t max_blocks = 4096;      // fork choice's tree
  std::size_t max_slots = 1024;       // slots the confirmation tracker holds
  void validate() const;              // throws std::invalid_argument naming the problem
};

// A frozen bank as consensus sees it. votes[v]: voter v's vote state on this bank (nullopt:
// none landed on its fork yet); at most one per configured voter.
struct bank_view {
  std::uint64_t slot = 0;
  std::uint64_t parent = 0;
  crypto::hash32 bank_hash{};
  std::span<const std::optional<tower_sync>> votes;
};

struct vote_decision {
  vote_and_reset why;                  // the tower's reasoning (tower.hpp)
  std::optional<tower_sync> vote;      // to sign and send: our whole tower after the vote
  std::optional<std::uint64_t> root;   // our tower's new root, if this vote pushed one out
};

class vote_engine {
 public:
  // `root`: the slot replay starts from (every bank given later descends from it); `restored`:
  // our tower from disk (tower_file.hpp), empty on a first start. Throws std::invalid_argument
  // on a bad config.
  vote_engine(const vote_engine_config& config, std::uint64_t root, const tower& restored = {});

  // A bank replay froze (in any order parents come first). False if fork choice refused it:
  // its parent is unknown (pruned, or never replayed here) or the tree is full.
  bool on_bank(const bank_view& bank);
  // Voter `voter`'s tower as it arrived outside a bank (gossip's Vote values, a vote seen in
  // a transaction): counted like a vote state, if newer than what this engine has of it.
  void on_vote(std::size_t voter, const tower& t) {
    if (voter < latest_.size()) count_vote(voter, t);
  }
  // Replay failed for this block: never chosen, nor anything below it.
  void mark_dead(std::uint64_t slot) noexcept { (void)forks_.mark_dead(slot); }

  // What to vote for now (at most once per slot: a slot not above our last vote is not voted
  // again) and where to reset. `now_ms`: the wall clock for the vote's timestamp.
  vote_decision decide(std::int64_t now_ms);

  [[nodiscard]] const tower& ours() const noexcept { return tower_; }
  [[nodiscard]] std::uint64_t best() const noexcept { return forks_.best(); }
  [[nodiscard]] std::uint64_t root() const noexcept { return root_; }
  [[nodiscard]] std::optional<std::uint64_t> highest_confirmed() const noexcept {
    return confirmations_.highest_confirmed();
  }
  [[nodiscard]] std::optional<std::uint64_t> finalized() const { return confirmations_.finalized(); }
  // Slots confirmed since the last call, in the order they became confirmed.
  std::vector<std::uint64_t> take_confirmed() { return confirmations_.take_confirmed(); }
  [[nodiscard]] const fork_choice& forks() const noexcept { return forks_; }
  [[nodiscard]] std::uint64_t total_stake() const noexcept { return total_; }
  [[nodiscard]] std::optional<std::size_t> self() const noexcept { return config_.self; }
  // Staked voters whose newest vote seen (landed in a block, a Vote value, or ours as decided)
  // is more than `max_age_slots` behind `now_slot`; one never seen counts once `now_slot` is
  // past `max_age_slots`. Agave's RPC calls a validator delinquent after 128 slots.
  [[nodiscard]] std::size_t delinquent(std::uint64_t now_slot, std::uint64_t max_age_slots) const noexcept;

 private:
  void count_vote(std::size_t voter, const tower& t);

  vote_engine_config config_;
  std::uint64_t total_ = 0;
  tower tower_;
  std::uint64_t root_;
  fork_choice forks_;
  confirmation_tracker confirmations_;
  std::vector<std::optional<tower>> latest_;      // per voter: its newest tower seen
  std::map<std::uint64_t, crypto::hash32> hashes_;  // slot -> bank hash of replayed banks above the root
};

}  // namespace riptide::consensus
