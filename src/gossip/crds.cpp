#include <riptide/gossip/crds.hpp>

#include <riptide/crypto/xxh3.hpp>

#include <algorithm>
#include <stdexcept>

namespace riptide::gossip {

std::size_t crds_label_hasher::operator()(const crds_label& l) const noexcept {
  std::uint64_t h = crypto::xxh3_64(l.origin, static_cast<std::uint64_t>(l.kind));
  if (!l.sub_key.empty()) {
    h ^= crypto::xxh3_64({reinterpret_cast<const std::uint8_t*>(l.sub_key.data()),
                          l.sub_key.size()},
                         h);
  }
  return static_cast<std::size_t>(h);
}

crds_label label_of(const value_ref& v) {
  crds_label l;
  l.origin = v.origin;
  l.kind = v.kind;
  l.sub_key.assign(reinterpret_cast<const char*>(v.sub_key.data()), v.sub_key.size());
  return l;
}

const char* to_string(crds_outcome outcome) noexcept {
  switch (outcome) {
    case crds_outcome::inserted: return "inserted";
    case crds_outcome::updated: return "updated";
    case crds_outcome::duplicate: return "duplicate";
    case crds_outcome::outdated: return "outdated";
    case crds_outcome::table_full: return "table_full";
  }
  return "unknown_crds_outcome";
}

bool value_overrides(std::uint64_t a, const crypto::hash32& ha, std::uint64_t b,
                     const crypto::hash32& hb) noexcept {
  if (a != b) return a > b;
  return ha > hb;
}

value_ref crds_entry::ref() const noexcept {
  value_ref v;
  (void)parse_value(bytes, v);  // stored bytes were parsed on the way in
  return v;
}

crds_table::crds_table(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("crds_table: capacity must be > 0");
  entries_.reserve(std::min<std::size_t>(capacity, 1024));
  by_hash_.reserve(std::min<std::size_t>(capacity, 1024));
}

crds_outcome crds_table::check(const crds_label& label, std::uint64_t wallclock_ms,
                               const crypto::hash32& hash) const {
  const auto it = entries_.find(label);
  if (it == entries_.end()) {
    return entries_.size() >= capacity_ ? crds_outcome::table_full : crds_outcome::inserted;
  }
  const crds_entry& held = it->second;
  if (held.hash == hash) return crds_outcome::duplicate;
  return value_overrides(wallclock_ms, hash, held.wallclock_ms, held.hash)
             ? crds_outcome::updated
             : crds_outcome::outdated;
}

crds_outcome crds_table::insert(const value_ref& value, const crypto::hash32& hash,
                                const insert_options& options, crypto::hash32* replaced_hash) {
  crds_label label = label_of(value);
  auto it = entries_.find(label);
  crds_outcome outcome = crds_outcome::inserted;
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) return crds_outcome::table_full;
    it = entries_.emplace(label, crds_entry{}).first;
    it->second.label = std::move(label);
    by_origin_[value.origin].push_back(&it->second);
    it->second.dense_index = dense_.size();
    dense_.push_back({hash, &it->second});
    ++counts_[kind_index(value.kind)];
  } else {
    crds_entry& held = it->second;
    if (held.hash == hash) return crds_outcome::duplicate;
    if (!value_overrides(value.wallclock_ms, hash, held.wallclock_ms, held.hash)) {
      return crds_outcome::outdated;
    }
    if (replaced_hash != nullptr) *replaced_hash = held.hash;
    by_hash_.erase(held.hash);
    by_ordinal_.erase(held.ordinal);
    outcome = crds_outcome::updated;
  }
  crds_entry& e = it->second;
  e.bytes.assign(value.bytes.begin(), value.bytes.end());
  e.hash = hash;
  e.wallclock_ms = value.wallclock_ms;
  e.ordinal = next_ordinal_++;
  e.local_ms = options.now_ms;
  e.from = options.from;
  e.pushable = options.pushable;
  by_hash_[hash] = &e;
  by_ordinal_.emplace(e.ordinal, &e);
  dense_[e.dense_index].hash = hash;
  return outcome;
}

bool crds_table::promote(const crypto::hash32& hash, const crypto::pubkey& from) {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end() || it->second->pushable) return false;
  crds_entry& e = *it->second;
  by_ordinal_.erase(e.ordinal);
  e.ordinal = next_ordinal_++;
  e.pushable = true;
  e.from = from;
  by_ordinal_.emplace(e.ordinal, &e);
  return true;
}

const crds_entry* crds_table::find(const crds_label& label) const {
  const auto it = entries_.find(label);
  return it == entries_.end() ? nullptr : &it->second;
}

const crds_entry* crds_table::find(const crypto::hash32& hash) const {
  const auto it = by_hash_.find(hash);
  return it == by_hash_.end() ? nullptr : it->second;
}

void crds_table::dense_remove(crds_entry& entry) {
  const std::size_t i = entry.dense_index;
  dense_[i] = dense_.back();
  dense_[i].entry->dense_index = i;
  dense_.pop_back();
}

void crds_table::unlink(crds_entry& entry) {
  by_hash_.erase(entry.hash);
  by_ordinal_.erase(entry.ordinal);
  dense_remove(entry);
  --counts_[kind_index(entry.label.kind)];
}

bool crds_table::remove(const crds_label& label) {
  const auto it = entries_.find(label);
  if (it == entries_.end()) return false;
  crds_entry& e = it->second;
  unlink(e);
  const auto o = by_origin_.find(label.origin);
  if (o != by_origin_.end()) {
    auto& list = o->second;
    list.erase(std::remove(list.begin(), list.end(), &e), list.end());
    if (list.empty()) by_origin_.erase(o);
  }
  entries_.erase(it);
  return true;
}

std::size_t crds_table::remove_origin(const crypto::pubkey& origin) {
  const auto o = by_origin_.find(origin);
  if (o == by_origin_.end()) return 0;
  const std::vector<crds_entry*> list = std::move(o->second);
  by_origin_.erase(o);
  for (crds_entry* e : list) {
    unlink(*e);
    const crds_label label = e->label;  // erase(key) must not read the node it destroys
    entries_.erase(label);
  }
  return list.size();
}

std::size_t crds_table::origin_count(const crypto::pubkey& origin) const {
  const auto it = by_origin_.find(origin);
  return it == by_origin_.end() ? 0 : it->second.size();
}

}  // namespace riptide::gossip
