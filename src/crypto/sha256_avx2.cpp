// 8-lane multi-buffer SHA-256 chains with AVX2, for CPUs without SHA-NI. Compiled
// with -mavx2; reached only through runtime dispatch after a CPUID/XGETBV check.

#include <immintrin.h>

#include "sha256_internal.hpp"

namespace riptide::crypto::detail {
namespace {

#define RIPTIDE_ALWAYS_INLINE inline __attribute__((always_inline))

typedef std::uint32_t vec __attribute__((vector_size(32)));
constexpr int lanes = 8;

RIPTIDE_ALWAYS_INLINE vec maj(vec a, vec b, vec c) { return (a & b) | (c & (a | b)); }

#include "sha256_multibuffer.inc"

}  // namespace

void sha256_lanes_avx2_x8(std::uint32_t* words, std::uint64_t n) noexcept {
  chain_multibuffer(words, n);
}

}  // namespace riptide::crypto::detail
