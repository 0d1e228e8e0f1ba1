#pragma once
// Fixed-size byte strings shared by every area: hashes, keys, signatures.
//
// They are plain std::array values (trivially copyable, no invariants) so they can
// live inside ring descriptors, packet frames and wire structs without conversion.

#include <array>
#include <cstddef>
#include <cstdint>

namespace riptide::crypto {

constexpr std::size_t hash_bytes = 32;
constexpr std::size_t pubkey_bytes = 32;     // BIP-340 x-only public key
constexpr std::size_t seckey_bytes = 32;
constexpr std::size_t signature_bytes = 64;  // BIP-340 Schnorr signature

using hash32 = std::array<std::uint8_t, hash_bytes>;
using pubkey = std::array<std::uint8_t, pubkey_bytes>;
using seckey = std::array<std::uint8_t, seckey_bytes>;
using signature = std::array<std::uint8_t, signature_bytes>;

}  // namespace riptide::crypto
