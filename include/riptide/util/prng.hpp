#pragma once
// A small, fast, seedable PRNG (xoshiro256**, state filled by splitmix64) for deterministic
// simulations, fault injection and protocol randomness that must repeat from a seed.
// Not cryptographic. One instance per owner; not thread-safe; no allocation.

#include <array>
#include <cstdint>

namespace riptide::util {

class xoshiro256ss {
 public:
  explicit constexpr xoshiro256ss(std::uint64_t seed = 0) noexcept {
    for (auto& word : state_) word = splitmix64(seed);
  }

  constexpr std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Advances `state` and returns the next splitmix64 output (also handy to derive seeds).
  static constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::array<std::uint64_t, 4> state_{};
};

}  // namespace riptide::util
