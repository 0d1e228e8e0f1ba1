#pragma once
// The stakes of an epoch: which validators hold stake and how much, in the one canonical order
// every stake-weighted algorithm walks (the leader schedule, Turbine's shuffle). Two nodes that
// build it from the same entries, in any order, get the same list, index for index.
//
// Canonical order: stake descending, then id ascending as 32 unsigned bytes. Entries with stake
// 0 are left out: they hold no weight in any draw.
//
//     entries (any order)            canonical list
//     {C, 200} {A, 0} {B, 700}  ─►   0: {B, 700}   1: {C, 200}       total 900
//     {D, 200}                       2: {D, 200}   (C < D: ties by id)
//
// Ownership and threads: built once per epoch at start-up or epoch change (allocates; throws
// std::invalid_argument on an id listed twice, with or without stake, a total over 2^64-1, or
// 2^32-1 entries or more);
// read-only afterwards, so any number of threads may share it. Lookups are noexcept; index_of
// is O(log n).

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <riptide/crypto/types.hpp>

namespace riptide::epoch {

struct stake_entry {
  crypto::pubkey id{};
  std::uint64_t stake = 0;
};

// True if `a` comes before `b` in the canonical order.
constexpr bool canonical_before(const stake_entry& a, const stake_entry& b) noexcept {
  return a.stake != b.stake ? a.stake > b.stake : a.id < b.id;
}

class stakes {
 public:
  // Any input order; the result is the same for every permutation of `entries`.
  explicit stakes(std::span<const stake_entry> entries);

  // The staked validators in canonical order.
  std::span<const stake_entry> entries() const noexcept { return entries_; }
  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(entries_.size()); }
  bool empty() const noexcept { return entries_.empty(); }
  std::uint64_t total() const noexcept { return total_; }
  // Canonical index of `id`; nullopt if it holds no stake this epoch.
  std::optional<std::uint32_t> index_of(const crypto::pubkey& id) const noexcept;

 private:
  std::vector<stake_entry> entries_;  // canonical order
  std::vector<std::uint32_t> by_id_;  // canonical indices sorted by id, for index_of
  std::uint64_t total_ = 0;
};

}  // namespace riptide::epoch
