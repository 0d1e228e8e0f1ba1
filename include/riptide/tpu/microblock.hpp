#pragma once
// Microblocks: a bank tile's executed transactions on their way from banking, through PoH (as
// one entry's mixin), to the ledger.
//
// Contract
//   - One store per bank tile. The bank tile is the only producer: it add()s executed
//     transactions to the open microblock, publish()es it (getting its sequence number),
//     and sends PoH a poh_mixin whose id is make_mixin_id(bank_index, seq).
//   - The consumer of PoH's entries (the ledger tile) is the only consumer: for an entry
//     with a mixin it reads view(seq) and then release(seq). Sequence numbers are released
//     in order (PoH keeps each bank's mixins in order), which is what lets a single
//     counter say which buffers are free again.
//   - Visibility: the bytes of a published microblock are written before the bank pushes
//     the mixin (a release on the mixin ring); PoH pops it (acquire) and pushes the entry
//     record (release); the ledger pops that (acquire). So the consumer sees complete data
//     without fences here. release() is a release store that the producer's
//     can_open() reads with acquire before reusing the buffer.
//   - Memory: `capacity` buffers sized at construction; nothing allocates afterwards.
//     add() fails (returns false) when the open microblock is full; the caller publishes and
//     opens the next one. No member throws after construction.
//
//   Transaction area of one microblock (what the ledger stores per entry, tx by tx):
//     tx_count × ( u16 len (LE) | u8 result (txn::tx_result) | body[len] )
//   (The balances the transactions changed are in the slot's bank, bank::bank_forks, which
//   builds the bank hash when the slot is frozen.)

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <riptide/crypto/types.hpp>

namespace riptide::tpu {

struct microblock_view {
  std::uint32_t tx_count = 0;
  std::span<const std::uint8_t> txs;       // tx_count × (u16 len | u8 result | body)
};

constexpr std::size_t microblock_tx_overhead_bytes = 3;  // u16 len + u8 result

// mixin id = bank index (high 16 bits) | sequence number (low 48 bits).
constexpr std::uint64_t make_mixin_id(std::uint32_t bank_index, std::uint64_t seq) noexcept {
  return (static_cast<std::uint64_t>(bank_index) << 48) | (seq & ((std::uint64_t{1} << 48) - 1));
}
constexpr std::uint32_t mixin_bank_index(std::uint64_t id) noexcept {
  return static_cast<std::uint32_t>(id >> 48);
}
constexpr std::uint64_t mixin_seq(std::uint64_t id) noexcept {
  return id & ((std::uint64_t{1} << 48) - 1);
}

class microblock_store {
 public:
  // capacity: buffers (power of two, ≥ 2); tx_bytes per buffer.
  // Throws std::invalid_argument on a bad size (start-up only).
  microblock_store(std::size_t capacity, std::size_t tx_bytes);

  // ---- producer (bank tile)
  // True if the open microblock has a buffer: fewer than `capacity` published and unreleased.
  [[nodiscard]] bool can_open() const noexcept;
  // Appends one executed transaction to the open microblock. False (nothing written) if it
  // does not fit, or can_open() is false.
  [[nodiscard]] bool add(std::span<const std::uint8_t> tx, std::uint8_t result) noexcept;
  [[nodiscard]] std::uint32_t open_tx_count() const noexcept { return open_txs_; }
  // Closes the open microblock (must hold ≥ 1 tx) and returns its sequence number.
  std::uint64_t publish() noexcept;
  [[nodiscard]] std::uint64_t published() const noexcept { return published_; }

  // ---- consumer (ledger tile)
  [[nodiscard]] microblock_view view(std::uint64_t seq) const noexcept;
  // Frees seq's buffer (and every earlier one) for reuse.
  void release(std::uint64_t seq) noexcept;
  [[nodiscard]] std::uint64_t released() const noexcept {
    return released_.load(std::memory_order_acquire);
  }

 private:
  struct header {
    std::uint32_t tx_count = 0;
    std::uint32_t tx_bytes = 0;
  };
  std::size_t mask_;
  std::size_t tx_bytes_;
  std::unique_ptr<header[]> headers_;
  std::unique_ptr<std::uint8_t[]> tx_area_;
  std::uint64_t published_ = 0;  // producer-owned
  std::uint32_t open_txs_ = 0, open_bytes_ = 0;
  alignas(64) std::atomic<std::uint64_t> released_{0};  // consumer-owned: seqs < this are free
};

}  // namespace riptide::tpu
