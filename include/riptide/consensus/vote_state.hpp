#pragma once
// What a tower sync must satisfy to land in a block: the vote program's checks, run by replay
// on each fork (so every node decides the same for the same block). A validator's vote state
// on a fork is the tower of its newest vote that landed there; a new vote replaces it when
//   1. its newest slot is above the current newest (not_newer otherwise: a late or replayed
//      vote changes nothing);
//   2. its root is not below the current root (root_went_back);
//   3. every voted slot at or above the window's oldest slot is the executing bank's parent
//      or an ancestor of it (slot_not_on_fork: a vote for another fork cannot land here);
//      slots below the window are too old to check and pass;
//   4. its newest slot is in the window and its bank hash is that slot's bank hash on this
//      fork (slot_not_on_fork / hash_mismatch: the voter replayed something else).
// The voter's tower rules (lockouts, threshold, switch) are not re-checked: they protect the
// voter; a vote that breaks them only costs the voter its safety guarantees.
//
// Pure: the fork is seen through `slot_hashes`, which the caller (the bank) implements for the
// executing bank. noexcept, no allocation, any thread.

#include <cstdint>
#include <optional>

#include <riptide/consensus/tower.hpp>
#include <riptide/consensus/vote.hpp>
#include <riptide/crypto/types.hpp>

namespace riptide::consensus {

// Votes for slots more than this far behind the executing bank are too old to check (Agave's
// SlotHashes sysvar holds 512 entries).
constexpr std::uint64_t max_vote_age_slots = 512;

class slot_hashes {
 public:
  virtual ~slot_hashes() = default;
  // The bank hash of `slot` if it is the executing bank's parent or an ancestor of it not
  // older than oldest_slot(); nullopt otherwise (another fork, a skipped slot, too old).
  [[nodiscard]] virtual std::optional<crypto::hash32> bank_hash_of(std::uint64_t slot) const noexcept = 0;
  [[nodiscard]] virtual std::uint64_t oldest_slot() const noexcept = 0;
};

enum class vote_error : std::uint8_t { none, not_newer, root_went_back, slot_not_on_fork, hash_mismatch };
constexpr std::size_t vote_error_count = 5;

[[nodiscard]] const char* to_string(vote_error e) noexcept;

[[nodiscard]] vote_error check_tower_sync(const tower& current, const tower_sync& vote,
                                          const slot_hashes& fork) noexcept;

}  // namespace riptide::consensus
