#include <riptide/tpu/ledger_tile.hpp>

#include "../support/temp_dir.hpp"
#include "../support/small_forks.hpp"

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/txn/transaction.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

using namespace riptide;

namespace {

constexpr std::uint64_t ticks_per_slot = 4;

struct fixture {
  riptide::testing::temp_dir dir{"riptide-ledger-tile"};
  ledger::ledger lg;
  util::spsc_ring<tpu::poh_entry_record> ring{1024};
  tpu::microblock_store store{4, 8192};
  bank::tx_status_cache statuses{64};
  bank::chain_board board;
  crypto::hash32 blockhash = [] {
    crypto::hash32 h;
    h.fill(0x42);
    return h;
  }();
  bank::bank_forks forks{riptide::testing::small_forks_config(5000), blockhash};
  tpu::bank_gate gate{1, 0};
  std::vector<crypto::keypair> keys;
  std::uint64_t tick_height = 0;
  std::uint8_t next_hash = 1;

  fixture() : lg(ledger::ledger::open({dir.path() / "lg", 1 << 20, false})) {
    for (int i = 0; i < 3; ++i) {
      keys.push_back(crypto::keypair::generate());
      EXPECT_TRUE(forks.credit(keys.back().public_key(), 1'000'000));
    }
  }

  tpu::ledger_tile_config config() {
    tpu::ledger_tile_config c;
    c.ticks_per_slot = ticks_per_slot;
    c.hashes_per_tick = 10;
    c.start_state.lamports_per_signature = 7;
    c.start_state.accounts = {{crypto::pubkey{1}, 100}, {crypto::pubkey{2}, 200}};
    c.banks = {&store};
    c.statuses = &statuses;
    c.board = &board;
    c.forks = &forks;
    c.gate = &gate;
    c.max_microblock_tx_bytes = 8192;
    c.leader.fill(0x1D);
    return c;
  }

  crypto::hash32 fresh_hash() {
    crypto::hash32 h{};
    h.fill(next_hash++);
    return h;
  }

  // A config for a node without bank tiles.
  tpu::ledger_tile_config bankless() {
    auto c = config();
    c.banks = {};
    c.forks = nullptr;
    c.gate = nullptr;
    return c;
  }

  // The bank the gate has open (the ledger tile opened it).
  bank::bank_index open_bank() {
    bank::bank_index b = bank::no_bank;
    std::uint64_t slot = 0;
    EXPECT_TRUE(gate.open_bank(b, slot));
    return b;
  }

  // The bank hash of a slot whose bank changed `changed` accounts (now at these balances).
  crypto::hash32 expected_hash(std::vector<crypto::pubkey> changed, bank::bank_index b, const crypto::hash32& last) {
    std::sort(changed.begin(), changed.end());
    txn::bank_hasher h(changed.size());
    for (const auto& k : changed) h.add(k, forks.balance(b, k));
    return h.finish(last);
  }

  // Executes n transfers in the open bank, stores them in one microblock, and returns its
  // mixin id and the signatures' mixin.
  std::pair<std::uint64_t, crypto::hash32> microblock(int n, std::vector<crypto::signature>& sigs) {
    const bank::bank_index b = open_bank();
    std::vector<crypto::signature> mine;
    for (int i = 0; i < n; ++i) {
      std::array<std::uint8_t, 512> buf{};
      const std::size_t len = txn::build_transfer(keys[i % 3], keys[(i + 1) % 3].public_key(),
                                                  100 + i, blockhash, buf);
      txn::transaction_view tx;
      EXPECT_EQ(txn::parse_transaction({buf.data(), len}, tx), txn::parse_error::none);
      txn::execution_counters counters;
      txn::held_locks held;
      EXPECT_TRUE(forks.try_lock(tx, held));
      const auto result = forks.execute(b, tx, counters);
      forks.unlock(held);
      EXPECT_EQ(result, txn::tx_result::ok);
      EXPECT_TRUE(store.add({buf.data(), len}, static_cast<std::uint8_t>(result)));
      crypto::signature s;
      std::memcpy(s.data(), buf.data() + 1, 64);
      mine.push_back(s);
      sigs.push_back(s);
    }
    const std::uint64_t seq = store.publish();
    return {tpu::make_mixin_id(0, seq), crypto::entry_mixin(mine)};
  }

  static std::uint64_t previous(std::uint64_t slot) { return slot == 0 ? 0 : slot - 1; }

  void push_mixin_entry(std::uint64_t slot, std::uint64_t id, const crypto::hash32& mixin) {
    tpu::poh_entry_record r{};
    r.parent = previous(slot);
    r.entry.num_hashes = 3;
    r.entry.hash = fresh_hash();
    r.entry.has_mixin = true;
    r.entry.mixin = mixin;
    r.slot = slot;
    r.tick_height = tick_height;
    r.mixin_id = id;
    r.is_tick = false;
    ASSERT_TRUE(ring.try_push(r));
  }
  // A tick of `slot`'s block, on `parent` (default: the slot before).
  crypto::hash32 push_tick(std::uint64_t slot, std::optional<std::uint64_t> parent = std::nullopt) {
    tpu::poh_entry_record r{};
    r.parent = parent.value_or(previous(slot));
    r.entry.num_hashes = 10;
    r.entry.hash = fresh_hash();
    r.slot = slot;
    r.tick_height = ++tick_height;
    r.mixin_id = ~std::uint64_t{0};
    r.is_tick = true;
    EXPECT_TRUE(ring.try_push(r));
    return r.entry.hash;
  }
};

void drain(tpu::ledger_tile& t, util::spsc_ring<tpu::poh_entry_record>& ring) {
  while (!ring.empty_approx()) (void)t.poll();
}

bool wait_durable(const bank::chain_board& board, std::uint64_t slot) {
  for (int i = 0; i < 2000; ++i) {
    const auto s = board.read();
    if (s.has_durable_slot && s.durable_slot >= slot) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(ledger_tile, writes_txs_statuses_bank_hash_and_syncs_off_thread) {
  fixture f;
  tpu::ledger_tile t("ledger", f.lg, f.config(), f.ring);
  t.on_start();
  std::vector<crypto::signature> sigs;
  // Slot 0: two microblocks, then its ticks.
  auto [id0, mix0] = f.microblock(3, sigs);
  f.push_mixin_entry(0, id0, mix0);
  f.push_tick(0);
  auto [id1, mix1] = f.microblock(2, sigs);
  f.push_mixin_entry(0, id1, mix1);
  crypto::hash32 last{};
  for (std::uint64_t i = 1; i < ticks_per_slot; ++i) last = f.push_tick(0);
  const bank::bank_index bank0 = f.open_bank();
  f.gate.close(0);  // as PoH does before a slot's last tick
  const crypto::hash32 expected =
      f.expected_hash({f.keys[0].public_key(), f.keys[1].public_key(), f.keys[2].public_key()}, bank0, last);
  drain(t, f.ring);
  // Slot 0's bank is frozen with that hash, named by its last PoH hash, rooted; slot 1's is open.
  EXPECT_EQ(f.forks.root(), bank0);
  EXPECT_EQ(f.forks.info(bank0).bank_hash, expected);
  EXPECT_EQ(f.forks.find(last), bank0);
  EXPECT_EQ(f.forks.info(bank0).landed, 5u);
  bank::bank_index b1 = bank::no_bank;
  std::uint64_t s1 = 0;
  ASSERT_TRUE(f.gate.open_bank(b1, s1));
  EXPECT_EQ(s1, 1u);
  EXPECT_EQ(f.forks.info(b1).parent, bank0);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_banks_opened), 2u);
  ASSERT_TRUE(wait_durable(f.board, 0));
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_durable_slot), 0u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_txs), 5u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_failed_txs), 0u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_bank_errors), 0u);
  EXPECT_EQ(f.store.released(), 2u);
  for (const auto& s : sigs) {
    const auto st = f.statuses.find(s);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->slot, 0u);
    EXPECT_EQ(st->result, 0);
  }
  // Slot 1: ticks only (an empty slot still gets a bank hash).
  f.gate.close(1);
  for (std::uint64_t i = 0; i < ticks_per_slot; ++i) last = f.push_tick(1);
  drain(t, f.ring);
  const crypto::hash32 expected1 = txn::bank_hasher(0).finish(last);
  ASSERT_TRUE(wait_durable(f.board, 1));
  t.on_stop();

  // Read it back.
  std::vector<ledger::decoded_entry> entries;
  std::vector<ledger::slot_meta> metas;
  std::vector<ledger::record_type> types;
  ledger::start_state state;
  f.lg.for_each([&](const ledger::record_view& v) {
    types.push_back(v.type);
    if (v.type == ledger::record_type::entry_batch) {
      ASSERT_EQ(ledger::decode_batch(v.payload, entries), ledger::entry_error::none);
    } else if (v.type == ledger::record_type::start_state) {
      ASSERT_EQ(ledger::decode_start_state(v.payload, state), ledger::entry_error::none);
    } else {
      ledger::slot_meta m;
      ASSERT_EQ(ledger::decode_meta(v.payload, m), ledger::entry_error::none);
      metas.push_back(m);
    }
  });
  ASSERT_EQ(metas.size(), 3u);
  EXPECT_EQ(metas[0].kind, ledger::meta_kind::chain_start);
  // The start state follows the chain start, as configured.
  ASSERT_GE(types.size(), 2u);
  EXPECT_EQ(types[1], ledger::record_type::start_state);
  EXPECT_EQ(state, f.config().start_state);
  EXPECT_EQ(metas[1].bank_hash, expected);
  EXPECT_EQ(metas[2].bank_hash, expected1);
  // Each slot end names this node and the slot before it; the newest slot is the root, and
  // the sync that made it durable carried the root too.
  EXPECT_EQ(metas[1].leader, f.config().leader);
  EXPECT_EQ(metas[2].leader, f.config().leader);
  EXPECT_EQ(metas[1].parent_slot, 0u);
  EXPECT_EQ(metas[2].parent_slot, 0u);
  EXPECT_EQ(f.lg.root(), 1u);
  EXPECT_EQ(f.lg.durable_root(), 1u);
  ASSERT_EQ(entries.size(), 2 + 2 * ticks_per_slot);
  EXPECT_EQ(entries[0].tx_count, 3u);
  EXPECT_EQ(entries[2].tx_count, 2u);
  // The mixin is checkable from the stored bodies.
  std::vector<crypto::signature> stored;
  for (const auto& e : entries) {
    if (!e.entry.has_mixin) continue;
    std::vector<crypto::signature> own;
    ledger::tx_reader r(e);
    ledger::entry_tx tx;
    while (r.next(tx)) {
      crypto::signature s;
      std::memcpy(s.data(), tx.body.data() + 1, 64);
      own.push_back(s);
      stored.push_back(s);
    }
    EXPECT_EQ(crypto::entry_mixin(own), e.entry.mixin);
  }
  EXPECT_EQ(stored, sigs);
  EXPECT_EQ(f.lg.durable_records(), f.lg.stats().records);
}

TEST(ledger_tile, bad_mixin_id_is_counted_and_written_without_txs) {
  fixture f;
  tpu::ledger_tile t("ledger", f.lg, f.config(), f.ring);
  t.on_start();
  f.push_mixin_entry(0, tpu::make_mixin_id(7, 0), f.fresh_hash());
  for (std::uint64_t i = 0; i < ticks_per_slot; ++i) f.push_tick(0);
  drain(t, f.ring);
  t.on_stop();
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_bad_mixin_ids), 1u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_txs), 0u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_entries), 1 + ticks_per_slot);
}

TEST(ledger_tile, a_slot_poh_passed_before_its_bank_opened_stays_empty) {
  fixture f;
  tpu::ledger_tile t("ledger", f.lg, f.config(), f.ring);
  t.on_start();
  std::vector<crypto::signature> sigs;
  auto [id, mix] = f.microblock(1, sigs);
  f.push_mixin_entry(0, id, mix);
  for (std::uint64_t i = 0; i < ticks_per_slot; ++i) f.push_tick(0);
  // PoH finished slot 0 and closed the gate for slot 1's end before the ledger tile got to
  // slot 0's end: slot 1's bank is made but never opened.
  f.gate.close(0);
  f.gate.close(1);
  crypto::hash32 last{};
  for (std::uint64_t i = 0; i < ticks_per_slot; ++i) last = f.push_tick(1);
  drain(t, f.ring);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_banks_opened), 2u);  // slot 0, then slot 2
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_bank_errors), 0u);
  const bank::bank_index one = f.forks.find(last);
  ASSERT_NE(one, bank::no_bank);
  EXPECT_EQ(f.forks.info(one).bank_hash, txn::bank_hasher(0).finish(last));  // empty
  EXPECT_EQ(f.forks.root(), one);
  bank::bank_index b = bank::no_bank;
  std::uint64_t slot = 0;
  ASSERT_TRUE(f.gate.open_bank(b, slot));
  EXPECT_EQ(slot, 2u);
  t.on_stop();
}

TEST(ledger_tile, bank_stores_need_forks_and_a_gate) {
  fixture f;
  auto c = f.config();
  c.forks = nullptr;
  EXPECT_THROW(tpu::ledger_tile("ledger", f.lg, c, f.ring), std::invalid_argument);
  c = f.config();
  c.gate = nullptr;
  c.banks = {};
  EXPECT_THROW(tpu::ledger_tile("ledger", f.lg, c, f.ring), std::invalid_argument);
}

TEST(ledger_tile, refuses_a_used_ledger_unless_resuming) {
  fixture f;
  {
    tpu::ledger_tile t("ledger", f.lg, f.bankless(), f.ring);
    t.on_start();
    t.on_stop();
  }
  EXPECT_THROW(tpu::ledger_tile("ledger", f.lg, f.bankless(), f.ring), std::runtime_error);
  auto c = f.bankless();
  c.resume = true;
  const auto before = f.lg.stats().records;
  tpu::ledger_tile t("ledger", f.lg, c, f.ring);
  t.on_start();
  t.on_stop();
  EXPECT_EQ(f.lg.stats().records, before);  // no second chain start
}

TEST(ledger_tile, a_resumed_chain_builds_on_the_ledgers_last_slot) {
  fixture f;
  {
    tpu::ledger_tile t("ledger", f.lg, f.bankless(), f.ring);
    t.on_start();
    for (std::uint64_t slot = 0; slot < 2; ++slot)
      for (std::uint64_t i = 0; i < ticks_per_slot; ++i) f.push_tick(slot);
    drain(t, f.ring);
    t.on_stop();
  }
  EXPECT_EQ(f.lg.durable_root(), 1u);
  auto c = f.bankless();
  c.resume = true;
  tpu::ledger_tile t("ledger", f.lg, c, f.ring);
  t.on_start();
  // Slot 2 is not in the ledger (no block of it was made here): slot 3 builds on slot 1 and
  // carries slot 2's ticks too.
  for (std::uint64_t i = 0; i < 2 * ticks_per_slot; ++i) f.push_tick(3, 1);
  drain(t, f.ring);
  t.on_stop();
  ledger::slot_meta end;
  f.lg.for_each_in_slot(3, [&](const ledger::record_view& v) {
    if (v.type == ledger::record_type::slot_meta) {
      ASSERT_EQ(ledger::decode_meta(v.payload, end), ledger::entry_error::none);
    }
  });
  EXPECT_EQ(end.kind, ledger::meta_kind::slot_end);
  EXPECT_EQ(end.parent_slot, 1u);
  EXPECT_EQ(f.lg.root(), 3u);
  EXPECT_EQ(f.lg.durable_root(), 3u);  // on_stop's final sync carried it
}

}  // namespace

// A rotating PoH's block for slot 3 on slot 0 carries the ticks of skipped slots 1 and 2,
// all labelled slot 3: the block ends only at tick 16, its slot end names slot 0 as parent,
// and every record handed over says so (the shred tile puts it in the shreds). The parent
// is PoH's, not the ledger's previous block: slot 6 builds on a slot 4 made elsewhere.
TEST(ledger_tile, a_block_after_skipped_slots_ends_at_its_own_last_tick) {
  fixture f;
  util::spsc_ring<tpu::ledger_record_ref> refs(64);
  auto c = f.bankless();
  c.records_out = &refs;
  tpu::ledger_tile t("ledger", f.lg, c, f.ring);
  t.on_start();
  for (std::uint64_t k = 0; k < ticks_per_slot; ++k) (void)f.push_tick(0);
  for (std::uint64_t k = 0; k < 3 * ticks_per_slot; ++k) (void)f.push_tick(3, 0);
  // Then PoH was reset onto another leader's slot 4 (not in this ledger): slot 6 on it.
  f.tick_height = 5 * ticks_per_slot;
  for (std::uint64_t k = 0; k < 2 * ticks_per_slot; ++k) (void)f.push_tick(6, 4);
  drain(t, f.ring);
  t.on_stop();
  std::vector<tpu::ledger_record_ref> got;
  tpu::ledger_record_ref r;
  while (refs.try_pop(r)) got.push_back(r);
  std::vector<std::uint64_t> ends;
  for (const auto& g : got) {
    if (g.slot_end != 0) ends.push_back(g.slot);
    if (g.slot == 3) {
      EXPECT_EQ(g.parent, 0u);
    }
    if (g.slot == 6) {
      EXPECT_EQ(g.parent, 4u);
    }
  }
  EXPECT_EQ(ends, (std::vector<std::uint64_t>{0, 3, 6}));
  const auto end_of = [&](std::uint64_t slot) {
    ledger::slot_meta end;
    f.lg.for_each_in_slot(slot, [&](const ledger::record_view& v) {
      if (v.type == ledger::record_type::slot_meta) {
        EXPECT_EQ(ledger::decode_meta(v.payload, end), ledger::entry_error::none);
      }
    });
    EXPECT_EQ(end.kind, ledger::meta_kind::slot_end) << slot;
    return end;
  };
  EXPECT_EQ(end_of(3).parent_slot, 0u);
  EXPECT_EQ(end_of(3).tick_height, 16u);
  EXPECT_EQ(end_of(6).parent_slot, 4u);
  EXPECT_EQ(end_of(6).tick_height, 28u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_slots), 3u);
}

// A rotating validator's own blocks: a block's bank opens at its first entry, a child of
// the block this tile froze last or of the root replay keeps at the chain's end; the block's
// bank is frozen and named at its end but not rooted, and nothing opens until the next block
// of ours. A block whose parent is no bank here gets ticks only (a bank error).
TEST(ledger_tile, rotation_opens_each_block_on_its_parent_and_roots_nothing) {
  fixture f;
  auto c = f.config();
  c.rotation = true;
  c.board = nullptr;
  tpu::ledger_tile t("ledger", f.lg, c, f.ring);
  t.on_start();
  const bank::bank_index genesis = f.forks.root();
  bank::bank_index b = bank::no_bank;
  std::uint64_t slot = 0;
  EXPECT_FALSE(f.gate.open_bank(b, slot));  // nothing before our first block
  EXPECT_FALSE(t.in_block());
  // Block 0: its first tick opens its bank; a microblock executes in it; PoH closes it.
  (void)f.push_tick(0);
  drain(t, f.ring);
  EXPECT_TRUE(t.in_block());
  const bank::bank_index bank0 = f.open_bank();
  EXPECT_EQ(f.forks.info(bank0).parent, genesis);
  std::vector<crypto::signature> sigs;
  auto [id0, mix0] = f.microblock(2, sigs);
  f.push_mixin_entry(0, id0, mix0);
  crypto::hash32 last{};
  for (std::uint64_t i = 1; i < ticks_per_slot; ++i) last = f.push_tick(0);
  f.gate.close(0);
  drain(t, f.ring);
  EXPECT_FALSE(t.in_block());
  EXPECT_EQ(f.forks.find(last), bank0);
  EXPECT_TRUE(f.forks.info(bank0).frozen);
  EXPECT_EQ(f.forks.root(), genesis);  // replay roots the chain, not this tile
  EXPECT_FALSE(f.gate.open_bank(b, slot));
  // Block 3 on our block 0 (slots 1-2 skipped): a child of bank 0.
  f.tick_height = ticks_per_slot;
  for (std::uint64_t i = 0; i < 3 * ticks_per_slot; ++i) last = f.push_tick(3, 0);
  drain(t, f.ring);  // the gate stays open: PoH has not closed it
  const bank::bank_index bank3 = f.open_bank();
  EXPECT_EQ(f.forks.info(bank3).parent, bank0);
  EXPECT_EQ(f.forks.info(bank3).slot, 3u);
  f.gate.close(3);
  ASSERT_TRUE(f.ring.empty_approx());
  // Replay stored block 3 and another leader's block 4 on it, and rooted 4.
  const bank::bank_index four = f.forks.new_bank(f.forks.find(last), 4, f.fresh_hash());
  ASSERT_NE(four, bank::no_bank);
  crypto::hash32 bank_hash{};
  const crypto::hash32 four_last = f.fresh_hash();
  ASSERT_TRUE(f.forks.freeze(four, four_last, 5 * ticks_per_slot, bank_hash));
  ASSERT_TRUE(f.forks.set_block_id(four, four_last));
  ASSERT_TRUE(f.forks.set_root(four));
  // Block 6 on 4: a child of the root.
  f.tick_height = 5 * ticks_per_slot;
  (void)f.push_tick(6, 4);
  drain(t, f.ring);
  const bank::bank_index bank6 = f.open_bank();
  EXPECT_EQ(f.forks.info(bank6).parent, f.forks.root());
  for (std::uint64_t i = 1; i < 2 * ticks_per_slot; ++i) last = f.push_tick(6, 4);
  f.gate.close(6);
  drain(t, f.ring);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_bank_errors), 0u);
  // Block 9 on 8, a block this node never held: ticks only, its slot end says nothing changed.
  f.tick_height = 9 * ticks_per_slot;  // slot 8's end
  for (std::uint64_t i = 0; i < ticks_per_slot; ++i) last = f.push_tick(9, 8);
  drain(t, f.ring);
  EXPECT_FALSE(f.gate.open_bank(b, slot));
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_bank_errors), 1u);
  ledger::slot_meta end;
  int ends = 0;
  f.lg.for_each_in_slot(9, [&](const ledger::record_view& v) {
    if (v.type == ledger::record_type::slot_meta) {
      EXPECT_EQ(ledger::decode_meta(v.payload, end), ledger::entry_error::none);
      ++ends;
    }
  });
  ASSERT_EQ(ends, 1);
  EXPECT_EQ(end.kind, ledger::meta_kind::slot_end);
  EXPECT_EQ(end.bank_hash, txn::bank_hasher(0).finish(last));
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_banks_opened), 3u);
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_txs), 2u);
  t.on_stop();
}

// The shred tile's view: every appended record arrives on records_out in order, and its bytes
// read from another thread (ledger::encoded_at) are the record as written; a small ring makes
// the tile wait for room instead of leaving a record out. Run under ThreadSanitizer too.
TEST(ledger_tile, records_out_hands_every_record_to_another_thread) {
  fixture f;
  util::spsc_ring<tpu::ledger_record_ref> refs(8);
  auto c = f.config();
  c = f.bankless();
  c.records_out = &refs;
  tpu::ledger_tile t("ledger", f.lg, c, f.ring);
  t.on_start();
  constexpr std::uint64_t slots = 40;
  std::atomic<bool> done{false}, tile_done{false};
  std::uint64_t seen = 0, slot_ends = 0, bad = 0, last_slot = 0;
  std::thread consumer([&] {
    for (;;) {
      tpu::ledger_record_ref r;
      if (!refs.try_pop(r)) {
        if (tile_done.load(std::memory_order_acquire) && refs.empty_approx()) return;
        std::this_thread::yield();
        continue;
      }
      ledger::record_view v;
      const auto bytes = f.lg.encoded_at(r.position, r.bytes);
      if (ledger::parse_record(bytes, v) != ledger::record_error::none || v.size != r.bytes ||
          v.slot != r.slot || static_cast<std::uint16_t>(v.type) != r.type || r.slot < last_slot)
        ++bad;
      if (r.slot_end != 0) {
        ++slot_ends;
        if (v.type != ledger::record_type::slot_meta) ++bad;
      }
      last_slot = r.slot;
      ++seen;
    }
  });
  std::thread tile([&] {
    while (!done.load(std::memory_order_acquire) || !f.ring.empty_approx()) (void)t.poll();
    tile_done.store(true, std::memory_order_release);
  });
  for (std::uint64_t s = 0; s < slots; ++s)
    for (std::uint64_t k = 0; k < ticks_per_slot; ++k) {
      while (f.ring.free_approx() == 0) std::this_thread::yield();
      (void)f.push_tick(s);
    }
  while (!f.ring.empty_approx()) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  tile.join();
  consumer.join();
  t.on_stop();
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(slot_ends, slots);
  EXPECT_EQ(seen, f.lg.stats().records);  // chain start, start state, then batches and slot ends
  EXPECT_EQ(t.own_counter(tpu::ledger_tile::c_records_out_dropped), 0u);
}
