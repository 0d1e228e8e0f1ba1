#include <riptide/txn/slot_delta.hpp>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/txn/bank.hpp>
#include <riptide/txn/transaction.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using riptide::crypto::hash32;
using riptide::crypto::keypair;
using riptide::crypto::pubkey;
using riptide::txn::account_changes;
using riptide::txn::bank;
using riptide::txn::bank_config;
using riptide::txn::execution_counters;
using riptide::txn::slot_delta;
using riptide::txn::transaction_view;
using riptide::txn::tx_result;

pubkey key_of(std::uint32_t n) {
  pubkey k{};
  k[0] = 0xBB;
  for (int i = 0; i < 4; ++i) k[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return k;
}

hash32 poh_of(std::uint8_t n) {
  hash32 h{};
  h.fill(n);
  return h;
}

TEST(slot_delta, hash_equals_bank_hash_for_the_same_transfers) {
  bank_config cfg;
  cfg.max_accounts = 256;
  cfg.lock_stripes = 64;
  cfg.lamports_per_signature = 7;
  bank b(cfg);
  std::vector<keypair> payers;
  for (int i = 0; i < 6; ++i) {
    payers.push_back(keypair::generate());
    ASSERT_TRUE(b.credit(payers.back().public_key(), 1'000'000));
  }
  const hash32 blockhash = poh_of(9);
  b.register_blockhash(0, blockhash);
  b.begin_slot();

  slot_delta delta(64);
  std::mt19937_64 rng(42);
  execution_counters counters;
  for (int slot = 0; slot < 3; ++slot) {
    for (int i = 0; i < 40; ++i) {
      const keypair& from = payers[rng() % payers.size()];
      // Receivers: other payers (existing accounts) or a few new ones.
      const pubkey to = (rng() & 1) ? payers[rng() % payers.size()].public_key()
                                    : key_of(static_cast<std::uint32_t>(rng() % 10));
      std::array<std::uint8_t, 512> buf{};
      const std::size_t n =
          riptide::txn::build_transfer(from, to, rng() % 5000 + 1, blockhash, buf);
      transaction_view tx;
      ASSERT_EQ(riptide::txn::parse_transaction({buf.data(), n}, tx),
                riptide::txn::parse_error::none);
      account_changes changes;
      ASSERT_TRUE(b.try_lock(tx));
      (void)b.execute(tx, counters, &changes);
      b.unlock(tx);
      for (std::size_t c = 0; c < changes.count; ++c)
        ASSERT_TRUE(delta.record(changes.items[c].key, changes.items[c].lamports));
    }
    const hash32 last = poh_of(static_cast<std::uint8_t>(slot + 1));
    EXPECT_EQ(delta.size(), b.touched_accounts());
    const hash32 mine = delta.finish(last);
    EXPECT_EQ(mine, b.bank_hash(last)) << "slot " << slot;
    EXPECT_EQ(delta.size(), 0u);
    b.begin_slot();
  }
}

TEST(slot_delta, empty_slot_matches_an_idle_bank) {
  bank_config cfg;
  cfg.max_accounts = 4;
  cfg.lock_stripes = 4;
  bank b(cfg);
  slot_delta delta(1);
  EXPECT_EQ(delta.finish(poh_of(3)), b.bank_hash(poh_of(3)));
}

TEST(slot_delta, last_write_wins_and_order_does_not_matter) {
  slot_delta a(8), b(8), c(8);
  ASSERT_TRUE(a.record(key_of(1), 10));
  ASSERT_TRUE(a.record(key_of(2), 20));
  ASSERT_TRUE(a.record(key_of(1), 11));
  ASSERT_TRUE(b.record(key_of(2), 20));
  ASSERT_TRUE(b.record(key_of(1), 11));
  ASSERT_TRUE(c.record(key_of(1), 10));
  ASSERT_TRUE(c.record(key_of(2), 20));
  EXPECT_EQ(a.size(), 2u);
  const hash32 ha = a.finish(poh_of(1));
  EXPECT_EQ(ha, b.finish(poh_of(1)));
  EXPECT_NE(ha, c.finish(poh_of(1)));  // 10 is not the last balance of key 1
}

TEST(slot_delta, overflow_is_sticky_until_finish_and_gives_the_zero_hash) {
  slot_delta d(2);
  ASSERT_TRUE(d.record(key_of(1), 1));
  ASSERT_TRUE(d.record(key_of(2), 2));
  EXPECT_FALSE(d.record(key_of(3), 3));
  EXPECT_TRUE(d.overflowed());
  EXPECT_TRUE(d.record(key_of(2), 5));  // a known key still updates
  EXPECT_TRUE(d.overflowed());
  EXPECT_EQ(d.finish(poh_of(1)), hash32{});
  EXPECT_FALSE(d.overflowed());
  EXPECT_EQ(d.size(), 0u);
  // The next slot starts clean and is hashed as usual.
  ASSERT_TRUE(d.record(key_of(3), 3));
  slot_delta ref(2);
  ASSERT_TRUE(ref.record(key_of(3), 3));
  EXPECT_EQ(d.finish(poh_of(2)), ref.finish(poh_of(2)));
}

TEST(slot_delta, many_slots_reuse_the_table) {
  slot_delta d(100), fresh_ref(100);
  for (int s = 0; s < 50; ++s) {
    slot_delta ref(100);
    for (std::uint32_t k = 0; k < 100; ++k) {
      ASSERT_TRUE(d.record(key_of(k * 7 + s), k));
      ASSERT_TRUE(ref.record(key_of(k * 7 + s), k));
    }
    ASSERT_EQ(d.finish(poh_of(1)), ref.finish(poh_of(1)));
  }
}

TEST(slot_delta, zero_capacity_throws) { EXPECT_THROW(slot_delta(0), std::invalid_argument); }

}  // namespace
