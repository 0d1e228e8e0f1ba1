#include <riptide/bank/tx_status.hpp>

#include <riptide/crypto/xxh3.hpp>

#include <cstring>
#include <stdexcept>

namespace riptide::bank {

namespace {

constexpr std::size_t ways = 4;
constexpr std::size_t signature_words = crypto::signature_bytes / 8;

std::uint64_t load_word(const crypto::signature& sig, std::size_t i) noexcept {
  std::uint64_t w;
  std::memcpy(&w, sig.data() + 8 * i, 8);
  return w;
}

}  // namespace

// One cache entry. Every field is an atomic so a reader racing the writer reads stale or
// torn values but never has a data race; the sequence word tells it to retry:
//   writer: seq = odd (relaxed) ; release fence ; fields (relaxed) ; seq = even (release)
//   reader: s1 = seq (acquire) ; fields (relaxed) ; acquire fence ; s2 = seq (relaxed)
//           and accepts only s1 == s2, s1 even.
// age 0 means empty; otherwise the writer's insertion clock when the entry was written.
struct tx_status_cache::slot {
  std::atomic<std::uint64_t> seq{0};
  std::atomic<std::uint64_t> tag{0};
  std::atomic<std::uint64_t> age{0};
  std::atomic<std::uint64_t> slot_number{0};
  std::atomic<std::uint64_t> result{0};
  std::atomic<std::uint64_t> sig[signature_words]{};
};

tx_status_cache::tx_status_cache(std::size_t capacity) {
  if (capacity < ways || (capacity & (capacity - 1)) != 0)
    throw std::invalid_argument("tx_status_cache: capacity must be a power of two >= 4");
  set_mask_ = capacity / ways - 1;
  slots_ = std::make_unique<slot[]>(capacity);
}

tx_status_cache::~tx_status_cache() = default;

void tx_status_cache::record(const crypto::signature& first_signature,
                             const tx_status& status) noexcept {
  const std::uint64_t tag = crypto::xxh3_64(first_signature);
  slot* set = slots_.get() + (tag & set_mask_) * ways;
  // The writer is the only thread that changes slots, so it reads them without the seqlock.
  slot* victim = nullptr;
  for (std::size_t w = 0; w < ways && victim == nullptr; ++w) {
    slot& s = set[w];
    if (s.age.load(std::memory_order_relaxed) == 0) {
      victim = &s;
      break;
    }
    if (s.tag.load(std::memory_order_relaxed) != tag) continue;
    bool same = true;
    for (std::size_t i = 0; i < signature_words && same; ++i)
      same = s.sig[i].load(std::memory_order_relaxed) == load_word(first_signature, i);
    if (same) victim = &s;  // the same transaction again: update in place
  }
  if (victim == nullptr) {
    victim = &set[0];
    for (std::size_t w = 1; w < ways; ++w)
      if (set[w].age.load(std::memory_order_relaxed) <
          victim->age.load(std::memory_order_relaxed))
        victim = &set[w];
  }
  const std::uint64_t seq = victim->seq.load(std::memory_order_relaxed);
  // Seqlock without fences (ThreadSanitizer does not model them): every data store is a
  // release, so none moves above the odd sequence store; readers load data with acquire.
  victim->seq.store(seq + 1, std::memory_order_relaxed);
  victim->tag.store(tag, std::memory_order_release);
  victim->age.store(++clock_, std::memory_order_release);
  victim->slot_number.store(status.slot, std::memory_order_release);
  victim->result.store(status.result, std::memory_order_release);
  for (std::size_t i = 0; i < signature_words; ++i)
    victim->sig[i].store(load_word(first_signature, i), std::memory_order_release);
  victim->seq.store(seq + 2, std::memory_order_release);
  recorded_.fetch_add(1, std::memory_order_relaxed);
}

void tx_status_cache::forget(const crypto::signature& first_signature, std::uint64_t slot_number) noexcept {
  const std::uint64_t tag = crypto::xxh3_64(first_signature);
  slot* set = slots_.get() + (tag & set_mask_) * ways;
  for (std::size_t w = 0; w < ways; ++w) {
    slot& s = set[w];
    if (s.age.load(std::memory_order_relaxed) == 0 || s.tag.load(std::memory_order_relaxed) != tag ||
        s.slot_number.load(std::memory_order_relaxed) != slot_number)
      continue;
    bool same = true;
    for (std::size_t i = 0; i < signature_words && same; ++i)
      same = s.sig[i].load(std::memory_order_relaxed) == load_word(first_signature, i);
    if (!same) continue;
    const std::uint64_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);
    s.age.store(0, std::memory_order_release);  // empty: find() skips it, record() reuses it
    s.seq.store(seq + 2, std::memory_order_release);
    return;
  }
}

std::optional<tx_status> tx_status_cache::find(
    const crypto::signature& first_signature) const noexcept {
  const std::uint64_t tag = crypto::xxh3_64(first_signature);
  const slot* set = slots_.get() + (tag & set_mask_) * ways;
  std::uint64_t want[signature_words];
  for (std::size_t i = 0; i < signature_words; ++i) want[i] = load_word(first_signature, i);
  for (std::size_t w = 0; w < ways; ++w) {
    const slot& s = set[w];
    for (;;) {
      const std::uint64_t s1 = s.seq.load(std::memory_order_acquire);
      if (s1 & 1) continue;  // a write in progress: it finishes within a few stores
      // Acquire loads: the sequence re-check below cannot move above them.
      const bool live = s.age.load(std::memory_order_acquire) != 0;
      bool same = live && s.tag.load(std::memory_order_acquire) == tag;
      for (std::size_t i = 0; i < signature_words && same; ++i)
        same = s.sig[i].load(std::memory_order_acquire) == want[i];
      tx_status out;
      out.slot = s.slot_number.load(std::memory_order_acquire);
      out.result = static_cast<std::uint8_t>(s.result.load(std::memory_order_acquire));
      if (s.seq.load(std::memory_order_relaxed) != s1) continue;  // torn: read again
      if (same) return out;
      break;
    }
  }
  return std::nullopt;
}

}  // namespace riptide::bank
