#include <riptide/epoch/rotation.hpp>

#include "../support/filled_key.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

using namespace riptide;
using riptide::testing::filled_key;
using epoch::forward_action;
using epoch::leader_run;
using epoch::start_action;
using epoch::start_reason;

namespace {

const crypto::pubkey A = filled_key(0xa), B = filled_key(0xb), C = filled_key(0xc), D = filled_key(0xd);

// Six groups of 4 slots, 24 slots from slot 0:
//   slots  0-3  4-7  8-11  12-15  16-19  20-23
//   leader  A    B    B     C      A      C
const std::vector<crypto::pubkey> groups{A, B, B, C, A, C};
epoch::leader_timeline timeline() { return epoch::leader_timeline({0, 24, 4, groups}); }

constexpr std::uint64_t T = 8;  // ticks per slot: slot s is tick heights [8s, 8s + 8)
epoch::rotation_config config() {
  epoch::rotation_config c;
  c.ticks_per_slot = T;
  c.hold_forwarded_slots = 6;
  return c;
}

std::string name_of(const crypto::pubkey& k) {
  return k == A ? "A" : k == B ? "B" : k == C ? "C" : k == D ? "D" : "?";
}

}  // namespace

TEST(rotation, timeline_looks_up_groups_and_rejects_what_does_not_fit) {
  const auto t = timeline();
  EXPECT_EQ(t.first_slot(), 0u);
  EXPECT_EQ(t.end_slot(), 24u);
  EXPECT_EQ(t.leader(0), A);
  EXPECT_EQ(t.leader(7), B);
  EXPECT_EQ(t.leader(23), C);
  EXPECT_FALSE(t.leader(24).has_value());
  const auto g = t.group(9);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->first, 8u);
  EXPECT_EQ(g->end, 12u);
  EXPECT_EQ(g->leader, B);
  // Too few group leaders for the slots, or no slots: an empty timeline, never a read past
  // the span.
  EXPECT_FALSE(epoch::leader_timeline({0, 25, 4, groups}).covers(0));
  EXPECT_FALSE(epoch::leader_timeline({0, 0, 4, groups}).covers(0));
  EXPECT_FALSE(epoch::leader_timeline({0, 24, 0, groups}).covers(0));
  EXPECT_FALSE(epoch::leader_timeline().leader(0).has_value());
}

TEST(rotation, timeline_spans_two_epochs_only_when_they_touch) {
  const std::vector<epoch::stake_entry> one{{A, 10}, {B, 30}};
  const epoch::stakes stakes(one);
  const epoch::leader_schedule e3(stakes, 3, 32), e4(stakes, 4, 32), e5(stakes, 5, 32);
  const epoch::leader_timeline both(e3, e4);
  EXPECT_EQ(both.first_slot(), 96u);
  EXPECT_EQ(both.end_slot(), 160u);
  for (std::uint64_t s = 96; s < 160; ++s)
    EXPECT_EQ(both.leader(s), s < 128 ? e3.leader_for_slot(s) : e4.leader_for_slot(s)) << s;
  const epoch::leader_timeline gap(e3, e5);  // epoch 4 missing: only epoch 3 is used
  EXPECT_EQ(gap.end_slot(), 128u);
  EXPECT_FALSE(gap.covers(160));
}

TEST(rotation, runs_join_consecutive_groups_of_one_leader) {
  const auto t = timeline();
  EXPECT_EQ(epoch::run_containing(t, B, 5), (leader_run{4, 12}));
  EXPECT_EQ(epoch::run_containing(t, B, 11), (leader_run{4, 12}));
  EXPECT_EQ(epoch::run_containing(t, A, 2), (leader_run{0, 4}));
  EXPECT_EQ(epoch::run_containing(t, C, 21), (leader_run{20, 24}));  // clipped at the end
  EXPECT_FALSE(epoch::run_containing(t, A, 5).has_value());
  EXPECT_FALSE(epoch::run_containing(t, A, 24).has_value());
  // One staked validator leads everything: one run over both epochs.
  const std::vector<epoch::stake_entry> solo{{A, 1}};
  const epoch::stakes stakes(solo);
  const epoch::leader_schedule e0(stakes, 0, 64), e1(stakes, 1, 64);
  EXPECT_EQ(epoch::run_containing(epoch::leader_timeline(e0, e1), A, 70), (leader_run{0, 128}));
}

TEST(rotation, next_leader_run_starts_after_the_given_slot) {
  const auto t = timeline();
  struct row {
    crypto::pubkey me;
    std::uint64_t after;
    std::optional<leader_run> want;
  };
  const std::vector<row> rows{
      {B, 0, leader_run{4, 12}},   {B, 3, leader_run{4, 12}}, {B, 5, leader_run{6, 12}},
      {B, 11, std::nullopt},       {A, 0, leader_run{1, 4}},  {A, 3, leader_run{16, 20}},
      {A, 19, std::nullopt},       {C, 13, leader_run{14, 16}},
      // A restarted node passes its highest slot in the ledger: its produced slots are skipped.
      {C, 15, leader_run{20, 24}}, {D, 0, std::nullopt},      {A, 24, std::nullopt},
      {A, std::numeric_limits<std::uint64_t>::max(), std::nullopt},
  };
  for (const auto& r : rows)
    EXPECT_EQ(epoch::next_leader_run(t, r.me, r.after), r.want) << name_of(r.me) << " after " << r.after;
}

TEST(rotation, grace_is_two_slots_or_half_the_run) {
  const auto c = config();
  EXPECT_EQ(epoch::grace_ticks(c, {0, 4}), 16u);   // min(2·8, 8·4/2)
  EXPECT_EQ(epoch::grace_ticks(c, {0, 8}), 16u);   // capped at 2 slots
  EXPECT_EQ(epoch::grace_ticks(c, {0, 3}), 12u);   // 8·3/2
  EXPECT_EQ(epoch::grace_ticks(c, {0, 1}), 4u);    // half a slot
  auto none = c;
  none.max_grace_slots = 0;
  EXPECT_EQ(epoch::grace_ticks(none, {0, 4}), 0u);
}

TEST(rotation, decide_start_case_by_case) {
  const auto t = timeline();
  constexpr auto genesis = std::nullopt;
  struct row {
    const char* name;
    crypto::pubkey me;
    std::uint64_t tick_height;
    std::optional<std::uint64_t> reset;
    std::optional<std::uint64_t> produced;
    bool arriving;
    start_action action;
    start_reason reason;
    std::uint64_t skipped = 0, grace_left = 0, late = 0;
  };
  const std::vector<row> rows{
      {"another validator's slot", C, 4 * T, 3, {}, false, start_action::follow, start_reason::not_scheduled},
      {"past the timeline", A, 24 * T, 23, {}, false, start_action::follow, start_reason::not_scheduled},
      {"on the previous leader's last slot", C, 12 * T, 11, {}, true, start_action::lead,
       start_reason::on_previous},
      {"on our own slot inside the run", C, 13 * T + 3, 12, 12, true, start_action::lead, start_reason::on_previous,
       0, 0, 11},
      {"previous leader sent nothing", C, 12 * T, 3, {}, false, start_action::lead, start_reason::nothing_arriving,
       8},
      {"previous leader sent nothing, an older block arrives", C, 12 * T, 3, {}, true, start_action::wait,
       start_reason::grace, 0, 16},
      {"previous leader made part of its run: wait for the rest", C, 12 * T, 7, {}, false, start_action::wait,
       start_reason::grace, 0, 16},
      {"previous leader made part of its run: deadline", C, 12 * T + 16, 7, {}, false, start_action::lead,
       start_reason::grace_expired, 6, 0, 16},
      {"its block is arriving: wait", C, 12 * T + 5, 7, {}, true, start_action::wait, start_reason::grace, 0, 11},
      {"one tick before the deadline", C, 12 * T + 15, 7, {}, true, start_action::wait, start_reason::grace, 0, 1},
      {"deadline reached: lead slot 14", C, 12 * T + 16, 7, {}, true, start_action::lead,
       start_reason::grace_expired, 6, 0, 16},
      {"already produced this slot", C, 13 * T, 12, 13, false, start_action::follow,
       start_reason::already_produced},
      {"restart: our slots are in the ledger", C, 12 * T, 11, 15, false, start_action::follow,
       start_reason::already_produced},
      {"reset bank at slot_now", C, 12 * T, 12, {}, false, start_action::follow, start_reason::parent_not_below},
      {"reset bank above slot_now", C, 12 * T, 13, {}, false, start_action::follow,
       start_reason::parent_not_below},
      {"slot 0 on the genesis root", A, 0, genesis, {}, false, start_action::lead, start_reason::on_previous},
      {"only slot 0 follows genesis", A, 16 * T, genesis, {}, false, start_action::follow,
       start_reason::parent_not_below},
      {"two groups are one run: start on the one before", B, 4 * T + 1, 3, {}, true, start_action::lead,
       start_reason::on_previous, 0, 0, 1},
      {"two groups are one run: grace counts from its start", B, 8 * T, 2, {}, true, start_action::lead,
       start_reason::grace_expired, 5, 0, 32},
  };
  for (const auto& r : rows) {
    const auto d = epoch::decide_start(t, r.me, config(), {r.tick_height, r.reset, r.produced, r.arriving});
    SCOPED_TRACE(r.name);
    EXPECT_EQ(d.action, r.action);
    EXPECT_EQ(d.reason, r.reason);
    EXPECT_EQ(d.slot, r.tick_height / T);
    if (r.action == start_action::lead) {
      EXPECT_EQ(d.parent, r.reset);
      EXPECT_EQ(d.skipped, r.skipped);
      EXPECT_EQ(d.late_ticks, r.late);
      // The block this produces carries the ticks replay wants for its parent.
      EXPECT_EQ(epoch::block_ticks(d.slot, d.parent, T), (d.skipped + 1) * T);
    }
    if (r.action == start_action::wait) {
      EXPECT_EQ(d.grace_left, r.grace_left);
    }
  }
}

TEST(rotation, parent_farther_than_a_shred_can_say_is_not_built_on) {
  auto c = config();
  c.max_parent_distance = 8;
  const auto d = epoch::decide_start(timeline(), C, c, {12 * T, 3, {}, false});
  EXPECT_EQ(d.action, start_action::follow);
  EXPECT_EQ(d.reason, start_reason::parent_too_far);
  c.max_parent_distance = 9;
  EXPECT_EQ(epoch::decide_start(timeline(), C, c, {12 * T, 3, {}, false}).action, start_action::lead);
}

// A node whose clock is behind the cluster (catching up after a restart) has seen blocks of
// later slots: a block it made for its own slot now would fork off the past.
TEST(rotation, a_node_behind_the_cluster_does_not_lead) {
  const auto t = timeline();
  const auto at = [&](std::optional<std::uint64_t> seen) {
    return epoch::decide_start(t, C, config(), {12 * T, 11, {}, false, seen});
  };
  EXPECT_EQ(at(std::nullopt).action, start_action::lead);
  EXPECT_EQ(at(12).action, start_action::lead);  // our own slot's shreds (or an equal one)
  EXPECT_EQ(at(13).action, start_action::follow);
  EXPECT_EQ(at(13).reason, start_reason::behind_cluster);
  EXPECT_EQ(at(400).reason, start_reason::behind_cluster);
}

// Resumed from its ledger, a node does not know how far the cluster went while it was down.
// Until a shred is seen it follows before listen_until; a shred of a slot at or below its
// clock ends the listening, one above it is the behind-the-cluster rule.
TEST(rotation, a_resumed_node_listens_before_it_leads) {
  const auto t = timeline();
  const auto at = [&](std::uint64_t h, std::optional<std::uint64_t> seen, std::uint64_t until) {
    return epoch::decide_start(t, C, config(), {h, 11, {}, false, seen, until});
  };
  struct row {
    std::uint64_t tick;
    std::optional<std::uint64_t> seen;
    std::uint64_t until;
    start_action action;
    start_reason reason;
  };
  const std::vector<row> rows{
      {12 * T, std::nullopt, 12 * T + 1, start_action::follow, start_reason::listening},
      {13 * T, std::nullopt, 14 * T, start_action::follow, start_reason::listening},
      {14 * T - 1, std::nullopt, 14 * T, start_action::follow, start_reason::listening},
      {14 * T, std::nullopt, 14 * T, start_action::lead, start_reason::on_previous},  // deadline
      {12 * T, std::nullopt, 0, start_action::lead, start_reason::on_previous},             // no listening
      {12 * T, 3, 14 * T, start_action::lead, start_reason::on_previous},                   // heard, not ahead
      {12 * T, 12, 14 * T, start_action::lead, start_reason::on_previous},
      {12 * T, 13, 14 * T, start_action::follow, start_reason::behind_cluster},            // heard ahead
      {8 * T, std::nullopt, 14 * T, start_action::follow, start_reason::not_scheduled},    // not ours anyway
  };
  for (const auto& r : rows) {
    const auto d = at(r.tick, r.seen, r.until);
    EXPECT_EQ(d.action, r.action) << r.tick << " " << r.until;
    EXPECT_EQ(d.reason, r.reason) << r.tick << " " << r.until;
  }
}

// A live cluster is silent for at most one run of ours: listen for the longest run plus the
// grace; a validator that leads every slot or none has nobody to hear.
TEST(rotation, listen_ticks_cover_the_longest_own_run_plus_grace) {
  const auto t = timeline();  // A: 0-3, 16-19; B: 4-11; C: 12-15, 20-23
  EXPECT_EQ(epoch::listen_ticks(t, A, config()), (4 + 2) * T);
  EXPECT_EQ(epoch::listen_ticks(t, B, config()), (8 + 2) * T);
  EXPECT_EQ(epoch::listen_ticks(t, C, config()), (4 + 2) * T);
  EXPECT_EQ(epoch::listen_ticks(t, D, config()), 0u);
  const std::vector<crypto::pubkey> alone{A, A, A};
  EXPECT_EQ(epoch::listen_ticks(epoch::leader_timeline({0, 12, 4, alone}), A, config()), 0u);
  const std::vector<crypto::pubkey> wraps{A, B, A, A, A};  // a run of 12 at the end
  EXPECT_EQ(epoch::listen_ticks(epoch::leader_timeline({0, 20, 4, wraps}), A, config()), (12 + 2) * T);
  EXPECT_EQ(epoch::listen_ticks(epoch::leader_timeline(), A, config()), 0u);
}

TEST(rotation, an_arriving_block_that_replays_in_time_ends_the_wait) {
  // The clock ticks through C's run while the previous leader's block (slot 11, parent 7)
  // arrives; it replays at tick 12·8 + 6 and PoH resets onto it.
  const auto t = timeline();
  std::optional<std::uint64_t> led;
  for (std::uint64_t h = 12 * T; h < 16 * T && !led; ++h) {
    const bool replayed = h >= 12 * T + 6;
    const auto d = epoch::decide_start(t, C, config(), {h, replayed ? 11 : 7, {}, !replayed});
    if (d.action == start_action::lead) {
      led = h;
      EXPECT_EQ(d.parent, 11u);
      EXPECT_EQ(d.skipped, 0u);
    }
  }
  EXPECT_EQ(led, 12 * T + 6);
}

TEST(rotation, a_cluster_with_everyone_up_produces_every_slot_once) {
  // Three validators share one clock and see each block as soon as it is made (the reset
  // follows the tip); each remembers its highest produced slot as a leader does. Every slot
  // is led once, by its scheduled leader, on the slot before it: nothing skipped, nothing
  // twice.
  const auto t = timeline();
  const std::vector<crypto::pubkey> nodes{A, B, C};
  std::vector<std::optional<std::uint64_t>> produced(nodes.size());
  std::optional<std::uint64_t> tip;  // nullopt: the genesis root
  std::vector<std::pair<std::uint64_t, crypto::pubkey>> blocks;
  for (std::uint64_t h = 0; h < 24 * T; ++h)
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const auto d = epoch::decide_start(t, nodes[i], config(), {h, tip, produced[i], false});
      if (d.action != start_action::lead) continue;
      EXPECT_EQ(d.skipped, 0u) << "slot " << d.slot;
      EXPECT_EQ(d.late_ticks % T, 0u) << "slot " << d.slot << " starts on its first tick";
      blocks.emplace_back(d.slot, nodes[i]);
      produced[i] = tip = d.slot;
    }
  ASSERT_EQ(blocks.size(), 24u);
  for (std::uint64_t s = 0; s < 24; ++s) {
    EXPECT_EQ(blocks[s].first, s);
    EXPECT_EQ(blocks[s].second, *t.leader(s)) << "slot " << s;
  }
}

TEST(rotation, a_down_leader_costs_exactly_its_slots) {
  // B (slots 4-11) is down: A's chain ends at slot 3, nothing arrives, and C leads slot 12 on
  // its first tick with slots 4-11 skipped.
  const auto d = epoch::decide_start(timeline(), C, config(), {12 * T, 3, {}, false});
  EXPECT_EQ(d.action, start_action::lead);
  EXPECT_EQ(d.slot, 12u);
  EXPECT_EQ(d.skipped, 8u);
  EXPECT_EQ(d.late_ticks, 0u);
  for (std::uint64_t h = 4 * T; h < 12 * T; ++h)
    EXPECT_EQ(epoch::decide_start(timeline(), C, config(), {h, 3, {}, false}).action, start_action::follow);
}

TEST(rotation, block_ticks_cover_every_skipped_slot) {
  EXPECT_EQ(epoch::block_ticks(5, 4, 8), 8u);
  EXPECT_EQ(epoch::block_ticks(5, 3, 8), 16u);
  EXPECT_EQ(epoch::block_ticks(0, std::nullopt, 8), 8u);
  EXPECT_FALSE(epoch::block_ticks(3, std::nullopt, 8).has_value());
  EXPECT_FALSE(epoch::block_ticks(3, 3, 8).has_value());
  EXPECT_FALSE(epoch::block_ticks(3, 4, 8).has_value());
  EXPECT_FALSE(epoch::block_ticks(std::numeric_limits<std::uint64_t>::max(), 0, 2).has_value());
}

TEST(rotation, plan_forward_case_by_case) {
  const auto t = timeline();
  struct row {
    crypto::pubkey me;
    std::uint64_t slot;
    bool from_forwards;
    forward_action action;
    std::vector<crypto::pubkey> targets;
  };
  const std::vector<row> rows{
      {A, 1, false, forward_action::consume, {}},
      {A, 1, true, forward_action::consume, {}},
      // The last slot of our run: the bank may not get to it before the run ends, so the
      // next leaders get a copy too; a forwarded one stays (it goes no further).
      {A, 3, false, forward_action::forward_and_hold, {B}},
      {A, 3, true, forward_action::consume, {}},
      {B, 11, false, forward_action::forward_and_hold, {C}},
      {C, 11, false, forward_action::hold, {}},              // C leads slot 12
      {C, 5, false, forward_action::forward, {B}},           // leaders of 6, 7; C not within 6
      {C, 6, false, forward_action::forward_and_hold, {B}},  // C leads 12, within 6 slots
      {A, 11, false, forward_action::forward_and_hold, {C}},
      {D, 3, false, forward_action::forward, {B}},
      {D, 14, false, forward_action::forward, {C, A}},  // two leaders, in slot order
      {D, 22, false, forward_action::forward, {C}},     // slot 24 has no known leader
      {D, 23, false, forward_action::drop, {}},         // no leader known at all
      // Forwarded once already: never again; kept only by a leader within 6 slots.
      {C, 5, true, forward_action::drop, {}},
      {C, 7, true, forward_action::hold, {}},
      {D, 14, true, forward_action::drop, {}},
  };
  for (const auto& r : rows) {
    const auto d = epoch::plan_forward(t, r.me, config(), r.slot, r.from_forwards);
    SCOPED_TRACE(name_of(r.me) + " at slot " + std::to_string(r.slot) + (r.from_forwards ? " (forwarded)" : ""));
    EXPECT_EQ(d.action, r.action);
    EXPECT_EQ(std::vector<crypto::pubkey>(d.target_list().begin(), d.target_list().end()), r.targets);
  }
  auto off = config();
  off.forward_slots = 0;
  EXPECT_EQ(epoch::plan_forward(t, D, off, 3, false).action, forward_action::hold);
}

TEST(rotation, plan_forward_never_targets_itself_nor_reforwards) {
  std::vector<epoch::stake_entry> nodes;
  for (std::uint8_t i = 1; i <= 5; ++i) nodes.push_back({filled_key(i), i * 10u});
  const epoch::stakes stakes(nodes);
  const epoch::leader_schedule e(stakes, 2, 256);
  const epoch::leader_timeline t(e);
  auto c = config();
  c.forward_slots = 8;
  for (std::uint8_t i = 1; i <= 5; ++i)
    for (std::uint64_t s = e.first_slot(); s < e.first_slot() + 256; ++s) {
      const auto fresh = epoch::plan_forward(t, filled_key(i), c, s, false);
      for (const auto& k : fresh.target_list()) EXPECT_NE(k, filled_key(i)) << "slot " << s;
      const auto again = epoch::plan_forward(t, filled_key(i), c, s, true);
      EXPECT_EQ(again.target_count, 0u);
      EXPECT_NE(again.action, forward_action::forward);
      EXPECT_NE(again.action, forward_action::forward_and_hold);
    }
}
