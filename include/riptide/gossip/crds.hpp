#pragma once
// CRDS: the cluster replicated data store, a table of signed values keyed by label.
//
// Contract
// - A value's label is (origin, kind) plus the data key or the vote index. The table holds at
//   most one value per label: a value replaces the held one iff its wallclock is newer, or the
//   wallclocks are equal and its hash (sha256 of its bytes) is larger, so every node that has
//   seen the same set of values holds the same winner whatever the arrival order.
// - The table stores values as their wire bytes (what is relayed) plus the few decoded fields
//   it indexes on; it never checks signatures, shred versions or clocks: callers (the engine)
//   do, and call check() first so rejected values cost no signature verification.
// - Capacity is fixed at construction: a value for a new label is refused (table_full) when
//   the table holds `capacity` values; updates of held labels are always accepted.
// - Every insert and update gets a fresh ordinal (monotonic, never reused), so a reader can
//   walk "what changed since ordinal c" (the push cursor).
// - Single-owner, not thread-safe; allocates per value (this is the control plane, bounded
//   by the capacity). Failure: insert() reports the outcome; nothing throws except
//   std::bad_alloc.

#include <riptide/crypto/types.hpp>
#include <riptide/gossip/messages.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace riptide::gossip {

struct pubkey_hasher {
  std::size_t operator()(const crypto::pubkey& k) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, k.data(), sizeof(h));
    return h;
  }
};

struct hash32_hasher {
  std::size_t operator()(const crypto::hash32& k) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, k.data(), sizeof(h));
    return h;
  }
};

struct crds_label {
  crypto::pubkey origin{};
  value_kind kind = value_kind::contact_info;
  std::string sub_key;  // data key, or the vote index as one byte; empty otherwise

  friend bool operator==(const crds_label&, const crds_label&) = default;
};

struct crds_label_hasher {
  std::size_t operator()(const crds_label& l) const noexcept;
};

[[nodiscard]] crds_label label_of(const value_ref& v);

enum class crds_outcome : std::uint8_t {
  inserted,    // a new label
  updated,     // replaced an older value of the label
  duplicate,   // the same value (same hash) is held
  outdated,    // the held value of the label wins over this one
  table_full,  // a new label, but the table is at capacity
};
[[nodiscard]] const char* to_string(crds_outcome outcome) noexcept;

// True iff a value (wallclock a, hash ha) replaces a held one (wallclock b, hash hb).
[[nodiscard]] bool value_overrides(std::uint64_t a, const crypto::hash32& ha, std::uint64_t b,
                                   const crypto::hash32& hb) noexcept;

struct crds_entry {
  crds_label label;
  std::vector<std::uint8_t> bytes;  // the signed value as on the wire
  crypto::hash32 hash{};
  std::uint64_t wallclock_ms = 0;
  std::uint64_t ordinal = 0;        // when it was inserted/updated, in table order
  std::uint64_t local_ms = 0;       // local time of insert/update
  crypto::pubkey from{};            // who delivered it (the origin's own node: itself)
  std::size_t dense_index = 0;      // position in the table's dense array (see scan_from)
  bool pushable = true;             // false for values learned from pull responses
                                    // until a push delivers them too (promote())

  [[nodiscard]] value_ref ref() const noexcept;  // the bytes re-parsed as a view
};

class crds_table {
 public:
  explicit crds_table(std::size_t capacity);

  // What insert() would do with a value of this label, wallclock and hash (no change).
  [[nodiscard]] crds_outcome check(const crds_label& label, std::uint64_t wallclock_ms,
                                   const crypto::hash32& hash) const;

  struct insert_options {
    std::uint64_t now_ms = 0;
    crypto::pubkey from{};
    bool pushable = true;
  };
  // Inserts a parsed value. For `updated`, *replaced_hash (if given) is the old value's hash.
  crds_outcome insert(const value_ref& value, const crypto::hash32& hash,
                      const insert_options& options, crypto::hash32* replaced_hash = nullptr);

  // Marks a held value pushable, with a fresh ordinal (so a push cursor sees it again) and
  // `from` as its deliverer. False if the hash is not held or the value is pushable already.
  // Rumour mongering: a value pulled quietly starts being relayed once someone pushes it.
  bool promote(const crypto::hash32& hash, const crypto::pubkey& from);

  [[nodiscard]] const crds_entry* find(const crds_label& label) const;
  [[nodiscard]] const crds_entry* find(const crypto::hash32& hash) const;
  [[nodiscard]] bool contains(const crypto::hash32& hash) const {
    return by_hash_.count(hash) != 0;
  }

  bool remove(const crds_label& label);
  // Removes every value of `origin`; returns how many.
  std::size_t remove_origin(const crypto::pubkey& origin);

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t count(value_kind kind) const noexcept {
    return counts_[kind_index(kind)];
  }
  [[nodiscard]] const std::array<std::size_t, value_kind_count>& counts() const noexcept {
    return counts_;
  }
  // The ordinal the next insert or update will get.
  [[nodiscard]] std::uint64_t next_ordinal() const noexcept { return next_ordinal_; }

  // Calls f(const crds_entry&) for every value, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [label, entry] : entries_) f(entry);
  }

  // Calls f(const crds_entry&) for values with ordinal >= cursor, oldest change first, while
  // f returns true. Returns the ordinal after the last value visited and accepted (pass it
  // back as the next cursor).
  template <typename F>
  std::uint64_t for_each_since(std::uint64_t cursor, F&& f) const {
    for (auto it = by_ordinal_.lower_bound(cursor); it != by_ordinal_.end(); ++it) {
      if (!f(*it->second)) return it->first;
      cursor = it->first + 1;
    }
    return cursor;
  }

  // Calls f(const crds_entry&) for every value, starting at the first ordinal >= start and
  // wrapping around, while f returns true. Lets a responder vary which values a byte budget
  // cuts off.
  template <typename F>
  void for_each_from(std::uint64_t start, F&& f) const {
    auto first = by_ordinal_.lower_bound(start);
    for (auto it = first; it != by_ordinal_.end(); ++it) {
      if (!f(*it->second)) return;
    }
    for (auto it = by_ordinal_.begin(); it != first; ++it) {
      if (!f(*it->second)) return;
    }
  }

  // Calls f(hash, entry) for every value, starting at position `start` (mod size) of a dense
  // array of (hash, entry) and wrapping around, while f returns true. The hash sits in the
  // array itself, so a scan that rejects most values by hash (a pull responder checking
  // partition and bloom filter) does not touch the entries. Order changes as values come and go.
  template <typename F>
  void scan_from(std::size_t start, F&& f) const {
    const std::size_t n = dense_.size();
    if (n == 0) return;
    start %= n;
    for (std::size_t i = 0; i < n; ++i) {
      const dense_slot& s = dense_[(start + i) % n];
      if (!f(s.hash, *s.entry)) return;
    }
  }

  // Calls f(const crds_entry&) for every value of `origin`.
  template <typename F>
  void for_each_of(const crypto::pubkey& origin, F&& f) const {
    const auto it = by_origin_.find(origin);
    if (it == by_origin_.end()) return;
    for (const crds_entry* e : it->second) f(*e);
  }

  // Number of values held for origin.
  [[nodiscard]] std::size_t origin_count(const crypto::pubkey& origin) const;

 private:
  void unlink(crds_entry& entry);
  void dense_remove(crds_entry& entry);

  struct dense_slot {
    crypto::hash32 hash;
    crds_entry* entry;
  };

  std::size_t capacity_;
  std::uint64_t next_ordinal_ = 1;
  // Node-based maps: entry addresses stay valid until the entry is erased.
  std::unordered_map<crds_label, crds_entry, crds_label_hasher> entries_;
  std::unordered_map<crypto::hash32, crds_entry*, hash32_hasher> by_hash_;
  std::map<std::uint64_t, crds_entry*> by_ordinal_;
  std::unordered_map<crypto::pubkey, std::vector<crds_entry*>, pubkey_hasher> by_origin_;
  std::vector<dense_slot> dense_;  // every entry once, swap-removed
  std::array<std::size_t, value_kind_count> counts_{};
};

}  // namespace riptide::gossip
