#include <riptide/tpu/poh_tile.hpp>

#include "../support/filled_key.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

using namespace riptide;
using riptide::testing::filled_key;

namespace {
std::vector<tpu::poh_entry_record> drain(util::spsc_ring<tpu::poh_entry_record>& r) {
  std::vector<tpu::poh_entry_record> v;
  tpu::poh_entry_record e;
  while (r.try_pop(e)) v.push_back(e);
  return v;
}
}  // namespace

TEST(poh_tile, ticks_and_slots_then_stops_at_max_slots) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 100;
  c.ticks_per_slot = 4;
  c.hashes_per_poll = 37;
  c.max_slots = 3;
  util::spsc_ring<tpu::poh_entry_record> entries(64);
  tpu::poh_tile t("poh", crypto::hash32{}, c, nullptr, &entries);
  t.on_start();
  for (int i = 0; i < 10000 && !t.finished(); ++i) (void)t.poll();
  ASSERT_TRUE(t.finished());
  EXPECT_EQ(t.tick_count(), 12u);
  EXPECT_EQ(t.slot(), 3u);
  EXPECT_EQ(t.hash_count(), 1200u);
  EXPECT_EQ(t.poll(), 0);  // finished: no more hashing
  const auto recs = drain(entries);
  ASSERT_EQ(recs.size(), 12u);
  std::vector<crypto::poh_entry> chain;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    EXPECT_TRUE(recs[i].is_tick);
    EXPECT_EQ(recs[i].entry.num_hashes, 100u);
    EXPECT_EQ(recs[i].slot, i / 4);  // tick i belongs to the slot it completes
    EXPECT_EQ(recs[i].tick_height, i + 1);
    chain.push_back(recs[i].entry);
  }
  EXPECT_TRUE(crypto::verify_entries(crypto::hash32{}, chain));
}

TEST(poh_tile, mixins_become_verifiable_entries) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 50;
  c.ticks_per_slot = 64;
  c.hashes_per_poll = 7;
  util::spsc_ring<tpu::poh_mixin> mixins(16);
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  tpu::poh_tile t("poh", crypto::hash32{}, c, &mixins, &entries);
  t.on_start();
  std::vector<crypto::poh_entry> chain;
  std::uint64_t recorded = 0;
  for (std::uint64_t round = 0; round < 40; ++round) {
    crypto::hash32 h{};
    h[0] = static_cast<std::uint8_t>(round);
    ASSERT_TRUE(mixins.try_push({h, round}));
    for (int i = 0; i < 3; ++i) (void)t.poll();
    for (const auto& r : drain(entries)) {
      if (!r.is_tick) {
        EXPECT_EQ(r.mixin_id, recorded);
        EXPECT_TRUE(r.entry.has_mixin);
        EXPECT_EQ(r.entry.mixin[0], static_cast<std::uint8_t>(recorded));
        ++recorded;
      }
      chain.push_back(r.entry);
    }
  }
  EXPECT_EQ(recorded, 40u);
  EXPECT_GT(t.tick_count(), 0u);
  EXPECT_TRUE(crypto::verify_entries(crypto::hash32{}, chain));
  chain[chain.size() / 2].hash[5] ^= 1;
  EXPECT_FALSE(crypto::verify_entries(crypto::hash32{}, chain));
}

TEST(poh_tile, drain_stops_hashing) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 1000;
  tpu::poh_tile t("poh", crypto::hash32{}, c, nullptr, nullptr);
  t.on_start();
  EXPECT_GT(t.poll(), 0);
  t.begin_drain();
  const auto before = t.hash_count();
  EXPECT_EQ(t.poll(), 0);
  EXPECT_EQ(t.hash_count(), before);
  EXPECT_TRUE(t.drained());
}

TEST(poh_tile, sleep_mode_waits_for_the_tick_deadline) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 10;
  c.target_tick_ns = 60'000'000'000ULL;  // one tick a minute: the first tick cannot be due yet
  c.mixin_slack_hashes = 3;
  util::spsc_ring<tpu::poh_mixin> mixins(16);
  util::spsc_ring<tpu::poh_entry_record> entries(64);
  tpu::poh_tile t("poh", crypto::hash32{}, c, &mixins, &entries);
  t.on_start();
  for (int i = 0; i < 100; ++i) (void)t.poll();
  EXPECT_EQ(t.tick_count(), 0u);
  EXPECT_EQ(t.hash_count(), 6u);  // hashed up to the slack before the tick, then waited
  EXPECT_EQ(t.poll(), 0);          // idle while ahead of the clock
  // Mixins are recorded inside the slack without moving the tick ahead of the clock...
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(mixins.try_push({crypto::hash32{}, i}));
  for (int i = 0; i < 10; ++i) (void)t.poll();
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_mixins), 3u);
  EXPECT_EQ(t.tick_count(), 0u);
  // ...and only more mixins than the slack holds force the tick early.
  ASSERT_TRUE(mixins.try_push({crypto::hash32{}, 3}));
  (void)t.poll();
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_mixins), 4u);
  EXPECT_EQ(t.tick_count(), 1u);
}

// A node that must not lead (its identity is live elsewhere) finishes the slot in progress and
// makes no more: the chain ends on a slot boundary, later mixins are dropped and counted, and
// the tile does not count as finished (the node keeps running).
TEST(poh_tile, halt_at_slot_end_finishes_the_slot_and_stops) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 50;
  c.ticks_per_slot = 4;
  c.hashes_per_poll = 20;
  util::spsc_ring<tpu::poh_mixin> mixins(16);
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  tpu::poh_tile t("poh", crypto::hash32{}, c, &mixins, &entries);
  t.on_start();
  while (t.tick_count() < 5) (void)t.poll();  // into slot 1
  EXPECT_FALSE(t.halted());
  t.halt_at_slot_end();
  for (int i = 0; i < 10000 && !t.halted(); ++i) (void)t.poll();
  ASSERT_TRUE(t.halted());
  EXPECT_EQ(t.tick_count(), 8u);  // slot 1 completed, nothing of slot 2
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_halted), 1u);
  const std::uint64_t hashes = t.hash_count();
  for (int i = 0; i < 100; ++i) (void)t.poll();
  EXPECT_EQ(t.hash_count(), hashes);
  EXPECT_EQ(t.tick_count(), 8u);
  EXPECT_FALSE(t.finished());
  ASSERT_TRUE(mixins.try_push({crypto::hash32{}, 7}));
  (void)t.poll();
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_mixins_dropped), 1u);
  EXPECT_EQ(t.hash_count(), hashes);
  std::uint64_t last_tick_height = 0;
  for (const auto& e : drain(entries)) last_tick_height = e.tick_height;
  EXPECT_EQ(last_tick_height, 8u);
}

// A leader builds on any replayed bank: after reset(hash, tick height, slot) the chain goes on
// from that bank's last hash, the bank's hash is every blockhash consumer's newest, and the
// entries carry the new chain's slots and tick heights (the abandoned slot just stops).
TEST(poh_tile, reset_continues_the_chain_from_a_given_bank) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 10;
  c.ticks_per_slot = 4;
  c.hashes_per_poll = 10;
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  util::spsc_ring<bank::slot_hash> hashes(16);
  util::spsc_ring<tpu::poh_reset> resets(4);
  tpu::poh_tile t("poh", crypto::hash32{}, c, {}, &entries, {&hashes}, nullptr);
  t.connect_resets(&resets);
  t.on_start();
  while (t.tick_count() < 6) (void)t.poll();  // slot 1, half done
  (void)drain(entries);
  bank::slot_hash h;
  while (hashes.try_pop(h)) {
  }
  // Bank of slot 7 (tick height 32): a parent further on another fork.
  crypto::hash32 bank_hash{};
  bank_hash.fill(0x42);
  ASSERT_TRUE(resets.try_push({bank_hash, 32, 7}));
  (void)t.poll();  // the reset, then this poll's hashing (one tick's worth here)
  EXPECT_GE(t.tick_count(), 32u);
  EXPECT_LE(t.tick_count(), 33u);
  EXPECT_EQ(t.slot(), 8u);
  ASSERT_TRUE(hashes.try_pop(h));
  EXPECT_EQ(h.slot, 7u);
  EXPECT_EQ(h.hash, bank_hash);
  while (t.tick_count() < 40) (void)t.poll();  // slots 8 and 9
  const auto recs = drain(entries);
  std::vector<crypto::poh_entry> chain;
  for (const auto& r : recs) chain.push_back(r.entry);
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.front().slot, 8u);
  EXPECT_EQ(recs.front().tick_height, 33u);
  EXPECT_EQ(recs.back().slot, 9u);
  EXPECT_EQ(recs.back().tick_height, 40u);
  EXPECT_TRUE(crypto::verify_entries(bank_hash, chain));  // hashed on from the bank's hash
  ASSERT_TRUE(hashes.try_pop(h));  // slot 8's end
  EXPECT_EQ(h.slot, 8u);
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_resets), 1u);
}

TEST(poh_tile, a_reset_that_is_not_a_slot_end_is_refused) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 10;
  c.ticks_per_slot = 4;
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  util::spsc_ring<tpu::poh_reset> resets(4);
  tpu::poh_tile t("poh", crypto::hash32{}, c, {}, &entries, {}, nullptr);
  t.connect_resets(&resets);
  t.on_start();
  const crypto::hash32 start = t.last_hash();
  ASSERT_TRUE(resets.try_push({crypto::hash32{}, 30, 6}));  // 30 is mid-slot
  (void)t.poll();
  ASSERT_TRUE(resets.try_push({crypto::hash32{}, 32, 6}));  // 32 ends slot 7, not 6
  (void)t.poll();
  ASSERT_TRUE(resets.try_push({crypto::hash32{}, 0, 0}));   // nothing ends at 0
  (void)t.poll();
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_resets_refused), 3u);
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_resets), 0u);
  EXPECT_LT(t.tick_count(), 4u);
  (void)start;
}

// With a bank gate, PoH closes the gate before a slot's end and finishes the slot's last
// tick only once no bank tile is inside and every mixin it pushed is recorded, so what was
// executed into slot S's bank is recorded in slot S.
TEST(poh_tile, a_slot_ends_only_after_the_bank_tiles_left_and_their_mixins_are_recorded) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 50;
  c.ticks_per_slot = 4;
  c.hashes_per_poll = 7;
  c.mixins_per_poll = 2;
  util::spsc_ring<tpu::poh_mixin> mixins(16);
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  tpu::bank_gate gate(1, 0);
  tpu::poh_tile t("poh", crypto::hash32{}, c, {&mixins}, &entries, {}, nullptr);
  constexpr std::uint64_t reserve = 4;
  t.connect_gate(&gate, reserve);
  t.on_start();
  ASSERT_TRUE(gate.open(5, 0));
  ASSERT_EQ(gate.enter(0), 5u);  // a bank tile is executing into slot 0's bank
  for (int i = 0; i < 1000; ++i) (void)t.poll();
  EXPECT_EQ(t.tick_count(), 3u);  // waits before slot 0's last tick
  EXPECT_GT(t.own_counter(tpu::poh_tile::c_boundary_waits), 0u);
  EXPECT_EQ(gate.enter(0), bank::no_bank);  // closed: no entry (the tile is still inside)
  bank::bank_index b = bank::no_bank;
  std::uint64_t s = 0;
  EXPECT_FALSE(gate.open_bank(b, s));  // closed
  // The tile pushes the most mixins it can have waiting, then leaves.
  for (std::uint64_t i = 0; i < reserve; ++i) {
    crypto::hash32 h{};
    h[0] = static_cast<std::uint8_t>(i + 1);
    ASSERT_TRUE(mixins.try_push({h, i}));
  }
  for (int i = 0; i < 10; ++i) (void)t.poll();
  EXPECT_EQ(t.tick_count(), 3u);  // still inside
  gate.leave(0);
  for (int i = 0; i < 100 && t.tick_count() < 4; ++i) (void)t.poll();
  EXPECT_EQ(t.tick_count(), 4u);
  const auto recs = drain(entries);
  std::uint64_t records_in_slot0 = 0;
  std::vector<crypto::poh_entry> chain;
  for (const auto& r : recs) {
    chain.push_back(r.entry);
    if (!r.is_tick && r.slot == 0) ++records_in_slot0;
  }
  EXPECT_EQ(records_in_slot0, reserve);
  EXPECT_TRUE(recs.back().is_tick);
  EXPECT_EQ(recs.back().tick_height, 4u);
  EXPECT_TRUE(crypto::verify_entries(crypto::hash32{}, chain));
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_boundary_overflows), 0u);
  // Slot 1 gets ticks until the controller opens its bank.
  EXPECT_EQ(gate.enter(0), bank::no_bank);
  EXPECT_TRUE(gate.open(6, 1));
}

TEST(poh_tile, with_a_gate_resets_are_refused_and_stopping_shuts_it) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 10;
  c.ticks_per_slot = 4;
  c.max_slots = 2;
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  util::spsc_ring<tpu::poh_reset> resets(4);
  tpu::bank_gate gate(1, 0);
  tpu::poh_tile t("poh", crypto::hash32{}, c, {}, &entries, {}, nullptr);
  t.connect_resets(&resets);
  t.connect_gate(&gate, 1);
  t.on_start();
  ASSERT_TRUE(gate.open(1, 0));
  ASSERT_TRUE(resets.try_push({crypto::hash32{}, 32, 7}));  // a good reset, but a gate
  (void)t.poll();
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_resets_refused), 1u);
  for (int i = 0; i < 10000 && !t.finished(); ++i) {
    (void)t.poll();
    bank::bank_index b;
    std::uint64_t s;
    if (!gate.open_bank(b, s)) (void)gate.open(1, t.slot());  // the controller, at once
  }
  ASSERT_TRUE(t.finished());
  EXPECT_TRUE(gate.is_shut());
}

// A paced PoH that is behind the wall clock hashes twice in one poll (up to the slack, then
// to the tick): it must still close the gate before the slot's last tick, so no bank tile
// can execute into a slot whose end is already recorded.
TEST(poh_tile, a_chain_behind_the_clock_still_closes_the_gate_before_the_slot_ends) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 300;
  c.ticks_per_slot = 2;
  c.hashes_per_poll = 256;
  c.target_tick_ns = 1;  // every tick is overdue
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  util::spsc_ring<tpu::poh_mixin> mixins(16);
  tpu::bank_gate gate(1, 0);
  tpu::poh_tile t("poh", crypto::hash32{}, c, {&mixins}, &entries, {}, nullptr);
  t.connect_gate(&gate, 4);
  t.on_start();
  ASSERT_TRUE(gate.open(1, 0));
  for (std::uint64_t slot = 0; slot < 5; ++slot) {
    // A bank tile executes into the open bank whenever it can, as fast as PoH polls.
    while (t.tick_count() < (slot + 1) * c.ticks_per_slot) {
      if (gate.enter(0) != bank::no_bank) gate.leave(0);
      (void)t.poll();
    }
    // The slot has ended: the gate was closed for it (the controller can open the next).
    bank::bank_index b;
    std::uint64_t s;
    EXPECT_FALSE(gate.open_bank(b, s)) << "slot " << slot;
    EXPECT_TRUE(gate.open(1, slot + 1)) << "slot " << slot;
  }
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_boundary_overflows), 0u);
}

// ---- rotation

namespace {

const crypto::pubkey A = filled_key(0xa), B = filled_key(0xb), X = filled_key(0xc);

// Groups of 4 slots from slot 0; 4 ticks per slot, so slot s is tick heights (4s, 4s + 4].
struct rotating_poh {
  std::vector<crypto::pubkey> groups;
  tpu::poh_tile_config config;
  util::spsc_ring<tpu::poh_entry_record> entries;
  bool slow_consumer = false;  // take one entry per poll: the held queue must cope
  util::spsc_ring<bank::slot_hash> hashes{64};
  util::spsc_ring<tpu::poh_reset> resets{4};
  std::atomic<std::uint64_t> arriving{0};
  // 1 + the highest slot the TVU saw a shred of: 1 (slot 0 seen) unless a test listens, so a
  // resumed tile leads without listening first (declared before `tile`: on_start reads it).
  std::atomic<std::uint64_t> seen{1};
  std::unique_ptr<tpu::poh_tile> tile;
  std::vector<tpu::poh_entry_record> out;

  rotating_poh(std::vector<crypto::pubkey> g, const crypto::hash32& start, std::uint64_t start_ticks,
               std::optional<std::uint64_t> parent, std::optional<std::uint64_t> produced = std::nullopt,
               std::size_t ring = 256, std::uint64_t seen_at_start = 1)
      : groups(std::move(g)), entries(ring), slow_consumer(ring < 16), seen(seen_at_start) {
    config.hashes_per_tick = 8;
    config.ticks_per_slot = 4;
    config.hashes_per_poll = 3;
    config.start_tick_height = start_ticks;
    tile = std::make_unique<tpu::poh_tile>("poh", start, config, std::vector<util::spsc_ring<tpu::poh_mixin>*>{},
                                           &entries, std::vector<util::spsc_ring<bank::slot_hash>*>{&hashes},
                                           nullptr);
    tile->connect_resets(&resets);
    tpu::poh_rotation r;
    r.timeline = epoch::leader_timeline({0, groups.size() * 4, 4, groups});
    r.identity = A;
    r.start_parent = parent;
    r.highest_produced = produced;
    r.arriving = &arriving;
    r.highest_seen = &seen;
    r.held_entries = 64;
    tile->connect_rotation(r);
    tile->on_start();
  }
  // Polls until PoH has made `ticks` ticks (a poll finishes at most one).
  void run_to(std::uint64_t ticks) {
    for (int i = 0; i < 1'000'000 && tile->tick_count() < ticks; ++i) step();
    ASSERT_EQ(tile->tick_count(), ticks);
  }
  void step() {
    (void)tile->poll();
    tpu::poh_entry_record e;
    while (entries.try_pop(e)) {
      out.push_back(e);
      if (slow_consumer) break;
    }
  }
  std::uint64_t counter(std::size_t c) const { return tile->own_counter(c); }
  // slot -> its records, in order
  std::map<std::uint64_t, std::vector<tpu::poh_entry_record>> blocks() const {
    std::map<std::uint64_t, std::vector<tpu::poh_entry_record>> b;
    for (const auto& e : out) b[e.slot].push_back(e);
    return b;
  }
};

std::vector<crypto::poh_entry> entries_of(const std::vector<tpu::poh_entry_record>& recs) {
  std::vector<crypto::poh_entry> v;
  for (const auto& r : recs) v.push_back(r.entry);
  return v;
}

}  // namespace

// B (slots 4-7) is down. A makes slots 0-3 on genesis, follows 4-7, and makes slot 8 on slot 3
// with the 16 ticks of the skipped slots first: 20 ticks, one chain from the start hash.
TEST(poh_tile, rotation_leads_its_slots_and_ticks_through_a_down_leader) {
  rotating_poh p({A, B, A, X}, crypto::hash32{}, 0, std::nullopt, std::nullopt, 4);
  p.run_to(48);  // through slot 11; slots 12-15 are X's, then no leader is known
  for (int i = 0; i < 200; ++i) p.step();  // the slow consumer catches up
  const auto blocks = p.blocks();
  ASSERT_EQ(blocks.size(), 8u) << "slots 0-3 and 8-11";
  for (const std::uint64_t s : {0u, 1u, 2u, 3u, 9u, 10u, 11u}) {
    ASSERT_TRUE(blocks.contains(s)) << s;
    EXPECT_EQ(blocks.at(s).size(), 4u) << s;
    EXPECT_EQ(blocks.at(s).back().tick_height, (s + 1) * 4) << s;
  }
  const auto& eight = blocks.at(8);
  ASSERT_EQ(eight.size(), 20u);  // (8 - 3) x 4
  EXPECT_EQ(eight.front().tick_height, 17u);
  EXPECT_EQ(eight.back().tick_height, 36u);
  for (const std::uint64_t s : {4u, 5u, 6u, 7u, 12u}) EXPECT_FALSE(blocks.contains(s)) << s;
  // Nothing lost on the way: the blocks in order are one unbroken chain.
  std::vector<crypto::poh_entry> chain;
  for (const auto& [slot, recs] : blocks)
    for (const auto& e : entries_of(recs)) chain.push_back(e);
  EXPECT_TRUE(crypto::verify_entries(crypto::hash32{}, chain));
  EXPECT_EQ(p.counter(tpu::poh_tile::c_slots_led), 8u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_slots_produced), 8u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_own_slots_skipped), 0u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_entries_dropped), 0u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_held_dropped), 0u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_leading), 0u);
  // Blockhashes: the start, then the end of each block made, nothing for slots of others.
  std::vector<std::uint64_t> hashed;
  bank::slot_hash h;
  while (p.hashes.try_pop(h)) hashed.push_back(h.slot);
  EXPECT_EQ(hashed, (std::vector<std::uint64_t>{0, 0, 1, 2, 3, 8, 9, 10, 11}));
}

// B's slot 4 is arriving when A's turn comes at slot 8: A waits (grace is min(2 slots,
// 4 slots / 2) = 8 ticks); replay resets PoH onto B's slot 7 after 3 of them, and A builds
// slot 8 on it at once.
TEST(poh_tile, rotation_waits_for_an_arriving_block_and_builds_on_it) {
  rotating_poh p({X, B, A, X}, crypto::hash32{}, 16, 3);
  p.arriving = 5;  // slot 4
  p.run_to(34);
  EXPECT_FALSE(p.tile->leading_slot().has_value());
  EXPECT_EQ(p.counter(tpu::poh_tile::c_grace_ticks), 3u);  // ticks 32, 33, 34
  crypto::hash32 seven{};
  seven.fill(0x77);
  ASSERT_TRUE(p.resets.try_push({seven, 32, 7}));
  p.arriving = 0;
  p.step();
  EXPECT_EQ(p.tile->leading_slot(), std::optional<std::uint64_t>(8));
  p.run_to(36);
  const auto blocks = p.blocks();
  ASSERT_EQ(blocks.size(), 1u);
  const auto& eight = blocks.at(8);
  ASSERT_EQ(eight.size(), 4u);  // on slot 7: one slot of ticks
  EXPECT_EQ(eight.front().tick_height, 33u);
  EXPECT_TRUE(crypto::verify_entries(seven, entries_of(eight)));
  EXPECT_EQ(p.counter(tpu::poh_tile::c_last_parent_distance), 1u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_resets), 1u);
}

// The same, but B's block never replays: after the 8 ticks of grace A leads slot 10 on
// slot 3, its slots 8 and 9 skipped.
TEST(poh_tile, rotation_grace_runs_out_and_builds_on_the_old_parent) {
  crypto::hash32 three{};
  three.fill(0x33);
  rotating_poh p({X, B, A, X}, three, 16, 3);
  p.arriving = 5;
  p.run_to(48);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_grace_ticks), 8u);  // ticks 32-39
  const auto blocks = p.blocks();
  ASSERT_EQ(blocks.size(), 2u);
  ASSERT_EQ(blocks.at(10).size(), 28u);  // (10 - 3) x 4
  EXPECT_EQ(blocks.at(10).front().tick_height, 17u);
  EXPECT_EQ(blocks.at(11).size(), 4u);
  std::vector<crypto::poh_entry> chain = entries_of(blocks.at(10));
  for (const auto& e : entries_of(blocks.at(11))) chain.push_back(e);
  EXPECT_TRUE(crypto::verify_entries(three, chain));
  EXPECT_EQ(p.counter(tpu::poh_tile::c_own_slots_skipped), 2u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_last_parent_distance), 1u);  // slot 11 on 10
}

// Replay moves the clock forward over A's slots 8-11 (a reset onto slot 11): they passed
// without A's block and are counted as skipped, once.
TEST(poh_tile, rotation_counts_own_slots_a_reset_jumped_over) {
  rotating_poh p({X, B, A, X}, crypto::hash32{}, 16, 3);
  p.run_to(20);
  crypto::hash32 eleven{};
  eleven.fill(0x11);
  ASSERT_TRUE(p.resets.try_push({eleven, 48, 11}));
  p.step();
  EXPECT_EQ(p.tile->tick_count(), 48u);
  p.run_to(56);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_own_slots_skipped), 4u);
  EXPECT_TRUE(p.blocks().empty());
}

// Restarted with slots 8 and 9 already in its ledger while replay put the chain on slot 7: A
// never makes 8 or 9 again; slot 10 goes on slot 7.
TEST(poh_tile, rotation_never_makes_a_slot_it_made_before) {
  rotating_poh p({X, X, A, X}, crypto::hash32{}, 32, 7, 9);
  p.run_to(48);
  const auto blocks = p.blocks();
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_FALSE(blocks.contains(8));
  EXPECT_FALSE(blocks.contains(9));
  EXPECT_EQ(blocks.at(10).size(), 12u);  // (10 - 7) x 4
  EXPECT_EQ(p.counter(tpu::poh_tile::c_own_slots_skipped), 0u);
}

// Resumed at its ledger's tip (slot 3) with nothing of the cluster seen: A's next slots (4-7)
// are its own, so nobody sends, and its clock may be far behind the cluster's. It listens for
// its longest run plus 2 slots of grace ((4 + 2) x 4 ticks, to tick 40), lets 4-7 go by and
// then leads its next run, 12-15, on its tip: nobody else was heard, nobody else is up.
TEST(poh_tile, rotation_resumed_listens_for_the_cluster_before_it_leads) {
  rotating_poh p({X, A, X, A}, crypto::hash32{}, 16, 3, std::nullopt, 256, 0);
  p.run_to(64);
  const auto blocks = p.blocks();
  ASSERT_EQ(blocks.size(), 4u);
  for (const std::uint64_t s : {4u, 5u, 6u, 7u}) EXPECT_FALSE(blocks.contains(s)) << s;
  ASSERT_TRUE(blocks.contains(12));
  EXPECT_EQ(blocks.at(12).size(), 36u);  // (12 - 3) x 4
  EXPECT_EQ(p.counter(tpu::poh_tile::c_listen_ticks), 15u);  // ticks 17-31 end in slots 4-7
  EXPECT_EQ(p.counter(tpu::poh_tile::c_own_slots_skipped), 4u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_slots_produced), 4u);
}

// The same start; a shred comes in while A listens. Of a slot below A's clock: the cluster is
// not ahead, A leads at once. Of a slot above it: A is behind and follows.
TEST(poh_tile, rotation_resumed_leads_once_it_hears_the_cluster_is_not_ahead) {
  rotating_poh heard({X, A, X, A}, crypto::hash32{}, 16, 3, std::nullopt, 256, 0);
  heard.run_to(22);
  EXPECT_FALSE(heard.tile->leading_slot().has_value());
  heard.seen = 1 + 3;  // slot 3
  heard.run_to(23);
  EXPECT_EQ(heard.tile->leading_slot(), std::optional<std::uint64_t>(5));
  EXPECT_EQ(heard.counter(tpu::poh_tile::c_listen_ticks), 6u);  // ticks 17-22

  rotating_poh behind({X, A, X, A}, crypto::hash32{}, 16, 3, std::nullopt, 256, 1 + 40);  // far ahead
  behind.run_to(64);
  EXPECT_TRUE(behind.blocks().empty());
  EXPECT_EQ(behind.counter(tpu::poh_tile::c_listen_ticks), 0u);
}

// A reset that comes while the node makes its blocks waits until the last of them is done.
TEST(poh_tile, rotation_resets_wait_for_the_blocks_in_progress) {
  rotating_poh p({A, X, X, X}, crypto::hash32{}, 0, std::nullopt);
  p.run_to(2);
  ASSERT_EQ(p.tile->leading_slot(), std::optional<std::uint64_t>(0));
  crypto::hash32 five{};
  five.fill(0x55);
  ASSERT_TRUE(p.resets.try_push({five, 24, 5}));
  p.run_to(16);  // slots 0-3, all ours
  EXPECT_EQ(p.counter(tpu::poh_tile::c_resets), 0u);
  EXPECT_EQ(p.blocks().size(), 4u);
  p.step();
  EXPECT_EQ(p.counter(tpu::poh_tile::c_resets), 1u);
  EXPECT_EQ(p.tile->tick_count(), 24u);  // the clock moved to slot 5's end
  // Until fork choice decides, the parent never moves back.
  ASSERT_TRUE(p.resets.try_push({five, 16, 3}));
  p.step();
  EXPECT_EQ(p.counter(tpu::poh_tile::c_resets), 1u);
  EXPECT_EQ(p.counter(tpu::poh_tile::c_resets_stale), 1u);  // stale, not a drop
  EXPECT_EQ(p.counter(tpu::poh_tile::c_resets_refused), 0u);
}

TEST(poh_tile, rotation_is_refused_with_a_small_held_queue_or_a_misplaced_start) {
  tpu::poh_tile_config c;
  c.ticks_per_slot = 4;
  util::spsc_ring<tpu::poh_entry_record> entries(8);
  const std::vector<crypto::pubkey> groups{A};
  tpu::poh_rotation r;
  r.timeline = epoch::leader_timeline({0, 4, 4, groups});
  r.held_entries = 7;
  tpu::poh_tile small("poh", crypto::hash32{}, c, nullptr, &entries);
  EXPECT_THROW(small.connect_rotation(r), std::invalid_argument);
  r.held_entries = 8;
  tpu::poh_tile rotating("poh", crypto::hash32{}, c, nullptr, &entries);
  EXPECT_NO_THROW(rotating.connect_rotation(r));
  r.start_parent = 2;  // the chain starts at tick 0, not at slot 2's end (12)
  tpu::poh_tile misplaced("poh", crypto::hash32{}, c, nullptr, &entries);
  EXPECT_THROW(misplaced.connect_rotation(r), std::invalid_argument);
}

// A rotating validator's bank tiles: the test plays the ledger tile (opens the gate for a
// block at its first entry, open_block) and a bank tile (while the gate is open: enter, one
// mixin naming the bank's slot, leave). Every mixin lands in the block of its bank, the gate
// is closed at each block's end and stays closed while another validator leads, and a reset
// while following is taken with the gate connected.
TEST(poh_tile, rotation_with_a_gate_opens_and_closes_only_its_own_blocks) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 16;
  c.ticks_per_slot = 4;
  c.hashes_per_poll = 3;
  util::spsc_ring<tpu::poh_mixin> mixins(8);
  util::spsc_ring<tpu::poh_entry_record> entries(256);
  util::spsc_ring<tpu::poh_reset> resets(4);
  tpu::poh_tile t("poh", crypto::hash32{}, c, &mixins, &entries);
  tpu::bank_gate gate(1, 0);
  t.connect_gate(&gate, 2);
  t.connect_resets(&resets);
  const std::vector<crypto::pubkey> groups{A, X, A, X};
  tpu::poh_rotation r;
  r.timeline = epoch::leader_timeline({0, 16, 4, groups});
  r.identity = A;
  r.held_entries = 64;
  t.connect_rotation(r);
  t.on_start();
  std::vector<tpu::poh_entry_record> out;
  std::optional<std::uint64_t> opened;  // the block the "ledger tile" opened last
  std::uint64_t entered_following = 0, sent = 0;
  for (int i = 0; i < 400'000 && t.tick_count() < 64; ++i) {
    (void)t.poll();
    tpu::poh_entry_record e;
    while (entries.try_pop(e)) {
      out.push_back(e);
      if (!opened || *opened != e.slot) {
        if (gate.open_block(static_cast<bank::bank_index>(e.slot), e.slot)) opened = e.slot;
      }
    }
    const bank::bank_index b = gate.enter(0);
    if (b != bank::no_bank) {
      const std::uint64_t now = t.tick_count() / 4;
      if ((now >= 4 && now < 8) || now >= 12) ++entered_following;
      if (mixins.try_push({crypto::hash32{}, b})) ++sent;
      gate.leave(0);
    }
    if (t.tick_count() == 6 && resets.empty_approx() && t.own_counter(tpu::poh_tile::c_resets) == 0) {
      crypto::hash32 h{};
      h.fill(0x44);
      // X's block 7 replayed (waits for A's blocks 0-3 to end): the clock moves to slot 8.
      ASSERT_TRUE(resets.try_push({h, 32, 7}));
    }
  }
  ASSERT_GE(t.tick_count(), 64u);
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_resets), 1u);
  EXPECT_EQ(entered_following, 0u);
  EXPECT_GT(sent, 0u);
  std::uint64_t recorded = 0;
  std::set<std::uint64_t> block_slots;
  for (const auto& e : out) {
    block_slots.insert(e.slot);
    if (e.is_tick) continue;
    ++recorded;
    EXPECT_EQ(e.mixin_id, e.slot) << "a mixin of bank " << e.mixin_id << " recorded in block " << e.slot;
  }
  EXPECT_EQ(recorded, sent);
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_mixins_dropped), 0u);
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_boundary_overflows), 0u);
  EXPECT_EQ(block_slots, (std::set<std::uint64_t>{0, 1, 2, 3, 8, 9, 10, 11}));
  // Following through slots 12-15 left the gate as block 11 closed it: a block of ours that
  // began late in slot 15 (after a grace) could still open there.
  EXPECT_TRUE(gate.open_block(99, 15));
}

// While following, no bank of ours is open: a mixin is dropped and counted, never recorded
// into ticks that may become a block.
TEST(poh_tile, rotation_drops_mixins_while_following) {
  tpu::poh_tile_config c;
  c.hashes_per_tick = 8;
  c.ticks_per_slot = 4;
  util::spsc_ring<tpu::poh_mixin> mixins(4);
  util::spsc_ring<tpu::poh_entry_record> entries(64);
  const std::vector<crypto::pubkey> groups{X, A};
  tpu::poh_rotation r;
  r.timeline = epoch::leader_timeline({0, 8, 4, groups});
  r.identity = A;
  r.held_entries = 64;
  tpu::poh_tile t("poh", crypto::hash32{}, c, &mixins, &entries);
  t.connect_rotation(r);
  t.on_start();
  ASSERT_TRUE(mixins.try_push({crypto::hash32{}, 1}));
  (void)t.poll();
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_mixins_dropped), 1u);
  EXPECT_EQ(t.own_counter(tpu::poh_tile::c_mixins), 0u);
}
