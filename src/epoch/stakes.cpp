#include <riptide/epoch/stakes.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace riptide::epoch {

stakes::stakes(std::span<const stake_entry> entries) {
  if (entries.size() >= std::numeric_limits<std::uint32_t>::max())
    throw std::invalid_argument("epoch stakes: too many validators");
  // An id listed twice, with stake or without, is refused: which entry would count?
  std::vector<crypto::pubkey> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries) ids.push_back(e.id);
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    throw std::invalid_argument("epoch stakes: duplicate validator id");

  for (const auto& e : entries)
    if (e.stake != 0) entries_.push_back(e);
  std::sort(entries_.begin(), entries_.end(), canonical_before);

  for (const auto& e : entries_) {
    if (e.stake > std::numeric_limits<std::uint64_t>::max() - total_)
      throw std::invalid_argument("epoch stakes: total stake exceeds 2^64-1");
    total_ += e.stake;
  }

  by_id_.resize(entries_.size());
  for (std::uint32_t i = 0; i < size(); ++i) by_id_[i] = i;
  std::sort(by_id_.begin(), by_id_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return entries_[a].id < entries_[b].id; });
}

std::optional<std::uint32_t> stakes::index_of(const crypto::pubkey& id) const noexcept {
  const auto it = std::lower_bound(by_id_.begin(), by_id_.end(), id,
                                   [this](std::uint32_t i, const crypto::pubkey& key) {
                                     return entries_[i].id < key;
                                   });
  if (it == by_id_.end() || entries_[*it].id != id) return std::nullopt;
  return *it;
}

}  // namespace riptide::epoch
