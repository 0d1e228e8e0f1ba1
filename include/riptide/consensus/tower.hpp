#pragma once
// Tower BFT: a validator's stack of votes with exponentially growing lockouts, and the checks
// it makes before it votes (background and sources: ARCHITECTURE.md section 5).
//
//   bottom (oldest)                                    top (newest)
//   ┌──────────┬──────────┬─────┬──────────┐
//   │ slot 10  │ slot 11  │ ... │ slot 40  │  confirmation_count c: locked out for 2^c slots
//   │ c = 31   │ c = 30   │     │ c = 1    │  (until slot + 2^c)
//   └──────────┴──────────┴─────┴──────────┘   root: the last vote pushed out of the bottom
//
// Voting on slot s (record_vote): ignored unless s is above the last vote. Votes expire from
// the top: while the top vote's lockout ends before s (slot + 2^c < s), pop it. If 31 votes
// remain, the bottom one is pushed out and becomes the root. s goes on top with c = 1, and
// every vote i (from the bottom) whose depth above it exceeds i + c_i doubles its lockout
// (c_i + 1): only an unbroken run of votes on top of a vote deepens it.
//
// Checks before a vote for slot s, on the fork tree (`ancestry`):
//   lockout    after the votes that expire at s are popped, every vote left is an ancestor
//              of s (voting s breaks no promise not to vote off that fork for its lockout).
//   threshold  with s voted, our vote 8 deep (threshold_depth) must be held by more than
//              2/3 of the stake: voters whose tower, with their votes expired at s popped,
//              holds that slot or a slot below it. A tower shallower than 9 passes, and so
//              does a vote that was already at that depth with that lockout before s
//              (returning to a fork after a pause must not fail on stake that the pause let
//              expire).
//   switch     when s is not below our last vote: more than 38 % of the stake must be locked
//              out on other forks: voters with a vote v below the common ancestor of our last
//              vote and s (strictly), on neither our last vote's ancestors nor its
//              descendants, whose lockout reaches our last vote (v + 2^c >= last vote).
//              s an ancestor of our last vote is a rollback, never a switch.
//   Stake comparisons are strict and exact in integers: 3·stake > 2·total, 100·stake >
//   38·total.
//
// Threads and memory: a tower is a value (31 lockouts and a root); every function here is
// noexcept, allocates nothing and may run on any thread. Voters' towers are views the caller
// keeps alive for the call.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <riptide/consensus/fork_choice.hpp>

namespace riptide::consensus {

constexpr std::size_t max_lockout_history = 31;
constexpr std::size_t threshold_depth = 8;
constexpr std::uint64_t threshold_numerator = 2, threshold_denominator = 3;  // > 2/3
constexpr std::uint64_t switch_percent = 38;                                   // > 38 %

// stake > total·num/den, exactly, without overflow (num < den): with total = q·den + r,
// den·stake > num·q·den + num·r  <=>  stake > num·q + floor(num·r / den) for integers.
[[nodiscard]] constexpr bool more_than_fraction(std::uint64_t stake, std::uint64_t total, std::uint64_t num,
                                                std::uint64_t den) noexcept {
  return stake > num * (total / den) + num * (total % den) / den;
}

struct lockout {
  std::uint64_t slot = 0;
  std::uint32_t confirmation_count = 1;
  // 2^confirmation_count slots (confirmation_count <= 31 in a tower).
  [[nodiscard]] std::uint64_t lockout_slots() const noexcept;
  // The last slot this vote locks out: slot + 2^c (saturating).
  [[nodiscard]] std::uint64_t last_locked_out_slot() const noexcept;
  friend bool operator==(const lockout&, const lockout&) = default;
};

class tower {
 public:
  tower() noexcept = default;
  // A tower restored from storage or read from a vote state: at most 31 votes, slots strictly
  // increasing, counts strictly decreasing from the bottom, 1..31, the root below the first
  // vote. nullopt otherwise.
  [[nodiscard]] static std::optional<tower> from(std::span<const lockout> votes,
                                                 std::optional<std::uint64_t> root) noexcept;

  // Votes for `slot` (see the header). Returns the new root if this vote pushed one out;
  // nullopt otherwise (also when the vote was ignored: see last_voted_slot()).
  std::optional<std::uint64_t> record_vote(std::uint64_t slot) noexcept;

  [[nodiscard]] std::span<const lockout> votes() const noexcept { return {votes_.data(), size_}; }
  [[nodiscard]] std::optional<std::uint64_t> root() const noexcept { return root_; }
  [[nodiscard]] std::optional<std::uint64_t> last_voted_slot() const noexcept;
  // The vote `depth` below the top (0: the top), if the tower is that deep.
  [[nodiscard]] std::optional<lockout> nth_recent(std::size_t depth) const noexcept;

  // The lockout check: true when voting `slot` is not allowed (not above the last vote, or a
  // vote still locked after the expiry at `slot` is not an ancestor of it).
  [[nodiscard]] bool is_locked_out(std::uint64_t slot, const ancestry& tree) const noexcept;

 private:
  std::array<lockout, max_lockout_history> votes_{};
  std::size_t size_ = 0;
  std::optional<std::uint64_t> root_;
};

// Another validator's tower as its latest vote state on the fork being considered, with its
// stake for the epoch.
struct voter_tower {
  std::uint64_t stake = 0;
  std::span<const lockout> votes;
  std::optional<std::uint64_t> root;
};

struct threshold_decision {
  bool passed = true;
  bool deep_enough = false;          // the tower with the vote reaches threshold_depth
  std::uint64_t threshold_slot = 0;  // deep_enough: our vote threshold_depth below the top
  std::uint64_t fork_stake = 0;      // deep_enough: stake holding threshold_slot
  std::uint64_t total_stake = 0;
  friend bool operator==(const threshold_decision&, const threshold_decision&) = default;
};

// The threshold check for a vote of `ours` on `slot` (voters: every staked validator's tower,
// ours among them; total_stake: the epoch's).
[[nodiscard]] threshold_decision check_threshold(const tower& ours, std::uint64_t slot,
                                                 std::span<const voter_tower> voters, std::uint64_t total_stake,
                                                 const ancestry& tree) noexcept;

enum class switch_result : std::uint8_t {
  same_fork,  // no last vote, or slot descends from it: no switch needed
  passed,     // > 38 % locked out on other forks
  failed,     // not enough: keep to our fork
  rollback,   // slot is an ancestor of our last vote: never
};

struct switch_decision {
  switch_result result = switch_result::same_fork;
  std::uint64_t locked_out_stake = 0;
  std::uint64_t total_stake = 0;
  friend bool operator==(const switch_decision&, const switch_decision&) = default;
};

[[nodiscard]] switch_decision check_switch(const tower& ours, std::uint64_t slot, std::span<const voter_tower> voters,
                                           std::uint64_t total_stake, const fork_choice& tree) noexcept;

// Which bank PoH builds on and which slot we vote for, from fork choice's best slot:
//   empty_tower     nothing voted yet: reset to best, vote best
//   same_fork       best descends from our last vote: reset to best, vote best
//   switched        best is on another fork and the switch check passed: reset to best, vote best
//   switch_failed   it did not: reset to the best slot below our last vote (so our next votes
//                   can land on the fork we are locked to), vote nothing
//   rollback        best is an ancestor of our last vote (our voted block died): reset as
//                   switch_failed (or to best if our last vote left the tree), vote nothing
// A candidate vote is then dropped if it is not above our last vote, fails the lockout
// check, or fails the threshold check; `vote` is set only if all pass. (Duplicate blocks,
// the cases Agave calls 1a/1b, need blocks keyed by id: not modelled.)
enum class vote_case : std::uint8_t { empty_tower, same_fork, switched, switch_failed, rollback };

struct vote_and_reset {
  vote_case why = vote_case::empty_tower;
  std::uint64_t reset = 0;
  std::optional<std::uint64_t> vote;
  std::uint64_t candidate = 0;  // best: the slot considered for the vote
  bool already_voted = false;   // candidate not above our last vote
  bool locked_out = false;
  threshold_decision threshold;
  switch_decision switching;
};

[[nodiscard]] vote_and_reset decide_vote_and_reset(const tower& ours, const fork_choice& tree,
                                                   std::span<const voter_tower> voters,
                                                   std::uint64_t total_stake) noexcept;

}  // namespace riptide::consensus
