#pragma once
// Leader schedule: which validator leads each slot of an epoch. Stake-weighted, deterministic
// from (the epoch's stakes, epoch), the same on every node; 4 consecutive slots per leader.
//
// Specification (enough to reproduce a schedule bit for bit):
//  1. The validators are the epoch's stakes (epoch/stakes.hpp): stake 0 left out, the rest in
//     canonical order, stake descending, then id ascending as 32 unsigned bytes (Turbine's
//     order too).
//  2. seed = SHA-256("riptide leader schedule" (23 bytes) ‖ epoch u64 LE).
//  3. PRNG: xoshiro256** whose state is the seed's four little-endian u64 words
//     (util::xoshiro256ss::from_state), bounded draws by util::xoshiro256ss::uniform.
//  4. Group g (slots [first + g·L, first + (g+1)·L), L = slots_per_leader) is led by the
//     validator whose cumulative-stake interval [c, c + stake), in canonical order, holds
//     uniform(total stake): sampling with replacement, so a validator with twice the stake
//     leads twice as many groups on average, and may lead two groups in a row.
//  5. digest() = SHA-256(epoch u64 ‖ slots_per_epoch u64 ‖ L u32 ‖ leader pubkey of every
//     group, in order): what gossip's LeaderSchedule value carries, so nodes can tell that
//     they agree without sending the whole schedule.
//
//     epoch e, L = 4:   | g0: A A A A | g1: C C C C | g2: A A A A | g3: B B B B | …
//
// Ownership and threads: built once per epoch at start-up or epoch change (allocates;
// throws std::invalid_argument if no validator has stake, slots_per_epoch or
// slots_per_leader is 0, or the epoch's first slot overflows u64; a total stake over u64 is
// refused by epoch::stakes already); keeps no reference to the stakes it was built from;
// read-only afterwards, so any number of threads may share it. Lookups are noexcept and O(1).

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <riptide/crypto/types.hpp>
#include <riptide/epoch/stakes.hpp>

namespace riptide::epoch {

constexpr std::uint32_t default_slots_per_leader = 4;

class leader_schedule {
 public:
  leader_schedule(const stakes& validators, std::uint64_t epoch, std::uint64_t slots_per_epoch,
                  std::uint32_t slots_per_leader = default_slots_per_leader);

  std::uint64_t epoch() const noexcept { return epoch_; }
  std::uint64_t first_slot() const noexcept { return epoch_ * slots_per_epoch_; }
  std::uint64_t slots_per_epoch() const noexcept { return slots_per_epoch_; }
  std::uint32_t slots_per_leader() const noexcept { return slots_per_leader_; }
  bool covers(std::uint64_t slot) const noexcept {
    return slot >= first_slot() && slot - first_slot() < slots_per_epoch_;
  }
  // The leader of `slot`; nullopt if the slot is outside this epoch.
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t slot) const noexcept;
  // Leaders of the groups in order (one per slots_per_leader slots).
  std::span<const crypto::pubkey> group_leaders() const noexcept { return leaders_; }
  const crypto::hash32& digest() const noexcept { return digest_; }

 private:
  std::uint64_t epoch_;
  std::uint64_t slots_per_epoch_;
  std::uint32_t slots_per_leader_;
  std::vector<crypto::pubkey> leaders_;
  crypto::hash32 digest_{};
};

// The epoch a slot belongs to.
constexpr std::uint64_t epoch_of(std::uint64_t slot, std::uint64_t slots_per_epoch) noexcept {
  return slot / slots_per_epoch;
}

}  // namespace riptide::epoch
