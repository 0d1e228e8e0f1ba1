#include <riptide/shred/shred_store.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <riptide/util/prng.hpp>

namespace riptide::shred {

namespace {

constexpr std::size_t max_config_shreds = std::size_t{1} << 24;
constexpr std::size_t max_config_slots = std::size_t{1} << 20;

using util::mix64;

}  // namespace

shred_store::shred_store(const shred_store_config& config) : config_(config) {
  if (config_.max_shreds == 0 || config_.max_shreds > max_config_shreds) {
    throw std::invalid_argument("shred_store: max_shreds must be in 1..16777216");
  }
  if (config_.max_slots == 0 || config_.max_slots > max_config_slots) {
    throw std::invalid_argument("shred_store: max_slots must be in 1..1048576");
  }
  std::size_t table_size = 16;
  while (table_size < 2 * config_.max_shreds) table_size <<= 1;
  table_mask_ = table_size - 1;
  pool_ = std::make_unique_for_overwrite<std::uint8_t[]>(config_.max_shreds * shred_stride_bytes);
  meta_ = std::make_unique<shred_meta[]>(config_.max_shreds);
  table_ = std::make_unique_for_overwrite<std::uint32_t[]>(table_size);
  std::fill_n(table_.get(), table_size, no_entry);
  slots_ = std::make_unique<slot_entry[]>(config_.max_slots);
  // Lowest entries first on the free list: a lightly used pool touches few pages.
  for (std::size_t i = config_.max_shreds; i-- > 0;) {
    meta_[i].next = free_head_;
    free_head_ = static_cast<std::uint32_t>(i);
  }
  free_count_ = config_.max_shreds;
}

shred_store::~shred_store() = default;

std::size_t shred_store::home(std::uint64_t slot, bool coding,
                              std::uint32_t index) const noexcept {
  const std::uint64_t key = (slot * 0x9e3779b97f4a7c15ull) ^
                            ((std::uint64_t{index} << 1) | (coding ? 1u : 0u));
  return static_cast<std::size_t>(mix64(key)) & table_mask_;
}

std::size_t shred_store::find_shred(std::uint64_t slot, bool coding,
                                    std::uint32_t index) const noexcept {
  // The table is at most half full, so a probe always reaches an empty position.
  for (std::size_t pos = home(slot, coding, index);; pos = (pos + 1) & table_mask_) {
    const std::uint32_t e = table_[pos];
    if (e == no_entry) return table_mask_ + 1;
    const shred_meta& m = meta_[e];
    if (m.slot == slot && m.index == index && m.coding == coding) return pos;
  }
}

void shred_store::erase_from_table(std::size_t pos) noexcept {
  // Backward-shift deletion: pull later entries of the probe run into the hole when their
  // home position does not lie cyclically in (hole, their position].
  std::size_t hole = pos;
  for (std::size_t next = (hole + 1) & table_mask_;; next = (next + 1) & table_mask_) {
    const std::uint32_t e = table_[next];
    if (e == no_entry) break;
    const shred_meta& m = meta_[e];
    const std::size_t h = home(m.slot, m.coding, m.index);
    const bool stays = hole <= next ? (hole < h && h <= next) : (hole < h || h <= next);
    if (!stays) {
      table_[hole] = e;
      hole = next;
    }
  }
  table_[hole] = no_entry;
}

const shred_store::slot_entry* shred_store::find_slot(std::uint64_t slot) const noexcept {
  if (last_slot_ < config_.max_slots) {
    const slot_entry& hit = slots_[last_slot_];
    if (hit.used && hit.slot == slot) return &hit;
  }
  for (std::size_t s = 0; s < config_.max_slots; ++s) {
    if (slots_[s].used && slots_[s].slot == slot) {
      last_slot_ = static_cast<std::uint32_t>(s);
      return &slots_[s];
    }
  }
  return nullptr;
}

std::uint32_t shred_store::oldest_slot(std::uint64_t except) const noexcept {
  std::uint32_t best = no_entry;
  for (std::size_t s = 0; s < config_.max_slots; ++s) {
    const slot_entry& e = slots_[s];
    if (!e.used || e.slot == except) continue;
    if (best == no_entry || e.slot < slots_[best].slot) best = static_cast<std::uint32_t>(s);
  }
  return best;
}

std::uint32_t shred_store::drop_slot(std::uint32_t s) noexcept {
  slot_entry& entry = slots_[s];
  std::uint32_t dropped = 0;
  for (std::uint32_t e = entry.head; e != no_entry;) {
    const shred_meta& m = meta_[e];
    const std::uint32_t next = m.next;
    const std::size_t pos = find_shred(m.slot, m.coding, m.index);
    if (pos <= table_mask_) erase_from_table(pos);
    meta_[e].next = free_head_;
    free_head_ = e;
    ++free_count_;
    ++dropped;
    e = next;
  }
  entry = slot_entry{};
  --slots_used_;
  return dropped;
}

bool shred_store::put(const shred_view& v) noexcept {
  if (v.empty()) {
    ++counters_.refused_empty;
    return false;
  }
  const std::uint64_t slot = v.slot();
  if (slot < root_) {
    ++counters_.refused_below_root;
    return false;
  }
  const bool is_coding = v.is_coding();
  if (find_shred(slot, is_coding, v.index()) <= table_mask_) {
    ++counters_.duplicates;
    return false;
  }
  const std::span<const std::uint8_t> wire = v.bytes();  // <= max_shred_bytes: parsed

  // The slot's entry, making room for a new one if every entry is used.
  std::uint32_t s = no_entry;
  if (const slot_entry* found = find_slot(slot)) {
    s = static_cast<std::uint32_t>(found - slots_.get());
  } else {
    if (slots_used_ == config_.max_slots) {
      const std::uint32_t victim = oldest_slot(slot);  // every used entry is another slot
      counters_.evicted_shreds += drop_slot(victim);
      ++counters_.evicted_slots;
    }
    for (std::size_t i = 0; i < config_.max_slots; ++i) {
      if (!slots_[i].used) {
        s = static_cast<std::uint32_t>(i);
        break;
      }
    }
    slots_[s] = slot_entry{};
    slots_[s].slot = slot;
    slots_[s].used = true;
    ++slots_used_;
  }

  // A pool entry, evicting other slots (never this one) while none is free.
  while (free_head_ == no_entry) {
    const std::uint32_t victim = oldest_slot(slot);
    if (victim == no_entry) {
      ++counters_.refused_full;  // this slot holds the whole pool
      return false;
    }
    counters_.evicted_shreds += drop_slot(victim);
    ++counters_.evicted_slots;
  }
  const std::uint32_t e = free_head_;
  free_head_ = meta_[e].next;
  --free_count_;
  std::memcpy(pool_at(e), wire.data(), wire.size());

  slot_entry& entry = slots_[s];
  shred_meta& m = meta_[e];
  m.slot = slot;
  m.index = v.index();
  m.coding = is_coding;
  m.size = static_cast<std::uint16_t>(wire.size());
  m.next = entry.head;
  entry.head = e;
  ++entry.shreds;
  if (!is_coding) {
    if (entry.highest_data == no_index || v.index() > entry.highest_data) {
      entry.highest_data = v.index();
    }
    if (!entry.has_parent) {
      entry.parent = v.parent_slot();
      entry.has_parent = true;
    }
  }
  std::size_t pos = home(slot, is_coding, v.index());
  while (table_[pos] != no_entry) pos = (pos + 1) & table_mask_;
  table_[pos] = e;
  last_slot_ = s;
  ++counters_.puts;
  return true;
}

std::span<const std::uint8_t> shred_store::lookup(std::uint64_t slot, bool coding,
                                                  std::uint32_t index) const noexcept {
  const std::size_t pos = find_shred(slot, coding, index);
  if (pos > table_mask_) {
    ++counters_.lookups_missed;
    return {};
  }
  ++counters_.lookups_hit;
  const std::uint32_t e = table_[pos];
  return {pool_at(e), meta_[e].size};
}

std::span<const std::uint8_t> shred_store::data(std::uint64_t slot,
                                                std::uint32_t index) const noexcept {
  return lookup(slot, false, index);
}

std::span<const std::uint8_t> shred_store::coding(std::uint64_t slot,
                                                  std::uint32_t index) const noexcept {
  return lookup(slot, true, index);
}

std::span<const std::uint8_t> shred_store::highest_data(
    std::uint64_t slot, std::uint32_t at_or_above) const noexcept {
  const slot_entry* entry = find_slot(slot);
  if (entry == nullptr || entry->highest_data == no_index || entry->highest_data < at_or_above) {
    ++counters_.lookups_missed;
    return {};
  }
  return lookup(slot, false, entry->highest_data);
}

std::optional<std::uint64_t> shred_store::parent_of(std::uint64_t slot) const noexcept {
  const slot_entry* entry = find_slot(slot);
  if (entry == nullptr || !entry->has_parent) {
    ++counters_.lookups_missed;
    return std::nullopt;
  }
  ++counters_.lookups_hit;
  return entry->parent;
}

void shred_store::set_root(std::uint64_t root) noexcept {
  if (root <= root_) return;
  root_ = root;
  for (std::size_t s = 0; s < config_.max_slots; ++s) {
    if (slots_[s].used && slots_[s].slot < root) {
      counters_.forgotten_shreds += drop_slot(static_cast<std::uint32_t>(s));
      ++counters_.forgotten_slots;
    }
  }
}

}  // namespace riptide::shred
