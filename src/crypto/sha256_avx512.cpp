// 16-lane multi-buffer SHA-256 chains with AVX-512 (F + VL): vprord for the rotations
// and vpternlogd for Ch, Maj and the three-way xors. Compiled with -mavx512f
// -mavx512vl; reached only through runtime dispatch after a CPUID/XGETBV check.

#include <immintrin.h>

#include "sha256_internal.hpp"

namespace riptide::crypto::detail {
namespace {

#define RIPTIDE_ALWAYS_INLINE inline __attribute__((always_inline))

typedef std::uint32_t vec __attribute__((vector_size(64)));
constexpr int lanes = 16;

RIPTIDE_ALWAYS_INLINE vec maj(vec a, vec b, vec c) {
  return reinterpret_cast<vec>(_mm512_ternarylogic_epi32(
      reinterpret_cast<__m512i>(a), reinterpret_cast<__m512i>(b), reinterpret_cast<__m512i>(c),
      0xe8));
}

#include "sha256_multibuffer.inc"

}  // namespace

void sha256_lanes_avx512_x16(std::uint32_t* words, std::uint64_t n) noexcept {
  chain_multibuffer(words, n);
}

}  // namespace riptide::crypto::detail
