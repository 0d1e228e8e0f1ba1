#include <riptide/txn/execution.hpp>

#include <algorithm>
#include <bit>
#include <cstring>

namespace riptide::txn {

namespace {

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

// ------------------------------------------------------------------------------ bank hash

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

}  // namespace riptide::txn
