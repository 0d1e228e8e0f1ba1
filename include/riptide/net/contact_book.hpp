#pragma once
// Contact book: where each validator of the cluster receives packets, port by port, as this
// node knows it now. Turbine (who gets a shred), repair (whom to ask, where to answer) and
// Gulf Stream (where a coming leader takes forwarded transactions) read it on every send;
// gossip rewrites it when a validator's signed ContactInfo names other addresses (a node
// restarted on other ports is reached at its new ones once its ContactInfo spreads).
//
// Contract
//   - Rows are fixed at construction: one per validator identity, in the order given (the
//     node uses the Turbine cluster's canonical order, so a row is also a cluster index).
//     Every endpoint starts at 0 ("unknown"); the node seeds them from the genesis (which is
//     only an entrypoint list) and its own row from its config.
//   - One writer at a time (start-up, then the gossip tile's thread); any number of readers
//     on any threads. Each endpoint is one relaxed 64-bit atomic (net::endpoint::pack()), so a
//     reader sees an old or a new endpoint, never half of each; a reader that needs several
//     ports of one row may see them from different moments, which is harmless (each port is
//     used on its own).
//   - get/set/column are noexcept and allocate nothing; the book is sized once.
//   - `contact_column` is a cheap view of one port of every row, what a tile holds in place
//     of a span of endpoints. The book must outlive its columns.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <riptide/crypto/types.hpp>
#include <riptide/net/udp.hpp>

namespace riptide::net {

class contact_book;

// A node's port numbers in port_kind order, as a ContactInfo, a genesis entry or a config
// names them (0: not named).
using port_numbers = std::array<std::uint16_t, port_kind_count>;
constexpr port_numbers port_numbers_of(std::uint16_t gossip, std::uint16_t tpu, std::uint16_t tpu_forwards,
                                       std::uint16_t tvu, std::uint16_t repair) noexcept {
  port_numbers p{};
  p[static_cast<std::size_t>(port_kind::gossip)] = gossip;
  p[static_cast<std::size_t>(port_kind::tpu)] = tpu;
  p[static_cast<std::size_t>(port_kind::tpu_forwards)] = tpu_forwards;
  p[static_cast<std::size_t>(port_kind::tvu)] = tvu;
  p[static_cast<std::size_t>(port_kind::repair)] = repair;
  return p;
}

// One port of every row: `column[row]` is an endpoint (0 when unknown).
class contact_column {
 public:
  contact_column() = default;
  contact_column(const contact_book& book, port_kind port) noexcept : book_(&book), port_(port) {}
  std::size_t size() const noexcept;
  endpoint operator[](std::size_t row) const noexcept;
  port_kind port() const noexcept { return port_; }

 private:
  const contact_book* book_ = nullptr;
  port_kind port_ = port_kind::tvu;
};

class contact_book {
 public:
  // Throws std::invalid_argument on a repeated identity.
  explicit contact_book(std::vector<crypto::pubkey> ids);

  std::size_t size() const noexcept { return ids_.size(); }
  std::span<const crypto::pubkey> ids() const noexcept { return ids_; }
  // The row of `id`; O(log n).
  std::optional<std::size_t> row_of(const crypto::pubkey& id) const noexcept;

  // The endpoint of `row` for `port` (0 for an unknown row or port).
  endpoint get(std::size_t row, port_kind port) const noexcept;
  // Sets it; true if it changed. Ignored (false) for a row or port out of range.
  bool set(std::size_t row, port_kind port, endpoint at) noexcept;
  // Every port of a row from one ContactInfo-like record: `ports[k]` for port_kind k, a 0
  // port leaves that endpoint as it was. Returns how many endpoints changed.
  std::size_t set_row(std::size_t row, std::uint32_t ip, const port_numbers& ports) noexcept;

  contact_column column(port_kind port) const noexcept { return {*this, port}; }

 private:
  std::vector<crypto::pubkey> ids_;
  std::vector<std::pair<crypto::pubkey, std::size_t>> by_id_;  // sorted by id
  std::unique_ptr<std::atomic<std::uint64_t>[]> endpoints_;   // row * port_kind_count + port
};

inline std::size_t contact_column::size() const noexcept { return book_ == nullptr ? 0 : book_->size(); }
inline endpoint contact_column::operator[](std::size_t row) const noexcept {
  return book_ == nullptr ? endpoint{} : book_->get(row, port_);
}

}  // namespace riptide::net
