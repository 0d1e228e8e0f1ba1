#include <riptide/txn/bank.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using riptide::crypto::hash32;
using riptide::crypto::pubkey;
using riptide::txn::bank;
using riptide::txn::bank_config;
using riptide::txn::blockhash_age;
using riptide::txn::blockhash_queue;
using riptide::txn::execution_counters;
using riptide::txn::transaction_view;
using riptide::txn::tx_result;

constexpr std::uint64_t fee_lamports = 10;

pubkey key_of(std::uint32_t n) {
  pubkey key{};
  key[0] = 0xAA;
  key[1] = static_cast<std::uint8_t>(n);
  key[2] = static_cast<std::uint8_t>(n >> 8);
  key[3] = static_cast<std::uint8_t>(n >> 16);
  return key;
}

hash32 hash_of(std::uint64_t n) {
  hash32 h{};
  for (std::size_t i = 0; i < 8; ++i) h[i] = static_cast<std::uint8_t>(n >> (8 * i));
  h[31] = 0x55;
  return h;
}

struct raw_instruction {
  std::uint8_t program_index;
  std::vector<std::uint8_t> accounts;
  std::vector<std::uint8_t> data;
};

std::vector<std::uint8_t> transfer_data(std::uint64_t lamports, std::uint32_t kind = 2) {
  std::vector<std::uint8_t> d;
  for (int i = 0; i < 4; ++i) d.push_back(static_cast<std::uint8_t>(kind >> (8 * i)));
  for (int i = 0; i < 8; ++i) d.push_back(static_cast<std::uint8_t>(lamports >> (8 * i)));
  return d;
}

// A transaction in wire format with zero signatures bytes (the bank does not verify them).
// accounts: [writable signers | readonly signers | writable | readonly] by the counts.
struct raw_tx {
  std::uint8_t num_signers = 1;
  std::uint8_t readonly_signed = 0;
  std::uint8_t readonly_unsigned = 0;
  std::vector<pubkey> accounts;
  hash32 blockhash{};
  std::vector<raw_instruction> instructions;

  std::vector<std::uint8_t> bytes;
  transaction_view view;

  const transaction_view& build() {
    bytes.clear();
    bytes.push_back(num_signers);
    bytes.insert(bytes.end(), 64u * num_signers, 0);
    bytes.push_back(1);
    bytes.push_back(num_signers);
    bytes.push_back(readonly_signed);
    bytes.push_back(readonly_unsigned);
    bytes.push_back(static_cast<std::uint8_t>(accounts.size()));
    for (const pubkey& k : accounts) bytes.insert(bytes.end(), k.begin(), k.end());
    bytes.insert(bytes.end(), blockhash.begin(), blockhash.end());
    bytes.push_back(static_cast<std::uint8_t>(instructions.size()));
    for (const raw_instruction& ins : instructions) {
      bytes.push_back(ins.program_index);
      bytes.push_back(static_cast<std::uint8_t>(ins.accounts.size()));
      bytes.insert(bytes.end(), ins.accounts.begin(), ins.accounts.end());
      bytes.push_back(static_cast<std::uint8_t>(ins.data.size()));
      bytes.push_back(static_cast<std::uint8_t>(ins.data.size() >> 8));
      bytes.insert(bytes.end(), ins.data.begin(), ins.data.end());
    }
    const auto error = riptide::txn::parse_transaction(bytes, view);
    EXPECT_EQ(error, riptide::txn::parse_error::none) << riptide::txn::to_string(error);
    return view;
  }
};

// from -> to transfer: accounts [from, to, system program] (or [from, system] if from == to).
raw_tx make_transfer(const pubkey& from, const pubkey& to, std::uint64_t lamports,
                     const hash32& blockhash) {
  raw_tx tx;
  tx.blockhash = blockhash;
  tx.accounts.push_back(from);
  if (to == from) {
    tx.accounts.push_back(riptide::txn::system_program_id);
    tx.readonly_unsigned = 1;
    tx.instructions.push_back({1, {0, 0}, transfer_data(lamports)});
  } else {
    tx.accounts.push_back(to);
    tx.accounts.push_back(riptide::txn::system_program_id);
    tx.readonly_unsigned = 1;
    tx.instructions.push_back({2, {0, 1}, transfer_data(lamports)});
  }
  tx.build();
  return tx;
}

bank_config small_config(std::size_t max_accounts = 1024) {
  bank_config config;
  config.max_accounts = max_accounts;
  config.lock_stripes = 4096;
  config.lamports_per_signature = fee_lamports;
  return config;
}

const hash32 genesis_hash = hash_of(1);

struct bank_fixture : ::testing::Test {
  bank b{small_config()};
  execution_counters counters;
  void SetUp() override { b.register_blockhash(0, genesis_hash); }
  tx_result run(raw_tx& tx) {
    const transaction_view& view = tx.view;
    EXPECT_TRUE(b.try_lock(view));
    const tx_result r = b.execute(view, counters);
    b.unlock(view);
    return r;
  }
  void expect_conserved() {
    EXPECT_EQ(b.total_lamports() + counters.fees_collected_lamports, b.total_supply());
  }
};

// ------------------------------------------------------------------------------ results

TEST_F(bank_fixture, transfer_ok_moves_lamports_and_charges_fee) {
  ASSERT_TRUE(b.credit(key_of(1), 1000));
  raw_tx tx = make_transfer(key_of(1), key_of(2), 300, genesis_hash);
  EXPECT_EQ(run(tx), tx_result::ok);
  EXPECT_EQ(b.balance(key_of(1)), 1000 - 300 - fee_lamports);
  EXPECT_EQ(b.balance(key_of(2)), 300u);
  EXPECT_EQ(counters.count(tx_result::ok), 1u);
  EXPECT_EQ(counters.fees_collected_lamports, fee_lamports);
  expect_conserved();
}

TEST_F(bank_fixture, transfer_to_self_charges_only_the_fee) {
  ASSERT_TRUE(b.credit(key_of(1), 100));
  raw_tx tx = make_transfer(key_of(1), key_of(1), 50, genesis_hash);
  EXPECT_EQ(run(tx), tx_result::ok);
  EXPECT_EQ(b.balance(key_of(1)), 100 - fee_lamports);
  expect_conserved();
}

TEST_F(bank_fixture, blockhash_too_old_changes_nothing) {
  ASSERT_TRUE(b.credit(key_of(1), 1000));
  raw_tx tx = make_transfer(key_of(1), key_of(2), 1, hash_of(999));
  EXPECT_EQ(run(tx), tx_result::blockhash_too_old);
  EXPECT_EQ(b.balance(key_of(1)), 1000u);
  EXPECT_EQ(counters.fees_collected_lamports, 0u);
  EXPECT_EQ(counters.count(tx_result::blockhash_too_old), 1u);
}

TEST_F(bank_fixture, insufficient_funds_for_fee_changes_nothing) {
  ASSERT_TRUE(b.credit(key_of(1), fee_lamports - 1));
  raw_tx tx = make_transfer(key_of(1), key_of(2), 0, genesis_hash);
  EXPECT_EQ(run(tx), tx_result::insufficient_funds_for_fee);
  EXPECT_EQ(b.balance(key_of(1)), fee_lamports - 1);
  EXPECT_EQ(b.num_accounts(), 1u);
  // A payer that does not exist at all has no lamports either.
  raw_tx ghost = make_transfer(key_of(7), key_of(2), 0, genesis_hash);
  EXPECT_EQ(run(ghost), tx_result::insufficient_funds_for_fee);
  EXPECT_EQ(b.num_accounts(), 1u);
  EXPECT_EQ(counters.count(tx_result::insufficient_funds_for_fee), 2u);
  expect_conserved();
}

TEST_F(bank_fixture, insufficient_funds_charges_fee_and_applies_no_transfer) {
  ASSERT_TRUE(b.credit(key_of(1), 100));
  // Two transfers: the first is affordable, the second is not: neither applies.
  raw_tx tx;
  tx.blockhash = genesis_hash;
  tx.accounts = {key_of(1), key_of(2), key_of(3), riptide::txn::system_program_id};
  tx.readonly_unsigned = 1;
  tx.instructions.push_back({3, {0, 1}, transfer_data(50)});
  tx.instructions.push_back({3, {0, 2}, transfer_data(50)});
  tx.build();
  EXPECT_EQ(run(tx), tx_result::insufficient_funds);
  EXPECT_EQ(b.balance(key_of(1)), 100 - fee_lamports);
  EXPECT_EQ(b.balance(key_of(2)), 0u);
  EXPECT_EQ(b.balance(key_of(3)), 0u);
  EXPECT_EQ(counters.fees_collected_lamports, fee_lamports);
  EXPECT_EQ(counters.count(tx_result::insufficient_funds), 1u);
  expect_conserved();
}

TEST_F(bank_fixture, chained_transfers_may_spend_what_was_received) {
  ASSERT_TRUE(b.credit(key_of(1), 100));
  raw_tx tx;
  tx.blockhash = genesis_hash;
  tx.num_signers = 2;  // 1 and 2 sign; 2 forwards what it receives from 1
  tx.accounts = {key_of(1), key_of(2), key_of(3), riptide::txn::system_program_id};
  tx.readonly_unsigned = 1;
  tx.instructions.push_back({3, {0, 1}, transfer_data(60)});
  tx.instructions.push_back({3, {1, 2}, transfer_data(60)});
  tx.build();
  EXPECT_EQ(run(tx), tx_result::ok);
  EXPECT_EQ(b.balance(key_of(1)), 100 - 60 - 2 * fee_lamports);
  EXPECT_EQ(b.balance(key_of(2)), 0u);
  EXPECT_EQ(b.balance(key_of(3)), 60u);
  expect_conserved();
}

TEST_F(bank_fixture, unknown_program_charges_fee_only) {
  ASSERT_TRUE(b.credit(key_of(1), 100));
  raw_tx tx;
  tx.blockhash = genesis_hash;
  tx.accounts = {key_of(1), key_of(2), key_of(99)};  // program 99 is not the system program
  tx.readonly_unsigned = 1;
  tx.instructions.push_back({2, {0, 1}, transfer_data(5)});
  tx.build();
  EXPECT_EQ(run(tx), tx_result::unknown_program);
  EXPECT_EQ(b.balance(key_of(1)), 100 - fee_lamports);
  EXPECT_EQ(b.balance(key_of(2)), 0u);
  EXPECT_EQ(counters.count(tx_result::unknown_program), 1u);
  expect_conserved();
}

TEST_F(bank_fixture, the_system_program_account_cannot_receive_lamports) {
  ASSERT_TRUE(b.credit(key_of(1), 100));
  raw_tx tx;  // the zero key as a writable receiver: the program must then be another key
  tx.blockhash = genesis_hash;
  tx.accounts = {key_of(1), riptide::txn::system_program_id, key_of(99)};
  tx.readonly_unsigned = 1;
  tx.instructions.push_back({2, {0, 1}, transfer_data(5)});
  tx.build();
  EXPECT_EQ(run(tx), tx_result::unknown_program);
  EXPECT_EQ(b.balance(riptide::txn::system_program_id), 0u);
  expect_conserved();
}

TEST_F(bank_fixture, invalid_instruction_charges_fee_only) {
  ASSERT_TRUE(b.credit(key_of(1), 100));
  raw_tx tx;
  tx.blockhash = genesis_hash;
  tx.accounts = {key_of(1), key_of(2), riptide::txn::system_program_id};
  tx.readonly_unsigned = 1;
  tx.instructions.push_back({2, {0, 1}, transfer_data(5)});
  tx.instructions.push_back({2, {0, 1}, transfer_data(5, /*kind=*/7)});  // not a transfer
  tx.build();
  EXPECT_EQ(run(tx), tx_result::invalid_instruction);
  EXPECT_EQ(b.balance(key_of(1)), 100 - fee_lamports);
  EXPECT_EQ(b.balance(key_of(2)), 0u);
  EXPECT_EQ(counters.count(tx_result::invalid_instruction), 1u);
  expect_conserved();
}

TEST(bank, account_table_full_charges_fee_only) {
  bank b{small_config(/*max_accounts=*/1)};
  b.register_blockhash(0, genesis_hash);
  execution_counters counters;
  ASSERT_TRUE(b.credit(key_of(1), 100));
  EXPECT_FALSE(b.credit(key_of(2), 1));  // the store is full
  raw_tx tx = make_transfer(key_of(1), key_of(2), 5, genesis_hash);
  ASSERT_TRUE(b.try_lock(tx.view));
  EXPECT_EQ(b.execute(tx.view, counters), tx_result::account_table_full);
  b.unlock(tx.view);
  EXPECT_EQ(b.balance(key_of(1)), 100 - fee_lamports);
  EXPECT_EQ(b.num_accounts(), 1u);
  EXPECT_EQ(b.total_lamports() + counters.fees_collected_lamports, b.total_supply());
}

TEST(bank, results_have_distinct_names) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < riptide::txn::tx_result_count; ++i) {
    names.emplace_back(riptide::txn::to_string(static_cast<tx_result>(i)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

TEST(bank, credit_refuses_supply_overflow) {
  bank b{small_config()};
  ASSERT_TRUE(b.credit(key_of(1), UINT64_MAX - 5));
  EXPECT_FALSE(b.credit(key_of(2), 6));
  EXPECT_TRUE(b.credit(key_of(2), 5));
  EXPECT_EQ(b.total_supply(), UINT64_MAX);
}

TEST(bank, bad_config_throws) {
  bank_config config = small_config();
  config.max_accounts = 0;
  EXPECT_THROW(bank{config}, std::invalid_argument);
  config = small_config();
  config.lock_stripes = 0;
  EXPECT_THROW(bank{config}, std::invalid_argument);
  config = small_config();
  config.lamports_per_signature = UINT64_MAX / 2;
  EXPECT_THROW(bank{config}, std::invalid_argument);
}

// ----------------------------------------------------------------------- blockhash queue

TEST(blockhash_queue, keeps_the_last_150_slots) {
  blockhash_queue q;
  for (std::uint64_t slot = 0; slot < 200; ++slot) q.register_hash(slot, hash_of(slot + 100));
  EXPECT_EQ(q.size(), blockhash_queue::max_age_slots);
  EXPECT_TRUE(q.is_recent(hash_of(199 + 100)));
  EXPECT_TRUE(q.is_recent(hash_of(50 + 100)));
  EXPECT_FALSE(q.is_recent(hash_of(49 + 100)));
  EXPECT_FALSE(q.is_recent(hash_of(5000)));
}

TEST(blockhash_queue, expires_by_slot_age_when_slots_are_skipped) {
  blockhash_queue q;
  q.register_hash(10, hash_of(10));
  q.register_hash(159, hash_of(159));
  EXPECT_TRUE(q.is_recent(hash_of(10)));  // 159 - 10 = 149 < 150
  q.register_hash(160, hash_of(160));
  EXPECT_FALSE(q.is_recent(hash_of(10)));
  EXPECT_TRUE(q.is_recent(hash_of(160)));
}

TEST(blockhash_queue, tells_a_too_old_hash_from_an_unknown_one_within_its_history) {
  blockhash_queue q(400);
  EXPECT_EQ(q.history_slots(), 400u);
  for (std::uint64_t slot = 0; slot < 1000; ++slot) q.register_hash(slot, hash_of(slot + 100));
  EXPECT_EQ(q.size(), 400u);
  EXPECT_EQ(q.age(hash_of(999 + 100)), blockhash_age::recent);
  EXPECT_EQ(q.age(hash_of(850 + 100)), blockhash_age::recent);   // 149 behind
  EXPECT_EQ(q.age(hash_of(849 + 100)), blockhash_age::too_old);  // 150 behind
  EXPECT_EQ(q.age(hash_of(600 + 100)), blockhash_age::too_old);  // the oldest remembered
  EXPECT_EQ(q.age(hash_of(599 + 100)), blockhash_age::unknown);  // forgotten
  EXPECT_EQ(q.age(hash_of(5000)), blockhash_age::unknown);       // never registered
  EXPECT_FALSE(q.is_recent(hash_of(849 + 100)));
  // The bank's default keeps 150 slots: an aged-out hash is forgotten at once.
  blockhash_queue bank_queue;
  EXPECT_EQ(bank_queue.history_slots(), blockhash_queue::max_age_slots);
  EXPECT_EQ(blockhash_queue(1).history_slots(), blockhash_queue::max_age_slots);
  EXPECT_EQ(blockhash_queue(1 << 20).history_slots(), blockhash_queue::max_history_slots);
  // A hash registered again for a later slot is recent while its latest slot is.
  blockhash_queue r(300);
  r.register_hash(0, hash_of(1));
  for (std::uint64_t slot = 1; slot < 200; ++slot) r.register_hash(slot, hash_of(slot + 1000));
  r.register_hash(200, hash_of(1));
  EXPECT_EQ(r.age(hash_of(1)), blockhash_age::recent);
}

TEST(blockhash_queue, random_hashes_over_many_slots_match_a_reference) {
  blockhash_queue q;
  std::mt19937_64 rng(3);
  std::vector<hash32> registered;
  for (std::uint64_t slot = 0; slot < 2000; ++slot) {
    hash32 h{};
    for (auto& byte : h) byte = static_cast<std::uint8_t>(rng());
    if (slot % 7 == 0) h[0] = 0x11;  // clustered index homes
    if (slot % 11 == 0 && !registered.empty()) h = registered.back();  // a repeated hash
    q.register_hash(slot, h);
    registered.push_back(h);
    if (slot % 97 != 0 || slot < blockhash_queue::max_age_slots) continue;
    for (std::size_t s = 0; s < registered.size(); ++s) {
      const bool recent = slot - s < blockhash_queue::max_age_slots;
      // A repeated hash counts as recent if any of its registrations is.
      bool expected = false;
      for (std::size_t k = slot + 1 - blockhash_queue::max_age_slots; k <= slot; ++k) {
        if (registered[k] == registered[s]) {
          expected = true;
        }
      }
      EXPECT_EQ(q.is_recent(registered[s]), expected) << "slot " << slot << " s " << s;
      if (recent) {
        EXPECT_TRUE(expected);
      }
    }
  }
}

// ------------------------------------------------------------------------------ conservation

TEST(bank, conservation_over_10000_random_transfers) {
  bank b{small_config()};
  b.register_blockhash(0, genesis_hash);
  execution_counters counters;
  constexpr std::uint32_t num_accounts = 100;
  for (std::uint32_t i = 0; i < num_accounts; ++i) ASSERT_TRUE(b.credit(key_of(i), 1000));
  std::mt19937_64 rng(42);
  for (int n = 0; n < 10'000; ++n) {
    const auto from = static_cast<std::uint32_t>(rng() % num_accounts);
    const auto to = static_cast<std::uint32_t>(rng() % (num_accounts + 10));  // some new
    const std::uint64_t lamports = rng() % 1200;  // some overdraw
    const hash32 blockhash = rng() % 50 == 0 ? hash_of(777) : genesis_hash;  // some too old
    raw_tx tx = make_transfer(key_of(from), key_of(to), lamports, blockhash);
    ASSERT_TRUE(b.try_lock(tx.view));
    (void)b.execute(tx.view, counters);
    b.unlock(tx.view);
  }
  EXPECT_EQ(counters.executed(), 10'000u);
  EXPECT_GT(counters.count(tx_result::ok), 1000u);
  EXPECT_GT(counters.count(tx_result::insufficient_funds), 100u);
  EXPECT_GT(counters.count(tx_result::blockhash_too_old), 50u);
  EXPECT_GT(counters.count(tx_result::insufficient_funds_for_fee), 0u);
  EXPECT_EQ(b.total_lamports() + counters.fees_collected_lamports, b.total_supply());
  EXPECT_EQ(b.total_supply(), 1000u * num_accounts);
  EXPECT_EQ(b.held_stripes(), 0u);
}

// Random multi-instruction transactions (several signers, chained transfers, some unknown
// programs and non-transfer instructions): conservation, and all-or-nothing per tx — a failed
// tx changes at most its fee payer's balance, by exactly the fee.
TEST(bank, random_multi_instruction_txs_are_all_or_nothing) {
  bank b{small_config()};
  b.register_blockhash(0, genesis_hash);
  execution_counters counters;
  constexpr std::uint32_t num_accounts = 40;
  for (std::uint32_t i = 0; i < num_accounts; ++i) ASSERT_TRUE(b.credit(key_of(i), 2000));
  std::mt19937_64 rng(11);
  for (int n = 0; n < 3000; ++n) {
    raw_tx tx;
    tx.blockhash = genesis_hash;
    tx.num_signers = static_cast<std::uint8_t>(1 + rng() % 3);
    // Distinct keys: signers, then 1-2 writable receivers (some new), then programs.
    std::vector<std::uint32_t> ids;
    while (ids.size() < tx.num_signers + 2u) {
      const auto id = static_cast<std::uint32_t>(rng() % (num_accounts + 8));
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    for (const std::uint32_t id : ids) tx.accounts.push_back(key_of(id));
    tx.accounts.push_back(riptide::txn::system_program_id);
    tx.accounts.push_back(key_of(1'000'000));  // an unknown program
    tx.readonly_unsigned = 2;
    const auto system_index = static_cast<std::uint8_t>(tx.accounts.size() - 2);
    const auto writable = static_cast<std::uint8_t>(tx.accounts.size() - 2);
    const int num_instructions = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < num_instructions; ++i) {
      const auto from = static_cast<std::uint8_t>(rng() % tx.num_signers);
      const auto to = static_cast<std::uint8_t>(rng() % writable);
      const std::uint64_t lamports = rng() % 300;
      const auto roll = rng() % 40;
      if (roll == 0) {
        tx.instructions.push_back({static_cast<std::uint8_t>(system_index + 1), {from, to},
                                   transfer_data(lamports)});
      } else if (roll == 1) {
        tx.instructions.push_back({system_index, {from, to}, transfer_data(lamports, 9)});
      } else {
        tx.instructions.push_back({system_index, {from, to}, transfer_data(lamports)});
      }
    }
    tx.build();
    std::vector<std::uint64_t> before;
    for (const pubkey& k : tx.accounts) before.push_back(b.balance(k));
    const std::uint64_t fees_before = counters.fees_collected_lamports;
    ASSERT_TRUE(b.try_lock(tx.view));
    const tx_result r = b.execute(tx.view, counters);
    b.unlock(tx.view);
    const std::uint64_t fee = fee_lamports * tx.num_signers;
    if (r != tx_result::ok) {
      const bool fee_charged = r != tx_result::insufficient_funds_for_fee;
      EXPECT_EQ(b.balance(tx.accounts[0]), before[0] - (fee_charged ? fee : 0));
      for (std::size_t a = 1; a < tx.accounts.size(); ++a) {
        EXPECT_EQ(b.balance(tx.accounts[a]), before[a]) << riptide::txn::to_string(r);
      }
    } else {
      EXPECT_EQ(counters.fees_collected_lamports - fees_before, fee);
    }
    ASSERT_EQ(b.total_lamports() + counters.fees_collected_lamports, b.total_supply());
  }
  // Seed 11 gives ok 1954, insufficient_funds 594, invalid_instruction 188,
  // unknown_program 168, insufficient_funds_for_fee 96: every path is exercised.
  EXPECT_GT(counters.count(tx_result::ok), 1000u);
  EXPECT_GT(counters.count(tx_result::insufficient_funds), 100u);
  EXPECT_GT(counters.count(tx_result::unknown_program), 10u);
  EXPECT_GT(counters.count(tx_result::invalid_instruction), 10u);
  EXPECT_GT(counters.count(tx_result::insufficient_funds_for_fee), 10u);
  EXPECT_EQ(b.held_stripes(), 0u);
}

// ------------------------------------------------------------------------------------- locks

TEST(bank_locks, conflicting_writers_cannot_both_lock) {
  bank b{small_config()};
  raw_tx t1 = make_transfer(key_of(1), key_of(2), 1, genesis_hash);
  raw_tx t2 = make_transfer(key_of(3), key_of(2), 1, genesis_hash);  // shares writable 2
  ASSERT_TRUE(b.try_lock(t1.view));
  EXPECT_FALSE(b.try_lock(t2.view));
  b.unlock(t1.view);
  EXPECT_TRUE(b.try_lock(t2.view));  // unlock released
  b.unlock(t2.view);
  EXPECT_EQ(b.held_stripes(), 0u);
}

TEST(bank_locks, disjoint_writers_both_lock) {
  bank b{small_config()};
  raw_tx t1 = make_transfer(key_of(1), key_of(2), 1, genesis_hash);
  raw_tx t2 = make_transfer(key_of(3), key_of(4), 1, genesis_hash);
  ASSERT_TRUE(b.try_lock(t1.view));
  EXPECT_TRUE(b.try_lock(t2.view));
  b.unlock(t1.view);
  b.unlock(t2.view);
  EXPECT_EQ(b.held_stripes(), 0u);
}

// A tx that reads `readonly` (a readonly non-signer) and writes `writer`.
raw_tx make_reader(const pubkey& writer, const pubkey& readonly) {
  raw_tx tx;
  tx.accounts = {writer, readonly, riptide::txn::system_program_id};
  tx.readonly_unsigned = 2;
  tx.instructions.push_back({2, {0, 0}, transfer_data(0)});
  tx.build();
  EXPECT_FALSE(tx.view.is_writable(1));
  return tx;
}

TEST(bank_locks, readonly_readonly_share_and_readonly_writer_conflict) {
  bank b{small_config()};
  raw_tx r1 = make_reader(key_of(1), key_of(9));
  raw_tx r2 = make_reader(key_of(2), key_of(9));
  ASSERT_TRUE(b.try_lock(r1.view));
  EXPECT_TRUE(b.try_lock(r2.view));  // both read 9
  raw_tx w = make_transfer(key_of(3), key_of(9), 1, genesis_hash);  // writes 9
  EXPECT_FALSE(b.try_lock(w.view));
  b.unlock(r1.view);
  EXPECT_FALSE(b.try_lock(w.view));  // r2 still reads 9
  b.unlock(r2.view);
  ASSERT_TRUE(b.try_lock(w.view));
  EXPECT_FALSE(b.try_lock(r1.view));  // and a writer excludes readers
  b.unlock(w.view);
  EXPECT_EQ(b.held_stripes(), 0u);
}

TEST(bank_locks, failed_try_lock_leaves_nothing_locked) {
  bank b{small_config()};
  // Holder locks only account 50. The contender locks 10..14 (writable) + 50 + more: its
  // first locks succeed, then 50 conflicts, and everything it took must be given back.
  raw_tx holder = make_transfer(key_of(50), key_of(50), 0, genesis_hash);
  ASSERT_TRUE(b.try_lock(holder.view));
  const std::size_t held_before = b.held_stripes();
  raw_tx contender;
  contender.blockhash = genesis_hash;
  for (std::uint32_t i = 10; i < 15; ++i) contender.accounts.push_back(key_of(i));
  contender.accounts.push_back(key_of(50));
  contender.accounts.push_back(key_of(60));
  contender.accounts.push_back(riptide::txn::system_program_id);
  contender.readonly_unsigned = 2;  // 60 read-only, system program
  contender.instructions.push_back({7, {0, 5}, transfer_data(1)});
  contender.build();
  EXPECT_FALSE(b.try_lock(contender.view));
  EXPECT_EQ(b.held_stripes(), held_before);
  b.unlock(holder.view);
  EXPECT_EQ(b.held_stripes(), 0u);
  EXPECT_TRUE(b.try_lock(contender.view));
  b.unlock(contender.view);
  EXPECT_EQ(b.held_stripes(), 0u);
}

TEST(bank_locks, held_locks_form_unlocks_without_rehashing) {
  bank b{small_config()};
  riptide::txn::held_locks h1;
  riptide::txn::held_locks h2;
  raw_tx t1 = make_transfer(key_of(1), key_of(2), 1, genesis_hash);
  raw_tx t2 = make_transfer(key_of(2), key_of(3), 1, genesis_hash);
  ASSERT_TRUE(b.try_lock(t1.view, h1));
  EXPECT_EQ(h1.size(), 2u);  // from and to; the system program is not locked
  EXPECT_FALSE(b.try_lock(t2.view, h2));
  EXPECT_EQ(h2.size(), 0u);  // nothing held after a failure
  EXPECT_EQ(b.held_stripes(), 2u);
  b.unlock(h1);
  EXPECT_EQ(h1.size(), 0u);
  ASSERT_TRUE(b.try_lock(t2.view, h2));
  b.unlock(t2.view);  // the two forms release the same words
  EXPECT_EQ(b.held_stripes(), 0u);
}

TEST(bank_locks, two_keys_on_one_stripe_lock_once) {
  bank_config config = small_config();
  config.lock_stripes = 1;  // every key on one stripe
  bank b{config};
  raw_tx t = make_transfer(key_of(1), key_of(2), 1, genesis_hash);
  ASSERT_TRUE(b.try_lock(t.view));
  EXPECT_EQ(b.held_stripes(), 1u);
  b.unlock(t.view);
  EXPECT_EQ(b.held_stripes(), 0u);
}

// ------------------------------------------------------------------------------- contention

// Threads execute random transfers among a few accounts (many conflicts) through
// try_lock/execute/unlock; run under ThreadSanitizer (test binary txn/bank).
TEST(bank_contention, random_transfers_from_several_threads_conserve_lamports) {
  bank b{small_config()};
  b.register_blockhash(0, genesis_hash);
  constexpr std::uint32_t num_accounts = 16;
  for (std::uint32_t i = 0; i < num_accounts; ++i) ASSERT_TRUE(b.credit(key_of(i), 10'000));
  constexpr int num_threads = 3;
  constexpr int txs_per_thread = 3000;
  // Pre-built so the threads only lock, execute and unlock.
  std::vector<std::vector<raw_tx>> work(num_threads);
  std::mt19937_64 rng(7);
  for (auto& list : work) {
    list.reserve(txs_per_thread);
    for (int n = 0; n < txs_per_thread; ++n) {
      const auto from = static_cast<std::uint32_t>(rng() % num_accounts);
      const auto to = static_cast<std::uint32_t>(rng() % (num_accounts + 4));
      list.push_back(make_transfer(key_of(from), key_of(to), rng() % 3000, genesis_hash));
    }
  }
  std::array<execution_counters, num_threads> counters{};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < num_threads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < num_threads) {
      }
      riptide::txn::held_locks held;
      for (const raw_tx& tx : work[static_cast<std::size_t>(t)]) {
        while (!b.try_lock(tx.view, held)) ++counters[static_cast<std::size_t>(t)].lock_conflicts;
        (void)b.execute(tx.view, counters[static_cast<std::size_t>(t)]);
        b.unlock(held);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  execution_counters total;
  for (const auto& c : counters) total.add(c);
  EXPECT_EQ(total.executed(), std::uint64_t{num_threads} * txs_per_thread);
  EXPECT_GT(total.count(tx_result::ok), 0u);
  EXPECT_EQ(b.total_lamports() + total.fees_collected_lamports, b.total_supply());
  EXPECT_EQ(b.held_stripes(), 0u);
}

// Threads create many new accounts at once (disjoint transfers to fresh receivers): the
// insert-only store must give every receiver exactly one slot and lose no lamports.
TEST(bank_contention, concurrent_inserts_of_new_receivers) {
  bank b{small_config(/*max_accounts=*/4096)};
  b.register_blockhash(0, genesis_hash);
  constexpr int num_threads = 3;
  constexpr std::uint32_t receivers_per_thread = 1000;
  for (std::uint32_t t = 0; t < num_threads; ++t) ASSERT_TRUE(b.credit(key_of(t), 1'000'000));
  std::vector<std::vector<raw_tx>> work(num_threads);
  for (std::uint32_t t = 0; t < num_threads; ++t) {
    work[t].reserve(receivers_per_thread);
    for (std::uint32_t r = 0; r < receivers_per_thread; ++r) {
      work[t].push_back(make_transfer(key_of(t), key_of(100'000 + t * receivers_per_thread + r),
                                      r + 1, genesis_hash));
    }
  }
  std::array<execution_counters, num_threads> counters{};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < num_threads; ++t) {
    threads.emplace_back([&, t] {
      for (const raw_tx& tx : work[t]) {
        while (!b.try_lock(tx.view)) {
        }
        (void)b.execute(tx.view, counters[t]);
        b.unlock(tx.view);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const auto& c : counters) EXPECT_EQ(c.count(tx_result::ok), receivers_per_thread);
  EXPECT_EQ(b.num_accounts(), num_threads * (1 + receivers_per_thread));
  for (std::uint32_t t = 0; t < num_threads; ++t) {
    for (std::uint32_t r = 0; r < receivers_per_thread; ++r) {
      ASSERT_EQ(b.balance(key_of(100'000 + t * receivers_per_thread + r)), r + 1);
    }
  }
  execution_counters total;
  for (const auto& c : counters) total.add(c);
  EXPECT_EQ(b.total_lamports() + total.fees_collected_lamports, b.total_supply());
  EXPECT_EQ(b.touched_accounts(), b.num_accounts());  // all in one slot, each once
}

// Readers and writers of one hot account: a shared holder never sees a writer inside.
TEST(bank_contention, exclusive_and_shared_locks_exclude_each_other) {
  bank b{small_config()};
  raw_tx writer = make_transfer(key_of(1), key_of(9), 0, genesis_hash);
  raw_tx reader_a = make_reader(key_of(2), key_of(9));
  raw_tx reader_b = make_reader(key_of(3), key_of(9));
  std::atomic<int> writers_inside{0};
  std::atomic<int> readers_inside{0};
  std::atomic<bool> violation{false};
  constexpr int rounds = 5000;
  const auto run = [&](raw_tx& tx, bool exclusive) {
    for (int n = 0; n < rounds; ++n) {
      while (!b.try_lock(tx.view)) {
      }
      if (exclusive) {
        if (writers_inside.fetch_add(1) != 0 || readers_inside.load() != 0) violation = true;
        writers_inside.fetch_sub(1);
      } else {
        readers_inside.fetch_add(1);
        if (writers_inside.load() != 0) violation = true;
        readers_inside.fetch_sub(1);
      }
      b.unlock(tx.view);
    }
  };
  std::thread t1([&] { run(writer, true); });
  std::thread t2([&] { run(reader_a, false); });
  std::thread t3([&] { run(reader_b, false); });
  t1.join();
  t2.join();
  t3.join();
  EXPECT_FALSE(violation.load());
  EXPECT_EQ(b.held_stripes(), 0u);
}

// ------------------------------------------------------------------------------- bank hash

TEST(bank_hash, same_inputs_same_hash_any_change_differs) {
  const auto run_slot = [](std::uint64_t extra, const hash32& poh) {
    bank b{small_config()};
    b.register_blockhash(0, genesis_hash);
    execution_counters counters;
    EXPECT_TRUE(b.credit(key_of(1), 1000));
    EXPECT_TRUE(b.credit(key_of(2), 1000));
    b.begin_slot();
    raw_tx t1 = make_transfer(key_of(1), key_of(3), 100 + extra, genesis_hash);
    raw_tx t2 = make_transfer(key_of(2), key_of(4), 200, genesis_hash);
    EXPECT_TRUE(b.try_lock(t1.view));
    EXPECT_EQ(b.execute(t1.view, counters), tx_result::ok);
    b.unlock(t1.view);
    EXPECT_TRUE(b.try_lock(t2.view));
    EXPECT_EQ(b.execute(t2.view, counters), tx_result::ok);
    b.unlock(t2.view);
    EXPECT_EQ(b.touched_accounts(), 4u);
    const hash32 h = b.bank_hash(poh);
    EXPECT_EQ(b.bank_hash(poh), h);  // idempotent
    return h;
  };
  const hash32 base = run_slot(0, hash_of(5));
  EXPECT_EQ(run_slot(0, hash_of(5)), base);
  EXPECT_NE(run_slot(1, hash_of(5)), base);  // one balance differs
  EXPECT_NE(run_slot(0, hash_of(6)), base);  // different PoH
}

TEST(bank_hash, order_of_execution_does_not_matter) {
  const auto run_slot = [](bool reversed) {
    bank b{small_config()};
    b.register_blockhash(0, genesis_hash);
    execution_counters counters;
    EXPECT_TRUE(b.credit(key_of(1), 1000));
    EXPECT_TRUE(b.credit(key_of(2), 1000));
    b.begin_slot();
    raw_tx t1 = make_transfer(key_of(1), key_of(3), 100, genesis_hash);
    raw_tx t2 = make_transfer(key_of(2), key_of(4), 200, genesis_hash);
    for (raw_tx* t : reversed ? std::array{&t2, &t1} : std::array{&t1, &t2}) {
      EXPECT_TRUE(b.try_lock(t->view));
      EXPECT_EQ(b.execute(t->view, counters), tx_result::ok);
      b.unlock(t->view);
    }
    return b.bank_hash(hash_of(5));
  };
  EXPECT_EQ(run_slot(false), run_slot(true));
}

TEST(bank_hash, begin_slot_forgets_touched_accounts) {
  bank b{small_config()};
  b.register_blockhash(0, genesis_hash);
  ASSERT_TRUE(b.credit(key_of(1), 1000));
  EXPECT_EQ(b.touched_accounts(), 1u);
  b.begin_slot();
  EXPECT_EQ(b.touched_accounts(), 0u);
  execution_counters counters;
  raw_tx t = make_transfer(key_of(1), key_of(2), 10, genesis_hash);
  ASSERT_TRUE(b.try_lock(t.view));
  EXPECT_EQ(b.execute(t.view, counters), tx_result::ok);
  b.unlock(t.view);
  EXPECT_EQ(b.touched_accounts(), 2u);
  // A failed-for-fee tx touches nothing.
  b.begin_slot();
  raw_tx poor = make_transfer(key_of(5), key_of(2), 0, genesis_hash);
  ASSERT_TRUE(b.try_lock(poor.view));
  EXPECT_EQ(b.execute(poor.view, counters), tx_result::insufficient_funds_for_fee);
  b.unlock(poor.view);
  EXPECT_EQ(b.touched_accounts(), 0u);
}

}  // namespace
