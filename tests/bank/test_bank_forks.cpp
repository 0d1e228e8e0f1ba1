#include <riptide/bank/bank_forks.hpp>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/txn/bank.hpp>
#include <riptide/txn/transaction.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
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

// A signed transfer, its bytes kept so a view stays valid (the view points into them: not
// copyable, so keep them in a deque).
struct tx {
  tx(const tx&) = delete;
  tx& operator=(const tx&) = delete;
  std::array<std::uint8_t, txn::max_transaction_bytes> body{};
  std::size_t len = 0;
  txn::transaction_view view;
  tx(const crypto::keypair& from, const crypto::pubkey& to, std::uint64_t lamports, const crypto::hash32& blockhash) {
    len = txn::build_transfer(from, to, lamports, blockhash, body);
    EXPECT_EQ(txn::parse_transaction(std::span(body.data(), len), view), txn::parse_error::none);
  }
};

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
  tx_result run(bank_index b, const tx& t) {
    txn::held_locks held;
    EXPECT_TRUE(f->try_lock(t.view, held));
    const tx_result r = f->execute(b, t.view, counters);
    f->unlock(held);
    return r;
  }
  crypto::hash32 freeze(bank_index b, const std::string& poh) {
    crypto::hash32 h{};
    EXPECT_TRUE(f->freeze(b, hash_of(poh), 0, h));
    return h;
  }
  std::uint64_t balance(bank_index b, int key) const { return f->balance(b, keys[static_cast<std::size_t>(key)].public_key()); }
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

}  // namespace
