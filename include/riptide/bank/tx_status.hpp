#pragma once
// Transaction status cache: what happened to a recent transaction, by its first signature,
// for the HTTP API (`GET /tx/{signature}`, `POST /tx/status`) and the load generator.
//
// Contract
//   - One writer thread (the ledger tile, as it appends each entry's transactions); any
//     number of reader threads (the HTTP API). Readers never block the writer: every slot
//     is guarded by a per-slot sequence word (seqlock) and all its words are atomics.
//   - Fixed capacity (a power of two, set at construction, the only allocation). The table is
//     4-way set associative by the XXH3 tag of the signature; a full set evicts its oldest
//     entry, so a status is kept for at least the last `capacity / 4`-ish transactions and
//     usually far more. find() compares the whole signature, never just the tag.
//   - No member throws after construction.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <riptide/crypto/types.hpp>

namespace riptide::bank {

struct tx_status {
  std::uint64_t slot = 0;    // slot of the entry that holds the transaction
  std::uint8_t result = 0;   // txn::tx_result
};

class tx_status_cache {
 public:
  // capacity: entries, a power of two ≥ 4. Throws std::invalid_argument otherwise.
  explicit tx_status_cache(std::size_t capacity);
  ~tx_status_cache();

  // Writer only.
  void record(const crypto::signature& first_signature, const tx_status& status) noexcept;
  // Writer only: the status of `first_signature` goes if it names `slot` (a block on a fork
  // that was abandoned: the transaction is not in the chain, whatever its slot's commitment
  // says). A status recorded for another slot since stays.
  void forget(const crypto::signature& first_signature, std::uint64_t slot) noexcept;
  // Any thread.
  [[nodiscard]] std::optional<tx_status> find(const crypto::signature& first_signature) const noexcept;
  [[nodiscard]] std::uint64_t recorded() const noexcept {
    return recorded_.load(std::memory_order_relaxed);
  }

 private:
  struct slot;  // defined in the .cpp
  std::size_t set_mask_;
  std::unique_ptr<slot[]> slots_;
  std::atomic<std::uint64_t> recorded_{0};
  std::uint64_t clock_ = 0;  // writer-owned insertion counter (age for eviction)
};

}  // namespace riptide::bank
