#pragma once
// A leader's banks, by hand, for tests and benchmarks that write ledgers: one bank of
// bank::bank_forks per slot, each a child of the previous slot's and rooted when it ends, the
// way a leader's bank tiles and ledger tile use them. Single-threaded; aborts on misuse (a
// lock that cannot be taken or a bank that cannot be made cannot happen on one thread with
// a fitting config).

#include <cstdint>
#include <cstdlib>

#include <riptide/bank/bank_forks.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::testing {

class leader_bank {
 public:
  leader_bank(const bank::forks_config& config, const crypto::hash32& start_hash) : forks_(config, start_hash) {}

  // Genesis funding (before the first execute or end_slot).
  [[nodiscard]] bool credit(const crypto::pubkey& key, std::uint64_t lamports) { return forks_.credit(key, lamports); }

  // Executes tx in the bank of `slot` (made on first use, a child of the last ended slot's).
  txn::tx_result execute(std::uint64_t slot, const txn::transaction_view& tx, txn::execution_counters& counters) {
    const bank::bank_index b = open(slot);
    txn::held_locks held;
    if (!forks_.try_lock(tx, held)) std::abort();
    const txn::tx_result r = forks_.execute(b, tx, counters);
    forks_.unlock(held);
    return r;
  }

  // Ends `slot` (its bank made now if nothing executed in it): freezes it with the slot's
  // last PoH hash, names it by that hash, roots it; returns its bank hash.
  crypto::hash32 end_slot(std::uint64_t slot, const crypto::hash32& last_poh, std::uint64_t tick_height) {
    const bank::bank_index b = open(slot);
    crypto::hash32 bank_hash{};
    if (!forks_.freeze(b, last_poh, tick_height, bank_hash) || !forks_.set_block_id(b, last_poh) ||
        !forks_.set_root(b))
      std::abort();
    current_ = bank::no_bank;
    return bank_hash;
  }

  // A balance as of the last ended slot.
  [[nodiscard]] std::uint64_t balance(const crypto::pubkey& key) const { return forks_.balance(forks_.root(), key); }
  [[nodiscard]] bank::bank_forks& forks() { return forks_; }

 private:
  bank::bank_index open(std::uint64_t slot) {
    if (current_ != bank::no_bank) {
      if (forks_.info(current_).slot != slot) std::abort();
      return current_;
    }
    bank::block_id id;
    id.fill(0xEE);
    for (int i = 0; i < 8; ++i) id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(slot >> (8 * i));
    current_ = forks_.new_bank(forks_.root(), slot, id);
    if (current_ == bank::no_bank) std::abort();
    return current_;
  }

  bank::bank_forks forks_;
  bank::bank_index current_ = bank::no_bank;
};

}  // namespace riptide::testing
