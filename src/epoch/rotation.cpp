#include <riptide/epoch/rotation.hpp>

#include <algorithm>
#include <limits>

namespace riptide::epoch {

namespace {

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept {
  return b != 0 && a > u64_max / b ? u64_max : a * b;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept { return a > u64_max - b ? u64_max : a + b; }

}  // namespace

leader_timeline::leader_timeline(const leader_schedule& epoch) noexcept { append(epoch); }

leader_timeline::leader_timeline(const leader_schedule& current, const leader_schedule& next) noexcept
    : leader_timeline(current) {
  append(next);
}

leader_timeline::leader_timeline(segment only) noexcept { add(only); }

void leader_timeline::append(const leader_schedule& epoch) noexcept {
  add({epoch.first_slot(), epoch.slots_per_epoch(), epoch.slots_per_leader(), epoch.group_leaders()});
}

void leader_timeline::add(const segment& s) noexcept {
  if (count_ == max_segments || s.slots == 0 || s.slots_per_leader == 0) return;
  if (s.first_slot > u64_max - s.slots) return;
  const std::uint64_t groups = (s.slots - 1) / s.slots_per_leader + 1;
  if (s.group_leaders.size() < groups) return;
  if (count_ > 0 && s.first_slot != end_slot()) return;
  segments_[count_++] = s;
}

const leader_timeline::segment* leader_timeline::find(std::uint64_t slot) const noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    const segment& s = segments_[i];
    if (slot >= s.first_slot && slot - s.first_slot < s.slots) return &s;
  }
  return nullptr;
}

std::optional<crypto::pubkey> leader_timeline::leader(std::uint64_t slot) const noexcept {
  const segment* s = find(slot);
  if (s == nullptr) return std::nullopt;
  return s->group_leaders[(slot - s->first_slot) / s->slots_per_leader];
}

bool leader_timeline::covers(std::uint64_t slot) const noexcept { return find(slot) != nullptr; }

std::uint64_t leader_timeline::first_slot() const noexcept { return count_ == 0 ? 0 : segments_[0].first_slot; }

std::uint64_t leader_timeline::end_slot() const noexcept {
  if (count_ == 0) return 0;
  const segment& last = segments_[count_ - 1];
  return last.first_slot + last.slots;
}

std::optional<leader_timeline::group_span> leader_timeline::group(std::uint64_t slot) const noexcept {
  const segment* s = find(slot);
  if (s == nullptr) return std::nullopt;
  const std::uint64_t g = (slot - s->first_slot) / s->slots_per_leader;
  const std::uint64_t first = s->first_slot + g * s->slots_per_leader;
  const std::uint64_t end = std::min(first + s->slots_per_leader, s->first_slot + s->slots);
  return group_span{first, end, s->group_leaders[g]};
}

std::optional<leader_run> run_containing(const leader_timeline& timeline, const crypto::pubkey& me,
                                         std::uint64_t slot) noexcept {
  auto g = timeline.group(slot);
  if (!g || g->leader != me) return std::nullopt;
  leader_run run{g->first, g->end};
  // Whole groups at a time: a validator may lead several groups in a row (or, alone, all).
  while (run.first > 0) {
    const auto before = timeline.group(run.first - 1);
    if (!before || before->leader != me) break;
    run.first = before->first;
  }
  for (;;) {
    const auto after = timeline.group(run.end);
    if (!after || after->leader != me) break;
    run.end = after->end;
  }
  return run;
}

std::optional<leader_run> next_leader_run(const leader_timeline& timeline, const crypto::pubkey& me,
                                          std::uint64_t after) noexcept {
  if (after == u64_max) return std::nullopt;
  std::uint64_t slot = std::max(after + 1, timeline.first_slot());
  while (const auto g = timeline.group(slot)) {
    if (g->leader == me) {
      auto run = run_containing(timeline, me, slot);
      run->first = slot;
      return run;
    }
    slot = g->end;
  }
  return std::nullopt;
}

std::uint64_t listen_ticks(const leader_timeline& timeline, const crypto::pubkey& me,
                           const rotation_config& config) noexcept {
  std::uint64_t longest = 0, run = 0;
  bool others = false;
  for (auto g = timeline.group(timeline.first_slot()); g; g = timeline.group(g->end)) {
    if (g->leader == me) {
      run += g->end - g->first;
      longest = std::max(longest, run);
    } else {
      run = 0;
      others = true;
    }
  }
  if (longest == 0 || !others) return 0;
  return saturating_mul(saturating_add(longest, config.max_grace_slots), config.ticks_per_slot);
}

std::uint64_t grace_ticks(const rotation_config& config, const leader_run& run) noexcept {
  return std::min(saturating_mul(config.max_grace_slots, config.ticks_per_slot),
                  saturating_mul(config.ticks_per_slot, run.slots()) / 2);
}

start_decision decide_start(const leader_timeline& timeline, const crypto::pubkey& me, const rotation_config& config,
                            const start_inputs& in) noexcept {
  start_decision d;
  if (config.ticks_per_slot == 0) return d;
  const std::uint64_t slot = in.tick_height / config.ticks_per_slot;
  d.slot = slot;
  const auto run = run_containing(timeline, me, slot);
  if (!run) return d;
  const auto follow = [&d](start_reason why) {
    d.reason = why;
    return d;
  };
  if (in.highest_produced && slot <= *in.highest_produced) return follow(start_reason::already_produced);
  if (in.reset_slot ? *in.reset_slot >= slot : slot != 0) return follow(start_reason::parent_not_below);
  if (in.reset_slot && slot - *in.reset_slot > config.max_parent_distance) return follow(start_reason::parent_too_far);
  if (in.highest_seen && *in.highest_seen > slot) return follow(start_reason::behind_cluster);
  if (!in.highest_seen && in.tick_height < in.listen_until) return follow(start_reason::listening);

  const std::uint64_t parent_next = in.reset_slot ? *in.reset_slot + 1 : 0;  // first slot the parent allows
  d.run = *run;
  d.grace_ticks = grace_ticks(config, *run);
  const auto lead = [&](start_reason why) {
    d.action = start_action::lead;
    d.reason = why;
    d.parent = in.reset_slot;
    d.skipped = slot - parent_next;
    d.late_ticks = in.tick_height - run->first * config.ticks_per_slot;
    return d;
  };
  if (parent_next >= run->first) return lead(start_reason::on_previous);
  // The previous leader made a block of its run (the parent): it is alive, and its last
  // blocks are on their way even if no shred of them has come in yet (a block's shreds may
  // all leave at its end). A leader that sent nothing of its run is not waited for.
  const auto previous = run->first > 0 ? timeline.group(run->first - 1) : std::nullopt;
  const auto previous_run =
      previous ? run_containing(timeline, previous->leader, previous->first) : std::nullopt;
  const bool previous_alive = previous_run && in.reset_slot && *in.reset_slot >= previous_run->first;
  if (!in.block_arriving && !previous_alive) return lead(start_reason::nothing_arriving);
  const std::uint64_t deadline = saturating_add(saturating_mul(run->first, config.ticks_per_slot), d.grace_ticks);
  if (in.tick_height >= deadline) return lead(start_reason::grace_expired);
  d.action = start_action::wait;
  d.reason = start_reason::grace;
  d.grace_left = deadline - in.tick_height;
  return d;
}

std::optional<std::uint64_t> block_ticks(std::uint64_t slot, std::optional<std::uint64_t> parent,
                                         std::uint64_t ticks_per_slot) noexcept {
  if (!parent) return slot == 0 ? std::optional{ticks_per_slot} : std::nullopt;
  if (*parent >= slot) return std::nullopt;
  const std::uint64_t distance = slot - *parent;
  if (ticks_per_slot != 0 && distance > u64_max / ticks_per_slot) return std::nullopt;
  return distance * ticks_per_slot;
}

forward_decision plan_forward(const leader_timeline& timeline, const crypto::pubkey& me, const rotation_config& config,
                              std::uint64_t slot_now, bool from_forwards_port) noexcept {
  forward_decision d;
  const auto leads_within = [&](std::uint64_t slots) {
    for (std::uint64_t s = slot_now + 1; s <= saturating_add(slot_now, slots) && s != 0;) {
      const auto g = timeline.group(s);
      if (!g) return false;
      if (g->leader == me) return true;
      s = g->end;
    }
    return false;
  };
  const bool leading = timeline.leader(slot_now) == me;
  // Leading, and the next slot ours too (or it came forwarded: it goes no further): ours.
  if (leading && (from_forwards_port || timeline.leader(slot_now + 1) == me || slot_now == u64_max)) {
    d.action = forward_action::consume;
    return d;
  }
  if (from_forwards_port && !leading) {
    d.action = leads_within(config.hold_forwarded_slots) ? forward_action::hold : forward_action::drop;
    return d;
  }
  if (config.forward_slots == 0 || (!leading && leads_within(config.hold_slots))) {  // forwarding off: keep it
    d.action = forward_action::hold;
    return d;
  }
  bool ours = false;
  const std::uint64_t slots = std::min<std::uint64_t>(config.forward_slots, forward_decision::max_targets);
  for (std::uint64_t i = 1; i <= slots && slot_now <= u64_max - i; ++i) {
    const auto leader = timeline.leader(slot_now + i);
    if (!leader) continue;
    if (*leader == me) {
      ours = true;
      continue;
    }
    const auto known = d.target_list();
    if (std::find(known.begin(), known.end(), *leader) == known.end()) d.targets[d.target_count++] = *leader;
  }
  if (d.target_count == 0) {
    d.action = ours ? forward_action::hold : forward_action::drop;
    return d;
  }
  // The last slot of our run: it may end before the bank gets to it, so the next leaders get
  // it too (a signature lands once on a chain, so two copies cost nothing).
  d.action = leading || leads_within(config.hold_forwarded_slots) ? forward_action::forward_and_hold
                                                                  : forward_action::forward;
  return d;
}

}  // namespace riptide::epoch
