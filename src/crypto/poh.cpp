// PoH state machine, multi-lane entry verification, and the entry mixin merkle root.

#include <riptide/crypto/poh.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <riptide/crypto/sha256.hpp>

#include "sha256_internal.hpp"

namespace riptide::crypto {

// ---------------------------------------------------------------------------------------
// poh

poh::poh(const hash32& start, std::uint64_t hashes_per_tick) noexcept
    : hash_(start),
      hashes_per_tick_(std::max<std::uint64_t>(hashes_per_tick, 1)),
      remaining_hashes_(hashes_per_tick_),
      hashes_since_entry_(0),
      tick_count_(0) {}

bool poh::hash(std::uint64_t max_hashes) noexcept {
  const std::uint64_t n = std::min(max_hashes, remaining_hashes_ - 1);
  sha256_chain(hash_, n);
  hashes_since_entry_ += n;
  remaining_hashes_ -= n;
  return remaining_hashes_ == 1;
}

std::optional<poh_entry> poh::record(const hash32& mixin) noexcept {
  if (remaining_hashes_ == 1) return std::nullopt;
  hash_ = sha256_mixin(hash_, mixin);
  --remaining_hashes_;
  const poh_entry entry{hashes_since_entry_ + 1, hash_, true, mixin};
  hashes_since_entry_ = 0;
  return entry;
}

std::optional<poh_entry> poh::tick() noexcept {
  if (remaining_hashes_ != 1) return std::nullopt;
  sha256_chain(hash_, 1);
  const poh_entry entry{hashes_since_entry_ + 1, hash_, false, hash32{}};
  hashes_since_entry_ = 0;
  remaining_hashes_ = hashes_per_tick_;
  ++tick_count_;
  return entry;
}

// ---------------------------------------------------------------------------------------
// verification

namespace {

constexpr unsigned max_lanes = 16;

struct lane_kernel {
  detail::sha256_lanes_fn fn;
  unsigned lanes;
};

// Kernels by ascending lane count. Each step uses the narrowest kernel with room for
// every live chain: SHA-NI throughput barely grows past two lanes on the CPUs we
// measured, so near the end of a range a narrow kernel beats idle wide lanes.
struct verify_plan {
  lane_kernel kernels[4];
  unsigned count;

  const lane_kernel& widest() const noexcept { return kernels[count - 1]; }
  const lane_kernel& for_live(unsigned live) const noexcept {
    for (unsigned i = 0; i + 1 < count; ++i) {
      if (kernels[i].lanes >= live) return kernels[i];
    }
    return widest();
  }
};

verify_plan plan_for(poh_verify_backend backend) noexcept {
  constexpr lane_kernel portable{detail::sha256_lanes_portable_x1, 1};
  constexpr lane_kernel shani_x1{detail::sha256_lanes_shani_x1, 1};
  constexpr lane_kernel shani_x2{detail::sha256_lanes_shani_x2, 2};
  constexpr lane_kernel shani_x4{detail::sha256_lanes_shani_x4, 4};
  constexpr lane_kernel avx2_x8{detail::sha256_lanes_avx2_x8, 8};
  constexpr lane_kernel avx512_x16{detail::sha256_lanes_avx512_x16, 16};
  if (!poh_verify_backend_available(backend)) backend = poh_verify_backend::portable;
  const bool sha = detail::detected_cpu_features().sha;
  switch (backend) {
    case poh_verify_backend::portable:
      return {{portable}, 1};
    case poh_verify_backend::shani:
      return {{shani_x1, shani_x2, shani_x4}, 3};
    case poh_verify_backend::avx2:
      return sha ? verify_plan{{shani_x1, shani_x2, shani_x4, avx2_x8}, 4}
                 : verify_plan{{portable, avx2_x8}, 2};
    case poh_verify_backend::avx512:
      return sha ? verify_plan{{shani_x1, shani_x2, shani_x4, avx512_x16}, 4}
                 : verify_plan{{portable, avx512_x16}, 2};
  }
  return {{portable}, 1};
}

inline void hash_to_words(const hash32& h, std::uint32_t* words) noexcept {
  for (int i = 0; i < 8; ++i) {
    const std::uint8_t* p = h.data() + 4 * i;
    words[i] = (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
               (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
  }
}

inline hash32 words_to_hash(const std::uint32_t* words) noexcept {
  hash32 h;
  for (int i = 0; i < 8; ++i) {
    h[4 * i] = static_cast<std::uint8_t>(words[i] >> 24);
    h[4 * i + 1] = static_cast<std::uint8_t>(words[i] >> 16);
    h[4 * i + 2] = static_cast<std::uint8_t>(words[i] >> 8);
    h[4 * i + 3] = static_cast<std::uint8_t>(words[i]);
  }
  return h;
}

// Hashes of the final step of an entry, given the chain value before it.
inline bool final_step_matches(const poh_entry& e, const hash32& before) noexcept {
  if (e.has_mixin) return sha256_mixin(before, e.mixin) == e.hash;
  hash32 h = before;
  sha256_chain(h, 1);
  return h == e.hash;
}

// Verifies entries[0, count) given the hash before entries[0]. Chains occupy lanes
// [0, live) of the kernel; each kernel call advances all of them by the shortest
// remaining chain, after which finished lanes are checked and refilled from the next
// entries (or the last live lane is moved into the hole).
class range_verifier {
 public:
  range_verifier(const hash32& start, const poh_entry* entries, std::size_t count,
                 const verify_plan& plan, const std::atomic<bool>& failed) noexcept
      : start_(start), entries_(entries), count_(count), plan_(plan), failed_(failed) {}

  bool run() noexcept {
    unsigned live = 0;
    while (live < plan_.widest().lanes) {
      const fill_result r = fill(live);
      if (r == fill_result::bad) return false;
      if (r == fill_result::none_left) break;
      ++live;
    }
    while (live != 0) {
      std::uint64_t step = left_[0];
      for (unsigned i = 1; i < live; ++i) step = std::min(step, left_[i]);
      const lane_kernel& k = plan_.for_live(live);
      k.fn(words_, step);
      for (unsigned i = 0; i < live; ++i) left_[i] -= step;
      for (unsigned i = 0; i < live;) {
        if (left_[i] != 0) {
          ++i;
          continue;
        }
        // The chain holds the value before the entry's last hash, which may mix in.
        if (!final_step_matches(entries_[entry_of_[i]], words_to_hash(words_ + 8 * i))) return false;
        const fill_result r = fill(i);
        if (r == fill_result::bad) return false;
        if (r == fill_result::started) {
          ++i;
          continue;
        }
        --live;
        if (i != live) {
          std::memcpy(words_ + 8 * i, words_ + 8 * live, 8 * sizeof(std::uint32_t));
          entry_of_[i] = entry_of_[live];
          left_[i] = left_[live];
        }
      }
      if (failed_.load(std::memory_order_relaxed)) return false;
    }
    return true;
  }

 private:
  enum class fill_result { started, none_left, bad };

  // Puts the next entry whose chain is non-empty into lane `lane`, checking entries
  // that are a single hash directly.
  fill_result fill(unsigned lane) noexcept {
    for (; next_ < count_; ++next_) {
      const poh_entry& e = entries_[next_];
      const hash32& before = next_ == 0 ? start_ : entries_[next_ - 1].hash;
      if (e.num_hashes == 1) {
        if (!final_step_matches(e, before)) return fill_result::bad;
        continue;
      }
      hash_to_words(before, words_ + 8 * lane);
      entry_of_[lane] = next_;
      left_[lane] = e.num_hashes - 1;
      ++next_;
      return fill_result::started;
    }
    return fill_result::none_left;
  }

  const hash32& start_;
  const poh_entry* entries_;
  std::size_t count_;
  const verify_plan& plan_;
  const std::atomic<bool>& failed_;
  std::size_t next_ = 0;
  // Idle lanes still get hashed by the wide kernel; zeroed so they hash defined data.
  alignas(64) std::uint32_t words_[max_lanes * 8] = {};
  std::size_t entry_of_[max_lanes] = {};
  std::uint64_t left_[max_lanes] = {};
};

bool verify_range(const hash32& start, const poh_entry* entries, std::size_t count,
                  const verify_plan& plan, const std::atomic<bool>& failed) noexcept {
  range_verifier v(start, entries, count, plan, failed);
  return v.run();
}

}  // namespace

bool poh_verify_backend_available(poh_verify_backend backend) noexcept {
  const detail::cpu_features& f = detail::detected_cpu_features();
  switch (backend) {
    case poh_verify_backend::portable:
      return true;
    case poh_verify_backend::shani:
      return f.sha;
    case poh_verify_backend::avx2:
      return f.avx2;
    case poh_verify_backend::avx512:
      return f.avx512;
  }
  return false;
}

poh_verify_backend poh_best_verify_backend() noexcept {
  if (sha256_active_backend() == sha256_backend::portable) return poh_verify_backend::portable;
  // Measured on Sapphire Rapids (perf/poh.md): see the order there.
  for (poh_verify_backend b : {poh_verify_backend::avx512, poh_verify_backend::shani,
                               poh_verify_backend::avx2}) {
    if (poh_verify_backend_available(b)) return b;
  }
  return poh_verify_backend::portable;
}

const char* to_string(poh_verify_backend backend) noexcept {
  switch (backend) {
    case poh_verify_backend::portable:
      return "portable";
    case poh_verify_backend::shani:
      return "shani";
    case poh_verify_backend::avx2:
      return "avx2";
    case poh_verify_backend::avx512:
      return "avx512";
  }
  return "unknown";
}

bool verify_entries(const hash32& start, std::span<const poh_entry> entries,
                    unsigned threads) noexcept {
  return verify_entries(start, entries, threads, poh_best_verify_backend());
}

bool verify_entries(const hash32& start, std::span<const poh_entry> entries, unsigned threads,
                    poh_verify_backend backend) noexcept {
  for (const poh_entry& e : entries) {
    if (e.num_hashes == 0) return false;
  }
  const verify_plan plan = plan_for(backend);
  std::atomic<bool> failed{false};
  const std::size_t parts = std::min<std::size_t>(std::max(threads, 1u), entries.size());
  if (parts <= 1) return verify_range(start, entries.data(), entries.size(), plan, failed);

  // Contiguous chunks of roughly equal hash counts; each starts from its
  // predecessor's claimed hash, which the previous chunk checks.
  double total = 0;
  for (const poh_entry& e : entries) total += static_cast<double>(e.num_hashes);
  const double per_part = total / static_cast<double>(parts);

  auto run_part = [&](std::size_t begin, std::size_t end) noexcept {
    const hash32& before = begin == 0 ? start : entries[begin - 1].hash;
    if (!verify_range(before, entries.data() + begin, end - begin, plan, failed)) {
      failed.store(true, std::memory_order_relaxed);
    }
  };

  std::vector<std::thread> workers;
  try {
    workers.reserve(parts - 1);
  } catch (...) {
  }
  std::size_t begin = 0;
  std::size_t end = 0;
  double done = 0;
  for (std::size_t part = 0; part < parts; ++part) {
    // Leave at least one entry for every later part; the last part takes the rest.
    const std::size_t max_end = entries.size() - (parts - 1 - part);
    if (part + 1 == parts) {
      end = entries.size();
    } else {
      const double target = per_part * static_cast<double>(part + 1);
      end = begin + 1;
      done += static_cast<double>(entries[begin].num_hashes);
      while (end < max_end && done + static_cast<double>(entries[end].num_hashes) / 2 <= target) {
        done += static_cast<double>(entries[end].num_hashes);
        ++end;
      }
    }
    if (part + 1 == parts) {
      run_part(begin, end);  // the calling thread takes the last part
    } else {
      try {
        workers.emplace_back(run_part, begin, end);
      } catch (...) {
        run_part(begin, end);  // no thread to be had: do it here
      }
    }
    begin = end;
  }
  for (std::thread& t : workers) t.join();
  return !failed.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// entry mixin

hash32 entry_mixin(std::span<const signature> signatures) noexcept {
  if (signatures.empty()) return hash32{};
  // Bottom-up merkle built as a binary counter: stack_[i] is the root of a complete
  // subtree of 2^level_[i] leaves, levels strictly decreasing. Folding the leftovers
  // right to left at the end is the same tree as pairing level by level with odd
  // nodes promoted. 64 slots cover any count a size_t can hold.
  hash32 stack[64];
  unsigned level[64];
  unsigned depth = 0;
  std::uint8_t buf[1 + 2 * hash_bytes];
  auto node = [&buf](const hash32& l, const hash32& r) noexcept {
    buf[0] = 0x01;
    std::memcpy(buf + 1, l.data(), hash_bytes);
    std::memcpy(buf + 1 + hash_bytes, r.data(), hash_bytes);
    return sha256(std::span<const std::uint8_t>(buf, sizeof(buf)));
  };
  for (const signature& sig : signatures) {
    std::uint8_t leaf[1 + signature_bytes];
    leaf[0] = 0x00;
    std::memcpy(leaf + 1, sig.data(), signature_bytes);
    stack[depth] = sha256(leaf);
    level[depth] = 0;
    ++depth;
    while (depth >= 2 && level[depth - 2] == level[depth - 1]) {
      stack[depth - 2] = node(stack[depth - 2], stack[depth - 1]);
      ++level[depth - 2];
      --depth;
    }
  }
  while (depth >= 2) {
    stack[depth - 2] = node(stack[depth - 2], stack[depth - 1]);
    --depth;
  }
  return stack[0];
}

}  // namespace riptide::crypto
