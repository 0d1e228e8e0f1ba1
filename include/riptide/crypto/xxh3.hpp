#pragma once
// XXH3-64: the fast non-cryptographic hash used for dedup tags, bloom filters and sharding.
//
// Contract: a thin wrapper over libxxhash's XXH3_64bits / XXH3_64bits_withSeed, so the
// output is the standard XXH3 value (stable across releases of the library). Pure function,
// callable from any thread, no allocation, never fails. Not collision resistant against an
// adversary who knows the seed: callers that key tables on attacker-supplied bytes should use a
// secret per-process seed.

#include <cstddef>
#include <cstdint>
#include <span>

namespace riptide::crypto {

[[nodiscard]] std::uint64_t xxh3_64(std::span<const std::uint8_t> data,
                                    std::uint64_t seed = 0) noexcept;

}  // namespace riptide::crypto
