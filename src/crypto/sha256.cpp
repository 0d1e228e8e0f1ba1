// Portable SHA-256, CPU feature detection, and the backend dispatch.

#include <riptide/crypto/sha256.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "sha256_internal.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace riptide::crypto {
namespace detail {
namespace {

constexpr std::uint32_t rotr(std::uint32_t x, int n) noexcept {
  return (x >> n) | (x << (32 - n));
}

inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

inline void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
  store_be32(p, static_cast<std::uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<std::uint32_t>(v));
}

// The 64 rounds on message words w[0..15] (overwritten by the schedule).
inline void compress_words(std::uint32_t state[8], std::uint32_t w[16]) noexcept {
  std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  std::uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
#pragma GCC unroll 64
  for (int t = 0; t < 64; ++t) {
    std::uint32_t wt;
    if (t < 16) {
      wt = w[t];
    } else {
      const std::uint32_t w15 = w[(t - 15) & 15];
      const std::uint32_t w2 = w[(t - 2) & 15];
      const std::uint32_t s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3);
      const std::uint32_t s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10);
      wt = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
      w[t & 15] = wt;
    }
    const std::uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    const std::uint32_t ch = g ^ (e & (f ^ g));
    const std::uint32_t t1 = h + big_s1 + ch + sha256_k[t] + wt;
    const std::uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    const std::uint32_t maj = (a & b) | (c & (a | b));
    const std::uint32_t t2 = big_s0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

inline hash32 state_to_hash(const std::uint32_t state[8]) noexcept {
  hash32 out;
  for (int i = 0; i < 8; ++i) store_be32(out.data() + 4 * i, state[i]);
  return out;
}

cpu_features detect() noexcept {
  cpu_features f{false, false, false};
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0 || a < 7) return f;
  __cpuid(1, a, b, c, d);
  const bool ssse3 = (c & (1u << 9)) != 0;
  const bool sse41 = (c & (1u << 19)) != 0;
  const bool osxsave = (c & (1u << 27)) != 0;
  const bool avx = (c & (1u << 28)) != 0;
  std::uint64_t xcr0 = 0;
  if (osxsave) {
    std::uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<std::uint64_t>(hi) << 32) | lo;
  }
  __cpuid_count(7, 0, a, b, c, d);
  const bool ymm_enabled = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool zmm_enabled = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM0-15 high, ZMM16-31
  f.sha = ssse3 && sse41 && (b & (1u << 29)) != 0;
  f.avx2 = avx && ymm_enabled && (b & (1u << 5)) != 0;
  f.avx512 = f.avx2 && zmm_enabled && (b & (1u << 16)) != 0 && (b & (1u << 31)) != 0;
#endif
  return f;
}

struct backend_ops {
  sha256_backend id;
  sha256_compress_fn compress;
  sha256_lanes_fn chain;  // one lane
};

constexpr backend_ops portable_ops{sha256_backend::portable, sha256_compress_portable,
                                   sha256_lanes_portable_x1};
constexpr backend_ops shani_ops{sha256_backend::shani, sha256_compress_shani,
                                sha256_lanes_shani_x1};

// Null until first use, so no static-initialisation order issue for callers in other
// translation units' constructors.
constinit std::atomic<const backend_ops*> active_ops{nullptr};

const backend_ops* best_ops() noexcept {
  return detected_cpu_features().sha ? &shani_ops : &portable_ops;
}

inline const backend_ops& ops() noexcept {
  const backend_ops* p = active_ops.load(std::memory_order_relaxed);
  if (p == nullptr) [[unlikely]] {
    const backend_ops* expected = nullptr;
    p = best_ops();
    if (!active_ops.compare_exchange_strong(expected, p, std::memory_order_relaxed)) {
      p = expected;
    }
  }
  return *p;
}

// Hashes the final partial block (< 64 bytes) plus padding.
inline void finish_blocks(std::uint32_t state[8], const std::uint8_t* tail, std::size_t tail_bytes,
                          std::uint64_t total_bytes, sha256_compress_fn compress) noexcept {
  std::uint8_t last[2 * sha256_block_bytes] = {};
  if (tail_bytes != 0) std::memcpy(last, tail, tail_bytes);  // tail may be null when empty
  last[tail_bytes] = 0x80;
  const std::size_t blocks = tail_bytes < 56 ? 1 : 2;
  store_be64(last + blocks * sha256_block_bytes - 8, total_bytes * 8);
  compress(state, last, blocks);
}

}  // namespace

const cpu_features& detected_cpu_features() noexcept {
  static const cpu_features features = detect();
  return features;
}

void sha256_compress_portable(std::uint32_t state[8], const std::uint8_t* blocks,
                              std::size_t nblocks) noexcept {
  std::uint32_t w[16];
  for (; nblocks != 0; --nblocks, blocks += sha256_block_bytes) {
    for (int i = 0; i < 16; ++i) w[i] = load_be32(blocks + 4 * i);
    compress_words(state, w);
  }
}

void sha256_lanes_portable_x1(std::uint32_t* words, std::uint64_t n) noexcept {
  for (; n != 0; --n) {
    std::uint32_t w[16] = {words[0], words[1], words[2], words[3], words[4], words[5],
                           words[6], words[7], sha256_pad32_w8, 0, 0, 0, 0, 0, 0,
                           sha256_pad32_w15};
    std::memcpy(words, sha256_iv, sizeof(sha256_iv));
    compress_words(words, w);
  }
}

}  // namespace detail

using detail::ops;

hash32 sha256(std::span<const std::uint8_t> data) noexcept {
  const detail::backend_ops& o = ops();
  std::uint32_t state[8];
  std::memcpy(state, detail::sha256_iv, sizeof(state));
  const std::size_t full = data.size() / detail::sha256_block_bytes;
  if (full != 0) o.compress(state, data.data(), full);
  const std::size_t done = full * detail::sha256_block_bytes;
  detail::finish_blocks(state, data.data() + done, data.size() - done, data.size(), o.compress);
  return detail::state_to_hash(state);
}

sha256_stream::sha256_stream() noexcept : state_{}, total_bytes_(0), buffer_{}, buffered_bytes_(0) {
  std::memcpy(state_, detail::sha256_iv, sizeof(state_));
}

void sha256_stream::update(std::span<const std::uint8_t> data) noexcept {
  const detail::backend_ops& o = ops();
  const std::uint8_t* p = data.data();
  std::size_t left = data.size();
  total_bytes_ += left;
  if (buffered_bytes_ != 0) {
    const std::size_t take = std::min(left, detail::sha256_block_bytes - buffered_bytes_);
    if (take != 0) std::memcpy(buffer_ + buffered_bytes_, p, take);  // p may be null when empty
    buffered_bytes_ += take;
    p += take;
    left -= take;
    if (buffered_bytes_ < detail::sha256_block_bytes) return;
    o.compress(state_, buffer_, 1);
    buffered_bytes_ = 0;
  }
  const std::size_t full = left / detail::sha256_block_bytes;
  if (full != 0) {
    o.compress(state_, p, full);
    p += full * detail::sha256_block_bytes;
    left -= full * detail::sha256_block_bytes;
  }
  if (left != 0) std::memcpy(buffer_, p, left);
  buffered_bytes_ = left;
}

hash32 sha256_stream::finish() noexcept {
  detail::finish_blocks(state_, buffer_, buffered_bytes_, total_bytes_, ops().compress);
  const hash32 out = detail::state_to_hash(state_);
  *this = sha256_stream();
  return out;
}

void sha256_chain(hash32& h, std::uint64_t n) noexcept {
  if (n == 0) return;
  std::uint32_t words[8];
  for (int i = 0; i < 8; ++i) words[i] = detail::load_be32(h.data() + 4 * i);
  ops().chain(words, n);
  h = detail::state_to_hash(words);
}

hash32 sha256_mixin(const hash32& h, const hash32& mixin) noexcept {
  // Two blocks: h || mixin, then the padding block for a 64-byte message.
  std::uint8_t blocks[2 * detail::sha256_block_bytes] = {};
  std::memcpy(blocks, h.data(), h.size());
  std::memcpy(blocks + h.size(), mixin.data(), mixin.size());
  blocks[detail::sha256_block_bytes] = 0x80;
  detail::store_be64(blocks + sizeof(blocks) - 8, 8 * detail::sha256_block_bytes);
  std::uint32_t state[8];
  std::memcpy(state, detail::sha256_iv, sizeof(state));
  ops().compress(state, blocks, 2);
  return detail::state_to_hash(state);
}

sha256_backend sha256_active_backend() noexcept { return ops().id; }

const char* to_string(sha256_backend backend) noexcept {
  switch (backend) {
    case sha256_backend::portable:
      return "portable";
    case sha256_backend::shani:
      return "shani";
  }
  return "unknown";
}

bool sha256_backend_available(sha256_backend backend) noexcept {
  switch (backend) {
    case sha256_backend::portable:
      return true;
    case sha256_backend::shani:
      return detail::detected_cpu_features().sha;
  }
  return false;
}

bool sha256_force_backend(sha256_backend backend) noexcept {
  if (!sha256_backend_available(backend)) return false;
  detail::active_ops.store(
      backend == sha256_backend::shani ? &detail::shani_ops : &detail::portable_ops,
      std::memory_order_relaxed);
  return true;
}

}  // namespace riptide::crypto
