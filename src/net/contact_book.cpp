#include <riptide/net/contact_book.hpp>

#include <algorithm>
#include <stdexcept>

namespace riptide::net {

contact_book::contact_book(std::vector<crypto::pubkey> ids)
    : ids_(std::move(ids)), endpoints_(std::make_unique<std::atomic<std::uint64_t>[]>(ids_.size() * port_kind_count)) {
  by_id_.reserve(ids_.size());
  for (std::size_t row = 0; row < ids_.size(); ++row) by_id_.emplace_back(ids_[row], row);
  std::sort(by_id_.begin(), by_id_.end());
  const auto same = [](const auto& a, const auto& b) { return a.first == b.first; };
  if (std::adjacent_find(by_id_.begin(), by_id_.end(), same) != by_id_.end())
    throw std::invalid_argument("contact book: an identity appears twice");
  for (std::size_t i = 0; i < ids_.size() * port_kind_count; ++i) endpoints_[i].store(0, std::memory_order_relaxed);
}

std::optional<std::size_t> contact_book::row_of(const crypto::pubkey& id) const noexcept {
  const auto it = std::lower_bound(by_id_.begin(), by_id_.end(), id,
                                   [](const auto& entry, const crypto::pubkey& key) { return entry.first < key; });
  if (it == by_id_.end() || it->first != id) return std::nullopt;
  return it->second;
}

endpoint contact_book::get(std::size_t row, port_kind port) const noexcept {
  const auto k = static_cast<std::size_t>(port);
  if (row >= ids_.size() || k >= port_kind_count) return {};
  return endpoint::unpack(endpoints_[row * port_kind_count + k].load(std::memory_order_relaxed));
}

bool contact_book::set(std::size_t row, port_kind port, endpoint at) noexcept {
  const auto k = static_cast<std::size_t>(port);
  if (row >= ids_.size() || k >= port_kind_count) return false;
  auto& slot = endpoints_[row * port_kind_count + k];
  const std::uint64_t packed = at.pack();
  if (slot.load(std::memory_order_relaxed) == packed) return false;
  slot.store(packed, std::memory_order_relaxed);
  return true;
}

std::size_t contact_book::set_row(std::size_t row, std::uint32_t ip, const port_numbers& ports) noexcept {
  if (ip == 0) return 0;
  std::size_t changed = 0;
  for (std::size_t k = 0; k < port_kind_count; ++k)
    if (ports[k] != 0 && set(row, static_cast<port_kind>(k), endpoint{ip, ports[k]})) ++changed;
  return changed;
}

}  // namespace riptide::net
