#include <riptide/shred/slot_assembler.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace riptide::shred {

const char* to_string(insert_result result) noexcept {
  switch (result) {
    case insert_result::inserted: return "inserted";
    case insert_result::duplicate: return "duplicate";
    case insert_result::slot_full: return "slot_full";
    case insert_result::out_of_window: return "out_of_window";
    case insert_result::index_too_large: return "index_too_large";
    case insert_result::not_data: return "not_data";
    case insert_result::slot_taken: return "slot_taken";
    case insert_result::parent_mismatch: return "parent_mismatch";
    case insert_result::last_index_conflict: return "last_index_conflict";
  }
  return "unknown";
}

slot_assembler::slot_assembler(const slot_assembler_config& config) : config_(config) {
  if (config_.max_slots == 0 || config_.max_slots >= no_entry) {
    throw std::invalid_argument("slot_assembler: max_slots must be in 1.." +
                                std::to_string(no_entry - 1));
  }
  if (config_.max_data_shreds_per_slot == 0 ||
      config_.max_data_shreds_per_slot > max_shreds_per_slot) {
    throw std::invalid_argument("slot_assembler: max_data_shreds_per_slot must be in 1.." +
                                std::to_string(max_shreds_per_slot));
  }
  if (config_.pool_payloads == 0 || config_.pool_payloads >= no_entry) {
    throw std::invalid_argument("slot_assembler: pool_payloads must be in 1.." +
                                std::to_string(no_entry - 1));
  }
  words_per_slot_ = (config_.max_data_shreds_per_slot + 63) / 64;
  entries_ = std::make_unique<entry[]>(config_.max_slots);
  present_ = std::make_unique<std::uint64_t[]>(config_.max_slots * words_per_slot_);
  batch_ = std::make_unique<std::uint64_t[]>(config_.max_slots * words_per_slot_);
  // Read only where the presence bitmap says an index is held: no need to zero them.
  pool_index_ = std::make_unique_for_overwrite<std::uint32_t[]>(
      config_.max_slots * config_.max_data_shreds_per_slot);
  pool_ = std::make_unique_for_overwrite<std::uint8_t[]>(config_.pool_payloads *
                                                         payload_stride_bytes);
  pool_size_ = std::make_unique_for_overwrite<std::uint16_t[]>(config_.pool_payloads);
  free_ = std::make_unique_for_overwrite<std::uint32_t[]>(config_.pool_payloads);
  // Lowest entries on top of the stack: a lightly used pool touches few pages.
  for (std::size_t i = 0; i < config_.pool_payloads; ++i) {
    free_[i] = static_cast<std::uint32_t>(config_.pool_payloads - 1 - i);
  }
  free_count_ = config_.pool_payloads;
}

slot_assembler::~slot_assembler() = default;

std::uint32_t slot_assembler::find(std::uint64_t slot) const noexcept {
  const entry& hit = entries_[last_hit_];
  if (hit.state != entry_state::free && hit.slot == slot) return last_hit_;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    if (entries_[e].state != entry_state::free && entries_[e].slot == slot) {
      last_hit_ = e;
      return e;
    }
  }
  return no_entry;
}

const slot_assembler::entry* slot_assembler::find_active(std::uint64_t slot) const noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry || entries_[e].state != entry_state::active) return nullptr;
  return &entries_[e];
}

bool slot_assembler::present(std::uint32_t e, std::uint32_t index) const noexcept {
  return (present_words(e)[index / 64] >> (index % 64)) & 1u;
}

std::uint32_t slot_assembler::victim_for(std::uint64_t slot) const noexcept {
  if (!config_.keep_lowest) return oldest_incomplete(slot);
  std::uint32_t best = no_entry;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    const entry& x = entries_[e];
    if (x.state != entry_state::active || x.slot <= slot) continue;
    if (best == no_entry || x.slot > entries_[best].slot) best = e;
  }
  return best;
}

std::uint32_t slot_assembler::oldest_incomplete(std::uint64_t below) const noexcept {
  std::uint32_t best = no_entry;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    const entry& x = entries_[e];
    if (x.state != entry_state::active || complete(x) || x.slot >= below) continue;
    if (best == no_entry || x.slot < entries_[best].slot) best = e;
  }
  return best;
}

std::uint32_t slot_assembler::clear(std::uint32_t e) noexcept {
  entry& x = entries_[e];
  std::uint64_t* words = present_words(e);
  std::uint64_t* batches = batch_words(e);
  const std::uint32_t* pool = pool_index(e);
  std::uint32_t freed = 0;
  if (x.received > 0) {
    const std::size_t used_words = std::size_t{x.highest} / 64 + 1;
    for (std::size_t w = 0; w < used_words; ++w) {
      for (std::uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
        const std::size_t index = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
        free_[free_count_++] = pool[index];
        ++freed;
      }
      words[w] = 0;
      batches[w] = 0;
    }
  }
  x.bytes = x.contiguous_bytes = x.ready_bytes = 0;
  x.received = x.highest = x.contiguous = x.ready_shreds = 0;
  return freed;
}

void slot_assembler::make_free(std::uint32_t e) noexcept {
  clear(e);
  entries_[e] = entry{};
}

void slot_assembler::evict(std::uint32_t e) noexcept {
  const std::uint64_t slot = entries_[e].slot;
  counters_.shreds_evicted += clear(e);
  ++counters_.slots_evicted_for_space;
  entries_[e] = entry{};
  if (evicted_count_ < evicted_.size()) {
    evicted_[evicted_count_++] = slot;
  } else {
    ++counters_.evictions_unreported;
  }
}

std::size_t slot_assembler::take_evicted(std::span<std::uint64_t> out) noexcept {
  const std::size_t n = std::min(out.size(), evicted_count_);
  std::copy_n(evicted_.begin(), n, out.begin());
  std::copy(evicted_.begin() + static_cast<std::ptrdiff_t>(n), evicted_.begin() + static_cast<std::ptrdiff_t>(evicted_count_),
            evicted_.begin());
  evicted_count_ -= n;
  return n;
}

std::uint32_t slot_assembler::acquire_entry(std::uint64_t slot) noexcept {
  std::uint32_t oldest_taken = no_entry;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    const entry& x = entries_[e];
    if (x.state == entry_state::free) return e;
    if (x.state == entry_state::taken &&
        (oldest_taken == no_entry || x.slot < entries_[oldest_taken].slot)) {
      oldest_taken = e;
    }
  }
  if (oldest_taken != no_entry) {
    make_free(oldest_taken);
    return oldest_taken;
  }
  const std::uint32_t victim = victim_for(slot);
  if (victim == no_entry) return no_entry;
  evict(victim);
  return victim;
}

std::uint32_t slot_assembler::acquire_payload(std::uint32_t owner) noexcept {
  if (free_count_ == 0) {
    const std::uint32_t victim = victim_for(entries_[owner].slot);
    if (victim == no_entry) return no_entry;
    evict(victim);
    if (free_count_ == 0) return no_entry;  // the victim held nothing (cannot happen)
  }
  return free_[--free_count_];
}

insert_result slot_assembler::insert(const shred_view& shred) noexcept {
  const auto done = [this](insert_result r) noexcept {
    ++counters_.inserts[static_cast<std::size_t>(r)];
    return r;
  };
  if (shred.empty() || !shred.is_data()) return done(insert_result::not_data);
  const std::uint64_t slot = shred.slot();
  if (slot < root_) return done(insert_result::out_of_window);
  const std::uint32_t index = shred.index();
  if (index >= config_.max_data_shreds_per_slot) return done(insert_result::index_too_large);
  const std::uint64_t parent = shred.parent_slot();
  const std::span<const std::uint8_t> bytes = shred.payload();

  std::uint32_t e = find(slot);
  bool fresh = false;
  if (e != no_entry) {
    const entry& x = entries_[e];
    if (x.state == entry_state::taken) return done(insert_result::slot_taken);
    if (present(e, index)) return done(insert_result::duplicate);
    if (x.parent != parent) return done(insert_result::parent_mismatch);
    if (x.last != no_index && index > x.last) return done(insert_result::last_index_conflict);
    if (shred.slot_complete() &&
        ((x.last != no_index && x.last != index) || (x.received > 0 && x.highest > index))) {
      return done(insert_result::last_index_conflict);
    }
  } else {
    e = acquire_entry(slot);
    if (e == no_entry) return done(insert_result::slot_full);
    entry& x = entries_[e];
    x.slot = slot;
    x.parent = parent;
    x.state = entry_state::active;
    last_hit_ = e;
    fresh = true;
  }

  const std::uint32_t p = acquire_payload(e);
  if (p == no_entry) {
    if (fresh) entries_[e] = entry{};
    return done(insert_result::slot_full);
  }
  if (!bytes.empty()) std::memcpy(payload_at(p), bytes.data(), bytes.size());
  pool_size_[p] = static_cast<std::uint16_t>(bytes.size());
  pool_index(e)[index] = p;
  present_words(e)[index / 64] |= std::uint64_t{1} << (index % 64);
  if (shred.batch_complete()) batch_words(e)[index / 64] |= std::uint64_t{1} << (index % 64);

  entry& x = entries_[e];
  const bool was_complete = complete(x);
  x.bytes += bytes.size();
  x.highest = x.received == 0 ? index : std::max(x.highest, index);
  ++x.received;
  if (shred.slot_complete()) x.last = index;
  if (index == x.contiguous) {
    const std::uint32_t* pool = pool_index(e);
    const std::uint64_t* batches = batch_words(e);
    std::uint32_t i = x.contiguous;
    while (i < config_.max_data_shreds_per_slot && present(e, i)) {
      x.contiguous_bytes += pool_size_[pool[i]];
      if ((batches[i / 64] >> (i % 64)) & 1u) {
        x.ready_shreds = i + 1;
        x.ready_bytes = x.contiguous_bytes;
      }
      ++i;
    }
    x.contiguous = i;
  }
  if (!was_complete && complete(x)) ++counters_.slots_completed;
  return done(insert_result::inserted);
}

void slot_assembler::set_root(std::uint64_t root) noexcept {
  if (root <= root_) return;
  root_ = root;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    entry& x = entries_[e];
    if (x.state == entry_state::free || x.slot >= root) continue;
    if (x.state == entry_state::active) {
      counters_.shreds_evicted += clear(e);
      ++counters_.slots_dropped_below_root;
    }
    x = entry{};
  }
}

bool slot_assembler::is_tracked(std::uint64_t slot) const noexcept {
  return find_active(slot) != nullptr;
}

bool slot_assembler::is_complete(std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  return x != nullptr && complete(*x);
}

bool slot_assembler::is_taken(std::uint64_t slot) const noexcept {
  const std::uint32_t e = find(slot);
  return e != no_entry && entries_[e].state == entry_state::taken;
}

std::optional<std::uint64_t> slot_assembler::parent_of(std::uint64_t slot) const noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry) return std::nullopt;
  return entries_[e].parent;
}

std::optional<std::uint32_t> slot_assembler::last_index(std::uint64_t slot) const noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry || entries_[e].last == no_index) return std::nullopt;
  return entries_[e].last;
}

std::optional<std::uint32_t> slot_assembler::highest_received(
    std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  if (x == nullptr || x->received == 0) return std::nullopt;
  return x->highest;
}

std::uint32_t slot_assembler::received(std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  return x == nullptr ? 0 : x->received;
}

std::uint64_t slot_assembler::received_bytes(std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  return x == nullptr ? 0 : x->bytes;
}

slot_prefix slot_assembler::ready_prefix(std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  if (x == nullptr) return {};
  return {x->ready_shreds, x->ready_bytes};
}

std::span<const std::uint8_t> slot_assembler::payload(std::uint64_t slot,
                                                      std::uint32_t index) const noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry || entries_[e].state != entry_state::active ||
      index >= config_.max_data_shreds_per_slot || !present(e, index)) {
    return {};
  }
  const std::uint32_t p = pool_index(e)[index];
  return {payload_at(p), pool_size_[p]};
}

std::optional<std::size_t> slot_assembler::take_slot(std::uint64_t slot,
                                                     std::span<std::uint8_t> out) noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry) return std::nullopt;
  entry& x = entries_[e];
  if (x.state != entry_state::active || !complete(x) || out.size() < x.bytes) {
    return std::nullopt;
  }
  const std::uint32_t* pool = pool_index(e);
  std::size_t at = 0;
  for (std::uint32_t i = 0; i <= x.last; ++i) {
    const std::uint32_t p = pool[i];
    if (pool_size_[p] == 0) continue;  // out may be empty, and memcpy wants non-null
    std::memcpy(out.data() + at, payload_at(p), pool_size_[p]);
    at += pool_size_[p];
  }
  release_slot(slot);
  return at;
}

bool slot_assembler::release_slot(std::uint64_t slot) noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry || entries_[e].state != entry_state::active) return false;
  clear(e);
  entries_[e].state = entry_state::taken;
  ++counters_.slots_taken;
  return true;
}

std::size_t slot_assembler::missing(std::uint64_t slot, std::span<std::uint32_t> out,
                                    std::uint32_t from) const noexcept {
  const std::uint32_t e = find(slot);
  if (e == no_entry || entries_[e].state != entry_state::active || out.empty()) return 0;
  const entry& x = entries_[e];
  if (x.received == 0) return 0;
  from = std::max(from, x.contiguous);  // [0, contiguous) is all present
  const std::uint32_t end = x.highest;  // exclusive: the highest received is present
  const std::uint64_t* words = present_words(e);
  std::size_t n = 0;
  for (std::uint32_t w = from / 64; w * 64 < end && n < out.size(); ++w) {
    std::uint64_t gaps = ~words[w];
    if (w == from / 64) gaps &= ~std::uint64_t{0} << (from % 64);
    for (; gaps != 0 && n < out.size(); gaps &= gaps - 1) {
      const std::uint32_t index = w * 64 + static_cast<std::uint32_t>(std::countr_zero(gaps));
      if (index >= end) break;
      out[n++] = index;
    }
  }
  return n;
}

std::optional<std::uint32_t> slot_assembler::missing_tail(std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  if (x == nullptr || x->received == 0 || x->last != no_index) return std::nullopt;
  return x->highest + 1;
}

bool slot_assembler::is_orphan(std::uint64_t slot) const noexcept {
  const entry* x = find_active(slot);
  if (x == nullptr || x->slot == 0 || x->parent <= root_) return false;
  return find(x->parent) == no_entry;
}

std::uint32_t slot_assembler::next_active(std::optional<std::uint64_t> after) const noexcept {
  std::uint32_t best = no_entry;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    const entry& x = entries_[e];
    if (x.state != entry_state::active || (after && x.slot <= *after)) continue;
    if (best == no_entry || x.slot < entries_[best].slot) best = e;
  }
  return best;
}

// Both walk the active slots in ascending order by repeated minimum: O(max_slots^2), fine
// for a small slot table and a call per repair round rather than per shred.
std::size_t slot_assembler::orphans(std::span<std::uint64_t> out) const noexcept {
  std::size_t n = 0;
  std::optional<std::uint64_t> after;
  for (std::uint32_t e = next_active(after); e != no_entry && n < out.size();
       e = next_active(after)) {
    after = entries_[e].slot;
    if (is_orphan(entries_[e].slot)) out[n++] = entries_[e].slot;
  }
  return n;
}

std::size_t slot_assembler::incomplete_slots(std::span<std::uint64_t> out) const noexcept {
  std::size_t n = 0;
  std::optional<std::uint64_t> after;
  for (std::uint32_t e = next_active(after); e != no_entry && n < out.size();
       e = next_active(after)) {
    after = entries_[e].slot;
    if (!complete(entries_[e])) out[n++] = entries_[e].slot;
  }
  return n;
}

std::size_t slot_assembler::slots_in_use() const noexcept {
  std::size_t n = 0;
  for (std::uint32_t e = 0; e < config_.max_slots; ++e) {
    if (entries_[e].state != entry_state::free) ++n;
  }
  return n;
}

}  // namespace riptide::shred
