#include <riptide/crypto/xxh3.hpp>

#include <xxhash.h>

namespace riptide::crypto {

std::uint64_t xxh3_64(std::span<const std::uint8_t> data, std::uint64_t seed) noexcept {
  // Seed 0 takes the unseeded entry point: same value, slightly shorter path.
  if (seed == 0) return XXH3_64bits(data.data(), data.size());
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

}  // namespace riptide::crypto
