#pragma once
// Internal to src/crypto: the SHA-256 constants and the per-ISA kernels behind the
// runtime dispatch in sha256.cpp and the PoH verifier in poh.cpp.
//
// Kernels in the *_shani / *_avx2 / *_avx512 translation units are compiled with ISA
// flags the baseline CPU may lack, so they are reached only through function pointers
// chosen after a CPUID check. Those files must not instantiate inline functions or
// templates with external linkage (std:: helpers included): the linker could keep
// their ISA-flagged copy for everyone.
//
// "Words" below means the eight state words H0..H7 in host order. Because the output
// of h = sha256(h) is H0..H7 written big-endian and the next block reads its message
// words W0..W7 big-endian, a chain kept as words needs no byte swaps at all.

#include <cstddef>
#include <cstdint>

namespace riptide::crypto::detail {

inline constexpr std::size_t sha256_block_bytes = 64;
inline constexpr std::size_t sha256_state_words = 8;

alignas(64) inline constexpr std::uint32_t sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

alignas(64) inline constexpr std::uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

// Message words W8..W15 of the single block that hashes a 32-byte input:
// 0x80 terminator, zeros, bit length 256.
inline constexpr std::uint32_t sha256_pad32_w8 = 0x80000000u;
inline constexpr std::uint32_t sha256_pad32_w15 = 256u;

// state = compress(state, blocks), nblocks full 64-byte blocks.
using sha256_compress_fn = void (*)(std::uint32_t state[8], const std::uint8_t* blocks,
                                    std::size_t nblocks) noexcept;
// For each of the kernel's lanes, words = sha256(words) n times. `words` holds
// lanes x 8 words, lane-major (lane l at words[8*l]).
using sha256_lanes_fn = void (*)(std::uint32_t* words, std::uint64_t n) noexcept;

void sha256_compress_portable(std::uint32_t state[8], const std::uint8_t* blocks,
                              std::size_t nblocks) noexcept;
void sha256_compress_shani(std::uint32_t state[8], const std::uint8_t* blocks,
                           std::size_t nblocks) noexcept;

// Lane kernels; the number is the lane count.
void sha256_lanes_portable_x1(std::uint32_t* words, std::uint64_t n) noexcept;
void sha256_lanes_shani_x1(std::uint32_t* words, std::uint64_t n) noexcept;
void sha256_lanes_shani_x2(std::uint32_t* words, std::uint64_t n) noexcept;
void sha256_lanes_shani_x3(std::uint32_t* words, std::uint64_t n) noexcept;
void sha256_lanes_shani_x4(std::uint32_t* words, std::uint64_t n) noexcept;
void sha256_lanes_avx2_x8(std::uint32_t* words, std::uint64_t n) noexcept;
void sha256_lanes_avx512_x16(std::uint32_t* words, std::uint64_t n) noexcept;

// CPU features as the OS lets us use them (CPUID + XGETBV), read once.
struct cpu_features {
  bool sha;
  bool avx2;
  bool avx512;  // F + VL, with zmm/opmask state enabled by the OS
};
const cpu_features& detected_cpu_features() noexcept;

}  // namespace riptide::crypto::detail
