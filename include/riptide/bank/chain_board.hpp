#pragma once
// Chain board: the PoH chain's latest public facts (current slot, tick height, newest
// blockhash, root, durable slot), published by tiles for readers on other threads (the HTTP API,
// the load tile, tools). Plus `slot_hash`, the message PoH sends down its blockhash rings.
//
// Contract
//   - publish() has one writer at a time: the PoH tile on a node that produces, the replay
//     tile (tvu/) on a follower. set_durable_slot() has one writer: the ledger tile's sync
//     thread, or the replay tile's on a follower. set_root_slot() has one writer: the tile
//     that roots banks (the ledger tile on a node that produces, the replay tile on a
//     follower), after the bank is rooted: a balance read after read() shows the root has
//     reached slot S includes every transaction of slot S. read() may be called from any thread at any
//     time; it never blocks a writer (a seqlock: the reader retries if a publish overlapped
//     its copy).
//     set_commitment() has one writer: the consensus tile (confirmed and finalized slots, and
//     the confirmed slot's fork above its root); a reader sees the three of one call together
//     (a second seqlock).
//   - Every word is an atomic, so concurrent read/publish is race-free under the C++ memory
//     model (and under ThreadSanitizer), not merely "fine on x86".
//   - Nothing allocates; no member throws.

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>

#include <riptide/crypto/types.hpp>

namespace riptide::bank {

// A slot's final PoH hash, which transactions may name as their recent blockhash. PoH pushes
// one per slot end (and one for slot 0 with the chain's start hash) to every consumer that
// keeps a blockhash queue (dedup, bank tiles).
struct slot_hash {
  std::uint64_t slot = 0;
  crypto::hash32 hash{};
};

// Which slots just above a root are the confirmed slot or one of its ancestors: bit i is slot
// `first + i`. A slot outside the window is not known to be on the fork (the safe answer).
struct confirmed_fork {
  static constexpr std::size_t window_slots = 256;
  static constexpr std::size_t words = window_slots / 64;
  std::uint64_t first = 0;  // the root + 1
  std::array<std::uint64_t, words> bits{};

  void add(std::uint64_t slot) noexcept {
    if (slot >= first && slot - first < window_slots)
      bits[(slot - first) / 64] |= std::uint64_t{1} << ((slot - first) % 64);
  }
  [[nodiscard]] bool has(std::uint64_t slot) const noexcept {
    return slot >= first && slot - first < window_slots &&
           ((bits[(slot - first) / 64] >> ((slot - first) % 64)) & 1) != 0;
  }
  // The window moved up to start at `new_first` (a lower one is ignored), keeping the bits of
  // the slots both windows cover.
  void rebase(std::uint64_t new_first) noexcept {
    if (new_first <= first) return;
    confirmed_fork next;
    next.first = new_first;
    for (std::uint64_t s = new_first; s < first + window_slots; ++s)
      if (has(s)) next.add(s);
    *this = next;
  }
};

struct chain_status {
  std::uint64_t slot = 0;             // slot PoH is producing now
  std::uint64_t tick_height = 0;      // ticks since the chain started
  std::uint64_t blockhash_slot = 0;   // slot whose final hash `blockhash` is
  crypto::hash32 blockhash{};         // newest blockhash (zero hash before the first)
  std::uint64_t durable_slot = 0;     // newest slot the ledger reported durable
  bool has_durable_slot = false;
  std::uint64_t root_slot = 0;        // slot of the rooted bank (the balances the API serves)
  bool has_root_slot = false;
  std::uint64_t confirmed_slot = 0;   // highest slot > 2/3 of the stake voted for (consensus)
  bool has_confirmed_slot = false;
  std::uint64_t finalized_slot = 0;   // highest slot > 2/3 of the stake holds as root (consensus)
  bool has_finalized_slot = false;
  confirmed_fork fork;                // the confirmed slot's fork above the consensus root
  bool has_confirmed_fork = false;
};

class chain_board {
 public:
  // PoH tile only.
  void publish(std::uint64_t slot, std::uint64_t tick_height, const slot_hash& newest) noexcept {
    // Seqlock without fences (ThreadSanitizer does not model them): each data store is a
    // release, so none moves above the odd sequence store; read() loads data with acquire,
    // so its sequence re-check cannot move above them.
    const std::uint64_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);
    words_[0].store(slot, std::memory_order_release);
    words_[1].store(tick_height, std::memory_order_release);
    words_[2].store(newest.slot, std::memory_order_release);
    for (std::size_t i = 0; i < 4; ++i) {
      std::uint64_t w;
      std::memcpy(&w, newest.hash.data() + 8 * i, 8);
      words_[3 + i].store(w, std::memory_order_release);
    }
    seq_.store(s + 2, std::memory_order_release);
  }
  // Ledger tile only.
  void set_durable_slot(std::uint64_t slot) noexcept {
    durable_.store(slot + 1, std::memory_order_release);
  }
  // The tile that roots banks only.
  void set_root_slot(std::uint64_t slot) noexcept { root_.store(slot + 1, std::memory_order_release); }
  // The consensus tile only.
  void set_commitment(std::optional<std::uint64_t> confirmed, std::optional<std::uint64_t> finalized,
                      const confirmed_fork* fork = nullptr) noexcept {
    const std::uint64_t s = commit_seq_.load(std::memory_order_relaxed);
    commit_seq_.store(s + 1, std::memory_order_relaxed);
    commit_[0].store(confirmed ? *confirmed + 1 : 0, std::memory_order_release);
    commit_[1].store(finalized ? *finalized + 1 : 0, std::memory_order_release);
    commit_[2].store(fork != nullptr ? fork->first + 1 : 0, std::memory_order_release);
    for (std::size_t i = 0; i < confirmed_fork::words; ++i)
      commit_[3 + i].store(fork != nullptr ? fork->bits[i] : 0, std::memory_order_release);
    commit_seq_.store(s + 2, std::memory_order_release);
  }
  // Any thread.
  chain_status read() const noexcept {
    chain_status out;
    for (;;) {
      const std::uint64_t s0 = seq_.load(std::memory_order_acquire);
      if ((s0 & 1) != 0) continue;
      std::uint64_t w[7];
      for (std::size_t i = 0; i < 7; ++i) w[i] = words_[i].load(std::memory_order_acquire);
      if (seq_.load(std::memory_order_relaxed) != s0) continue;
      out.slot = w[0];
      out.tick_height = w[1];
      out.blockhash_slot = w[2];
      for (std::size_t i = 0; i < 4; ++i) std::memcpy(out.blockhash.data() + 8 * i, &w[3 + i], 8);
      break;
    }
    read_slot(durable_, out.has_durable_slot, out.durable_slot);
    read_slot(root_, out.has_root_slot, out.root_slot);
    for (;;) {
      const std::uint64_t s0 = commit_seq_.load(std::memory_order_acquire);
      if ((s0 & 1) != 0) continue;
      std::uint64_t w[commit_words];
      for (std::size_t i = 0; i < commit_words; ++i) w[i] = commit_[i].load(std::memory_order_acquire);
      if (commit_seq_.load(std::memory_order_relaxed) != s0) continue;
      slot_of(w[0], out.has_confirmed_slot, out.confirmed_slot);
      slot_of(w[1], out.has_finalized_slot, out.finalized_slot);
      slot_of(w[2], out.has_confirmed_fork, out.fork.first);
      for (std::size_t i = 0; i < confirmed_fork::words; ++i) out.fork.bits[i] = w[3 + i];
      break;
    }
    return out;
  }

 private:
  // A slot word holds slot + 1; 0 = none yet.
  static void slot_of(std::uint64_t w, bool& has, std::uint64_t& slot) noexcept {
    has = w != 0;
    slot = w == 0 ? 0 : w - 1;
  }
  static void read_slot(const std::atomic<std::uint64_t>& word, bool& has, std::uint64_t& slot) noexcept {
    slot_of(word.load(std::memory_order_acquire), has, slot);
  }

  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint64_t> words_[7]{};
  std::atomic<std::uint64_t> durable_{0};  // durable slot + 1; 0 = none yet
  std::atomic<std::uint64_t> root_{0};     // root slot + 1; 0 = none yet
  // set_commitment()'s words under their own sequence: confirmed slot + 1, finalized slot + 1
  // (0 = none yet), the fork window's first slot + 1 (0 = no window), its bit words.
  static constexpr std::size_t commit_words = 3 + confirmed_fork::words;
  std::atomic<std::uint64_t> commit_seq_{0};
  std::atomic<std::uint64_t> commit_[commit_words]{};
};

}  // namespace riptide::bank
