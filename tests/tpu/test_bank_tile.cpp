#include <riptide/tpu/bank_tile.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <riptide/crypto/poh.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/txn/transaction.hpp>

using namespace riptide;

namespace {

constexpr std::uint64_t fee = 5000;
constexpr std::size_t max_txs = 8;

// Fixed keys, so which accounts share a lock stripe never changes from run to run.
crypto::keypair key(std::uint32_t i) {
  crypto::seckey secret{};
  secret[0] = 0x11;
  secret[28] = static_cast<std::uint8_t>(i >> 24);
  secret[29] = static_cast<std::uint8_t>(i >> 16);
  secret[30] = static_cast<std::uint8_t>(i >> 8);
  secret[31] = static_cast<std::uint8_t>(i);
  return crypto::keypair::from_secret(secret);
}

bank::forks_config forks_cfg(std::size_t stripes) {
  bank::forks_config c;
  c.max_accounts = 1 << 12;
  c.max_banks = 8;
  c.max_versions = 1 << 12;
  c.max_statuses = 1 << 12;
  c.lock_stripes = stripes;
  c.lamports_per_signature = fee;
  return c;
}

bank::block_id id_of(std::uint64_t n) {
  bank::block_id id{};
  id[0] = 0xB0;
  id[1] = static_cast<std::uint8_t>(n);
  id[2] = static_cast<std::uint8_t>(n >> 8);
  return id;
}

// A bank tile with everything around it: frames holding signed transfers, the rings, a
// store, bank forks whose payers are funded, and a gate (4 tiles: this one is index 3).
// open() makes slot 0's bank and opens the gate on it.
struct rig {
  crypto::hash32 recent{};  // the chain start: the root's blockhash
  bank::bank_forks forks{forks_cfg(1 << 16), [] {
    crypto::hash32 h{};
    h[0] = 0x42;
    return h;
  }()};
  tpu::bank_gate gate{4, 0};
  bank::bank_index bank0 = bank::no_bank;
  util::frame_pool frames{256};
  std::uint32_t next_frame = 0;
  std::uint16_t last_len = 0;  // of the last send()
  util::spsc_ring<util::frag_desc> in{256}, release{256};
  util::spsc_ring<tpu::poh_mixin> mixins{16};
  tpu::microblock_store store{8, max_txs * (txn::max_transaction_bytes + 3)};
  std::unique_ptr<tpu::bank_tile> tile;

  explicit rig(std::size_t retry_slots = 64) {
    recent[0] = 0x42;
    tpu::bank_tile_config c;
    c.index = 3;
    c.max_txs_per_microblock = max_txs;
    c.retry_slots = retry_slots;
    c.max_pending = 4;
    tile = std::make_unique<tpu::bank_tile>("bank", forks, gate, frames, in, &release, mixins, store, c);
  }
  void credit(const crypto::keypair& k, std::uint64_t lamports) { EXPECT_TRUE(forks.credit(k.public_key(), lamports)); }
  void open() {
    bank0 = forks.new_bank(forks.root(), 0, id_of(0));
    ASSERT_NE(bank0, bank::no_bank);
    ASSERT_TRUE(gate.open(bank0, 0));
  }
  std::uint64_t balance(const crypto::pubkey& k) const { return forks.balance(bank0, k); }
  // Whether a transaction locking `from` and `to` could take its locks now (left unlocked).
  bool lockable(const crypto::keypair& from, const crypto::pubkey& to) {
    std::array<std::uint8_t, txn::max_transaction_bytes> body{};
    const std::size_t len = txn::build_transfer(from, to, 1, recent, body);
    txn::transaction_view v;
    EXPECT_EQ(txn::parse_transaction(std::span(body.data(), len), v), txn::parse_error::none);
    txn::held_locks held;
    if (!forks.try_lock(v, held)) return false;
    forks.unlock(held);
    return true;
  }
  // Writes a transfer into the next frame and queues it.
  crypto::signature send(const crypto::keypair& from, const crypto::pubkey& to,
                         std::uint64_t lamports, const crypto::hash32* blockhash = nullptr) {
    const std::uint32_t f = next_frame++;
    auto bytes = frames.frame(f);
    const std::size_t len =
        txn::build_transfer(from, to, lamports, blockhash ? *blockhash : recent, bytes);
    last_len = static_cast<std::uint16_t>(len);
    EXPECT_TRUE(in.try_push(util::frag_desc{f, last_len, 0, 0}));
    crypto::signature sig;
    std::copy_n(bytes.begin() + 1, sig.size(), sig.begin());
    return sig;
  }
  std::size_t released() {
    std::size_t n = 0;
    util::frag_desc d;
    while (release.try_pop(d)) ++n;
    return n;
  }
};

struct stored_tx {
  crypto::signature sig;
  txn::tx_result result;
};

std::vector<stored_tx> txs_of(const tpu::microblock_view& v) {
  std::vector<stored_tx> out;
  std::size_t at = 0;
  for (std::uint32_t i = 0; i < v.tx_count; ++i) {
    const std::size_t len = v.txs[at] | (v.txs[at + 1] << 8);
    stored_tx t;
    t.result = static_cast<txn::tx_result>(v.txs[at + 2]);
    std::copy_n(v.txs.begin() + static_cast<std::ptrdiff_t>(at + 4), t.sig.size(), t.sig.begin());
    out.push_back(t);
    at += 3 + len;
  }
  EXPECT_EQ(at, v.txs.size());
  return out;
}

}  // namespace

TEST(bank_tile, executes_a_batch_as_one_microblock_with_its_mixin) {
  rig r;
  std::vector<crypto::keypair> payers;
  for (int i = 0; i < 4; ++i) {
    payers.push_back(key(static_cast<std::uint32_t>(i + 1)));
    r.credit(payers.back(), 1'000'000);
  }
  r.open();
  std::vector<crypto::signature> sigs;
  for (std::uint32_t i = 0; i < payers.size(); ++i)
    sigs.push_back(r.send(payers[i], key(50 + i).public_key(), 100));
  EXPECT_GT(r.tile->poll(), 0);

  tpu::poh_mixin m;
  ASSERT_TRUE(r.mixins.try_pop(m));
  EXPECT_EQ(tpu::mixin_bank_index(m.id), 3u);
  EXPECT_EQ(m.hash, crypto::entry_mixin(sigs));
  const auto view = r.store.view(tpu::mixin_seq(m.id));
  const auto txs = txs_of(view);
  ASSERT_EQ(txs.size(), 4u);
  for (std::size_t i = 0; i < txs.size(); ++i) {
    EXPECT_EQ(txs[i].sig, sigs[i]);
    EXPECT_EQ(txs[i].result, txn::tx_result::ok);
  }
  // Each transfer changed its payer and its receiver, in the open bank only.
  EXPECT_EQ(r.balance(payers[0].public_key()), 1'000'000 - fee - 100);
  EXPECT_EQ(r.balance(key(50).public_key()), 100u);
  EXPECT_EQ(r.forks.balance(r.forks.root(), key(50).public_key()), 0u);
  EXPECT_EQ(r.released(), 4u);  // frames go back as soon as the tx is copied
  EXPECT_EQ(r.tile->execution().count(txn::tx_result::ok), 4u);
  // The locks are held until PoH popped the mixin (done above); the next poll frees them.
  EXPECT_FALSE(r.lockable(payers[0], key(50).public_key()));
  (void)r.tile->poll();
  EXPECT_TRUE(r.lockable(payers[0], key(50).public_key()));
  EXPECT_TRUE(r.tile->drained());
  EXPECT_TRUE(r.gate.quiet() == false);  // open: the tile left, the gate stays open
}

TEST(bank_tile, conflicting_transaction_waits_until_poh_recorded_the_first) {
  rig r;
  const auto payer = key(104);
  r.credit(payer, 1'000'000);
  r.open();
  const auto to = key(105).public_key();
  const auto first = r.send(payer, to, 10);
  const auto second = r.send(payer, to, 20);
  (void)r.tile->poll();
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_executed), 1u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_lock_conflicts), 1u);
  EXPECT_FALSE(r.tile->drained());  // one waits for its locks
  // PoH has not popped the first mixin: the second must keep waiting.
  (void)r.tile->poll();
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_executed), 1u);
  tpu::poh_mixin m;
  ASSERT_TRUE(r.mixins.try_pop(m));
  EXPECT_EQ(m.hash, crypto::entry_mixin(std::span(&first, 1)));
  (void)r.tile->poll();  // unlocks, then runs the second
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_executed), 2u);
  ASSERT_TRUE(r.mixins.try_pop(m));
  EXPECT_EQ(m.hash, crypto::entry_mixin(std::span(&second, 1)));
  EXPECT_EQ(r.balance(to), 30u);
  EXPECT_EQ(r.balance(payer.public_key()), 1'000'000u - 2 * fee - 30);
}

TEST(bank_tile, failed_transactions_are_recorded_with_their_result) {
  rig r;
  const auto rich = key(106);
  const auto poor = key(107);
  const auto broke = key(108);
  r.credit(rich, 1'000'000);
  r.credit(poor, fee + 5);
  r.open();
  crypto::hash32 stale{};
  stale[0] = 0x99;
  (void)r.send(rich, key(109).public_key(), 1, &stale);   // unknown blockhash
  (void)r.send(poor, key(110).public_key(), 10);          // overdraft: fee only
  (void)r.send(broke, key(111).public_key(), 1);          // cannot pay the fee
  (void)r.tile->poll();
  tpu::poh_mixin m;
  ASSERT_TRUE(r.mixins.try_pop(m));
  const auto view = r.store.view(tpu::mixin_seq(m.id));
  const auto txs = txs_of(view);
  ASSERT_EQ(txs.size(), 3u);
  EXPECT_EQ(txs[0].result, txn::tx_result::blockhash_too_old);
  EXPECT_EQ(txs[1].result, txn::tx_result::insufficient_funds);
  EXPECT_EQ(txs[2].result, txn::tx_result::insufficient_funds_for_fee);
  EXPECT_EQ(r.balance(poor.public_key()), 5u);  // only the overdrafter's fee changed a balance
  EXPECT_EQ(r.balance(rich.public_key()), 1'000'000u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_failed), 3u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_fees), fee);
}

TEST(bank_tile, garbage_frame_is_counted_and_released) {
  rig r;
  r.open();
  const std::uint32_t f = r.next_frame++;
  std::fill_n(r.frames.frame(f).begin(), 100, std::uint8_t{0xEE});
  ASSERT_TRUE(r.in.try_push(util::frag_desc{f, 100, 0, 0}));
  (void)r.tile->poll();
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_parse_failed), 1u);
  EXPECT_EQ(r.released(), 1u);
  tpu::poh_mixin m;
  EXPECT_FALSE(r.mixins.try_pop(m));  // nothing executed, no entry
}

TEST(bank_tile, waits_for_the_ledger_to_free_microblock_buffers) {
  rig r;
  const auto payer = key(112);
  r.credit(payer, 100'000'000);
  r.open();
  std::vector<tpu::poh_mixin> recorded;
  // 8 buffers: each poll makes one microblock (the same payer conflicts with itself).
  for (int i = 0; i < 12; ++i) {
    (void)r.send(payer, key(113).public_key(), 1);
    (void)r.tile->poll();
    tpu::poh_mixin m;
    while (r.mixins.try_pop(m)) recorded.push_back(m);
  }
  for (int i = 0; i < 4; ++i) (void)r.tile->poll();
  EXPECT_EQ(recorded.size(), 8u);
  EXPECT_GT(r.tile->own_counter(tpu::bank_tile::c_store_full), 0u);
  r.store.release(tpu::mixin_seq(recorded[3].id));  // the ledger stored the first four
  for (int i = 0; i < 8; ++i) {
    (void)r.tile->poll();
    tpu::poh_mixin m;
    while (r.mixins.try_pop(m)) recorded.push_back(m);
  }
  EXPECT_EQ(recorded.size(), 12u);
  for (std::size_t i = 0; i < recorded.size(); ++i) EXPECT_EQ(tpu::mixin_seq(recorded[i].id), i);
}


TEST(bank_tile, takes_no_input_while_the_gate_is_closed) {
  rig r;
  const auto payer = key(120);
  r.credit(payer, 1'000'000);
  (void)r.send(payer, key(121).public_key(), 7);
  (void)r.tile->poll();  // closed before slot 0: nothing happens
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_received), 0u);
  EXPECT_FALSE(r.tile->drained());
  r.open();
  (void)r.tile->poll();
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_executed), 1u);
  EXPECT_EQ(r.balance(key(121).public_key()), 7u);
}

TEST(bank_tile, a_shut_gate_releases_everything_unexecuted_and_counts_it) {
  rig r;
  const auto payer = key(122);
  r.credit(payer, 1'000'000);
  r.open();
  (void)r.send(payer, key(123).public_key(), 1);
  (void)r.send(payer, key(123).public_key(), 2);  // conflicts: waits in the retry queue
  (void)r.tile->poll();
  EXPECT_EQ(r.released(), 1u);
  r.gate.shut();
  (void)r.send(payer, key(123).public_key(), 3);
  (void)r.tile->poll();
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_executed), 1u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_shut_dropped), 2u);
  EXPECT_EQ(r.released(), 2u);
  tpu::poh_mixin m;
  ASSERT_TRUE(r.mixins.try_pop(m));  // PoH drops what is left: the locks go
  (void)r.tile->poll();
  EXPECT_TRUE(r.tile->drained());
}

TEST(bank_tile, a_signature_that_landed_on_the_fork_is_counted_not_recorded) {
  rig r;
  const auto payer = key(124);
  r.credit(payer, 1'000'000);
  r.open();
  const std::uint32_t f = r.next_frame;
  (void)r.send(payer, key(125).public_key(), 9);
  (void)r.tile->poll();
  tpu::poh_mixin m;
  ASSERT_TRUE(r.mixins.try_pop(m));
  // The same bytes again (a duplicate dedup did not catch).
  const std::uint32_t g = r.next_frame++;
  std::copy_n(r.frames.frame(f).begin(), r.frames.frame(f).size(), r.frames.frame(g).begin());
  ASSERT_TRUE(r.in.try_push(util::frag_desc{g, r.last_len, 0, 0}));
  (void)r.tile->poll();
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_already_processed), 1u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_microblocks), 1u);  // nothing new recorded
  EXPECT_FALSE(r.mixins.try_pop(m));
  EXPECT_EQ(r.balance(key(125).public_key()), 9u);
  EXPECT_EQ(r.released(), 2u);
  EXPECT_TRUE(r.lockable(payer, key(125).public_key()));  // its locks were given back
}

// Two bank tiles on two threads and a PoH + controller stand-in on a third that pops
// mixins, frees buffers, and every few hundred microseconds ends the slot the way the node
// does: close the gate, wait until it is quiet and every mixin popped, freeze and root the
// bank, open the next slot's. Money is conserved (minus fees), nothing is lost, and every
// microblock's transactions were executed in the bank of the slot it was recorded in (each
// tile's mixins are counted per slot, and the banks' landed counts must match). Run under
// TSan too.
TEST(bank_tile, two_tiles_and_slot_boundaries_conserve_balances_under_contention) {
  constexpr std::uint64_t initial = 10'000'000;
  crypto::hash32 recent{};
  recent[1] = 7;
  bank::bank_forks forks(forks_cfg(1 << 10), recent);
  constexpr int accounts = 6;
  constexpr int per_tile = 300;
  std::vector<crypto::keypair> keys;
  for (int i = 0; i < accounts; ++i) {
    keys.push_back(key(static_cast<std::uint32_t>(200 + i)));
    ASSERT_TRUE(forks.credit(keys.back().public_key(), initial));
  }
  tpu::bank_gate gate(2, 0);
  util::frame_pool frames{2 * per_tile};
  struct lane {
    util::spsc_ring<util::frag_desc> in{512}, release{512};
    util::spsc_ring<tpu::poh_mixin> mixins{16};
    tpu::microblock_store store{16, max_txs * 1235};
    std::unique_ptr<tpu::bank_tile> tile;
  };
  std::vector<std::unique_ptr<lane>> lanes;
  std::uint32_t f = 0;
  for (std::uint32_t l = 0; l < 2; ++l) {
    lanes.push_back(std::make_unique<lane>());
    auto& ln = *lanes.back();
    tpu::bank_tile_config c;
    c.index = l;
    c.max_txs_per_microblock = max_txs;
    ln.tile = std::make_unique<tpu::bank_tile>("bank", forks, gate, frames, ln.in, &ln.release, ln.mixins, ln.store, c);
    for (int i = 0; i < per_tile; ++i, ++f) {
      // Lane l pays from even/odd accounts to any account: receivers conflict across lanes.
      const auto& from = keys[(2 * i + l) % accounts];
      const auto& to = keys[(i * 5 + 1) % accounts].public_key();
      const std::size_t len = txn::build_transfer(from, to, 1 + i % 7, recent, frames.frame(f));
      ASSERT_TRUE(ln.in.try_push(util::frag_desc{f, static_cast<std::uint16_t>(len), 0, 0}));
    }
  }
  bank::bank_index current = forks.new_bank(forks.root(), 0, id_of(0));
  ASSERT_TRUE(gate.open(current, 0));
  std::atomic<bool> stop{false};
  std::uint64_t slots = 0, recorded_txs = 0, landed = 0;
  bool mismatch = false;
  std::thread poh([&] {
    std::uint64_t slot = 0, in_slot = 0;
    auto pop_all = [&] {
      for (auto& ln : lanes) {
        tpu::poh_mixin m;
        while (ln->mixins.try_pop(m)) {
          in_slot += ln->store.view(tpu::mixin_seq(m.id)).tx_count;
          ln->store.release(tpu::mixin_seq(m.id));
        }
      }
    };
    auto rings_empty = [&] {
      for (auto& ln : lanes)
        if (!ln->mixins.empty_approx()) return false;
      return true;
    };
    while (!stop.load()) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(300);
      while (std::chrono::steady_clock::now() < until) pop_all();
      gate.close(slot);
      while (!(gate.quiet() && rings_empty())) pop_all();
      // Every block ends on the same hash, so the transfers' blockhash never ages out
      // however many slots pass.
      crypto::hash32 h{};
      if (!forks.freeze(current, recent, (slot + 1) * 64, h) || !forks.set_root(current)) {
        mismatch = true;
        return;
      }
      // Every transaction recorded in this slot landed in this slot's bank, and only those.
      if (forks.info(current).landed != in_slot) mismatch = true;
      recorded_txs += in_slot;
      landed += forks.info(current).landed;
      in_slot = 0;
      ++slot;
      ++slots;
      current = forks.new_bank(current, slot, id_of(slot));
      if (current == bank::no_bank || !gate.open(current, slot)) {
        mismatch = true;
        return;
      }
    }
    gate.close(slot);
    while (!(gate.quiet() && rings_empty())) pop_all();
    recorded_txs += in_slot;
    landed += forks.info(current).landed;
  });
  std::vector<std::thread> workers;
  for (auto& ln : lanes)
    workers.emplace_back([&ln] {
      // Bounded in time, not in polls: on a loaded machine a poll may find the gate closed
      // many times over.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!(ln->tile->drained() && ln->in.empty_approx()) && std::chrono::steady_clock::now() < give_up) {
        if (ln->tile->poll() == 0) std::this_thread::yield();
      }
    });
  for (auto& w : workers) w.join();
  stop.store(true);
  poh.join();
  EXPECT_FALSE(mismatch);
  std::uint64_t executed = 0, fees = 0;
  for (auto& ln : lanes) {
    executed += ln->tile->execution().executed();
    fees += ln->tile->execution().fees_collected_lamports;
  }
  EXPECT_EQ(executed, 2u * per_tile);
  EXPECT_EQ(recorded_txs, 2u * per_tile);
  EXPECT_EQ(landed, 2u * per_tile);
  EXPECT_EQ(fees, 2u * per_tile * fee);
  EXPECT_GT(slots, 0u);
  std::uint64_t total = 0;
  for (const auto& k : keys) total += forks.balance(current, k.public_key());
  EXPECT_EQ(total, std::uint64_t{accounts} * initial - fees);
}
