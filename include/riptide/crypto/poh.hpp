#pragma once
// Proof of history: the hash chain a leader runs to prove time passed, and the check a
// follower runs on the entries it receives.
//
//   start ─► sha256 ─► sha256 ─► … ─► sha256(h ‖ mixin) ─► … ─► sha256 = tick
//            └──────── one entry: num_hashes hashes, last one may mix in ───┘
//
// `poh` is a pure state machine (no threads, clocks or allocation). It belongs to one
// thread, the PoH tile: that thread alone calls hash(), record() and tick(). A tick is
// due after hashes_per_tick hashes; every hash counts, record() mixin hashes included.
// Once a tick is due (remaining_hashes() == 1) hash() does nothing and record() is
// refused (nullopt) until tick() produces the tick entry.
//
// verify_entries() and entry_mixin() are pure functions, callable from any thread on
// caller-owned data. verify_entries() returns false on the first invalid entry (it does
// not say which); with threads > 1 it spawns and joins std::threads, otherwise it
// allocates nothing. Entries are independent given their predecessor's hash, so it runs
// many entries' chains at once: several SHA-NI lanes, or 8/16-lane AVX2/AVX-512.

#include <cstdint>
#include <optional>
#include <span>

#include <riptide/crypto/types.hpp>

namespace riptide::crypto {

struct poh_entry {
  std::uint64_t num_hashes;  // hashes since the previous entry, this entry's last one included
  hash32 hash;               // chain value after those hashes
  bool has_mixin;            // last hash was sha256(prev ‖ mixin) instead of sha256(prev)
  hash32 mixin;              // meaningful only when has_mixin
};

class poh {
 public:
  // hashes_per_tick == 0 is treated as 1 (every hash is a tick).
  poh(const hash32& start, std::uint64_t hashes_per_tick) noexcept;

  // Hashes min(max_hashes, remaining_hashes() - 1) times. Returns true when a tick is
  // due (remaining_hashes() == 1): the caller must call tick() before hashing or
  // recording more.
  bool hash(std::uint64_t max_hashes) noexcept;

  // Mixes `mixin` in with one hash and returns the entry covering all hashes since
  // the previous entry; nullopt if a tick is due first.
  std::optional<poh_entry> record(const hash32& mixin) noexcept;

  // Does the tick's final hash and returns the tick entry (has_mixin = false);
  // nullopt if no tick is due.
  std::optional<poh_entry> tick() noexcept;

  const hash32& last_hash() const noexcept { return hash_; }
  std::uint64_t tick_count() const noexcept { return tick_count_; }
  std::uint64_t hashes_per_tick() const noexcept { return hashes_per_tick_; }
  // Hashes left in the current tick, its final (tick) hash included; always >= 1.
  std::uint64_t remaining_hashes() const noexcept { return remaining_hashes_; }

 private:
  hash32 hash_;
  std::uint64_t hashes_per_tick_;
  std::uint64_t remaining_hashes_;
  std::uint64_t hashes_since_entry_;
  std::uint64_t tick_count_;
};

// Entry i is valid if hashing from the previous entry's hash (start for i = 0)
// num_hashes - 1 times and then once more (with mixin if has_mixin, plain otherwise)
// gives its hash. num_hashes == 0 is invalid. True iff every entry is valid (an empty
// span is valid). threads == 0 counts as 1.
bool verify_entries(const hash32& start, std::span<const poh_entry> entries,
                    unsigned threads = 1) noexcept;

// How verify_entries runs chains side by side on one core. The default overload picks
// poh_best_verify_backend() (portable when sha256_force_backend(portable) is in effect).
enum class poh_verify_backend : std::uint8_t {
  portable,  // one chain at a time, plain C++
  shani,     // interleaved SHA-NI chains
  avx2,      // 8-lane multi-buffer
  avx512,    // 16-lane multi-buffer (AVX-512 F+VL)
};
bool poh_verify_backend_available(poh_verify_backend backend) noexcept;
poh_verify_backend poh_best_verify_backend() noexcept;
const char* to_string(poh_verify_backend backend) noexcept;
// As above with an explicit backend (tests, benches); an unavailable one runs portable.
bool verify_entries(const hash32& start, std::span<const poh_entry> entries, unsigned threads,
                    poh_verify_backend backend) noexcept;

// Merkle root of an entry's transaction signatures, used as its mixin:
// leaf = sha256(0x00 ‖ sig), node = sha256(0x01 ‖ left ‖ right), and a level's odd last
// node is promoted unchanged to the next level. No signatures gives the all-zero hash.
hash32 entry_mixin(std::span<const signature> signatures) noexcept;

}  // namespace riptide::crypto
