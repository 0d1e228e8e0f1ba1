#include <riptide/tpu/poh_tile.hpp>

#include <gtest/gtest.h>

#include <vector>

using namespace riptide;

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
