#include <riptide/bank/bank_forks.hpp>

#include <riptide/consensus/vote_tx.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/txn/execution.hpp>
#include <riptide/txn/transaction.hpp>

#include <gtest/gtest.h>

#include "../support/towers.hpp"

#include <array>
#include <atomic>
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace riptide;
using bank::bank_forks;
using bank::bank_index;
using bank::no_bank;
using txn::tx_result;

namespace {

constexpr std::uint64_t fee = 10;
constexpr std::uint64_t funding = 1'000'000;

crypto::hash32 hash_of(const std::string& s) {
  return crypto::sha256(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}
const crypto::hash32 genesis = hash_of("genesis");

bank::forks_config small_config() {
  bank::forks_config c;
  c.max_accounts = 256;
  c.max_banks = 64;
  c.max_versions = 256;
  c.max_statuses = 256;
  c.lock_stripes = 64;
  c.lamports_per_signature = fee;
  return c;
}

crypto::keypair key_for(std::uint64_t i) {
  for (std::uint64_t n = 0;; ++n) {
    crypto::keypair kp;
    if (crypto::keypair::try_from_secret(hash_of("key " + std::to_string(i) + " " + std::to_string(n)), kp)) return kp;
  }
}

// A built transaction, its bytes kept so a view stays valid (the view points into them: not
// copyable, so keep them in a deque).
struct held_tx {
  held_tx(const held_tx&) = delete;
  held_tx& operator=(const held_tx&) = delete;
  std::array<std::uint8_t, txn::max_transaction_bytes> body{};
  std::size_t len = 0;
  txn::transaction_view view;

 protected:
  template <class Build>
  explicit held_tx(Build&& build) {
    len = build(body);
    EXPECT_EQ(txn::parse_transaction(std::span(body.data(), len), view), txn::parse_error::none);
  }
};

// A signed transfer.
struct tx : held_tx {
  tx(const crypto::keypair& from, const crypto::pubkey& to, std::uint64_t lamports, const crypto::hash32& blockhash)
      : held_tx([&](auto& out) { return txn::build_transfer(from, to, lamports, blockhash, out); }) {}
};

// Locks, executes and unlocks, as a bank tile does.
tx_result run_locked(bank_forks& f, bank_index b, const txn::transaction_view& view, txn::execution_counters& counters) {
  txn::held_locks held;
  EXPECT_TRUE(f.try_lock(view, held));
  const tx_result r = f.execute(b, view, counters);
  f.unlock(held);
  return r;
}

crypto::hash32 freeze_bank(bank_forks& f, bank_index b, const std::string& poh) {
  crypto::hash32 h{};
  EXPECT_TRUE(f.freeze(b, hash_of(poh), 0, h));
  return h;
}

// A fork tree on top of a genesis with keys 0..3 funded.
struct forks {
  std::unique_ptr<bank_forks> f;
  std::vector<crypto::keypair> keys;
  txn::execution_counters counters;
  explicit forks(const bank::forks_config& c = small_config()) : f(std::make_unique<bank_forks>(c, genesis)) {
    for (int i = 0; i < 4; ++i) {
      keys.push_back(key_for(static_cast<std::uint64_t>(i)));
      EXPECT_TRUE(f->credit(keys.back().public_key(), funding));
    }
  }
  bank_index child(bank_index parent, std::uint64_t slot, const std::string& name) {
    const bank_index b = f->new_bank(parent, slot, hash_of(name));
    EXPECT_NE(b, no_bank) << name;
    return b;
  }
  tx_result run(bank_index b, const tx& t) { return run_locked(*f, b, t.view, counters); }
  crypto::hash32 freeze(bank_index b, const std::string& poh) { return freeze_bank(*f, b, poh); }
  std::uint64_t balance(bank_index b, int key) const { return f->balance(b, keys[static_cast<std::size_t>(key)].public_key()); }
};

// ---- raw transactions: any accounts, signers and instructions, with zero signature bytes
// but for a serial number in the first signature (bank forks do not verify signatures, and
// refuse a first signature that landed already), so every build() is a new transaction.

crypto::pubkey key_of(std::uint32_t n) {
  crypto::pubkey key{};
  key[0] = 0xAA;
  key[1] = static_cast<std::uint8_t>(n);
  key[2] = static_cast<std::uint8_t>(n >> 8);
  key[3] = static_cast<std::uint8_t>(n >> 16);
  return key;
}

std::vector<std::uint8_t> transfer_data(std::uint64_t lamports, std::uint32_t kind = txn::system_transfer_kind) {
  std::vector<std::uint8_t> d;
  for (int i = 0; i < 4; ++i) d.push_back(static_cast<std::uint8_t>(kind >> (8 * i)));
  for (int i = 0; i < 8; ++i) d.push_back(static_cast<std::uint8_t>(lamports >> (8 * i)));
  return d;
}

struct raw_instruction {
  std::uint8_t program_index;
  std::vector<std::uint8_t> accounts;
  std::vector<std::uint8_t> data;
};

std::uint64_t next_serial = 1;  // built on the test's main thread only

// accounts: [writable signers | readonly signers | writable | readonly] by the counts. The
// view points into bytes: a raw_tx moves (the buffer goes along) but is not copied.
struct raw_tx {
  raw_tx() = default;
  raw_tx(raw_tx&&) noexcept = default;
  raw_tx& operator=(raw_tx&&) noexcept = default;
  raw_tx(const raw_tx&) = delete;
  raw_tx& operator=(const raw_tx&) = delete;

  std::uint8_t num_signers = 1;
  std::uint8_t readonly_signed = 0;
  std::uint8_t readonly_unsigned = 0;
  std::vector<crypto::pubkey> accounts;
  crypto::hash32 blockhash = genesis;
  std::vector<raw_instruction> instructions;

  std::vector<std::uint8_t> bytes;
  txn::transaction_view view;

  const txn::transaction_view& build() {
    bytes.clear();
    bytes.push_back(num_signers);
    bytes.insert(bytes.end(), crypto::signature_bytes * num_signers, 0);
    for (std::size_t i = 0; i < 8; ++i) bytes[1 + i] = static_cast<std::uint8_t>(next_serial >> (8 * i));
    ++next_serial;
    bytes.push_back(txn::message_version_v1);
    bytes.push_back(num_signers);
    bytes.push_back(readonly_signed);
    bytes.push_back(readonly_unsigned);
    bytes.push_back(static_cast<std::uint8_t>(accounts.size()));
    for (const crypto::pubkey& k : accounts) bytes.insert(bytes.end(), k.begin(), k.end());
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
    const auto error = txn::parse_transaction(bytes, view);
    EXPECT_EQ(error, txn::parse_error::none) << txn::to_string(error);
    return view;
  }
};

// One instruction of make_transfers: a transfer (or another system instruction by `kind`)
// between two of its keys, by index.
struct leg {
  std::uint8_t from;
  std::uint8_t to;
  std::uint64_t lamports;
  std::uint32_t kind = txn::system_transfer_kind;
};

// Accounts [keys..., program], every key writable and the first num_signers signing; one
// instruction of `program` per leg.
raw_tx make_transfers(std::vector<crypto::pubkey> keys, const std::vector<leg>& legs, std::uint8_t num_signers = 1,
                      const crypto::pubkey& program = txn::system_program_id, const crypto::hash32& blockhash = genesis) {
  raw_tx tx;
  tx.num_signers = num_signers;
  tx.blockhash = blockhash;
  tx.accounts = std::move(keys);
  tx.accounts.push_back(program);
  tx.readonly_unsigned = 1;
  const auto program_index = static_cast<std::uint8_t>(tx.accounts.size() - 1);
  for (const leg& l : legs) tx.instructions.push_back({program_index, {l.from, l.to}, transfer_data(l.lamports, l.kind)});
  tx.build();
  return tx;
}

// from -> to: accounts [from, to, system program] (or [from, system program] if from == to).
raw_tx make_transfer(const crypto::pubkey& from, const crypto::pubkey& to, std::uint64_t lamports,
                     const crypto::hash32& blockhash = genesis) {
  if (to == from) return make_transfers({from}, {{0, 0, lamports}}, 1, txn::system_program_id, blockhash);
  return make_transfers({from, to}, {{0, 1, lamports}}, 1, txn::system_program_id, blockhash);
}

// A tx that reads `readonly` (a readonly non-signer) and writes `writer`.
raw_tx make_reader(const crypto::pubkey& writer, const crypto::pubkey& readonly) {
  raw_tx tx;
  tx.accounts = {writer, readonly, txn::system_program_id};
  tx.readonly_unsigned = 2;
  tx.instructions.push_back({2, {0, 0}, transfer_data(0)});
  tx.build();
  EXPECT_FALSE(tx.view.is_writable(1));
  return tx;
}

bank::forks_config with_statuses(bank::forks_config c, std::size_t statuses) {
  c.max_statuses = statuses;
  return c;
}

// One bank, a child of the genesis root made at its first use (after the genesis credits),
// executing raw transactions as a bank tile does.
struct one_bank {
  bank_forks f;
  bank_index b = no_bank;
  txn::execution_counters counters;
  explicit one_bank(const bank::forks_config& c = small_config()) : f(c, genesis) {}
  bank_index bank() {
    if (b == no_bank) b = f.new_bank(f.root(), 0, hash_of("block 0"));
    EXPECT_NE(b, no_bank);
    return b;
  }
  // Genesis: key_of(0 .. accounts - 1) get `lamports` each.
  void fund(std::uint32_t accounts, std::uint64_t lamports) {
    for (std::uint32_t i = 0; i < accounts; ++i) EXPECT_TRUE(f.credit(key_of(i), lamports));
  }
  tx_result run(const raw_tx& tx) { return run_locked(f, bank(), tx.view, counters); }
  std::uint64_t balance(std::uint32_t n) { return f.balance(bank(), key_of(n)); }
  // Ends the bank: freezes (unless frozen) and roots it, then checks that every account's
  // balance (the rooted store lists them all) plus the fees burnt is the supply.
  void root_and_expect_conserved() {
    const bank_index ended = bank();
    if (!f.info(ended).frozen) freeze_bank(f, ended, "poh end");
    ASSERT_TRUE(f.set_root(ended));
    std::uint64_t total = 0;
    f.for_each_rooted_account([&total](const crypto::pubkey&, std::uint64_t lamports) { total += lamports; });
    EXPECT_EQ(total + counters.fees_collected_lamports, f.total_supply());
  }
};

TEST(bank_forks, a_transfer_on_one_fork_is_invisible_on_the_other) {
  forks t;
  const bank_index root = t.f->root();
  const bank_index s0 = t.child(root, 0, "block 0");
  t.freeze(s0, "poh 0");
  const bank_index a = t.child(s0, 1, "A");
  const bank_index b = t.child(s0, 2, "B");
  EXPECT_EQ(t.run(a, tx(t.keys[0], t.keys[1].public_key(), 500, genesis)), tx_result::ok);
  EXPECT_EQ(t.balance(a, 0), funding - 500 - fee);
  EXPECT_EQ(t.balance(a, 1), funding + 500);
  EXPECT_EQ(t.balance(b, 0), funding);
  EXPECT_EQ(t.balance(b, 1), funding);
  EXPECT_EQ(t.balance(s0, 1), funding);
  EXPECT_EQ(t.balance(root, 1), funding);
  // A child of A sees A's transfer; a child of B does not.
  t.freeze(a, "poh A");
  t.freeze(b, "poh B");
  const bank_index a1 = t.child(a, 3, "A1");
  const bank_index b1 = t.child(b, 3, "B1");
  EXPECT_EQ(t.balance(a1, 1), funding + 500);
  EXPECT_EQ(t.balance(b1, 1), funding);
  EXPECT_TRUE(t.f->is_ancestor(a, a1));
  EXPECT_FALSE(t.f->is_ancestor(a, b1));
}

TEST(bank_forks, set_root_folds_the_path_and_prunes_the_rest) {
  forks t;
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  EXPECT_EQ(t.run(s0, tx(t.keys[0], t.keys[1].public_key(), 100, genesis)), tx_result::ok);
  t.freeze(s0, "poh 0");
  const bank_index a = t.child(s0, 1, "A");
  const bank_index b = t.child(s0, 2, "B");
  EXPECT_EQ(t.run(a, tx(t.keys[1], t.keys[2].public_key(), 7, genesis)), tx_result::ok);
  EXPECT_EQ(t.run(b, tx(t.keys[2], t.keys[3].public_key(), 9, genesis)), tx_result::ok);
  t.freeze(a, "poh A");
  t.freeze(b, "poh B");
  const bank_index a1 = t.child(a, 3, "A1");
  EXPECT_EQ(t.run(a1, tx(t.keys[3], t.keys[0].public_key(), 11, genesis)), tx_result::ok);
  const auto before = t.f->stats();
  EXPECT_EQ(before.banks, 5u);  // genesis, 0, A, B, A1
  EXPECT_EQ(before.versions, 2u + 2u + 2u + 2u);
  ASSERT_TRUE(t.f->set_root(a));
  const auto after = t.f->stats();
  EXPECT_EQ(t.f->root(), a);
  EXPECT_EQ(after.banks, 2u);  // A and A1
  EXPECT_EQ(after.versions, 2u);  // A1's
  EXPECT_EQ(after.pruned_banks, 1u);  // B (0 and genesis were folded, not pruned)
  EXPECT_EQ(after.rooted_slot, 1u);
  EXPECT_FALSE(t.f->live(b));
  EXPECT_FALSE(t.f->live(s0));
  EXPECT_EQ(t.f->find(hash_of("B")), no_bank);
  // The root holds 0's and A's changes; A1 still sees its own on top.
  EXPECT_EQ(t.balance(a, 0), funding - 100 - fee);
  EXPECT_EQ(t.balance(a, 1), funding + 100 - 7 - fee);
  EXPECT_EQ(t.balance(a, 2), funding + 7);
  EXPECT_EQ(t.balance(a, 3), funding);  // B's transfer is gone
  EXPECT_EQ(t.balance(a1, 0), funding - 100 - fee + 11);
  EXPECT_EQ(t.balance(a1, 3), funding - 11 - fee);
  // Rooting the tip folds the rest.
  t.freeze(a1, "poh A1");
  ASSERT_TRUE(t.f->set_root(a1));
  EXPECT_EQ(t.f->stats().versions, 0u);
  EXPECT_EQ(t.balance(a1, 3), funding - 11 - fee);
  std::uint64_t total = 0;
  for (int k = 0; k < 4; ++k) total += t.balance(a1, k);
  EXPECT_EQ(total + 3 * fee, 4 * funding);
}

TEST(bank_forks, set_root_refuses_what_it_cannot_root) {
  forks t;
  const bank_index root = t.f->root();
  const bank_index s0 = t.child(root, 0, "block 0");
  EXPECT_FALSE(t.f->set_root(s0));  // not frozen
  EXPECT_FALSE(t.f->set_root(root));  // already the root
  EXPECT_FALSE(t.f->set_root(no_bank));
  EXPECT_FALSE(t.f->set_root(63));  // not live
  t.freeze(s0, "poh 0");
  const bank_index d = t.child(s0, 1, "dead");
  t.f->mark_dead(d);
  EXPECT_TRUE(t.f->info(d).dead);
  crypto::hash32 h{};
  EXPECT_FALSE(t.f->freeze(d, hash_of("x"), 0, h));
  EXPECT_FALSE(t.f->set_root(d));
  EXPECT_EQ(t.f->new_bank(d, 2, hash_of("child of dead")), no_bank);
  EXPECT_EQ(t.f->root(), root);
}

TEST(bank_forks, highest_frozen_bank_is_the_highest_slot_then_the_lower_block_id) {
  forks t;
  const bank_index root = t.f->root();
  EXPECT_EQ(highest_frozen_bank(*t.f), root);  // only the genesis root
  const bank_index s0 = t.child(root, 0, "block 0");
  EXPECT_EQ(highest_frozen_bank(*t.f), root);  // not frozen yet
  t.freeze(s0, "poh 0");
  EXPECT_EQ(highest_frozen_bank(*t.f), s0);  // slot 0 beats the genesis root (also slot 0)
  // Two blocks for slot 2 and one for slot 1: slot 2, the lower id of the two.
  const bank_index s1 = t.child(s0, 1, "one");
  t.freeze(s1, "poh 1");
  const bank_index a = t.f->new_bank(s0, 2, bank::block_id{0x10});
  const bank_index b = t.f->new_bank(s1, 2, bank::block_id{0x0f});
  ASSERT_NE(a, no_bank);
  ASSERT_NE(b, no_bank);
  t.freeze(a, "poh a");
  EXPECT_EQ(highest_frozen_bank(*t.f), a);  // b is not frozen yet
  t.freeze(b, "poh b");
  EXPECT_EQ(highest_frozen_bank(*t.f), b);  // id 0x0f... < 0x10...
  // A higher slot that is dead does not count; one that is open does not either.
  const bank_index dead = t.child(a, 3, "dead");
  t.f->mark_dead(dead);
  (void)t.child(b, 4, "open");
  EXPECT_EQ(highest_frozen_bank(*t.f), b);
  // After rooting b, the root itself when nothing above it is frozen.
  ASSERT_TRUE(t.f->set_root(b));
  EXPECT_EQ(highest_frozen_bank(*t.f), b);
}

TEST(bank_forks, a_frozen_block_can_die_until_it_parents_one) {
  forks t;
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  t.freeze(s0, "poh 0");
  // Frozen, then found bad (its bank hash is not the leader's): dead, never rooted or a parent.
  const bank_index bad = t.child(s0, 1, "bad");
  t.freeze(bad, "poh bad");
  t.f->mark_dead(bad);
  EXPECT_TRUE(t.f->info(bad).dead);
  EXPECT_FALSE(t.f->set_root(bad));
  EXPECT_EQ(t.f->new_bank(bad, 2, hash_of("child of bad")), no_bank);
  // A bank that parents another already stays as it is; so does the root.
  const bank_index good = t.child(s0, 2, "good");
  t.freeze(good, "poh good");
  const bank_index child = t.child(good, 3, "child");
  t.f->mark_dead(good);
  EXPECT_FALSE(t.f->info(good).dead);
  EXPECT_NE(t.f->new_bank(good, 4, hash_of("another child")), no_bank);
  (void)child;
  t.f->mark_dead(t.f->root());
  EXPECT_FALSE(t.f->info(t.f->root()).dead);
}

TEST(bank_forks, new_bank_rules) {
  forks t;
  const bank_index root = t.f->root();
  const bank_index s0 = t.child(root, 0, "block 0");
  // Genesis funding only: after the first block a credit would be lost at the next fold.
  EXPECT_FALSE(t.f->credit(t.keys[0].public_key(), 1));
  EXPECT_EQ(t.balance(root, 0), funding);
  EXPECT_EQ(t.f->new_bank(s0, 1, hash_of("child of unfrozen")), no_bank);
  t.freeze(s0, "poh 0");
  EXPECT_EQ(t.f->new_bank(s0, 0, hash_of("same slot")), no_bank);
  EXPECT_EQ(t.f->new_bank(s0, 1, hash_of("block 0")), no_bank);  // block id taken
  const bank_index x = t.child(s0, 5, "five");
  const bank_index y = t.child(s0, 5, "five again");  // two blocks for one slot coexist
  EXPECT_NE(x, y);
  EXPECT_EQ(t.f->find(hash_of("five again")), y);
  EXPECT_EQ(t.f->info(y).parent_slot, 0u);
  // Full: max_banks live banks.
  bank::forks_config c = small_config();
  c.max_banks = 3;
  forks small(c);
  const bank_index z0 = small.child(small.f->root(), 0, "z0");
  small.freeze(z0, "pz0");
  EXPECT_NE(small.f->new_bank(z0, 1, hash_of("z1")), no_bank);
  EXPECT_EQ(small.f->new_bank(z0, 2, hash_of("z2")), no_bank);
}

TEST(bank_forks, set_block_id_renames_a_live_bank_once_its_block_is_known) {
  forks t;
  const bank_index b = t.child(t.f->root(), 0, "placeholder 0");
  const bank_index other = t.child(t.f->root(), 1, "other");
  EXPECT_FALSE(t.f->set_block_id(b, hash_of("other")));  // taken by another bank
  EXPECT_EQ(t.f->info(b).id, hash_of("placeholder 0"));
  EXPECT_TRUE(t.f->set_block_id(b, hash_of("placeholder 0")));  // its own: nothing to do
  t.freeze(b, "poh 0");
  EXPECT_TRUE(t.f->set_block_id(b, hash_of("poh 0")));
  EXPECT_EQ(t.f->find(hash_of("poh 0")), b);
  EXPECT_EQ(t.f->find(hash_of("placeholder 0")), no_bank);
  EXPECT_EQ(t.f->info(other).id, hash_of("other"));
  EXPECT_FALSE(t.f->set_block_id(no_bank, hash_of("x")));
}

TEST(bank_forks, a_signature_lands_once_per_fork) {
  forks t;
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  const tx pay(t.keys[0], t.keys[1].public_key(), 100, genesis);
  EXPECT_EQ(t.run(s0, pay), tx_result::ok);
  EXPECT_EQ(t.run(s0, pay), tx_result::already_processed);  // same bank
  EXPECT_EQ(t.balance(s0, 0), funding - 100 - fee);          // charged once
  t.freeze(s0, "poh 0");
  const bank_index a = t.child(s0, 1, "A");
  EXPECT_EQ(t.run(a, pay), tx_result::already_processed);  // an ancestor has it
  // A transfer signed on another basis lands once on each of two sibling forks.
  const tx other(t.keys[2], t.keys[3].public_key(), 5, genesis);
  const bank_index b = t.child(s0, 2, "B");
  EXPECT_EQ(t.run(a, other), tx_result::ok);
  EXPECT_EQ(t.run(b, other), tx_result::ok);
  EXPECT_EQ(t.run(b, other), tx_result::already_processed);
  EXPECT_EQ(t.balance(a, 3), funding + 5);
  EXPECT_EQ(t.balance(b, 3), funding + 5);
  // A failed transfer that paid its fee has landed too.
  const tx overdraft(t.keys[1], t.keys[2].public_key(), 10 * funding, genesis);
  EXPECT_EQ(t.run(a, overdraft), tx_result::insufficient_funds);
  EXPECT_EQ(t.run(a, overdraft), tx_result::already_processed);
  // Rooted statuses still count.
  t.freeze(a, "poh A");
  ASSERT_TRUE(t.f->set_root(a));
  const bank_index a1 = t.child(a, 3, "A1");
  EXPECT_EQ(t.run(a1, other), tx_result::already_processed);
  EXPECT_EQ(t.run(a1, pay), tx_result::already_processed);
  EXPECT_EQ(t.run(a1, overdraft), tx_result::already_processed);
}

TEST(bank_forks, a_blockhash_is_recent_only_on_its_own_fork) {
  forks t;
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  t.freeze(s0, "poh 0");
  const bank_index a = t.child(s0, 1, "A");
  const bank_index b = t.child(s0, 2, "B");
  t.freeze(a, "poh A");
  t.freeze(b, "poh B");
  const bank_index a1 = t.child(a, 3, "A1");
  const bank_index b1 = t.child(b, 3, "B1");
  // A's blockhash is A's last PoH hash: valid on A1, unknown on B1.
  EXPECT_EQ(t.run(a1, tx(t.keys[0], t.keys[1].public_key(), 1, hash_of("poh A"))), tx_result::ok);
  EXPECT_EQ(t.run(b1, tx(t.keys[0], t.keys[1].public_key(), 2, hash_of("poh A"))), tx_result::blockhash_too_old);
  EXPECT_EQ(t.run(b1, tx(t.keys[0], t.keys[1].public_key(), 3, hash_of("poh B"))), tx_result::ok);
  EXPECT_EQ(t.run(b1, tx(t.keys[0], t.keys[1].public_key(), 4, hash_of("never a block"))), tx_result::blockhash_too_old);
  // Nothing changed for the refused ones.
  EXPECT_EQ(t.balance(b1, 1), funding + 3);
  EXPECT_EQ(t.counters.count(tx_result::blockhash_too_old), 2u);
}

TEST(bank_forks, a_blockhash_ages_out_after_150_slots_rooted_or_not) {
  forks t;
  bank_index tip = t.child(t.f->root(), 0, "block 0");
  t.freeze(tip, "poh 0");
  // A chain: 0, 1, 2, ... with the root following 10 slots behind the tip.
  for (std::uint64_t s = 1; s <= 150; ++s) {
    tip = t.child(tip, s, "block " + std::to_string(s));
    if (s == 150) break;
    t.freeze(tip, "poh " + std::to_string(s));
    if (s > 10) {
      bank_index r = tip;
      for (int k = 0; k < 10; ++k) r = t.f->info(r).parent;
      if (r != t.f->root()) {
        ASSERT_TRUE(t.f->set_root(r));
      }
    }
  }
  // The bank at slot 150 has parent slot 149: slot 0's hash is 149 slots old, the genesis
  // hash (registered for slot 0 too) as well; both still recent.
  EXPECT_EQ(t.run(tip, tx(t.keys[0], t.keys[1].public_key(), 1, hash_of("poh 0"))), tx_result::ok);
  EXPECT_EQ(t.run(tip, tx(t.keys[0], t.keys[1].public_key(), 2, genesis)), tx_result::ok);
  t.freeze(tip, "poh 150");
  const bank_index next = t.child(tip, 151, "block 151");
  EXPECT_EQ(t.run(next, tx(t.keys[0], t.keys[1].public_key(), 3, hash_of("poh 0"))), tx_result::blockhash_too_old);
  EXPECT_EQ(t.run(next, tx(t.keys[0], t.keys[1].public_key(), 4, hash_of("poh 1"))), tx_result::ok);  // 149 old
  EXPECT_EQ(t.run(next, tx(t.keys[0], t.keys[1].public_key(), 5, hash_of("poh 150"))), tx_result::ok);
  EXPECT_GT(t.f->stats().roots, 100u);
}

TEST(bank_forks, bank_hash_covers_exactly_the_accounts_the_block_changed) {
  // SHA-256(count | {pubkey | lamports} sorted by pubkey | last PoH), over the accounts this
  // block wrote (a fee, a transfer, a new account, a transfer to self), computed here by hand.
  forks t;
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  const crypto::pubkey fresh = key_for(99).public_key();  // an account created by the slot
  std::deque<tx> txs;
  txs.emplace_back(t.keys[0], t.keys[1].public_key(), 100, genesis);
  txs.emplace_back(t.keys[1], fresh, 300, genesis);
  txs.emplace_back(t.keys[2], t.keys[3].public_key(), 10 * funding, genesis);  // overdraft: fee only
  txs.emplace_back(t.keys[3], t.keys[3].public_key(), 1, genesis);              // to self
  const tx_result expected[] = {tx_result::ok, tx_result::ok, tx_result::insufficient_funds, tx_result::ok};
  for (std::size_t i = 0; i < txs.size(); ++i) EXPECT_EQ(t.run(s0, txs[i]), expected[i]);
  std::vector<crypto::pubkey> changed{fresh};
  for (const auto& k : t.keys) changed.push_back(k.public_key());
  std::sort(changed.begin(), changed.end());
  txn::bank_hasher by_hand(changed.size());
  for (const auto& k : changed) by_hand.add(k, t.f->balance(s0, k));
  const crypto::hash32 h = t.freeze(s0, "poh 0");
  EXPECT_EQ(h, by_hand.finish(hash_of("poh 0")));
  EXPECT_EQ(t.f->info(s0).bank_hash, h);
  EXPECT_EQ(t.f->info(s0).changed_accounts, 5u);
  EXPECT_EQ(t.f->info(s0).landed, 4u);
  EXPECT_EQ(t.f->balance(s0, fresh), 300u);
  EXPECT_EQ(t.f->balance(s0, t.keys[0].public_key()), funding - fee - 100);
  EXPECT_EQ(t.f->balance(s0, t.keys[2].public_key()), funding - fee);
  EXPECT_EQ(t.f->balance(s0, t.keys[3].public_key()), funding - fee);
}

TEST(bank_forks, full_tables_refuse_and_change_nothing) {
  bank::forks_config c = small_config();
  c.max_versions = 64;
  c.max_statuses = 64;
  forks t(c);
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  // Each transfer to a new account takes 2 versions (payer, receiver) and 1 status.
  int ok = 0;
  tx_result last = tx_result::ok;
  for (int i = 0; i < 100 && last == tx_result::ok; ++i) {
    const tx x(t.keys[static_cast<std::size_t>(i % 4)], key_for(1000 + static_cast<std::uint64_t>(i)).public_key(), 1, genesis);
    last = t.run(s0, x);
    if (last == tx_result::ok) ++ok;
  }
  EXPECT_EQ(last, tx_result::account_table_full);
  EXPECT_EQ(ok, 60);  // 4 payers (one version each, reused) + 60 receivers = 64 versions
  const auto s = t.f->stats();
  EXPECT_EQ(s.versions, 64u);
  EXPECT_EQ(s.refused_full, 1u);
  // Nothing of the refused one changed: each payer paid for its own landed transfers only.
  std::uint64_t total = 0;
  for (int k = 0; k < 4; ++k) total += t.balance(s0, k);
  EXPECT_EQ(total + static_cast<std::uint64_t>(ok) * (1 + fee), 4 * funding);
}

TEST(bank_forks, dropped_statuses_are_reclaimed_and_the_rest_still_found) {
  // Many short-lived forks: their statuses become tombstones and are rebuilt away, while the
  // statuses of the rooted chain keep refusing replays.
  bank::forks_config c = small_config();
  c.max_statuses = 64;  // a 128-entry table: rebuilt after 32 tombstones
  forks t(c);
  bank_index tip = t.child(t.f->root(), 0, "block 0");
  const tx kept(t.keys[0], t.keys[1].public_key(), 1, genesis);
  EXPECT_EQ(t.run(tip, kept), tx_result::ok);
  t.freeze(tip, "poh 0");
  std::deque<tx> lost;
  for (std::uint64_t s = 1; s <= 40; ++s) {
    const bank_index loser = t.child(tip, 2 * s, "loser " + std::to_string(s));
    for (int k = 0; k < 3; ++k) {
      lost.emplace_back(t.keys[2], t.keys[3].public_key(), s * 10 + static_cast<std::uint64_t>(k), genesis);
      EXPECT_EQ(t.run(loser, lost.back()), tx_result::ok);
    }
    const bank_index winner = t.child(tip, 2 * s + 1, "winner " + std::to_string(s));
    t.freeze(winner, "poh w " + std::to_string(s));
    ASSERT_TRUE(t.f->set_root(winner));  // prunes the loser: 3 tombstones
    tip = winner;
    EXPECT_LE(t.f->stats().statuses, 1u);
  }
  const bank_index next = t.child(tip, 1000, "next");
  EXPECT_EQ(t.run(next, kept), tx_result::already_processed);
  // The losers' transfers never landed on this fork: they may land now, once.
  EXPECT_EQ(t.run(next, lost.front()), tx_result::ok);
  EXPECT_EQ(t.run(next, lost.front()), tx_result::already_processed);
  EXPECT_EQ(t.run(next, lost.back()), tx_result::ok);
}

TEST(bank_forks, rooted_statuses_expire_with_their_blockhash_even_across_rebuilds) {
  // Losers' statuses become tombstones; the twenty statuses of winner 9 are placed after some
  // of them, so the rebuild (after 32 tombstones) moves them; they expire when the root passes
  // slot 90 + 150, walking their list, which must have followed the moves.
  bank::forks_config c = small_config();
  c.max_statuses = 64;  // a 128-entry table
  forks t(c);
  bank_index tip = t.child(t.f->root(), 0, "block 0");
  t.freeze(tip, "poh 0");
  std::string tip_poh = "poh 0";
  std::size_t max_statuses_seen = 0;
  std::uint64_t rebuilds_before_expiry = 0;
  for (std::uint64_t s = 1; s <= 40; ++s) {
    const bank_index loser = t.child(tip, 10 * s - 5, "loser " + std::to_string(s));
    for (std::uint64_t k = 0; k < 3; ++k)
      EXPECT_EQ(t.run(loser, tx(t.keys[2], t.keys[3].public_key(), 100 * s + k, hash_of(tip_poh))), tx_result::ok);
    const bank_index winner = t.child(tip, 10 * s, "winner " + std::to_string(s));
    for (std::uint64_t k = 0; s == 9 && k < 20; ++k) {
      EXPECT_EQ(t.run(winner, tx(t.keys[k % 2], t.keys[1].public_key(), k + 1, hash_of(tip_poh))), tx_result::ok);
    }
    max_statuses_seen = std::max(max_statuses_seen, t.f->stats().statuses);
    tip_poh = "poh w " + std::to_string(s);
    t.freeze(winner, tip_poh);
    ASSERT_TRUE(t.f->set_root(winner));
    tip = winner;
    if (t.f->stats().rooted_slot < 90 + 151) rebuilds_before_expiry = t.f->stats().status_rebuilds;
  }
  EXPECT_GE(rebuilds_before_expiry, 1u);
  EXPECT_EQ(max_statuses_seen, 23u);
  EXPECT_EQ(t.f->stats().statuses, 0u);
}

TEST(bank_forks, bad_config_throws) {
  auto bad = [](auto edit) {
    bank::forks_config c = small_config();
    edit(c);
    EXPECT_THROW(bank_forks(c, genesis), std::invalid_argument);
  };
  bad([](bank::forks_config& c) { c.max_accounts = 0; });
  bad([](bank::forks_config& c) { c.max_banks = 1; });
  bad([](bank::forks_config& c) { c.max_banks = 4097; });
  bad([](bank::forks_config& c) { c.max_versions = 1; });
  bad([](bank::forks_config& c) { c.max_statuses = 1; });
  bad([](bank::forks_config& c) { c.lock_stripes = 0; });
  bad([](bank::forks_config& c) { c.lamports_per_signature = ~0ULL; });
  bad([](bank::forks_config& c) { c.max_voters = 0; });
  bad([](bank::forks_config& c) { c.max_voters = 4097; });
}

// ---- votes: a vote state per validator per fork

namespace {

// A signed vote transaction for the given slots.
struct vote_tx : held_tx {
  vote_tx(const crypto::keypair& voter, const std::vector<std::uint64_t>& slots, const crypto::hash32& bank_hash,
          const crypto::hash32& blockhash, std::int64_t when = 1)
      : held_tx([&](auto& out) {
          consensus::tower_sync v;
          v.votes = riptide::testing::voted(slots);
          v.bank_hash = bank_hash;
          v.timestamp_ms = when;
          return consensus::build_vote_transaction(voter, v, blockhash, out);
        }) {}
};

// Validators 0 and 1 registered as voters; block 0 frozen on the root, its hash h0.
struct voting : forks {
  bank_index s0 = no_bank;
  crypto::hash32 h0{};
  voting() {
    EXPECT_TRUE(f->add_voter(keys[0].public_key()));
    EXPECT_TRUE(f->add_voter(keys[1].public_key()));
    s0 = child(f->root(), 0, "block 0");
    h0 = freeze(s0, "poh 0");
  }
  txn::tx_result run(bank_index bank, const vote_tx& v) { return run_locked(*f, bank, v.view, counters); }
};

std::optional<std::uint64_t> last_vote(const bank_forks& f, bank_index b, std::size_t voter) {
  const auto v = f.vote_state(b, voter);
  if (!v) return std::nullopt;
  return v->votes.last_voted_slot();
}

}  // namespace

TEST(bank_forks_votes, a_vote_lands_on_its_fork_only_and_pays_its_fee) {
  voting t;
  EXPECT_FALSE(t.f->add_voter(t.keys[1].public_key()));  // once
  EXPECT_EQ(t.f->voter_index(t.keys[1].public_key()), 1u);
  const bank_index s0 = t.s0;
  const crypto::hash32 h0 = t.h0;
  const bank_index a = t.child(s0, 1, "A");
  const bank_index b = t.child(s0, 2, "B");
  auto run = [&](bank_index bank, const vote_tx& v) { return t.run(bank, v); };
  EXPECT_EQ(run(a, vote_tx(t.keys[0], {0}, h0, genesis)), tx_result::ok);
  EXPECT_EQ(last_vote(*t.f, a, 0), 0u);
  EXPECT_EQ(t.balance(a, 0), funding - fee);
  EXPECT_FALSE(last_vote(*t.f, s0, 0).has_value());  // not on the parent
  EXPECT_FALSE(last_vote(*t.f, b, 0).has_value());   // nor on the sibling
  EXPECT_FALSE(last_vote(*t.f, a, 1).has_value());   // nor for another voter
  // A child of A sees it; a newer vote there replaces it on that fork only.
  const crypto::hash32 ha = t.freeze(a, "poh A");
  const bank_index a1 = t.child(a, 3, "A1");
  EXPECT_EQ(last_vote(*t.f, a1, 0), 0u);
  EXPECT_EQ(run(a1, vote_tx(t.keys[0], {0, 1}, ha, genesis)), tx_result::ok);
  EXPECT_EQ(last_vote(*t.f, a1, 0), 1u);
  EXPECT_EQ(last_vote(*t.f, a, 0), 0u);
  const auto state = t.f->vote_state(a1, 0);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->votes.votes().size(), 2u);
  EXPECT_EQ(state->bank_hash, ha);
}

TEST(bank_forks_votes, a_vote_that_may_not_land_fails_with_its_fee_and_changes_no_state) {
  voting t;  // validator 1 has not voted
  const crypto::hash32 h0 = t.h0;
  const bank_index a = t.child(t.s0, 1, "A");
  const crypto::hash32 ha = t.freeze(a, "poh A");
  const bank_index b = t.child(t.s0, 2, "B");  // a sibling of A: executing
  auto run = [&](bank_index bank, const vote_tx& v) { return t.run(bank, v); };
  ASSERT_EQ(run(b, vote_tx(t.keys[0], {0}, h0, genesis)), tx_result::ok);
  struct row {
    std::string name;
    const crypto::keypair& voter;
    std::vector<std::uint64_t> slots;
    crypto::hash32 hash;
  };
  crypto::hash32 wrong = h0;
  wrong[0] ^= 1;
  const std::vector<row> rows{
      {"a validator whose votes do not count", t.keys[2], {0}, h0},
      {"a slot on another fork", t.keys[0], {0, 1}, ha},
      {"the wrong bank hash", t.keys[1], {0}, wrong},
      {"not newer than the vote that landed", t.keys[0], {0}, h0},
  };
  std::int64_t when = 10;
  for (const auto& r : rows) {
    const std::uint64_t before = t.f->balance(b, r.voter.public_key());
    EXPECT_EQ(run(b, vote_tx(r.voter, r.slots, r.hash, genesis, ++when)), tx_result::invalid_instruction) << r.name;
    EXPECT_EQ(t.f->balance(b, r.voter.public_key()), before - fee) << r.name << ": fee charged";
    EXPECT_EQ(last_vote(*t.f, b, 0), 0u) << r.name;
    EXPECT_FALSE(last_vote(*t.f, b, 1).has_value()) << r.name;
  }
}

TEST(bank_forks_votes, set_root_folds_votes_and_a_dead_bank_drops_them) {
  voting t;
  const crypto::hash32 h0 = t.h0;
  const bank_index a = t.child(t.s0, 1, "A");
  const bank_index b = t.child(t.s0, 2, "B");
  auto run = [&](bank_index bank, const vote_tx& v) { return t.run(bank, v); };
  ASSERT_EQ(run(a, vote_tx(t.keys[0], {0}, h0, genesis)), tx_result::ok);
  ASSERT_EQ(run(b, vote_tx(t.keys[1], {0}, h0, genesis)), tx_result::ok);
  t.freeze(a, "poh A");
  t.freeze(b, "poh B");
  t.f->mark_dead(b);
  EXPECT_FALSE(last_vote(*t.f, b, 1).has_value());
  ASSERT_TRUE(t.f->set_root(a));
  const bank_index c = t.child(a, 3, "C");
  EXPECT_EQ(last_vote(*t.f, c, 0), 0u);  // from the rooted state
  EXPECT_EQ(last_vote(*t.f, a, 0), 0u);
  EXPECT_FALSE(last_vote(*t.f, c, 1).has_value());
}

TEST(bank_forks_votes, a_vote_for_slots_rooted_already_is_checked_against_their_bank_hashes) {
  // A cluster roots fast (here: every block at once); votes for rooted slots arrive after.
  voting t;
  const bank_index a = t.child(t.s0, 1, "A");
  const crypto::hash32 ha = t.freeze(a, "poh A");
  ASSERT_TRUE(t.f->set_root(a));
  const bank_index c = t.child(a, 2, "C");
  crypto::hash32 wrong = ha;
  wrong[0] ^= 1;
  EXPECT_EQ(t.run(c, vote_tx(t.keys[0], {0, 1}, wrong, genesis)), tx_result::invalid_instruction);
  EXPECT_EQ(t.run(c, vote_tx(t.keys[0], {0, 2}, ha, genesis)), tx_result::invalid_instruction);  // 2: C itself
  EXPECT_EQ(t.run(c, vote_tx(t.keys[0], {0, 1}, ha, genesis, 2)), tx_result::ok);
  EXPECT_EQ(last_vote(*t.f, c, 0), 1u);
  EXPECT_EQ(t.run(c, vote_tx(t.keys[1], {0}, t.h0, genesis)), tx_result::ok);  // the old root's
  // Kept by slot modulo 512: slot 513, skipped, is not slot 1 that shares its place.
  t.freeze(c, "poh C");
  const bank_index far = t.child(c, 600, "far");
  const crypto::hash32 hf = t.freeze(far, "poh far");
  ASSERT_TRUE(t.f->set_root(far));
  const bank_index next = t.child(far, 601, "next");
  const crypto::hash32 recent = hash_of("poh far");
  EXPECT_EQ(t.run(next, vote_tx(t.keys[1], {513}, ha, recent, 2)), tx_result::invalid_instruction);
  EXPECT_EQ(t.run(next, vote_tx(t.keys[1], {600}, hf, recent, 3)), tx_result::ok);  // the root
}

// ---- execution results, one per test (the rules in txn/execution.hpp), on one bank

TEST(bank_forks_execute, transfer_ok_moves_lamports_and_charges_fee) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 1000));
  EXPECT_EQ(t.run(make_transfer(key_of(1), key_of(2), 300)), tx_result::ok);
  EXPECT_EQ(t.balance(1), 1000 - 300 - fee);
  EXPECT_EQ(t.balance(2), 300u);
  EXPECT_EQ(t.counters.count(tx_result::ok), 1u);
  EXPECT_EQ(t.counters.fees_collected_lamports, fee);
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, blockhash_too_old_changes_nothing) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 1000));
  EXPECT_EQ(t.run(make_transfer(key_of(1), key_of(2), 1, hash_of("never a block"))), tx_result::blockhash_too_old);
  EXPECT_EQ(t.balance(1), 1000u);
  EXPECT_EQ(t.balance(2), 0u);
  EXPECT_EQ(t.counters.fees_collected_lamports, 0u);
  EXPECT_EQ(t.counters.count(tx_result::blockhash_too_old), 1u);
  EXPECT_EQ(t.f.stats().statuses, 0u);  // nothing landed
}

TEST(bank_forks_execute, insufficient_funds_for_fee_changes_nothing) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), fee - 1));
  EXPECT_EQ(t.run(make_transfer(key_of(1), key_of(2), 0)), tx_result::insufficient_funds_for_fee);
  EXPECT_EQ(t.balance(1), fee - 1);
  EXPECT_EQ(t.f.stats().accounts, 1u);
  // A payer that does not exist at all has no lamports either.
  EXPECT_EQ(t.run(make_transfer(key_of(7), key_of(2), 0)), tx_result::insufficient_funds_for_fee);
  EXPECT_EQ(t.f.stats().accounts, 1u);
  EXPECT_EQ(t.f.stats().statuses, 0u);
  EXPECT_EQ(t.counters.count(tx_result::insufficient_funds_for_fee), 2u);
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, insufficient_funds_charges_fee_and_applies_no_transfer) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 100));
  // Two transfers: the first is affordable, the second is not: neither applies.
  const raw_tx tx = make_transfers({key_of(1), key_of(2), key_of(3)}, {{0, 1, 50}, {0, 2, 50}});
  EXPECT_EQ(t.run(tx), tx_result::insufficient_funds);
  EXPECT_EQ(t.balance(1), 100 - fee);
  EXPECT_EQ(t.balance(2), 0u);
  EXPECT_EQ(t.balance(3), 0u);
  EXPECT_EQ(t.counters.fees_collected_lamports, fee);
  EXPECT_EQ(t.counters.count(tx_result::insufficient_funds), 1u);
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, chained_transfers_may_spend_what_was_received) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 100));
  // 1 and 2 sign; 2 forwards what it receives from 1.
  const raw_tx tx = make_transfers({key_of(1), key_of(2), key_of(3)}, {{0, 1, 60}, {1, 2, 60}}, 2);
  EXPECT_EQ(t.run(tx), tx_result::ok);
  EXPECT_EQ(t.balance(1), 100 - 60 - 2 * fee);
  EXPECT_EQ(t.balance(2), 0u);
  EXPECT_EQ(t.balance(3), 60u);
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, unknown_program_charges_fee_only) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 100));
  const raw_tx tx = make_transfers({key_of(1), key_of(2)}, {{0, 1, 5}}, 1, key_of(99));  // not the system program
  EXPECT_EQ(t.run(tx), tx_result::unknown_program);
  EXPECT_EQ(t.balance(1), 100 - fee);
  EXPECT_EQ(t.balance(2), 0u);
  EXPECT_EQ(t.counters.count(tx_result::unknown_program), 1u);
  EXPECT_EQ(t.run(tx), tx_result::already_processed);  // it landed
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, the_system_program_account_cannot_receive_lamports) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 100));
  // The zero key as a writable receiver: the program must then be another key.
  const raw_tx tx = make_transfers({key_of(1), txn::system_program_id}, {{0, 1, 5}}, 1, key_of(99));
  EXPECT_EQ(t.run(tx), tx_result::unknown_program);
  EXPECT_EQ(t.f.balance(t.bank(), txn::system_program_id), 0u);
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, invalid_instruction_charges_fee_only) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 100));
  const raw_tx tx = make_transfers({key_of(1), key_of(2)}, {{0, 1, 5}, {0, 1, 5, /*kind=*/7}});  // 7: not a transfer
  EXPECT_EQ(t.run(tx), tx_result::invalid_instruction);
  EXPECT_EQ(t.balance(1), 100 - fee);
  EXPECT_EQ(t.balance(2), 0u);
  EXPECT_EQ(t.counters.count(tx_result::invalid_instruction), 1u);
  t.root_and_expect_conserved();
}

// No room for a new receiver's account: unlike a fee-only failure, nothing changes and
// nothing lands (the same transaction is refused again, not already_processed).
TEST(bank_forks_execute, account_table_full_changes_nothing) {
  bank::forks_config c = small_config();
  c.max_accounts = 1;
  one_bank t(c);
  ASSERT_TRUE(t.f.credit(key_of(1), 100));
  EXPECT_FALSE(t.f.credit(key_of(2), 1));  // the store is full
  const raw_tx tx = make_transfer(key_of(1), key_of(2), 5);
  EXPECT_EQ(t.run(tx), tx_result::account_table_full);
  EXPECT_EQ(t.run(tx), tx_result::account_table_full);
  EXPECT_EQ(t.balance(1), 100u);
  EXPECT_EQ(t.balance(2), 0u);
  const auto s = t.f.stats();
  EXPECT_EQ(s.accounts, 1u);
  EXPECT_EQ(s.statuses, 0u);
  EXPECT_EQ(s.versions, 0u);
  EXPECT_EQ(s.refused_full, 2u);
  EXPECT_EQ(t.counters.fees_collected_lamports, 0u);
  t.root_and_expect_conserved();
}

TEST(bank_forks_execute, credit_refuses_supply_overflow) {
  bank_forks f(small_config(), genesis);
  ASSERT_TRUE(f.credit(key_of(1), UINT64_MAX - 5));
  EXPECT_FALSE(f.credit(key_of(2), 6));
  EXPECT_EQ(f.rooted_balance(key_of(2)), 0u);
  EXPECT_TRUE(f.credit(key_of(2), 5));
  EXPECT_EQ(f.total_supply(), UINT64_MAX);
}

// Random transfers (some to new accounts, some overdrawing, some with an unknown blockhash)
// keep every lamport: balances plus burnt fees are the supply.
TEST(bank_forks_execute, conservation_over_10000_random_transfers) {
  one_bank t(with_statuses(small_config(), 1 << 14));
  constexpr std::uint32_t num_accounts = 100;
  t.fund(num_accounts, 1000);
  std::mt19937_64 rng(42);
  for (int n = 0; n < 10'000; ++n) {
    const auto from = static_cast<std::uint32_t>(rng() % num_accounts);
    const auto to = static_cast<std::uint32_t>(rng() % (num_accounts + 10));  // some new
    const std::uint64_t lamports = rng() % 1200;                               // some overdraw
    const crypto::hash32 blockhash = rng() % 50 == 0 ? hash_of("never a block") : genesis;
    (void)t.run(make_transfer(key_of(from), key_of(to), lamports, blockhash));
  }
  EXPECT_EQ(t.counters.executed(), 10'000u);
  EXPECT_GT(t.counters.count(tx_result::ok), 1000u);
  EXPECT_GT(t.counters.count(tx_result::insufficient_funds), 100u);
  EXPECT_GT(t.counters.count(tx_result::blockhash_too_old), 50u);
  EXPECT_GT(t.counters.count(tx_result::insufficient_funds_for_fee), 0u);
  EXPECT_EQ(t.counters.count(tx_result::already_processed), 0u);
  EXPECT_EQ(t.f.total_supply(), 1000u * num_accounts);
  t.root_and_expect_conserved();
}

// Random multi-instruction transactions (several signers, chained transfers, some unknown
// programs and non-transfer instructions): each is all or nothing — a failed one changes at
// most its fee payer's balance, by exactly the fee — and none creates or loses a lamport.
TEST(bank_forks_execute, random_multi_instruction_txs_are_all_or_nothing) {
  one_bank t(with_statuses(small_config(), 1 << 12));
  constexpr std::uint32_t num_accounts = 40;
  t.fund(num_accounts, 2000);
  std::mt19937_64 rng(11);
  for (int n = 0; n < 3000; ++n) {
    raw_tx tx;
    tx.num_signers = static_cast<std::uint8_t>(1 + rng() % 3);
    // Distinct keys: signers, then 1-2 writable receivers (some new), then programs.
    std::vector<std::uint32_t> ids;
    while (ids.size() < tx.num_signers + 2u) {
      const auto id = static_cast<std::uint32_t>(rng() % (num_accounts + 8));
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    for (const std::uint32_t id : ids) tx.accounts.push_back(key_of(id));
    tx.accounts.push_back(txn::system_program_id);
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
        tx.instructions.push_back({static_cast<std::uint8_t>(system_index + 1), {from, to}, transfer_data(lamports)});
      } else if (roll == 1) {
        tx.instructions.push_back({system_index, {from, to}, transfer_data(lamports, 9)});
      } else {
        tx.instructions.push_back({system_index, {from, to}, transfer_data(lamports)});
      }
    }
    tx.build();
    std::vector<std::uint64_t> before;
    std::uint64_t sum_before = 0;
    for (const crypto::pubkey& k : tx.accounts) {
      before.push_back(t.f.balance(t.bank(), k));
      sum_before += before.back();
    }
    const std::uint64_t fees_before = t.counters.fees_collected_lamports;
    const tx_result r = t.run(tx);
    const std::uint64_t tx_fee = fee * tx.num_signers;
    const bool fee_charged = r == tx_result::ok || r == tx_result::insufficient_funds ||
                             r == tx_result::unknown_program || r == tx_result::invalid_instruction;
    ASSERT_EQ(t.counters.fees_collected_lamports - fees_before, fee_charged ? tx_fee : 0) << txn::to_string(r);
    if (r != tx_result::ok) {
      EXPECT_EQ(t.f.balance(t.bank(), tx.accounts[0]), before[0] - (fee_charged ? tx_fee : 0));
      for (std::size_t a = 1; a < tx.accounts.size(); ++a)
        EXPECT_EQ(t.f.balance(t.bank(), tx.accounts[a]), before[a]) << txn::to_string(r);
    }
    std::uint64_t sum_after = 0;
    for (const crypto::pubkey& k : tx.accounts) sum_after += t.f.balance(t.bank(), k);
    ASSERT_EQ(sum_after + (fee_charged ? tx_fee : 0), sum_before) << txn::to_string(r);
  }
  // Seed 11 gives every path: ok, insufficient_funds, invalid_instruction, unknown_program,
  // insufficient_funds_for_fee.
  EXPECT_GT(t.counters.count(tx_result::ok), 1000u);
  EXPECT_GT(t.counters.count(tx_result::insufficient_funds), 100u);
  EXPECT_GT(t.counters.count(tx_result::unknown_program), 10u);
  EXPECT_GT(t.counters.count(tx_result::invalid_instruction), 10u);
  EXPECT_GT(t.counters.count(tx_result::insufficient_funds_for_fee), 10u);
  t.root_and_expect_conserved();
}

// ---- locks: bank forks take txn::account_locks (writable exclusive, readonly shared, all or
// nothing); no stripe count is visible, so a lock is shown free by another try_lock that
// needs it.

bank::forks_config lock_config(std::size_t stripes = 4096) {
  bank::forks_config c = small_config();
  c.lock_stripes = stripes;
  return c;
}

TEST(bank_forks_locks, conflicting_writers_cannot_both_lock) {
  bank_forks f(lock_config(), genesis);
  const raw_tx t1 = make_transfer(key_of(1), key_of(2), 1);
  const raw_tx t2 = make_transfer(key_of(3), key_of(2), 1);  // shares writable 2
  txn::held_locks h1;
  txn::held_locks h2;
  ASSERT_TRUE(f.try_lock(t1.view, h1));
  EXPECT_EQ(h1.size(), 2u);  // from and to; the system program is not locked
  EXPECT_FALSE(f.try_lock(t2.view, h2));
  EXPECT_EQ(h2.size(), 0u);  // nothing held after a failure
  f.unlock(h1);
  EXPECT_EQ(h1.size(), 0u);
  ASSERT_TRUE(f.try_lock(t2.view, h2));  // unlock released
  f.unlock(h2);
  ASSERT_TRUE(f.try_lock(t1.view, h1));  // and so did that one
  f.unlock(h1);
}

TEST(bank_forks_locks, disjoint_writers_both_lock) {
  bank_forks f(lock_config(), genesis);
  const raw_tx t1 = make_transfer(key_of(1), key_of(2), 1);
  const raw_tx t2 = make_transfer(key_of(3), key_of(4), 1);
  txn::held_locks h1;
  txn::held_locks h2;
  ASSERT_TRUE(f.try_lock(t1.view, h1));
  EXPECT_TRUE(f.try_lock(t2.view, h2));
  f.unlock(h1);
  f.unlock(h2);
}

TEST(bank_forks_locks, readonly_readonly_share_and_readonly_writer_conflict) {
  bank_forks f(lock_config(), genesis);
  const raw_tx r1 = make_reader(key_of(1), key_of(9));
  const raw_tx r2 = make_reader(key_of(2), key_of(9));
  const raw_tx w = make_transfer(key_of(3), key_of(9), 1);  // writes 9
  txn::held_locks h1;
  txn::held_locks h2;
  txn::held_locks hw;
  ASSERT_TRUE(f.try_lock(r1.view, h1));
  EXPECT_TRUE(f.try_lock(r2.view, h2));  // both read 9
  EXPECT_FALSE(f.try_lock(w.view, hw));
  f.unlock(h1);
  EXPECT_FALSE(f.try_lock(w.view, hw));  // r2 still reads 9
  f.unlock(h2);
  ASSERT_TRUE(f.try_lock(w.view, hw));
  EXPECT_FALSE(f.try_lock(r1.view, h1));  // and a writer excludes readers
  f.unlock(hw);
  EXPECT_TRUE(f.try_lock(r1.view, h1));
  f.unlock(h1);
}

TEST(bank_forks_locks, failed_try_lock_leaves_nothing_locked) {
  bank_forks f(lock_config(), genesis);
  // The holder locks only account 50. The contender locks 10..14 (writable), 50 and 60
  // (readonly): its first locks succeed, then 50 conflicts, and everything it took must be
  // given back: each of its other accounts can then be written by someone else.
  const raw_tx holder = make_transfer(key_of(50), key_of(50), 0);
  txn::held_locks held;
  ASSERT_TRUE(f.try_lock(holder.view, held));
  raw_tx contender;
  for (std::uint32_t i = 10; i < 15; ++i) contender.accounts.push_back(key_of(i));
  contender.accounts.push_back(key_of(50));
  contender.accounts.push_back(key_of(60));
  contender.accounts.push_back(txn::system_program_id);
  contender.readonly_unsigned = 2;  // 60 read-only, system program
  contender.instructions.push_back({7, {0, 5}, transfer_data(1)});
  contender.build();
  txn::held_locks contended;
  EXPECT_FALSE(f.try_lock(contender.view, contended));
  for (const std::uint32_t i : {10, 11, 12, 13, 14, 60}) {
    const raw_tx writer = make_transfer(key_of(i), key_of(i), 0);
    txn::held_locks w;
    EXPECT_TRUE(f.try_lock(writer.view, w)) << "account " << i;
    f.unlock(w);
  }
  f.unlock(held);
  ASSERT_TRUE(f.try_lock(contender.view, contended));
  f.unlock(contended);
}

TEST(bank_forks_locks, two_keys_on_one_stripe_lock_once) {
  bank_forks f(lock_config(/*stripes=*/1), genesis);  // every key on one stripe
  const raw_tx t = make_transfer(key_of(1), key_of(2), 1);
  const raw_tx other = make_transfer(key_of(3), key_of(3), 1);
  txn::held_locks held;
  txn::held_locks other_held;
  ASSERT_TRUE(f.try_lock(t.view, held));
  EXPECT_EQ(held.size(), 1u);
  EXPECT_FALSE(f.try_lock(other.view, other_held));
  f.unlock(held);
  ASSERT_TRUE(f.try_lock(other.view, other_held));
  f.unlock(other_held);
}

// ---- bank hash (txn::bank_hasher over the accounts a block changed, then its last PoH hash)

// A block funding keys 1 and 2 at genesis, then 1 -> 3 and 2 -> 4 in that order or reversed.
crypto::hash32 two_transfer_block(std::uint64_t extra, const std::string& poh, bool reversed = false) {
  one_bank t;
  EXPECT_TRUE(t.f.credit(key_of(1), 1000));
  EXPECT_TRUE(t.f.credit(key_of(2), 1000));
  const raw_tx t1 = make_transfer(key_of(1), key_of(3), 100 + extra);
  const raw_tx t2 = make_transfer(key_of(2), key_of(4), 200);
  for (const raw_tx* tx : reversed ? std::array{&t2, &t1} : std::array{&t1, &t2}) EXPECT_EQ(t.run(*tx), tx_result::ok);
  const crypto::hash32 h = freeze_bank(t.f, t.bank(), poh);
  EXPECT_EQ(t.f.info(t.bank()).changed_accounts, 4u);
  EXPECT_EQ(t.f.info(t.bank()).bank_hash, h);
  return h;
}

TEST(bank_forks_hash, same_inputs_same_hash_any_change_differs) {
  const crypto::hash32 base = two_transfer_block(0, "poh 5");
  EXPECT_EQ(two_transfer_block(0, "poh 5"), base);
  EXPECT_NE(two_transfer_block(1, "poh 5"), base);  // one balance differs
  EXPECT_NE(two_transfer_block(0, "poh 6"), base);  // different PoH
}

TEST(bank_forks_hash, order_of_execution_does_not_matter) {
  EXPECT_EQ(two_transfer_block(0, "poh 5", false), two_transfer_block(0, "poh 5", true));
}

// A block's hash counts only what that block changed: not genesis credits, not its parent's
// transfers, not a transaction that could not pay its fee.
TEST(bank_forks_hash, a_block_hashes_only_what_it_changed) {
  one_bank t;
  ASSERT_TRUE(t.f.credit(key_of(1), 1000));
  EXPECT_EQ(t.run(make_transfer(key_of(1), key_of(2), 10)), tx_result::ok);
  freeze_bank(t.f, t.bank(), "poh 0");
  EXPECT_EQ(t.f.info(t.bank()).changed_accounts, 2u);
  const bank_index child = t.f.new_bank(t.bank(), 1, hash_of("block 1"));
  ASSERT_NE(child, no_bank);
  EXPECT_EQ(run_locked(t.f, child, make_transfer(key_of(5), key_of(2), 0).view, t.counters),
            tx_result::insufficient_funds_for_fee);
  const crypto::hash32 h = freeze_bank(t.f, child, "poh 1");
  EXPECT_EQ(t.f.info(child).changed_accounts, 0u);
  EXPECT_EQ(t.f.info(child).landed, 0u);
  EXPECT_EQ(h, txn::bank_hasher(0).finish(hash_of("poh 1")));
}

// Contention (run under ThreadSanitizer): two threads execute disjoint transfers on one bank
// while a third reads balances; then the root moves while the reader keeps reading.
TEST(bank_forks_contention, parallel_execution_and_reads_keep_the_supply) {
  bank::forks_config c = small_config();
  c.max_versions = 4096;
  c.max_statuses = 4096;
  forks t(c);
  for (int i = 4; i < 8; ++i) {
    t.keys.push_back(key_for(static_cast<std::uint64_t>(i)));
    ASSERT_TRUE(t.f->credit(t.keys.back().public_key(), funding));
  }
  const bank_index s0 = t.child(t.f->root(), 0, "block 0");
  // Thread k moves lamports among keys 4k..4k+3 (disjoint sets: no lock conflicts).
  std::vector<std::deque<tx>> work(2);
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 300; ++i)
      work[static_cast<std::size_t>(k)].emplace_back(t.keys[static_cast<std::size_t>(4 * k + i % 4)],
                                                     t.keys[static_cast<std::size_t>(4 * k + (i + 1) % 4)].public_key(),
                                                     static_cast<std::uint64_t>(i + 1), genesis);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_acquire)) {
      for (const auto& k : t.keys) (void)t.f->balance(s0, k.public_key());
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  std::vector<std::thread> workers;
  std::array<txn::execution_counters, 2> counters{};
  for (int k = 0; k < 2; ++k)
    workers.emplace_back([&, k] {
      while (reads.load(std::memory_order_relaxed) == 0) std::this_thread::yield();  // reader is running
      for (const auto& x : work[static_cast<std::size_t>(k)]) {
        txn::held_locks held;
        while (!t.f->try_lock(x.view, held)) std::this_thread::yield();
        (void)t.f->execute(s0, x.view, counters[static_cast<std::size_t>(k)]);
        t.f->unlock(held);
      }
    });
  for (auto& w : workers) w.join();
  t.freeze(s0, "poh 0");
  ASSERT_TRUE(t.f->set_root(s0));
  stop.store(true, std::memory_order_release);
  reader.join();
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(counters[0].count(tx_result::ok) + counters[1].count(tx_result::ok), 600u);
  std::uint64_t total = 0;
  for (const auto& k : t.keys) total += t.f->balance(s0, k.public_key());
  EXPECT_EQ(total + 600 * fee, 8 * funding);
}

// Threads execute random transfers among a few accounts (many lock conflicts) on one bank
// through try_lock / execute / unlock.
TEST(bank_forks_contention, random_transfers_from_several_threads_conserve_lamports) {
  one_bank t(with_statuses(lock_config(), 1 << 14));
  constexpr std::uint32_t num_accounts = 16;
  t.fund(num_accounts, 10'000);
  const bank_index b = t.bank();
  constexpr int num_threads = 3;
  constexpr int txs_per_thread = 3000;
  // Built before the threads start, so they only lock, execute and unlock.
  std::vector<std::vector<raw_tx>> work(num_threads);
  std::mt19937_64 rng(7);
  for (auto& list : work) {
    list.reserve(txs_per_thread);
    for (int n = 0; n < txs_per_thread; ++n) {
      const auto from = static_cast<std::uint32_t>(rng() % num_accounts);
      const auto to = static_cast<std::uint32_t>(rng() % (num_accounts + 4));
      list.push_back(make_transfer(key_of(from), key_of(to), rng() % 3000));
    }
  }
  std::array<txn::execution_counters, num_threads> counters{};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < num_threads; ++k) {
    threads.emplace_back([&, k] {
      ready.fetch_add(1);
      while (ready.load() < num_threads) {
      }
      txn::held_locks held;
      for (const raw_tx& tx : work[k]) {
        while (!t.f.try_lock(tx.view, held)) ++counters[k].lock_conflicts;
        (void)t.f.execute(b, tx.view, counters[k]);
        t.f.unlock(held);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const auto& x : counters) t.counters.add(x);
  EXPECT_EQ(t.counters.executed(), std::uint64_t{num_threads} * txs_per_thread);
  EXPECT_GT(t.counters.count(tx_result::ok), 0u);
  EXPECT_EQ(t.counters.count(tx_result::already_processed), 0u);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < num_accounts + 4; ++i) total += t.balance(i);
  EXPECT_EQ(total + t.counters.fees_collected_lamports, t.f.total_supply());
  t.root_and_expect_conserved();
}

// Threads create many new accounts at once (disjoint transfers to fresh receivers): the
// insert-only account table must give every receiver exactly one entry and lose no lamport.
TEST(bank_forks_contention, concurrent_inserts_of_new_receivers) {
  constexpr std::uint32_t num_threads = 3;
  constexpr std::uint32_t receivers_per_thread = 1000;
  bank::forks_config c = lock_config();
  c.max_accounts = 4096;
  c.max_versions = 4096;
  c.max_statuses = 4096;
  one_bank t(c);
  t.fund(num_threads, 1'000'000);
  const bank_index b = t.bank();
  const auto receiver = [](std::uint32_t k, std::uint32_t r) { return key_of(100'000 + k * receivers_per_thread + r); };
  std::vector<std::vector<raw_tx>> work(num_threads);
  for (std::uint32_t k = 0; k < num_threads; ++k) {
    work[k].reserve(receivers_per_thread);
    for (std::uint32_t r = 0; r < receivers_per_thread; ++r) work[k].push_back(make_transfer(key_of(k), receiver(k, r), r + 1));
  }
  std::array<txn::execution_counters, num_threads> counters{};
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < num_threads; ++k) {
    threads.emplace_back([&, k] {
      txn::held_locks held;
      for (const raw_tx& tx : work[k]) {
        while (!t.f.try_lock(tx.view, held)) {
        }
        (void)t.f.execute(b, tx.view, counters[k]);
        t.f.unlock(held);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const auto& x : counters) {
    EXPECT_EQ(x.count(tx_result::ok), receivers_per_thread);
    t.counters.add(x);
  }
  EXPECT_EQ(t.f.stats().accounts, num_threads * (1 + receivers_per_thread));
  for (std::uint32_t k = 0; k < num_threads; ++k)
    for (std::uint32_t r = 0; r < receivers_per_thread; ++r) ASSERT_EQ(t.f.balance(b, receiver(k, r)), r + 1);
  freeze_bank(t.f, b, "poh 0");
  EXPECT_EQ(t.f.info(b).changed_accounts, num_threads * (1 + receivers_per_thread));  // each once
  t.root_and_expect_conserved();
}

// Readers and writers of one hot account: a shared holder never sees a writer inside. Each
// holder yields inside, so that were the locks broken, the others would be let in.
TEST(bank_forks_contention, exclusive_and_shared_locks_exclude_each_other) {
  bank_forks f(lock_config(), genesis);
  const raw_tx writer = make_transfer(key_of(1), key_of(9), 0);
  const raw_tx reader_a = make_reader(key_of(2), key_of(9));
  const raw_tx reader_b = make_reader(key_of(3), key_of(9));
  std::atomic<int> writers_inside{0};
  std::atomic<int> readers_inside{0};
  std::atomic<bool> violation{false};
  constexpr int rounds = 3000;
  const auto run = [&](const raw_tx& tx, bool exclusive) {
    txn::held_locks held;
    for (int n = 0; n < rounds; ++n) {
      while (!f.try_lock(tx.view, held)) {
      }
      if (exclusive) {
        if (writers_inside.fetch_add(1) != 0 || readers_inside.load() != 0) violation = true;
        std::this_thread::yield();
        if (readers_inside.load() != 0) violation = true;
        writers_inside.fetch_sub(1);
      } else {
        readers_inside.fetch_add(1);
        if (writers_inside.load() != 0) violation = true;
        std::this_thread::yield();
        if (writers_inside.load() != 0) violation = true;
        readers_inside.fetch_sub(1);
      }
      f.unlock(held);
    }
  };
  std::thread t1([&] { run(writer, true); });
  std::thread t2([&] { run(reader_a, false); });
  std::thread t3([&] { run(reader_b, false); });
  t1.join();
  t2.join();
  t3.join();
  EXPECT_FALSE(violation.load());
  txn::held_locks held;
  EXPECT_TRUE(f.try_lock(writer.view, held));  // nothing left held
  f.unlock(held);
}

}  // namespace
