#pragma once
// Leader rotation: the pure decisions a validator makes from the leader schedule and its PoH
// clock. Which slot it leads next, whether it starts leading now, waits a grace period for
// the previous leader's block, or follows; and where a transaction it accepted goes (Gulf
// Stream): executed here, held for our coming slots, forwarded to the next leaders, or
// dropped.
//
// Clock. Slot s spans tick heights [s·T, (s+1)·T) (T = ticks_per_slot): tick height h is the
// number of ticks PoH has produced since genesis, and the slot PoH is in is h / T. Slot 0 is
// the first block on the genesis root. A block for slot S on a parent at slot P carries the
// ticks of every slot in between, (S - P)·T ticks (bank/replay.hpp checks that count).
//
// When to lead (decide_start, evaluated on every tick; nothing is remembered between calls):
//   1. Follow unless the schedule gives us slot_now = h / T, slot_now is above every slot we
//      ever produced (the ledger's and this run's: never two blocks for one slot, including
//      after a restart), and the bank PoH was reset to is below slot_now, at most
//      max_parent_distance slots back (a shred's parent_offset is a u16). Only slot 0 builds
//      on the genesis root, so a new cluster starts when slot 0's leader does. Follow too
//      while shreds of a slot above slot_now have been seen (behind the cluster), and, when
//      resumed from a ledger, while nothing of the cluster has been seen and the clock is
//      before listen_until (listen_ticks: the cluster may have gone far past our stale clock,
//      and the slots just ahead of it may be ours, so nobody is sending; a block made then
//      would fork off the cluster's past).
//   2. Our *run* is the longest stretch of consecutive slots we lead around slot_now (one or
//      more 4-slot groups); first is its first slot. Lead at once if the parent is the slot
//      just before the run or one of our own slots in it (nothing of the previous leader is
//      missing), or if no block for a slot in (parent, slot_now) is still arriving (the
//      previous leader sent nothing: a down leader costs exactly its own slots).
//   3. Otherwise wait for that block until tick first·T + grace, grace = min(max_grace_slots·T,
//      T·run/2) ticks (Agave's rule: 2 slots for a 4-slot run). A block that replays in time
//      moves the reset onto it and rule 2 starts us at once; past the deadline we lead
//      slot_now on the old parent, and the slots of the run that went by are skipped.
//
// Gulf Stream (plan_forward), for a transaction that passed sigverify and dedup:
//   consume           we lead slot_now and slot_now+1 (or it came from tpu_forwards);
//   hold              we lead within hold_slots (1) after slot_now, or every one of the next
//                     forward_slots leaders is us, or forward_slots is 0 (forwarding off);
//   forward           to the distinct leaders of slot_now+1 .. slot_now+forward_slots (2),
//                     never ourselves;
//   forward_and_hold  forward, and keep it too: we lead within hold_forwarded_slots (4), or
//                     slot_now is the last slot of our run (our bank may not get to it
//                     before the run ends; a signature lands once, so two copies cost
//                     nothing);
//   drop              it arrived on tpu_forwards (it was forwarded once; it is never
//                     forwarded again) and we lead neither now nor within
//                     hold_forwarded_slots; or no leader of the next slots is known.
//   A transaction from tpu_forwards is consumed or held by the same rules as any other, with
//   hold_forwarded_slots as its hold window (a leader 2 slots ahead must keep what it is
//   sent).
//
// Threads and memory: leader_timeline is a view; the schedules it was built from must outlive
// it and not move. Everything here is noexcept, allocates nothing and may be called from any
// thread. Slots outside the timeline have no leader: we never lead them and never forward
// toward them.

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include <riptide/crypto/types.hpp>
#include <riptide/epoch/leader_schedule.hpp>

namespace riptide::epoch {

struct rotation_config {
  std::uint64_t ticks_per_slot = 64;        // T, > 0
  std::uint64_t max_grace_slots = 2;        // wait at most this long for a block still arriving
  std::uint64_t forward_slots = 2;          // forward to the leaders of the next N slots
  std::uint64_t hold_slots = 1;             // hold (do not forward) if we lead within N slots
  std::uint64_t hold_forwarded_slots = 4;  // keep a forwarded tx if we lead within N slots
  std::uint64_t max_parent_distance = 65535;  // slot - parent fits a shred's u16 parent_offset
};

// Who leads which slot, over up to three consecutive epochs (schedule_window keeps the one
// before, the current and the next).
class leader_timeline {
 public:
  // One epoch's groups: slots [first_slot, first_slot + slots), group g led by leaders[g].
  struct segment {
    std::uint64_t first_slot = 0;
    std::uint64_t slots = 0;
    std::uint32_t slots_per_leader = default_slots_per_leader;
    std::span<const crypto::pubkey> group_leaders;
  };
  static constexpr std::size_t max_segments = 3;

  leader_timeline() noexcept = default;
  explicit leader_timeline(const leader_schedule& epoch) noexcept;
  // `next` must begin where `current` ends; otherwise only `current` is used.
  leader_timeline(const leader_schedule& current, const leader_schedule& next) noexcept;
  // For tests and tools: explicit groups (slots_per_leader 0 or slots 0: an empty timeline).
  explicit leader_timeline(segment only) noexcept;
  // Adds the epoch after the last one (ignored unless it begins where the timeline ends, or
  // the timeline is full).
  void append(const leader_schedule& epoch) noexcept;

  [[nodiscard]] std::optional<crypto::pubkey> leader(std::uint64_t slot) const noexcept;
  [[nodiscard]] bool covers(std::uint64_t slot) const noexcept;
  [[nodiscard]] std::uint64_t first_slot() const noexcept;
  [[nodiscard]] std::uint64_t end_slot() const noexcept;  // one past the last covered slot

  // The schedule group holding `slot`: slots [first, end), all led by `leader`.
  struct group_span {
    std::uint64_t first = 0;
    std::uint64_t end = 0;
    crypto::pubkey leader{};
  };
  [[nodiscard]] std::optional<group_span> group(std::uint64_t slot) const noexcept;

 private:
  void add(const segment& s) noexcept;
  [[nodiscard]] const segment* find(std::uint64_t slot) const noexcept;
  std::array<segment, max_segments> segments_{};
  std::size_t count_ = 0;
};

// Consecutive slots [first, end) led by one validator.
struct leader_run {
  std::uint64_t first = 0;
  std::uint64_t end = 0;
  [[nodiscard]] std::uint64_t slots() const noexcept { return end - first; }
  friend bool operator==(const leader_run&, const leader_run&) = default;
};

// The first slot strictly after `after` that `me` leads, with the rest of that run; nullopt if
// there is none in the timeline. Pass after = max(slot PoH is in, highest slot ever produced)
// and a restarted node skips its slots already in the ledger.
[[nodiscard]] std::optional<leader_run> next_leader_run(const leader_timeline& timeline,
                                                        const crypto::pubkey& me,
                                                        std::uint64_t after) noexcept;

// The run of `me` containing `slot` (clipped to the timeline); nullopt if `me` does not lead it.
// Walks whole groups, so its cost is the number of groups in the run.
[[nodiscard]] std::optional<leader_run> run_containing(const leader_timeline& timeline,
                                                       const crypto::pubkey& me,
                                                       std::uint64_t slot) noexcept;

struct start_inputs {
  std::uint64_t tick_height = 0;  // ticks since genesis; slot_now = tick_height / T
  // Slot of the bank PoH was last reset to: the parent. nullopt is the genesis root, whose
  // only child is slot 0 (bank/replay.hpp), so a cluster starts with slot 0's leader.
  std::optional<std::uint64_t> reset_slot;
  std::optional<std::uint64_t> highest_produced;  // highest slot we ever produced, if any
  bool block_arriving = false;    // shreds of a block for a slot in (reset_slot, slot_now)
                                  // have come in, and it has not replayed (or died) yet
  // The highest slot whose shreds (signed by its scheduled leader) have come in, if any. A
  // block for a slot above slot_now exists: this node's clock is behind the cluster's (it is
  // catching up after a restart), and a block it made now would fork off the past.
  std::optional<std::uint64_t> highest_seen;
  // A node resumed from its ledger does not know how far the cluster went while it was down:
  // until it has seen a shred (highest_seen set) it follows while tick_height < listen_until
  // (its start plus listen_ticks). 0: no listening (a new cluster's start).
  std::uint64_t listen_until = 0;
};

enum class start_action : std::uint8_t { follow, wait, lead };

enum class start_reason : std::uint8_t {
  not_scheduled,     // follow: slot_now is outside the timeline or another validator's
  already_produced,  // follow: slot_now <= the highest slot we produced
  parent_not_below,  // follow: the reset bank is at or above slot_now (PoH behind replay),
                     // or it is the genesis root and slot_now is not 0
  parent_too_far,    // follow: slot_now - reset_slot > max_parent_distance
  behind_cluster,    // follow: a block for a slot above slot_now has been seen
  listening,         // follow: resumed, nothing of the cluster seen yet, before listen_until
  grace,             // wait: the previous leader's block is arriving (shreds of it came in,
                     // or the parent is a block of the previous leader's run); deadline not
                     // reached
  on_previous,       // lead: parent is the slot before our run, or our own slot in it
  nothing_arriving,  // lead: no block between the parent and slot_now is on its way, and
                     // the previous leader made no block of its run
  grace_expired,     // lead: waited the full grace; build on the old parent
};

struct start_decision {
  start_action action = start_action::follow;
  start_reason reason = start_reason::not_scheduled;
  std::uint64_t slot = 0;         // slot_now
  std::optional<std::uint64_t> parent;  // lead: reset_slot (nullopt: the genesis root)
  std::uint64_t skipped = 0;      // lead: slots between parent and slot, which get no block
  leader_run run{};               // lead / wait: our run around slot_now
  std::uint64_t grace_ticks = 0;  // lead / wait: the grace of this run
  std::uint64_t grace_left = 0;   // wait: ticks until the deadline
  std::uint64_t late_ticks = 0;   // lead: ticks past the first tick of the run
  friend bool operator==(const start_decision&, const start_decision&) = default;
};

// How long a node resumed from its ledger listens for the cluster before it leads on its own
// clock (start_inputs::listen_until - its start tick height): its longest run in the timeline
// plus max_grace_slots, in ticks. A live cluster is silent for at most one run of ours (it
// waits for our blocks), so a node that hears nothing for that long may lead: nobody else is
// up. 0 when `me` leads every slot of the timeline or none (there is nobody else to hear).
// Walks every group of the timeline (once, at start).
[[nodiscard]] std::uint64_t listen_ticks(const leader_timeline& timeline, const crypto::pubkey& me,
                                         const rotation_config& config) noexcept;

[[nodiscard]] std::uint64_t grace_ticks(const rotation_config& config, const leader_run& run) noexcept;

[[nodiscard]] start_decision decide_start(const leader_timeline& timeline, const crypto::pubkey& me,
                                          const rotation_config& config,
                                          const start_inputs& in) noexcept;

// How many ticks a block for `slot` on a parent at `parent` carries ((slot - parent)·T; slot 0
// on the genesis root, parent nullopt: T); nullopt if that parent cannot have that child or
// the product overflows.
[[nodiscard]] std::optional<std::uint64_t> block_ticks(std::uint64_t slot, std::optional<std::uint64_t> parent,
                                                       std::uint64_t ticks_per_slot) noexcept;

enum class forward_action : std::uint8_t { consume, hold, forward, forward_and_hold, drop };

struct forward_decision {
  static constexpr std::size_t max_targets = 8;
  forward_action action = forward_action::drop;
  std::array<crypto::pubkey, max_targets> targets{};  // forward*: distinct, in slot order
  std::uint8_t target_count = 0;
  [[nodiscard]] std::span<const crypto::pubkey> target_list() const noexcept {
    return {targets.data(), target_count};
  }
};

// forward_slots above max_targets is treated as max_targets.
[[nodiscard]] forward_decision plan_forward(const leader_timeline& timeline, const crypto::pubkey& me,
                                            const rotation_config& config, std::uint64_t slot_now,
                                            bool from_forwards_port) noexcept;

}  // namespace riptide::epoch
