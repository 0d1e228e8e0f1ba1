#include <riptide/tpu/bank_tile.hpp>

#include <gtest/gtest.h>

#include <atomic>
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

// A bank tile with everything around it: frames holding signed transfers, the rings, a
// store, and a bank whose payers are funded.
struct rig {
  txn::bank bank{txn::bank_config{1 << 12, 1 << 16, fee, 7}};
  util::frame_pool frames{256};
  std::uint32_t next_frame = 0;
  util::spsc_ring<util::frag_desc> in{256}, release{256};
  util::spsc_ring<bank::slot_hash> hashes{16};
  util::spsc_ring<tpu::poh_mixin> mixins{16};
  tpu::microblock_store store{8, max_txs * (txn::max_transaction_bytes + 3), max_txs * txn::max_accounts};
  crypto::hash32 recent{};
  std::unique_ptr<tpu::bank_tile> tile;

  explicit rig(std::size_t retry_slots = 64) {
    recent[0] = 0x42;
    EXPECT_TRUE(hashes.try_push({0, recent}));
    tpu::bank_tile_config c;
    c.index = 3;
    c.max_txs_per_microblock = max_txs;
    c.retry_slots = retry_slots;
    c.max_pending = 4;
    tile = std::make_unique<tpu::bank_tile>("bank", bank, frames, in, &release, &hashes, mixins,
                                            store, c);
  }
  // Writes a transfer into the next frame and queues it.
  crypto::signature send(const crypto::keypair& from, const crypto::pubkey& to,
                         std::uint64_t lamports, const crypto::hash32* blockhash = nullptr) {
    const std::uint32_t f = next_frame++;
    auto bytes = frames.frame(f);
    const std::size_t len =
        txn::build_transfer(from, to, lamports, blockhash ? *blockhash : recent, bytes);
    EXPECT_TRUE(in.try_push(util::frag_desc{f, static_cast<std::uint16_t>(len), 0, 0}));
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
    ASSERT_TRUE(r.bank.credit(payers.back().public_key(), 1'000'000));
  }
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
  // Each transfer changed its payer and its receiver.
  EXPECT_EQ(view.deltas.size(), 8u);
  EXPECT_EQ(view.deltas[0].key, payers[0].public_key());
  EXPECT_EQ(view.deltas[0].lamports, 1'000'000 - fee - 100);
  EXPECT_EQ(r.released(), 4u);  // frames go back as soon as the tx is copied
  EXPECT_EQ(r.tile->execution().count(txn::tx_result::ok), 4u);
  // The locks are held until PoH popped the mixin (done above); the next poll frees them.
  EXPECT_GT(r.bank.held_stripes(), 0u);
  (void)r.tile->poll();
  EXPECT_EQ(r.bank.held_stripes(), 0u);
  EXPECT_TRUE(r.tile->drained());
}

TEST(bank_tile, conflicting_transaction_waits_until_poh_recorded_the_first) {
  rig r;
  const auto payer = key(104);
  ASSERT_TRUE(r.bank.credit(payer.public_key(), 1'000'000));
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
  EXPECT_EQ(r.bank.balance(to), 30u);
  EXPECT_EQ(r.bank.balance(payer.public_key()), 1'000'000u - 2 * fee - 30);
}

TEST(bank_tile, failed_transactions_are_recorded_with_their_result) {
  rig r;
  const auto rich = key(106);
  const auto poor = key(107);
  const auto broke = key(108);
  ASSERT_TRUE(r.bank.credit(rich.public_key(), 1'000'000));
  ASSERT_TRUE(r.bank.credit(poor.public_key(), fee + 5));
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
  ASSERT_EQ(view.deltas.size(), 1u);  // only the overdrafter's fee changed a balance
  EXPECT_EQ(view.deltas[0].key, poor.public_key());
  EXPECT_EQ(view.deltas[0].lamports, 5u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_failed), 3u);
  EXPECT_EQ(r.tile->own_counter(tpu::bank_tile::c_fees), fee);
}

TEST(bank_tile, garbage_frame_is_counted_and_released) {
  rig r;
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
  ASSERT_TRUE(r.bank.credit(payer.public_key(), 100'000'000));
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

// Two bank tiles on two threads, a PoH stand-in popping mixins in order and a ledger stand-in
// freeing buffers: money is conserved (minus fees) and nothing is lost. Run under TSan too.
TEST(bank_tile, two_tiles_conserve_balances_under_contention) {
  txn::bank bank{txn::bank_config{1 << 12, 1 << 10, fee, 11}};
  constexpr int accounts = 6;
  constexpr int per_tile = 300;
  std::vector<crypto::keypair> keys;
  for (int i = 0; i < accounts; ++i) {
    keys.push_back(key(static_cast<std::uint32_t>(200 + i)));
    ASSERT_TRUE(bank.credit(keys.back().public_key(), 10'000'000));
  }
  crypto::hash32 recent{};
  recent[1] = 7;
  util::frame_pool frames{2 * per_tile};
  struct lane {
    util::spsc_ring<util::frag_desc> in{512}, release{512};
    util::spsc_ring<bank::slot_hash> hashes{4};
    util::spsc_ring<tpu::poh_mixin> mixins{16};
    tpu::microblock_store store{16, max_txs * 1235, max_txs * 32};
    std::unique_ptr<tpu::bank_tile> tile;
  };
  std::vector<std::unique_ptr<lane>> lanes;
  std::uint32_t f = 0;
  for (std::uint32_t l = 0; l < 2; ++l) {
    lanes.push_back(std::make_unique<lane>());
    auto& ln = *lanes.back();
    ASSERT_TRUE(ln.hashes.try_push({0, recent}));
    tpu::bank_tile_config c;
    c.index = l;
    c.max_txs_per_microblock = max_txs;
    ln.tile = std::make_unique<tpu::bank_tile>("bank", bank, frames, ln.in, &ln.release, &ln.hashes,
                                               ln.mixins, ln.store, c);
    for (int i = 0; i < per_tile; ++i, ++f) {
      // Lane l pays from even/odd accounts to any account: receivers conflict across lanes.
      const auto& from = keys[(2 * i + l) % accounts];
      const auto& to = keys[(i * 5 + 1) % accounts].public_key();
      const std::size_t len = txn::build_transfer(from, to, 1 + i % 7, recent, frames.frame(f));
      ASSERT_TRUE(ln.in.try_push(util::frag_desc{f, static_cast<std::uint16_t>(len), 0, 0}));
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> entries{0};
  std::thread poh([&] {  // pops every lane's mixins and frees the buffers (PoH + ledger)
    while (!stop.load()) {
      for (auto& ln : lanes) {
        tpu::poh_mixin m;
        while (ln->mixins.try_pop(m)) {
          ln->store.release(tpu::mixin_seq(m.id));
          entries.fetch_add(ln->store.view(tpu::mixin_seq(m.id)).tx_count);
        }
      }
    }
  });
  std::vector<std::thread> workers;
  for (auto& ln : lanes)
    workers.emplace_back([&ln, &stop] {
      while (!stop.load() && !(ln->tile->drained() && ln->in.empty_approx())) (void)ln->tile->poll();
      for (int i = 0; i < 8; ++i) (void)ln->tile->poll();
    });
  for (auto& w : workers) w.join();
  stop.store(true);
  poh.join();
  std::uint64_t executed = 0, fees = 0;
  for (auto& ln : lanes) {
    executed += ln->tile->execution().executed();
    fees += ln->tile->execution().fees_collected_lamports;
  }
  EXPECT_EQ(executed, 2u * per_tile);
  EXPECT_EQ(fees, 2u * per_tile * fee);
  EXPECT_EQ(bank.total_lamports(), std::uint64_t{accounts} * 10'000'000 - fees);
  EXPECT_EQ(bank.held_stripes(), 0u);
}
