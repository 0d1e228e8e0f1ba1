#include <riptide/bank/bank_forks.hpp>

#include <riptide/consensus/vote_state.hpp>
#include <riptide/consensus/vote_tx.hpp>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <riptide/crypto/xxh3.hpp>

namespace riptide::bank {

namespace {

constexpr std::uint32_t none = 0xFFFF'FFFFU;
constexpr std::uint32_t rooted_bank = 0xFFFF'FFFEU;  // a status of a rooted block
constexpr std::uint32_t slot_empty = 0;
constexpr std::uint32_t slot_writing = 1;
constexpr std::uint32_t slot_ready = 2;
constexpr std::uint32_t slot_tombstone = 3;  // statuses only
constexpr std::size_t max_bank_count = 4096;
// The whole first signature: BIP-340 signatures are not malleable, so it is the same on every
// node, and two transactions can share it only by being the same (a shared R.x alone can be
// made with two keys and one nonce, and would let two fee payers' transactions collide).
constexpr std::size_t status_key_bytes = 64;

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

template <typename T>
T load(const T& v, std::memory_order order = std::memory_order_relaxed) noexcept {
  return std::atomic_ref<T>(const_cast<T&>(v)).load(order);
}
template <typename T>
void store(T& v, T value, std::memory_order order = std::memory_order_relaxed) noexcept {
  std::atomic_ref<T>(v).store(value, order);
}

}  // namespace

// Seeded, so a sender cannot grind signatures into one probe cluster.
std::uint64_t bank_forks::status_hash(std::span<const std::uint8_t> signature) const noexcept {
  return crypto::xxh3_64(signature.first(status_key_bytes), config_.hash_seed ^ 0x5354415455535f31ULL);
}

struct bank_forks::account_entry {
  std::atomic<std::uint32_t> state{slot_empty};
  std::uint32_t head = none;          // newest version (atomic_ref)
  std::uint64_t rooted = 0;           // rooted balance (atomic_ref)
  crypto::pubkey key{};
};

struct bank_forks::version {
  std::uint64_t lamports = 0;  // atomic_ref: read by balance() from any thread
  std::uint32_t bank = none;   // atomic_ref
  std::uint32_t next_in_key = none;  // atomic_ref
  std::uint32_t next_in_bank = none;
  std::uint32_t entry = 0;
};

struct bank_forks::status_entry {
  std::atomic<std::uint32_t> state{slot_empty};
  std::uint32_t bank = none;  // or rooted_bank
  std::uint32_t next_in_bank = none;
  std::uint64_t slot = 0;
  std::array<std::uint8_t, status_key_bytes> key{};
};

struct bank_forks::bank_slot {
  bank_info info;
  bool in_use = false;
  std::atomic<std::uint32_t> versions{none};
  std::atomic<std::uint32_t> statuses{none};
  std::atomic<std::uint64_t> changed{0};
  std::atomic<std::uint64_t> landed{0};
};

struct bank_forks::status_copy {
  std::array<std::uint8_t, status_key_bytes> key{};
  std::uint64_t slot = 0;
  std::uint32_t bank = none;
  std::uint32_t old_index = none;
  std::uint32_t old_next = none;
};

bank_forks::bank_forks(const forks_config& config, const crypto::hash32& start_hash)
    : config_(config), rooted_hashes_(txn::blockhash_queue::max_history_slots) {
  if (config.max_accounts == 0 || config.max_accounts > (std::size_t{1} << 30))
    throw std::invalid_argument("bank_forks: max_accounts must be in [1, 2^30]");
  if (config.max_banks < 2 || config.max_banks > max_bank_count)
    throw std::invalid_argument("bank_forks: max_banks must be in [2, 4096]");
  if (config.max_versions < 64 || config.max_versions >= none)
    throw std::invalid_argument("bank_forks: max_versions must be in [64, 2^32 - 1)");
  if (config.max_statuses < 64 || config.max_statuses > (std::size_t{1} << 30))
    throw std::invalid_argument("bank_forks: max_statuses must be in [64, 2^30]");
  if (config.lamports_per_signature > std::numeric_limits<std::uint64_t>::max() / txn::max_signatures)
    throw std::invalid_argument("bank_forks: lamports_per_signature * max_signatures overflows u64");
  if (config.max_voters == 0 || config.max_voters > max_voter_count)
    throw std::invalid_argument("bank_forks: max_voters must be in [1, 4096]");
  // One lock table for every bank: a transaction executes on one bank at a time, and two
  // banks executing at once (a leader's working bank, a replayed fork) only serialize more
  // than they need to on shared stripes.
  locks_ = std::make_unique<txn::account_locks>(config.lock_stripes, config.hash_seed);
  const std::size_t account_slots = std::bit_ceil(config.max_accounts * 2);  // load <= 1/2
  account_mask_ = account_slots - 1;
  accounts_ = std::make_unique<account_entry[]>(account_slots);
  versions_ = std::make_unique<version[]>(config.max_versions);
  free_versions_ = std::make_unique<std::uint32_t[]>(config.max_versions);
  for (std::size_t i = 0; i < config.max_versions; ++i) free_versions_[i] = static_cast<std::uint32_t>(i);
  free_tail_ = config.max_versions;
  const std::size_t status_slots = std::bit_ceil(config.max_statuses * 2);
  status_mask_ = status_slots - 1;
  statuses_ = std::make_unique<status_entry[]>(status_slots);
  status_scratch_ = std::make_unique<status_copy[]>(config.max_statuses);
  status_moved_ = std::make_unique<std::uint32_t[]>(status_slots);
  banks_ = std::make_unique<bank_slot[]>(config.max_banks);
  voters_.reserve(config.max_voters);
  votes_ = std::make_unique<vote_record[]>(config.max_banks * config.max_voters);
  rooted_votes_ = std::make_unique<vote_record[]>(config.max_voters);
  rooted_bank_hashes_ = std::make_unique<rooted_bank_hash[]>(consensus::max_vote_age_slots);
  ancestor_words_ = (config.max_banks + 63) / 64;
  ancestor_bits_ = std::make_unique<std::uint64_t[]>(ancestor_words_ * config.max_banks);
  free_banks_.reserve(config.max_banks);
  freeze_items_.reserve(config.max_versions);
  for (std::size_t i = config.max_banks; i-- > 0;) free_banks_.push_back(static_cast<bank_index>(i));
  rooted_statuses_.resize(config.max_banks + txn::blockhash_queue::max_age_slots + 2);
  // The genesis root: the state before slot 0.
  root_ = free_banks_.back();
  free_banks_.pop_back();
  live_banks_ = 1;
  bank_slot& g = banks_[root_];
  g.in_use = true;
  g.info = bank_info{};
  g.info.blockhash = start_hash;
  g.info.frozen = true;
  rooted_hashes_.register_hash(0, start_hash);
}

bank_forks::~bank_forks() = default;

// ------------------------------------------------------------------------------- accounts

std::uint64_t bank_forks::key_hash(const crypto::pubkey& key) const noexcept {
  return crypto::xxh3_64(key, config_.hash_seed);
}

bank_forks::account_entry* bank_forks::find_account(const crypto::pubkey& key) const noexcept {
  std::size_t i = key_hash(key) & account_mask_;
  for (;;) {
    account_entry& e = accounts_[i];
    std::uint32_t state = e.state.load(std::memory_order_acquire);
    if (state == slot_empty) return nullptr;
    while (state == slot_writing) {  // another thread is between claim and publish
      spin_pause();
      state = e.state.load(std::memory_order_acquire);
    }
    if (e.key == key) return &e;
    i = (i + 1) & account_mask_;
  }
}

bank_forks::account_entry* bank_forks::find_or_insert_account(const crypto::pubkey& key) noexcept {
  std::size_t i = key_hash(key) & account_mask_;
  for (;;) {
    account_entry& e = accounts_[i];
    std::uint32_t state = e.state.load(std::memory_order_acquire);
    if (state == slot_empty) {
      if (num_accounts_.fetch_add(1, std::memory_order_relaxed) >= config_.max_accounts) {
        num_accounts_.fetch_sub(1, std::memory_order_relaxed);
        return nullptr;
      }
      if (e.state.compare_exchange_strong(state, slot_writing, std::memory_order_acquire,
                                          std::memory_order_acquire)) {
        e.key = key;
        e.state.store(slot_ready, std::memory_order_release);
        return &e;
      }
      num_accounts_.fetch_sub(1, std::memory_order_relaxed);
    }
    while (state == slot_writing) {
      spin_pause();
      state = e.state.load(std::memory_order_acquire);
    }
    if (state == slot_ready) {
      if (e.key == key) return &e;
      i = (i + 1) & account_mask_;
    }
  }
}

bool bank_forks::credit(const crypto::pubkey& key, std::uint64_t lamports) noexcept {
  // Genesis funding only: once a block exists, a later fold would overwrite the credit.
  if (live_banks_ != 1 || roots_ != 0) return false;
  if (lamports > std::numeric_limits<std::uint64_t>::max() - total_supply_) return false;
  account_entry* e = find_or_insert_account(key);
  if (e == nullptr) return false;
  store(e->rooted, load(e->rooted) + lamports);
  total_supply_ += lamports;
  return true;
}

bool bank_forks::is_ancestor(bank_index a, bank_index b) const noexcept {
  if (a == b) return true;
  if (a >= config_.max_banks || b >= config_.max_banks) return false;
  return (load(ancestors(b)[a / 64], std::memory_order_acquire) >> (a % 64) & 1U) != 0;
}

// Every load is an acquire, so balance()'s second look at the fold generation cannot move
// before any of them (a seqlock read without a fence, which ThreadSanitizer does not model);
// on x86 these are plain loads.
std::uint64_t bank_forks::read(bank_index bank, const account_entry& entry) const noexcept {
  for (std::uint32_t v = load(entry.head, std::memory_order_acquire); v != none;) {
    const version& x = versions_[v];
    if (is_ancestor(load(x.bank, std::memory_order_acquire), bank)) return load(x.lamports, std::memory_order_acquire);
    v = load(x.next_in_key, std::memory_order_acquire);
  }
  return load(entry.rooted, std::memory_order_acquire);
}

std::uint64_t bank_forks::balance(bank_index bank, const crypto::pubkey& key) const noexcept {
  for (;;) {
    const std::uint64_t before = fold_generation_.load(std::memory_order_acquire);
    if ((before & 1U) != 0) {
      spin_pause();
      continue;
    }
    const account_entry* e = find_account(key);
    const std::uint64_t value = e == nullptr ? 0 : read(bank, *e);
    if (fold_generation_.load(std::memory_order_acquire) == before) return value;
  }
}

std::uint64_t bank_forks::rooted_balance(const crypto::pubkey& key) const noexcept {
  for (;;) {
    const std::uint64_t before = fold_generation_.load(std::memory_order_acquire);
    if ((before & 1U) != 0) {
      spin_pause();
      continue;
    }
    const account_entry* e = find_account(key);
    const std::uint64_t value = e == nullptr ? 0 : load(e->rooted, std::memory_order_acquire);
    if (fold_generation_.load(std::memory_order_acquire) == before) return value;
  }
}

void bank_forks::for_each_rooted_account(
    const std::function<void(const crypto::pubkey&, std::uint64_t)>& fn) const {
  for (std::size_t i = 0; i <= account_mask_; ++i) {
    const account_entry& e = accounts_[i];
    if (e.state.load(std::memory_order_acquire) != slot_ready) continue;
    const std::uint64_t lamports = load(e.rooted, std::memory_order_relaxed);
    if (lamports != 0) fn(e.key, lamports);
  }
}

bool bank_forks::has_version(bank_index bank, const account_entry& entry) const noexcept {
  for (std::uint32_t v = load(entry.head); v != none; v = load(versions_[v].next_in_key))
    if (load(versions_[v].bank) == bank) return true;
  return false;
}

// Called under the entry's exclusive lock; a new version was reserved unless the bank has one.
void bank_forks::write(bank_index bank, account_entry& entry, std::uint64_t lamports) noexcept {
  for (std::uint32_t v = load(entry.head); v != none; v = load(versions_[v].next_in_key)) {
    if (load(versions_[v].bank) == bank) {
      store(versions_[v].lamports, lamports);
      return;
    }
  }
  const std::size_t at = free_head_.fetch_add(1, std::memory_order_relaxed);
  const std::uint32_t v = free_versions_[at % config_.max_versions];
  version& x = versions_[v];
  store(x.lamports, lamports);
  store(x.bank, bank);
  store(x.next_in_key, load(entry.head));
  x.entry = static_cast<std::uint32_t>(&entry - accounts_.get());
  bank_slot& b = banks_[bank];
  std::uint32_t head = b.versions.load(std::memory_order_relaxed);
  do {
    x.next_in_bank = head;
  } while (!b.versions.compare_exchange_weak(head, v, std::memory_order_release, std::memory_order_relaxed));
  b.changed.fetch_add(1, std::memory_order_relaxed);
  store(entry.head, v, std::memory_order_release);
}

bool bank_forks::reserve(std::atomic<std::size_t>& used, std::size_t max, std::size_t n) noexcept {
  std::size_t now = used.load(std::memory_order_relaxed);
  do {
    if (max - now < n) return false;
  } while (!used.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
  return true;
}

// ------------------------------------------------------------------------------- statuses

bool bank_forks::landed(bank_index bank, std::span<const std::uint8_t> signature,
                        std::uint64_t hash) const noexcept {
  for (std::size_t i = hash & status_mask_;; i = (i + 1) & status_mask_) {
    const status_entry& s = statuses_[i];
    std::uint32_t state = s.state.load(std::memory_order_acquire);
    while (state == slot_writing) {
      spin_pause();
      state = s.state.load(std::memory_order_acquire);
    }
    if (state == slot_empty) return false;
    if (state != slot_ready || std::memcmp(s.key.data(), signature.data(), status_key_bytes) != 0) continue;
    const std::uint32_t b = load(s.bank);
    if (b == rooted_bank || is_ancestor(b, bank)) return true;
  }
}

// Called under the fee payer's exclusive lock, with one status reserved.
void bank_forks::add_status(bank_index bank, std::span<const std::uint8_t> signature,
                            std::uint64_t hash) noexcept {
  for (std::size_t i = hash & status_mask_;; i = (i + 1) & status_mask_) {
    status_entry& s = statuses_[i];
    std::uint32_t state = s.state.load(std::memory_order_acquire);
    if (state != slot_empty) continue;  // tombstones are reclaimed by rebuild_statuses only
    if (!s.state.compare_exchange_strong(state, slot_writing, std::memory_order_acquire,
                                         std::memory_order_relaxed))
      continue;
    std::memcpy(s.key.data(), signature.data(), status_key_bytes);
    store(s.bank, bank);
    s.slot = banks_[bank].info.slot;
    bank_slot& b = banks_[bank];
    const auto index = static_cast<std::uint32_t>(i);
    std::uint32_t head = b.statuses.load(std::memory_order_relaxed);
    do {
      s.next_in_bank = head;
    } while (!b.statuses.compare_exchange_weak(head, index, std::memory_order_release, std::memory_order_relaxed));
    b.landed.fetch_add(1, std::memory_order_relaxed);
    s.state.store(slot_ready, std::memory_order_release);
    return;
  }
}

// ------------------------------------------------------------------------------- execution

bool bank_forks::recent_blockhash(bank_index bank, const crypto::hash32& hash) const noexcept {
  const std::uint64_t newest = banks_[bank].info.parent_slot;
  const auto recent = [newest](std::uint64_t slot) {
    return slot <= newest && newest - slot < txn::blockhash_queue::max_age_slots;
  };
  // The bank's unrooted ancestors and the root, newest first; then the rooted history.
  for (bank_index b = banks_[bank].info.parent; b != no_bank; b = banks_[b].info.parent) {
    const bank_info& i = banks_[b].info;
    if (i.blockhash == hash) return recent(i.slot);
    if (b == root_) break;
  }
  std::uint64_t slot = 0;
  return rooted_hashes_.slot_of(hash, slot) && recent(slot);
}

bool bank_forks::try_lock(const txn::transaction_view& tx, txn::held_locks& held) noexcept {
  return locks_->try_lock(tx, held);
}

void bank_forks::unlock(txn::held_locks& held) noexcept { locks_->unlock(held); }

// ----------------------------------------------------------------------------------- votes

bool bank_forks::add_voter(const crypto::pubkey& identity) noexcept {
  if (voters_.size() >= config_.max_voters || voter_index(identity)) return false;
  voters_.push_back(identity);  // reserved: no allocation
  return true;
}

std::optional<std::size_t> bank_forks::voter_index(const crypto::pubkey& identity) const noexcept {
  for (std::size_t v = 0; v < voters_.size(); ++v)
    if (voters_[v] == identity) return v;
  return std::nullopt;
}

std::optional<consensus::tower_sync> bank_forks::vote_state(bank_index bank, std::size_t voter) const noexcept {
  if (voter >= voters_.size()) return std::nullopt;
  for (bank_index b = bank; b != no_bank; b = banks_[b].info.parent)
    if (const vote_record& r = vote_slot(b, voter); r.set) return r.vote;
  if (rooted_votes_[voter].set) return rooted_votes_[voter].vote;
  return std::nullopt;
}

// The executing bank's ancestors as the vote checks see them: slot -> bank hash, from its
// unrooted ancestors, then the rooted slots' ring (the last max_vote_age_slots rooted slots).
class bank_forks::fork_hashes final : public consensus::slot_hashes {
 public:
  fork_hashes(const bank_forks& forks, bank_index bank) noexcept : forks_(forks), bank_(bank) {}
  std::optional<crypto::hash32> bank_hash_of(std::uint64_t slot) const noexcept override {
    for (bank_index b = forks_.banks_[bank_].info.parent; b != forks_.root_; b = forks_.banks_[b].info.parent) {
      const bank_info& i = forks_.banks_[b].info;
      if (i.slot == slot) return i.bank_hash;
      if (i.slot < slot) return std::nullopt;  // skipped on this fork
    }
    // Rooted (the root itself included).
    const rooted_bank_hash& r = forks_.rooted_bank_hashes_[slot % consensus::max_vote_age_slots];
    if (r.slot == slot) return r.hash;
    return std::nullopt;
  }
  std::uint64_t oldest_slot() const noexcept override {
    const std::uint64_t slot = forks_.banks_[bank_].info.slot;
    return slot > consensus::max_vote_age_slots ? slot - consensus::max_vote_age_slots + 1 : 0;
  }

 private:
  const bank_forks& forks_;
  bank_index bank_;
};

txn::tx_result bank_forks::execute(bank_index bank, const txn::transaction_view& tx,
                                   txn::execution_counters& counters) noexcept {
  using txn::tx_result;
  assert(live(bank) && bank != root_ && !banks_[bank].info.frozen && !banks_[bank].info.dead);
  const auto finish = [&counters](tx_result result) noexcept {
    ++counters.by_result[static_cast<std::size_t>(result)];
    return result;
  };
  if (!recent_blockhash(bank, tx.recent_blockhash())) return finish(tx_result::blockhash_too_old);
  const std::span<const std::uint8_t> signature(tx.signature(0));
  const std::uint64_t signature_hash = status_hash(signature);
  if (landed(bank, signature, signature_hash)) return finish(tx_result::already_processed);

  struct local_account {
    account_entry* entry;
    std::uint64_t lamports;
    std::uint8_t index;
    bool changed;
  };
  constexpr std::uint8_t not_loaded = 0xFF;
  std::array<std::uint8_t, txn::max_accounts> position;
  position.fill(not_loaded);
  std::array<local_account, txn::max_accounts> local;
  std::size_t num_local = 0;
  const auto load_account = [&](std::size_t index) noexcept -> local_account& {
    if (position[index] == not_loaded) {
      account_entry* e = find_account(tx.account_key(index));
      position[index] = static_cast<std::uint8_t>(num_local);
      local[num_local++] = local_account{e, e == nullptr ? 0 : read(bank, *e), static_cast<std::uint8_t>(index), false};
    }
    return local[position[index]];
  };
  // Everything a landing needs is reserved first, so a full table changes nothing.
  const auto refuse_full = [&]() noexcept {
    refused_full_.fetch_add(1, std::memory_order_relaxed);
    return finish(tx_result::account_table_full);
  };
  const auto land = [&](std::size_t changed) noexcept {
    if (!reserve(statuses_used_, config_.max_statuses, 1)) return false;
    if (!reserve(versions_used_, config_.max_versions, changed)) {
      statuses_used_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  };

  const std::uint64_t fee = config_.lamports_per_signature * tx.num_signatures();
  local_account& payer = load_account(0);
  if (payer.lamports < fee) return finish(tx_result::insufficient_funds_for_fee);
  const std::uint64_t payer_after_fee = payer.lamports - fee;
  const auto fail_with_fee = [&](tx_result result) noexcept {
    if (!land(fee != 0 && !has_version(bank, *payer.entry) ? 1 : 0)) return refuse_full();
    if (fee != 0) write(bank, *payer.entry, payer_after_fee);  // fee > 0 and paid: the payer exists
    add_status(bank, signature, signature_hash);
    counters.fees_collected_lamports += fee;
    return finish(result);
  };
  payer.lamports = payer_after_fee;
  payer.changed = fee != 0;

  if (consensus::is_vote_transaction(tx)) {
    // The voter is account 0, whose lock the caller holds: its vote state on this bank is
    // this transaction's alone.
    consensus::decoded_vote d;
    if (consensus::decode_vote(tx, d) != consensus::vote_tx_error::none) return fail_with_fee(tx_result::invalid_instruction);
    const auto voter = voter_index(d.voter);
    if (!voter) return fail_with_fee(tx_result::invalid_instruction);
    const auto current = vote_state(bank, *voter);
    if (consensus::check_tower_sync(current ? current->votes : consensus::tower{}, d.vote, fork_hashes(*this, bank)) !=
        consensus::vote_error::none)
      return fail_with_fee(tx_result::invalid_instruction);
    if (!land(fee != 0 && !has_version(bank, *payer.entry) ? 1 : 0)) return refuse_full();
    if (fee != 0) write(bank, *payer.entry, payer_after_fee);
    vote_slot(bank, *voter) = vote_record{true, d.vote};
    add_status(bank, signature, signature_hash);
    counters.fees_collected_lamports += fee;
    return finish(tx_result::ok);
  }

  std::array<txn::transfer, txn::max_instructions> transfers;
  const std::size_t num_transfers = tx.num_instructions();
  for (std::size_t i = 0; i < num_transfers; ++i) {
    switch (txn::decode_transfer(tx, i, transfers[i])) {
      case txn::transfer_error::none: break;
      case txn::transfer_error::not_system_program: return fail_with_fee(tx_result::unknown_program);
      default: return fail_with_fee(tx_result::invalid_instruction);
    }
  }
  for (std::size_t i = 0; i < num_transfers; ++i) {
    const txn::transfer& t = transfers[i];
    local_account& from = load_account(t.from_index);
    if (from.lamports < t.lamports) return fail_with_fee(tx_result::insufficient_funds);
    from.lamports -= t.lamports;
    from.changed = true;
    local_account& to = load_account(t.to_index);
    to.lamports += t.lamports;  // no overflow: every balance <= total supply <= 2^64 - 1
    to.changed = true;
  }
  // New versions needed: changed accounts this bank has not written yet (a missing account
  // whose balance is still 0 is not created).
  std::size_t changed = 0;
  for (std::size_t i = 0; i < num_local; ++i) {
    const local_account& acc = local[i];
    if (!acc.changed) continue;
    if (acc.entry == nullptr ? acc.lamports != 0 : !has_version(bank, *acc.entry)) ++changed;
  }
  if (!land(changed)) return refuse_full();
  for (std::size_t i = 0; i < num_local; ++i) {
    local_account& acc = local[i];
    if (acc.changed && acc.entry == nullptr && acc.lamports != 0) {
      acc.entry = find_or_insert_account(tx.account_key(acc.index));
      if (acc.entry == nullptr) {
        statuses_used_.fetch_sub(1, std::memory_order_relaxed);
        versions_used_.fetch_sub(changed, std::memory_order_relaxed);
        return refuse_full();
      }
    }
  }
  for (std::size_t i = 0; i < num_local; ++i) {
    local_account& acc = local[i];
    if (acc.changed && acc.entry != nullptr) write(bank, *acc.entry, acc.lamports);
  }
  add_status(bank, signature, signature_hash);
  counters.fees_collected_lamports += fee;
  return finish(tx_result::ok);
}

// ----------------------------------------------------------------------------------- banks

const bank_info& bank_forks::info(bank_index bank) const noexcept { return banks_[bank].info; }

bool bank_forks::live(bank_index bank) const noexcept {
  return bank < config_.max_banks && banks_[bank].in_use;
}

bank_index bank_forks::find(const block_id& id) const noexcept {
  for (std::size_t i = 0; i < config_.max_banks; ++i)
    if (banks_[i].in_use && banks_[i].info.id == id) return static_cast<bank_index>(i);
  return no_bank;
}

bank_index bank_forks::find_frozen(std::uint64_t slot) const noexcept {
  for (std::size_t i = 0; i < config_.max_banks; ++i) {
    const bank_slot& b = banks_[i];
    // The genesis root (no block: id zero) shares slot 0 with slot 0's block; it is skipped.
    if (b.in_use && b.info.frozen && !b.info.dead && b.info.slot == slot && b.info.id != block_id{})
      return static_cast<bank_index>(i);
  }
  return no_bank;
}

std::vector<bank_index> bank_forks::banks() const {
  std::vector<bank_index> out;
  for (std::size_t i = 0; i < config_.max_banks; ++i)
    if (banks_[i].in_use) out.push_back(static_cast<bank_index>(i));
  return out;
}

bank_index bank_forks::new_bank(bank_index parent, std::uint64_t slot, const block_id& id) noexcept {
  if (!live(parent) || free_banks_.empty()) return no_bank;
  const bank_info& p = banks_[parent].info;
  if (!p.frozen || p.dead) return no_bank;
  const bool genesis_child = parent == root_ && roots_ == 0 && p.slot == 0 && p.id == block_id{};
  if (slot < p.slot || (slot == p.slot && !genesis_child)) return no_bank;
  if (find(id) != no_bank) return no_bank;
  const bank_index b = free_banks_.back();
  free_banks_.pop_back();
  ++live_banks_;
  bank_slot& s = banks_[b];
  s.in_use = true;
  s.info = bank_info{};
  s.info.slot = slot;
  s.info.parent_slot = p.slot;
  s.info.parent = parent;
  s.info.id = id;
  s.info.tick_height = p.tick_height;
  s.versions.store(none, std::memory_order_relaxed);
  s.statuses.store(none, std::memory_order_relaxed);
  s.changed.store(0, std::memory_order_relaxed);
  s.landed.store(0, std::memory_order_relaxed);
  // A bank slot's votes were cleared when it was last dropped or folded (drop_bank_state).
  for (std::size_t v = 0; v < voters_.size(); ++v) assert(!vote_slot(b, v).set);
  std::uint64_t* bits = ancestors(b);
  const std::uint64_t* from = ancestors(parent);
  for (std::size_t w = 0; w < ancestor_words_; ++w) store(bits[w], load(from[w]));
  store(bits[parent / 64], load(bits[parent / 64]) | (std::uint64_t{1} << (parent % 64)));
  return b;
}

bool bank_forks::freeze(bank_index bank, const crypto::hash32& last_poh, std::uint64_t tick_height,
                        crypto::hash32& bank_hash) noexcept {
  if (!live(bank)) return false;
  bank_slot& s = banks_[bank];
  if (s.info.frozen || s.info.dead) return false;
  // The accounts this block changed, with their values in this bank, sorted by key (in
  // scratch reserved for max_versions: a bank never holds more versions).
  std::vector<freeze_item>& items = freeze_items_;
  items.clear();
  for (std::uint32_t v = s.versions.load(std::memory_order_acquire); v != none; v = versions_[v].next_in_bank)
    items.push_back({&accounts_[versions_[v].entry].key, load(versions_[v].lamports)});
  std::sort(items.begin(), items.end(), [](const freeze_item& a, const freeze_item& b) { return *a.key < *b.key; });
  txn::bank_hasher hasher(items.size());
  for (const freeze_item& i : items) hasher.add(*i.key, i.lamports);
  bank_hash = hasher.finish(last_poh);
  s.info.blockhash = last_poh;
  s.info.bank_hash = bank_hash;
  s.info.tick_height = tick_height;
  s.info.frozen = true;
  s.info.changed_accounts = items.size();
  s.info.landed = s.landed.load(std::memory_order_relaxed);
  return true;
}

bool bank_forks::set_block_id(bank_index bank, const block_id& id) noexcept {
  if (!live(bank)) return false;
  const bank_index other = find(id);
  if (other != no_bank) return other == bank;
  banks_[bank].info.id = id;
  return true;
}

// Unlinks every version of `bank` from its account's list, folding its value into the rooted
// store first when `fold`; tombstones its statuses unless `fold` (then they become rooted).
void bank_forks::drop_bank_state(bank_index bank, bool fold) noexcept {
  bank_slot& s = banks_[bank];
  std::size_t freed = 0;
  for (std::uint32_t v = s.versions.load(std::memory_order_acquire); v != none;) {
    version& x = versions_[v];
    const std::uint32_t next = x.next_in_bank;
    account_entry& e = accounts_[x.entry];
    if (fold) store(e.rooted, load(x.lamports));
    // Unlink from the account's list (short: one version per unrooted bank at most).
    if (load(e.head) == v) {
      store(e.head, load(x.next_in_key), std::memory_order_release);
    } else {
      for (std::uint32_t p = load(e.head); p != none; p = load(versions_[p].next_in_key)) {
        if (load(versions_[p].next_in_key) == v) {
          store(versions_[p].next_in_key, load(x.next_in_key), std::memory_order_release);
          break;
        }
      }
    }
    store(x.bank, none);
    free_versions_[free_tail_++ % config_.max_versions] = v;
    ++freed;
    v = next;
  }
  versions_used_.fetch_sub(freed, std::memory_order_relaxed);
  s.versions.store(none, std::memory_order_relaxed);
  s.changed.store(0, std::memory_order_relaxed);
  const std::uint32_t statuses = s.statuses.load(std::memory_order_acquire);
  if (fold) {
    for (std::uint32_t i = statuses; i != none; i = statuses_[i].next_in_bank) store(statuses_[i].bank, rooted_bank);
    if (statuses != none) {
      rooted_statuses& r = rooted_statuses_[(rooted_statuses_head_ + rooted_statuses_count_) % rooted_statuses_.size()];
      r.slot = s.info.slot;
      r.head = statuses;
      ++rooted_statuses_count_;
    }
  } else {
    std::size_t n = 0;
    for (std::uint32_t i = statuses; i != none; i = statuses_[i].next_in_bank) {
      statuses_[i].state.store(slot_tombstone, std::memory_order_release);
      ++n;
    }
    statuses_used_.fetch_sub(n, std::memory_order_relaxed);
    status_tombstones_ += n;
  }
  s.statuses.store(none, std::memory_order_relaxed);
  for (std::size_t v = 0; v < voters_.size(); ++v) {
    vote_record& r = vote_slot(bank, v);
    if (fold && r.set) rooted_votes_[v] = r;
    r.set = false;
  }
}

void bank_forks::free_bank(bank_index bank) noexcept {
  banks_[bank].in_use = false;
  free_banks_.push_back(bank);
  --live_banks_;
}

void bank_forks::mark_dead(bank_index bank) noexcept {
  if (!live(bank) || bank == root_ || banks_[bank].info.dead) return;
  for (std::size_t i = 0; i < config_.max_banks; ++i)
    if (banks_[i].in_use && banks_[i].info.parent == bank) return;  // it parents a block already
  fold_generation_.fetch_add(1, std::memory_order_acq_rel);
  drop_bank_state(bank, false);
  fold_generation_.fetch_add(1, std::memory_order_release);
  banks_[bank].info.dead = true;
  if (status_tombstones_ > (status_mask_ + 1) / 4) rebuild_statuses();
}

bool bank_forks::set_root(bank_index r) noexcept {
  if (!live(r) || r == root_) return false;
  const bank_info& ri = banks_[r].info;
  if (!ri.frozen || ri.dead) return false;
  // The path from the old root (exclusive) down to r, oldest first.
  std::array<bank_index, max_bank_count> path;
  std::size_t n = 0;
  for (bank_index b = r; b != root_; b = banks_[b].info.parent) {
    if (b == no_bank) return false;  // not a descendant of the root (cannot happen: all are)
    path[n++] = b;
  }
  fold_generation_.fetch_add(1, std::memory_order_acq_rel);
  const bank_index old_root = root_;
  for (std::size_t i = n; i-- > 0;) {
    const bank_index b = path[i];
    drop_bank_state(b, true);
    rooted_hashes_.register_hash(banks_[b].info.slot, banks_[b].info.blockhash);
    rooted_bank_hashes_[banks_[b].info.slot % consensus::max_vote_age_slots] =
        rooted_bank_hash{banks_[b].info.slot, banks_[b].info.bank_hash};
  }
  // Everything that does not descend from r goes: the old root, the path above r, and every
  // other fork.
  std::array<std::uint64_t, max_bank_count / 64> freed{};
  for (std::size_t i = 0; i < config_.max_banks; ++i) {
    const auto b = static_cast<bank_index>(i);
    if (!banks_[b].in_use || b == r || is_ancestor(r, b)) continue;
    const bool on_path = b == old_root || is_ancestor(b, r);
    if (!on_path) {
      drop_bank_state(b, false);
      ++pruned_banks_;
    }
    free_bank(b);
    freed[b / 64] |= std::uint64_t{1} << (b % 64);
  }
  for (std::size_t i = 0; i < config_.max_banks; ++i) {
    if (!banks_[i].in_use) continue;
    std::uint64_t* bits = ancestors(static_cast<bank_index>(i));
    for (std::size_t w = 0; w < ancestor_words_; ++w) store(bits[w], load(bits[w]) & ~freed[w]);
  }
  std::uint64_t* rbits = ancestors(r);
  for (std::size_t w = 0; w < ancestor_words_; ++w) store(rbits[w], std::uint64_t{0});
  root_ = r;
  banks_[r].info.parent = no_bank;
  ++roots_;
  expire_statuses();
  fold_generation_.fetch_add(1, std::memory_order_release);
  if (status_tombstones_ > (status_mask_ + 1) / 4) rebuild_statuses();
  return true;
}

// Rooted statuses are kept while a transaction of theirs could still carry a recent
// blockhash on some live fork: every live bank descends from the root, so its parent slot is
// at least the root's slot.
void bank_forks::expire_statuses() noexcept {
  const std::uint64_t root_slot = banks_[root_].info.slot;
  while (rooted_statuses_count_ != 0) {
    const rooted_statuses& r = rooted_statuses_[rooted_statuses_head_];
    if (r.slot + txn::blockhash_queue::max_age_slots + 1 > root_slot) break;
    std::size_t n = 0;
    for (std::uint32_t i = r.head; i != none; i = statuses_[i].next_in_bank) {
      statuses_[i].state.store(slot_tombstone, std::memory_order_release);
      ++n;
    }
    statuses_used_.fetch_sub(n, std::memory_order_relaxed);
    status_tombstones_ += n;
    rooted_statuses_head_ = (rooted_statuses_head_ + 1) % rooted_statuses_.size();
    --rooted_statuses_count_;
  }
}

// Linear probing with tombstones: probes get longer as statuses are dropped, so once a
// quarter of the table is tombstones every live status is placed again (quiescent; into the
// scratch copy, then back). The per-bank and per-rooted-slot lists follow the entries.
void bank_forks::rebuild_statuses() noexcept {
  const std::size_t size = status_mask_ + 1;
  std::size_t n = 0;
  for (std::size_t i = 0; i < size; ++i) {
    status_entry& s = statuses_[i];
    const std::uint32_t state = s.state.load(std::memory_order_relaxed);
    status_moved_[i] = none;
    if (state == slot_ready && n < config_.max_statuses) {
      status_scratch_[n] = status_copy{s.key, s.slot, s.bank, static_cast<std::uint32_t>(i), s.next_in_bank};
      status_moved_[i] = static_cast<std::uint32_t>(n++);
    }
    s.state.store(slot_empty, std::memory_order_relaxed);
  }
  // status_moved_: old index -> scratch position; the scratch's old_index becomes the new one.
  for (std::size_t k = 0; k < n; ++k) {
    const status_copy& c = status_scratch_[k];
    std::size_t j = status_hash(c.key) & status_mask_;
    while (statuses_[j].state.load(std::memory_order_relaxed) != slot_empty) j = (j + 1) & status_mask_;
    status_entry& d = statuses_[j];
    d.key = c.key;
    d.slot = c.slot;
    d.bank = c.bank;
    d.state.store(slot_ready, std::memory_order_relaxed);
    status_scratch_[k].old_index = static_cast<std::uint32_t>(j);  // now: the new index
  }
  const auto where = [this](std::uint32_t old) {
    return old == none || status_moved_[old] == none ? none : status_scratch_[status_moved_[old]].old_index;
  };
  for (std::size_t k = 0; k < n; ++k)
    statuses_[status_scratch_[k].old_index].next_in_bank = where(status_scratch_[k].old_next);
  for (std::size_t i = 0; i < config_.max_banks; ++i)
    if (banks_[i].in_use)
      banks_[i].statuses.store(where(banks_[i].statuses.load(std::memory_order_relaxed)), std::memory_order_relaxed);
  for (std::size_t k = 0; k < rooted_statuses_count_; ++k) {
    rooted_statuses& r = rooted_statuses_[(rooted_statuses_head_ + k) % rooted_statuses_.size()];
    r.head = where(r.head);
  }
  status_tombstones_ = 0;
  ++status_rebuilds_;
}

forks_stats bank_forks::stats() const noexcept {
  forks_stats s;
  s.banks = live_banks_;
  s.max_banks = config_.max_banks;
  s.accounts = num_accounts_.load(std::memory_order_relaxed);
  s.max_accounts = config_.max_accounts;
  s.versions = versions_used_.load(std::memory_order_relaxed);
  s.max_versions = config_.max_versions;
  s.statuses = statuses_used_.load(std::memory_order_relaxed);
  s.max_statuses = config_.max_statuses;
  s.refused_full = refused_full_.load(std::memory_order_relaxed);
  s.roots = roots_;
  s.pruned_banks = pruned_banks_;
  s.rooted_slot = banks_[root_].info.slot;
  s.status_rebuilds = status_rebuilds_;
  return s;
}

bank_index highest_frozen_bank(const bank_forks& forks) noexcept {
  // Every live bank descends from the root, so the root is chosen only when nothing else is
  // (it is left out of the comparison: the genesis root shares slot 0 with the first block).
  bank_index best = no_bank;
  for (const bank_index b : forks.banks()) {
    if (b == forks.root()) continue;
    const bank_info& c = forks.info(b);
    if (!c.frozen || c.dead) continue;
    if (best == no_bank) {
      best = b;
      continue;
    }
    const bank_info& now = forks.info(best);
    if (c.slot > now.slot || (c.slot == now.slot && c.id < now.id)) best = b;
  }
  return best == no_bank ? forks.root() : best;
}

}  // namespace riptide::bank
