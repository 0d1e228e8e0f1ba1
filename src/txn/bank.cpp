#include <riptide/txn/bank.hpp>

#include <riptide/crypto/sha256.hpp>
#include <riptide/crypto/xxh3.hpp>

#include <algorithm>
#include <cassert>
#include <bit>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace riptide::txn {

namespace {

constexpr std::uint32_t slot_empty = 0;
constexpr std::uint32_t slot_writing = 1;
constexpr std::uint32_t slot_ready = 2;

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// 32-byte key equality without a memcmp call (the probe loop's hot compare).
inline bool same_key(const crypto::pubkey& a, const crypto::pubkey& b) noexcept {
  std::uint64_t x[4];
  std::uint64_t y[4];
  std::memcpy(x, a.data(), sizeof(x));
  std::memcpy(y, b.data(), sizeof(y));
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

inline void store_u64_le(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

const char* to_string(tx_result result) noexcept {
  switch (result) {
    case tx_result::ok: return "ok";
    case tx_result::blockhash_too_old: return "blockhash_too_old";
    case tx_result::insufficient_funds_for_fee: return "insufficient_funds_for_fee";
    case tx_result::insufficient_funds: return "insufficient_funds";
    case tx_result::unknown_program: return "unknown_program";
    case tx_result::invalid_instruction: return "invalid_instruction";
    case tx_result::account_table_full: return "account_table_full";
    case tx_result::already_processed: return "already_processed";
  }
  return "unknown";
}

std::uint64_t execution_counters::executed() const noexcept {
  std::uint64_t total = 0;
  for (const std::uint64_t n : by_result) total += n;
  return total;
}

void execution_counters::add(const execution_counters& other) noexcept {
  for (std::size_t i = 0; i < tx_result_count; ++i) by_result[i] += other.by_result[i];
  fees_collected_lamports += other.fees_collected_lamports;
  lock_conflicts += other.lock_conflicts;
}

// ------------------------------------------------------------------------- blockhash_queue

blockhash_queue::blockhash_queue(std::size_t history_slots)
    : entries_(std::clamp(history_slots, max_age_slots, max_history_slots)),
      prefixes_(entries_.size()),
      index_(std::bit_ceil(entries_.size() + entries_.size() / 2), 0),
      index_mask_(index_.size() - 1) {}

void blockhash_queue::register_hash(std::uint64_t slot, const crypto::hash32& hash) noexcept {
  const std::size_t capacity = entries_.size();
  if (size_ == capacity) erase_from_index(next_);  // the entry about to be overwritten
  entries_[next_] = entry{slot, hash};
  std::memcpy(&prefixes_[next_], hash.data(), sizeof(std::uint64_t));
  std::size_t i = prefixes_[next_] & index_mask_;
  while (index_[i] != 0) i = (i + 1) & index_mask_;
  index_[i] = static_cast<std::uint16_t>(next_ + 1);
  next_ = (next_ + 1) % capacity;
  if (size_ < capacity) ++size_;
  newest_slot_ = std::max(newest_slot_, slot);
}

void blockhash_queue::erase_from_index(std::size_t position) noexcept {
  std::size_t i = prefixes_[position] & index_mask_;
  while (index_[i] != position + 1) i = (i + 1) & index_mask_;
  // Backward-shift deletion (linear probing without tombstones): pull later entries of the
  // cluster into the hole when the hole lies between their home and where they sit.
  std::size_t j = i;
  for (;;) {
    j = (j + 1) & index_mask_;
    if (index_[j] == 0) break;
    const std::size_t home = prefixes_[index_[j] - 1U] & index_mask_;
    if (((j - home) & index_mask_) >= ((j - i) & index_mask_)) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = 0;
}

blockhash_age blockhash_queue::age(const crypto::hash32& hash) const noexcept {
  std::uint64_t prefix = 0;
  std::memcpy(&prefix, hash.data(), sizeof(prefix));
  blockhash_age found = blockhash_age::unknown;
  for (std::size_t i = prefix & index_mask_; index_[i] != 0; i = (i + 1) & index_mask_) {
    const std::size_t position = index_[i] - 1U;
    if (prefixes_[position] != prefix) continue;
    const entry& e = entries_[position];
    if (e.hash != hash) continue;
    if (newest_slot_ - e.slot < max_age_slots) return blockhash_age::recent;
    found = blockhash_age::too_old;  // a later slot may carry the same hash: keep looking
  }
  return found;
}

bool blockhash_queue::slot_of(const crypto::hash32& hash, std::uint64_t& slot) const noexcept {
  std::uint64_t prefix = 0;
  std::memcpy(&prefix, hash.data(), sizeof(prefix));
  bool found = false;
  for (std::size_t i = prefix & index_mask_; index_[i] != 0; i = (i + 1) & index_mask_) {
    const std::size_t position = index_[i] - 1U;
    if (prefixes_[position] != prefix || entries_[position].hash != hash) continue;
    if (!found || entries_[position].slot > slot) slot = entries_[position].slot;
    found = true;
  }
  return found;
}

// ------------------------------------------------------------------------------------ bank

bank::bank(const bank_config& config)
    : max_accounts_(config.max_accounts),
      slot_mask_(0),
      lamports_per_signature_(config.lamports_per_signature),
      seed_(config.hash_seed),
      locks_(config.lock_stripes, config.hash_seed) {
  if (config.max_accounts == 0 || config.max_accounts > (std::size_t{1} << 31)) {
    throw std::invalid_argument("bank: max_accounts must be in [1, 2^31]");
  }
  if (config.lamports_per_signature > std::numeric_limits<std::uint64_t>::max() / max_signatures) {
    throw std::invalid_argument("bank: lamports_per_signature * max_signatures overflows u64");
  }
  // Load factor <= 1/2 keeps linear probes short.
  const std::size_t table_slots = std::bit_ceil(config.max_accounts * 2);
  slot_mask_ = table_slots - 1;
  slots_ = std::make_unique<account_slot[]>(table_slots);
  touched_ = std::make_unique<std::uint32_t[]>(config.max_accounts);
}

bank::~bank() = default;

std::uint64_t bank::key_hash(const crypto::pubkey& key) const noexcept {
  return crypto::xxh3_64(key, seed_);
}

bank::account_slot* bank::find(const crypto::pubkey& key) const noexcept {
  std::size_t i = key_hash(key) & slot_mask_;
  for (;;) {
    account_slot& slot = slots_[i];
    std::uint32_t state = slot.state.load(std::memory_order_acquire);
    if (state == slot_empty) return nullptr;
    while (state == slot_writing) {  // another thread is between claim and publish
      spin_pause();
      state = slot.state.load(std::memory_order_acquire);
    }
    if (same_key(slot.key, key)) return &slot;
    i = (i + 1) & slot_mask_;
  }
}

bank::account_slot* bank::find_or_insert(const crypto::pubkey& key) noexcept {
  std::size_t i = key_hash(key) & slot_mask_;
  for (;;) {
    account_slot& slot = slots_[i];
    std::uint32_t state = slot.state.load(std::memory_order_acquire);
    if (state == slot_empty) {
      // Reserve capacity first so the table never exceeds max_accounts_ (and the touched list,
      // max_accounts_ long, can never overflow).
      if (num_accounts_.fetch_add(1, std::memory_order_relaxed) >= max_accounts_) {
        num_accounts_.fetch_sub(1, std::memory_order_relaxed);
        return nullptr;
      }
      if (slot.state.compare_exchange_strong(state, slot_writing, std::memory_order_acquire,
                                             std::memory_order_acquire)) {
        slot.key = key;
        slot.lamports = 0;
        slot.touched_epoch = 0;
        slot.state.store(slot_ready, std::memory_order_release);
        return &slot;
      }
      num_accounts_.fetch_sub(1, std::memory_order_relaxed);
      // Lost the race for this slot: state now holds what the winner wrote; look again.
    }
    while (state == slot_writing) {
      spin_pause();
      state = slot.state.load(std::memory_order_acquire);
    }
    if (state == slot_ready) {
      if (same_key(slot.key, key)) return &slot;
      i = (i + 1) & slot_mask_;
    }
  }
}

bool bank::credit(const crypto::pubkey& key, std::uint64_t lamports) noexcept {
  if (lamports > std::numeric_limits<std::uint64_t>::max() - total_supply_) return false;
  account_slot* slot = find_or_insert(key);
  if (slot == nullptr) return false;
  slot->lamports += lamports;
  total_supply_ += lamports;
  mark_touched(*slot);
  return true;
}

std::uint64_t bank::balance(const crypto::pubkey& key) const noexcept {
  const account_slot* slot = find(key);
  return slot == nullptr ? 0 : load_lamports(*slot);
}

std::uint64_t bank::total_lamports() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= slot_mask_; ++i) {
    if (slots_[i].state.load(std::memory_order_acquire) == slot_ready) {
      total += load_lamports(slots_[i]);
    }
  }
  return total;
}

std::size_t bank::held_stripes() const noexcept { return locks_.held_stripes(); }

// ------------------------------------------------------------------------------------ locks

bool bank::try_lock(const transaction_view& tx) noexcept {
  held_locks held;
  return locks_.try_lock(tx, held);
}

void bank::unlock(const transaction_view& tx) noexcept { locks_.unlock(tx); }

bool bank::try_lock(const transaction_view& tx, held_locks& held) noexcept { return locks_.try_lock(tx, held); }

void bank::unlock(held_locks& held) noexcept { locks_.unlock(held); }

// -------------------------------------------------------------------------------- execution

void bank::mark_touched(account_slot& slot) noexcept {
  // The caller holds the account's stripe exclusively (or runs single-threaded at start-up), so
  // touched_epoch is not raced; the list position is claimed atomically.
  if (slot.touched_epoch == epoch_) return;
  slot.touched_epoch = epoch_;
  const std::size_t at = touched_count_.fetch_add(1, std::memory_order_relaxed);
  assert(at < max_accounts_);
  touched_[at] = static_cast<std::uint32_t>(&slot - slots_.get());
}

tx_result bank::execute(const transaction_view& tx, execution_counters& counters) noexcept {
  return execute(tx, counters, nullptr);
}

tx_result bank::execute(const transaction_view& tx, execution_counters& counters,
                        account_changes* changes) noexcept {
  return execute(tx, counters, changes, blockhashes_);
}

tx_result bank::execute(const transaction_view& tx, execution_counters& counters,
                        account_changes* changes, const blockhash_queue& recent) noexcept {
  if (changes != nullptr) changes->count = 0;
  const auto finish = [&counters](tx_result result) noexcept {
    ++counters.by_result[static_cast<std::size_t>(result)];
    return result;
  };
  if (!recent.is_recent(tx.recent_blockhash())) return finish(tx_result::blockhash_too_old);

  // Balances of the accounts this tx writes, loaded lazily into a compact list (a transfer tx
  // uses 2 of up to 32 accounts, so only the 32-byte position map is cleared per tx).
  struct local_account {
    account_slot* slot;
    std::uint64_t lamports;
    std::uint8_t index;
    bool changed;
  };
  constexpr std::uint8_t not_loaded = 0xFF;
  std::array<std::uint8_t, max_accounts> position;
  position.fill(not_loaded);
  std::array<local_account, max_accounts> local;  // [0, num_local) valid
  std::size_t num_local = 0;
  const auto load = [&](std::size_t index) noexcept -> local_account& {
    if (position[index] == not_loaded) {
      account_slot* slot = find(tx.account_key(index));
      position[index] = static_cast<std::uint8_t>(num_local);
      local[num_local++] = local_account{slot, slot == nullptr ? 0 : slot->lamports,
                                         static_cast<std::uint8_t>(index), false};
    }
    return local[position[index]];
  };

  const std::uint64_t fee = lamports_per_signature_ * tx.num_signatures();
  local_account& payer = load(0);
  if (payer.lamports < fee) return finish(tx_result::insufficient_funds_for_fee);
  const std::uint64_t payer_after_fee = payer.lamports - fee;
  const auto fail_with_fee = [&](tx_result result) noexcept {
    if (fee != 0) {
      store_lamports(*payer.slot, payer_after_fee);  // fee > 0 and paid: the payer exists
      mark_touched(*payer.slot);
      if (changes != nullptr) changes->add(tx.account_key(0), payer_after_fee);
      counters.fees_collected_lamports += fee;
    }
    return finish(result);
  };
  payer.lamports = payer_after_fee;
  payer.changed = fee != 0;

  std::array<transfer, max_instructions> transfers;
  const std::size_t num_transfers = tx.num_instructions();
  for (std::size_t i = 0; i < num_transfers; ++i) {
    switch (decode_transfer(tx, i, transfers[i])) {
      case transfer_error::none: break;
      case transfer_error::not_system_program: return fail_with_fee(tx_result::unknown_program);
      default: return fail_with_fee(tx_result::invalid_instruction);
    }
  }

  for (std::size_t i = 0; i < num_transfers; ++i) {
    const transfer& t = transfers[i];
    local_account& from = load(t.from_index);
    if (from.lamports < t.lamports) return fail_with_fee(tx_result::insufficient_funds);
    from.lamports -= t.lamports;
    from.changed = true;
    local_account& to = load(t.to_index);
    // No overflow: every balance is <= total supply <= 2^64 - 1 (credit() enforces it).
    to.lamports += t.lamports;
    to.changed = true;
  }

  // Create missing receivers before committing anything, so a full store changes no balance.
  // A missing account whose balance is still 0 is not created.
  for (std::size_t i = 0; i < num_local; ++i) {
    local_account& acc = local[i];
    if (acc.changed && acc.slot == nullptr && acc.lamports != 0) {
      acc.slot = find_or_insert(tx.account_key(acc.index));
      if (acc.slot == nullptr) return fail_with_fee(tx_result::account_table_full);
    }
  }
  for (std::size_t i = 0; i < num_local; ++i) {
    local_account& acc = local[i];
    if (acc.changed && acc.slot != nullptr) {
      store_lamports(*acc.slot, acc.lamports);
      mark_touched(*acc.slot);
      if (changes != nullptr) changes->add(tx.account_key(acc.index), acc.lamports);
    }
  }
  counters.fees_collected_lamports += fee;
  return finish(tx_result::ok);
}

// ------------------------------------------------------------------------------ bank hash

crypto::hash32 bank::bank_hash(const crypto::hash32& last_poh) noexcept {
  const std::size_t n = touched_count_.load(std::memory_order_acquire);
  std::uint32_t* begin = touched_.get();
  std::sort(begin, begin + n, [this](std::uint32_t a, std::uint32_t b) {
    return slots_[a].key < slots_[b].key;
  });
  bank_hasher hasher(n);
  for (std::size_t i = 0; i < n; ++i) hasher.add(slots_[begin[i]].key, slots_[begin[i]].lamports);
  return hasher.finish(last_poh);
}

bank_hasher::bank_hasher(std::size_t count) noexcept {
  std::array<std::uint8_t, 8> word{};
  store_u64_le(word.data(), count);
  stream_.update(word);
}

void bank_hasher::add(const crypto::pubkey& key, std::uint64_t lamports) noexcept {
  std::array<std::uint8_t, 8> word{};
  store_u64_le(word.data(), lamports);
  stream_.update(key);
  stream_.update(word);
}

crypto::hash32 bank_hasher::finish(const crypto::hash32& last_poh) noexcept {
  stream_.update(last_poh);
  return stream_.finish();
}

void bank::begin_slot() noexcept {
  touched_count_.store(0, std::memory_order_relaxed);
  if (++epoch_ == 0) {
    // 2^32 slots later: clear the marks so an old mark can never look current.
    for (std::size_t i = 0; i <= slot_mask_; ++i) slots_[i].touched_epoch = 0;
    epoch_ = 1;
  }
}

}  // namespace riptide::txn
