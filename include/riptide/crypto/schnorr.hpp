#pragma once
// BIP-340 Schnorr signatures over secp256k1 (libsecp256k1), with variable-length messages.
//
// Contract
// - keypair: holds a secret key and its x-only public key. Generation and signing use a
//   process-wide randomized libsecp256k1 context created on first use; every function here may
//   be called from any thread (the context is only read after creation). Signing is not on a
//   hot path: it may throw (std::runtime_error if the kernel RNG fails, std::logic_error on an
//   empty keypair). The secret is wiped when a keypair is destroyed.
// - verify(): free function, noexcept, no allocation, thread-safe; parses the public key every
//   call (a field square root), so hot paths use pubkey_cache instead.
// - pubkey_cache: one per verify tile (not thread-safe). Owns a fixed table, allocated in the
//   constructor, of parsed keys indexed by a seeded hash of the 32-byte key, in two-way sets
//   (capacity ≥ 2): a new key evicts the least recently used of its set. Keys that fail to parse are cached as invalid too, so a flood of bad keys
//   costs one parse each per slot, not one per packet. verify() is noexcept and allocation-free.
//   A moved-from cache may only be destroyed or assigned to.
//
// Signatures sign the message bytes exactly as given (BIP-340 with msglen != 32 allowed);
// callers are responsible for domain separation between message kinds.

#include <riptide/crypto/types.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace riptide::crypto {

constexpr std::size_t aux_rand_bytes = 32;
using aux_rand = std::array<std::uint8_t, aux_rand_bytes>;

// Fills out with bytes from getrandom(2); throws std::runtime_error if the kernel RNG fails.
void random_bytes(std::span<std::uint8_t> out);

// True if secret is a valid secp256k1 secret key (1 <= secret < curve order).
[[nodiscard]] bool is_valid_secret(const seckey& secret) noexcept;

class keypair {
 public:
  // An empty keypair (no key): only useful as an out-parameter; sign() on it throws.
  keypair() noexcept = default;
  keypair(const keypair& other) noexcept = default;
  keypair& operator=(const keypair& other) noexcept = default;
  ~keypair();

  // A fresh key from getrandom(2); throws std::runtime_error on RNG failure.
  static keypair generate();
  // Throws std::invalid_argument if secret is 0 or >= the curve order.
  static keypair from_secret(const seckey& secret);
  // Non-throwing form for parsers: false (and out untouched) if secret is invalid.
  [[nodiscard]] static bool try_from_secret(const seckey& secret, keypair& out) noexcept;

  [[nodiscard]] bool empty() const noexcept { return !valid_; }
  [[nodiscard]] const pubkey& public_key() const noexcept { return public_; }
  [[nodiscard]] const seckey& secret_key() const noexcept { return secret_; }

  // BIP-340 signature over msg with 32 bytes of fresh aux randomness from getrandom(2).
  [[nodiscard]] signature sign(std::span<const std::uint8_t> msg) const;
  // Deterministic form with caller-supplied aux randomness (test vectors, reproducible tests).
  [[nodiscard]] signature sign(std::span<const std::uint8_t> msg, const aux_rand& aux) const;

 private:
  // libsecp256k1's secp256k1_keypair (opaque, 96 bytes), kept so signing skips the point
  // multiplication that recreating it would cost. Copied into a real secp256k1_keypair before
  // use, so the public header needs no libsecp256k1 include.
  static constexpr std::size_t native_keypair_bytes = 96;

  seckey secret_{};
  pubkey public_{};
  std::array<unsigned char, native_keypair_bytes> native_{};
  bool valid_ = false;
};

// Verifies a BIP-340 signature; false for an invalid key or signature. Parses key every call.
[[nodiscard]] bool verify(const pubkey& key, std::span<const std::uint8_t> msg,
                          const signature& sig) noexcept;

class pubkey_cache {
 public:
  // capacity is rounded up to a power of two. Throws std::invalid_argument for 0 or > 2^32,
  // std::runtime_error if the hash seed cannot be drawn from getrandom(2).
  explicit pubkey_cache(std::size_t capacity);
  ~pubkey_cache();
  pubkey_cache(pubkey_cache&&) noexcept;
  pubkey_cache& operator=(pubkey_cache&&) noexcept;
  pubkey_cache(const pubkey_cache&) = delete;
  pubkey_cache& operator=(const pubkey_cache&) = delete;

  [[nodiscard]] bool verify(const pubkey& key, std::span<const std::uint8_t> msg,
                            const signature& sig) noexcept;

  [[nodiscard]] std::uint64_t hits() const noexcept { return hits_; }
  // A miss is a key parse (including parses that found the key invalid).
  [[nodiscard]] std::uint64_t misses() const noexcept { return misses_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  struct entry;  // defined in schnorr.cpp (holds a secp256k1_xonly_pubkey)

  std::unique_ptr<entry[]> entries_;
  std::size_t mask_ = 0;
  std::uint64_t seed_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace riptide::crypto
