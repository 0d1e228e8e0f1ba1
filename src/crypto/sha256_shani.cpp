// SHA-256 with the x86 SHA extensions (SHA-NI). Compiled with -msha -msse4.1 -mssse3;
// reached only through the dispatch in sha256.cpp after a CPUID check.
//
// SHA-NI keeps the working variables as two registers, ABEF and CDGH, and each
// sha256rnds2 does two rounds. Its latency (not its throughput) bounds one chain,
// so the lane kernels interleave independent chains to fill the gaps.

#include <immintrin.h>

#include "sha256_internal.hpp"

namespace riptide::crypto::detail {
namespace {

#define RIPTIDE_ALWAYS_INLINE inline __attribute__((always_inline))

RIPTIDE_ALWAYS_INLINE __m128i k4(int group) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(sha256_k + 4 * group));
}

// Four rounds: (abef, cdgh) advance by the four message words in `wk` (W + K).
RIPTIDE_ALWAYS_INLINE void rounds4(__m128i& abef, __m128i& cdgh, __m128i wk) {
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
  abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
}

// Next four schedule words from the previous sixteen (w_4 oldest).
RIPTIDE_ALWAYS_INLINE __m128i schedule4(__m128i w_4, __m128i w_3, __m128i w_2, __m128i w_1) {
  const __m128i t = _mm_add_epi32(_mm_sha256msg1_epu32(w_4, w_3), _mm_alignr_epi8(w_1, w_2, 4));
  return _mm_sha256msg2_epu32(t, w_1);
}

}  // namespace

void sha256_compress_shani(std::uint32_t state[8], const std::uint8_t* blocks,
                           std::size_t nblocks) noexcept {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));
  __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));
  const __m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
  const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xf0);

  for (; nblocks != 0; --nblocks, blocks += sha256_block_bytes) {
    const __m128i abef_in = abef;
    const __m128i cdgh_in = cdgh;
    __m128i w[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      w[g] = _mm_shuffle_epi8(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 16 * g)), bswap);
      rounds4(abef, cdgh, _mm_add_epi32(w[g], k4(g)));
    }
#pragma GCC unroll 12
    for (int g = 4; g < 16; ++g) {
      w[g & 3] = schedule4(w[g & 3], w[(g + 1) & 3], w[(g + 2) & 3], w[(g + 3) & 3]);
      rounds4(abef, cdgh, _mm_add_epi32(w[g & 3], k4(g)));
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }

  const __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), _mm_blend_epi16(feba, dchg, 0xf0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), _mm_alignr_epi8(dchg, feba, 8));
}

namespace {

// L independent chains of h = sha256(h) on 32-byte inputs, interleaved so the
// out-of-order core overlaps their sha256rnds2 latency chains.
//
// Per lane the loop keeps `raw`, the words H0..H7 *before* the feed-forward add of
// the IV, in message order (dword 0 = W0). The block is W0..W7 = raw + IV and the
// constant padding W8..W15; adding IV and K in one step keeps only
// unpack -> shuffle -> add between one hash's last round and the next hash's first.
template <int L>
RIPTIDE_ALWAYS_INLINE void chain_lanes(std::uint32_t* words, std::uint64_t n) {
  const __m128i iv_abef = _mm_set_epi32(static_cast<int>(sha256_iv[0]), static_cast<int>(sha256_iv[1]),
                                        static_cast<int>(sha256_iv[4]), static_cast<int>(sha256_iv[5]));
  const __m128i iv_cdgh = _mm_set_epi32(static_cast<int>(sha256_iv[2]), static_cast<int>(sha256_iv[3]),
                                        static_cast<int>(sha256_iv[6]), static_cast<int>(sha256_iv[7]));
  const __m128i iv_lo = _mm_load_si128(reinterpret_cast<const __m128i*>(sha256_iv));
  const __m128i iv_hi = _mm_load_si128(reinterpret_cast<const __m128i*>(sha256_iv + 4));
  const __m128i ivk_lo = _mm_add_epi32(iv_lo, k4(0));
  const __m128i ivk_hi = _mm_add_epi32(iv_hi, k4(1));
  const __m128i pad_lo = _mm_set_epi32(0, 0, 0, static_cast<int>(sha256_pad32_w8));
  const __m128i pad_hi = _mm_set_epi32(static_cast<int>(sha256_pad32_w15), 0, 0, 0);
  const __m128i padk_lo = _mm_add_epi32(pad_lo, k4(2));
  const __m128i padk_hi = _mm_add_epi32(pad_hi, k4(3));
  // msg1 of the two constant padding vectors, needed by schedule group 6.
  const __m128i pad_msg1 = _mm_sha256msg1_epu32(pad_lo, pad_hi);

  __m128i raw_lo[L];
  __m128i raw_hi[L];
#pragma GCC unroll 4
  for (int l = 0; l < L; ++l) {
    raw_lo[l] = _mm_sub_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words + 8 * l)), iv_lo);
    raw_hi[l] = _mm_sub_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words + 8 * l + 4)), iv_hi);
  }

  for (; n != 0; --n) {
    __m128i abef[L];
    __m128i cdgh[L];
    __m128i w[L][4];
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      abef[l] = iv_abef;
      cdgh[l] = iv_cdgh;
      rounds4(abef[l], cdgh[l], _mm_add_epi32(raw_lo[l], ivk_lo));
      w[l][0] = _mm_add_epi32(raw_lo[l], iv_lo);
    }
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      rounds4(abef[l], cdgh[l], _mm_add_epi32(raw_hi[l], ivk_hi));
      w[l][1] = _mm_add_epi32(raw_hi[l], iv_hi);
    }
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) rounds4(abef[l], cdgh[l], padk_lo);
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) rounds4(abef[l], cdgh[l], padk_hi);
    // Groups 4..7 read the constant padding; written out so it folds.
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      w[l][2] = _mm_sha256msg2_epu32(_mm_sha256msg1_epu32(w[l][0], w[l][1]), pad_hi);
      rounds4(abef[l], cdgh[l], _mm_add_epi32(w[l][2], k4(4)));
    }
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      const __m128i t = _mm_add_epi32(_mm_sha256msg1_epu32(w[l][1], pad_lo),
                                      _mm_alignr_epi8(w[l][2], pad_hi, 4));
      w[l][3] = _mm_sha256msg2_epu32(t, w[l][2]);
      rounds4(abef[l], cdgh[l], _mm_add_epi32(w[l][3], k4(5)));
    }
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      const __m128i t = _mm_add_epi32(pad_msg1, _mm_alignr_epi8(w[l][3], w[l][2], 4));
      w[l][0] = _mm_sha256msg2_epu32(t, w[l][3]);
      rounds4(abef[l], cdgh[l], _mm_add_epi32(w[l][0], k4(6)));
    }
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      const __m128i t = _mm_add_epi32(_mm_sha256msg1_epu32(pad_hi, w[l][2]),
                                      _mm_alignr_epi8(w[l][0], w[l][3], 4));
      w[l][1] = _mm_sha256msg2_epu32(t, w[l][0]);
      rounds4(abef[l], cdgh[l], _mm_add_epi32(w[l][1], k4(7)));
    }
    // Groups 8..15: w ring holds groups 4,5,6,7 at slots 2,3,0,1.
#pragma GCC unroll 8
    for (int g = 8; g < 16; ++g) {
#pragma GCC unroll 4
      for (int l = 0; l < L; ++l) {
        const int s = (g + 2) & 3;  // slot of group g-4, reused for group g
        w[l][s] = schedule4(w[l][s], w[l][(s + 1) & 3], w[l][(s + 2) & 3], w[l][(s + 3) & 3]);
        rounds4(abef[l], cdgh[l], _mm_add_epi32(w[l][s], k4(g)));
      }
    }
    // Back to message order without the IV: dword 0..3 = A B C D and E F G H.
#pragma GCC unroll 4
    for (int l = 0; l < L; ++l) {
      raw_lo[l] = _mm_shuffle_epi32(_mm_unpackhi_epi64(cdgh[l], abef[l]), 0x1b);
      raw_hi[l] = _mm_shuffle_epi32(_mm_unpacklo_epi64(cdgh[l], abef[l]), 0x1b);
    }
  }

#pragma GCC unroll 4
  for (int l = 0; l < L; ++l) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(words + 8 * l), _mm_add_epi32(raw_lo[l], iv_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(words + 8 * l + 4), _mm_add_epi32(raw_hi[l], iv_hi));
  }
}

}  // namespace

void sha256_lanes_shani_x1(std::uint32_t* words, std::uint64_t n) noexcept {
  chain_lanes<1>(words, n);
}
void sha256_lanes_shani_x2(std::uint32_t* words, std::uint64_t n) noexcept {
  chain_lanes<2>(words, n);
}
void sha256_lanes_shani_x3(std::uint32_t* words, std::uint64_t n) noexcept {
  chain_lanes<3>(words, n);
}
void sha256_lanes_shani_x4(std::uint32_t* words, std::uint64_t n) noexcept {
  chain_lanes<4>(words, n);
}

}  // namespace riptide::crypto::detail
