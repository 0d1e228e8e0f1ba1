#pragma once
// Unrooted blocks: the slot streams a voting validator replayed and has not rooted yet. Its
// ledger holds the rooted chain only (one block per slot, each a descendant of the last), so a
// block waits here, in replay's byte-exact copy, until the tower roots it or a block it does
// not descend from: then it goes to the ledger (oldest first) or is dropped.
//
//   replay ok ──add──► [ arena: streams in a byte ring, oldest first ] ──root(R)──► R's chain, oldest first ──► ledger
//                                                                      └─► blocks off R's fork: dropped
//
// Contract
// - Pure and single-threaded: the replay tile's core thread owns it.
// - Memory: the arena (`bytes`) and the block table (`max_blocks`) are allocated by the
//   constructor; nothing allocates afterwards. The arena is a ring: a block's stream is one
//   contiguous range, space is reclaimed when the oldest block held goes (a block dropped
//   out of order frees its bytes once every older one is gone too). fits() says whether a
//   block of n bytes can be added now; add() refuses (false, nothing changed) otherwise, or
//   for a slot held already.
// - root(R, fn) calls fn(slot, stream) for R and its ancestors held here, oldest first (the
//   walk follows parents while they are held: the last root flushed ends it), then drops
//   every block that is not a descendant of R (R and its ancestors included: they are in the
//   ledger now). Returns how many blocks went to fn; a root not held here roots nothing but
//   still prunes (every block that does not descend from R through blocks held here goes).
//   `pruned` sees each dropped block that R's chain did not take, before its bytes go.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace riptide::tvu {

class unrooted_blocks {
 public:
  // Throws std::invalid_argument if bytes or max_blocks is 0.
  unrooted_blocks(std::size_t bytes, std::size_t max_blocks);

  [[nodiscard]] bool fits(std::size_t n) const noexcept { return place(n).has_value(); }
  [[nodiscard]] bool add(std::uint64_t slot, std::uint64_t parent, std::span<const std::uint8_t> stream) noexcept;
  [[nodiscard]] bool holds(std::uint64_t slot) const noexcept { return find(slot) != npos; }
  using block_fn = std::function<void(std::uint64_t, std::span<const std::uint8_t>)>;
  // `pruned` (optional) sees each block dropped that was not rooted (another fork's).
  std::size_t root(std::uint64_t slot, const block_fn& fn, const block_fn& pruned = {});

  [[nodiscard]] std::size_t blocks() const noexcept { return live_; }
  [[nodiscard]] std::size_t bytes_held() const noexcept { return held_bytes_; }
  [[nodiscard]] std::size_t capacity_bytes() const noexcept { return bytes_; }

 private:
  struct block {
    std::uint64_t slot = 0, parent = 0;
    std::size_t offset = 0, size = 0;
    bool live = false;
  };
  static constexpr std::size_t npos = ~std::size_t{0};
  [[nodiscard]] std::optional<std::size_t> place(std::size_t n) const noexcept;
  [[nodiscard]] std::size_t find(std::uint64_t slot) const noexcept;  // position in ring_
  [[nodiscard]] block& at(std::size_t i) noexcept { return ring_[(first_ + i) % ring_.size()]; }
  [[nodiscard]] const block& at(std::size_t i) const noexcept { return ring_[(first_ + i) % ring_.size()]; }
  void drop(std::size_t i) noexcept;  // marks dead; compact() frees the front
  void compact() noexcept;
  [[nodiscard]] bool on_chain(std::size_t i) const noexcept;  // position i is in root()'s chain_

  std::size_t bytes_;
  std::unique_ptr<std::uint8_t[]> arena_;
  std::vector<block> ring_;  // in the order they were added; dead ones wait for the front
  std::size_t first_ = 0, count_ = 0, live_ = 0;
  std::size_t head_ = 0;  // where the next stream goes
  std::size_t held_bytes_ = 0;
  std::vector<std::size_t> chain_;    // root()'s scratch, sized max_blocks
  std::vector<std::uint8_t> keep_;   // root()'s verdict per ring position
};

}  // namespace riptide::tvu
