#pragma once
// Schedule window: the leader schedules one thread needs as its slot moves through epochs:
// the epoch of that slot, the one before (shreds and repairs of slots just behind a boundary)
// and the one after (leading and forwarding look ahead across a boundary). Stakes are the
// genesis's, fixed for now, so every epoch's schedule is computed from them and the epoch
// number alone, the same on every node (leader_schedule).
//
// Contract
//   - One owner thread. The owner calls advance(slot) off its hot path (a tile's housekeep):
//     when slot's epoch differs from the window's, the schedules are recomputed (those still
//     needed are kept) and true is returned. That allocates (one 32-byte key per 4 slots:
//     2 MiB per epoch at 262 144 slots) and takes milliseconds, once per epoch. A node keeps
//     one window per reading thread (PoH, forward, TVU), so up to 9 schedules, ~18 MiB.
//   - timeline() is a view of the window's schedules (epoch/rotation.hpp); the object it
//     returns is the window's own, rewritten in place by advance(), so a reference to it
//     stays valid and shows the new epochs. Copies of it must be refreshed after an advance()
//     that returned true (the schedules they point into may be gone).
//   - Construction throws std::invalid_argument like leader_schedule (no stake, bad sizes).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include <riptide/crypto/types.hpp>
#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/epoch/rotation.hpp>
#include <riptide/epoch/stakes.hpp>

namespace riptide::epoch {

class schedule_window {
 public:
  schedule_window(const stakes& validators, std::uint64_t slots_per_epoch, std::uint64_t slot,
                  std::uint32_t slots_per_leader = default_slots_per_leader);

  // Centres the window on slot's epoch; true if it changed.
  bool advance(std::uint64_t slot);

  [[nodiscard]] const leader_timeline& timeline() const noexcept { return timeline_; }
  [[nodiscard]] std::optional<crypto::pubkey> leader(std::uint64_t slot) const noexcept {
    return timeline_.leader(slot);
  }
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }  // the centre
  [[nodiscard]] std::uint64_t slots_per_epoch() const noexcept { return slots_per_epoch_; }

 private:
  void rebuild(std::uint64_t centre);

  stakes stakes_;
  std::uint64_t slots_per_epoch_;
  std::uint32_t slots_per_leader_;
  std::uint64_t epoch_ = 0;
  // The epochs centre-1 (absent for epoch 0), centre, centre+1, in that order.
  std::array<std::unique_ptr<leader_schedule>, 3> schedules_;
  leader_timeline timeline_;
};

}  // namespace riptide::epoch
