#pragma once
// A small, fast, seedable PRNG (xoshiro256**, state filled by splitmix64) for deterministic
// simulations, fault injection and protocol randomness that must repeat from a seed.
// Not cryptographic. One instance per owner; not thread-safe; no allocation.

#include <array>
#include <cstdint>

namespace riptide::util {

// splitmix64's finalizer: a bijection that spreads the bits of a key (hash-table slots).
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class xoshiro256ss {
 public:
  explicit constexpr xoshiro256ss(std::uint64_t seed = 0) noexcept {
    for (auto& word : state_) word = splitmix64(seed);
  }

  // A generator whose state is exactly `state` (protocol use: the state is a hash's four
  // little-endian words, so other implementations can reproduce the sequence). The all-zero
  // state, which xoshiro cannot leave, becomes {1, 0, 0, 0}.
  static constexpr xoshiro256ss from_state(const std::array<std::uint64_t, 4>& state) noexcept {
    xoshiro256ss g;
    g.state_ = state;
    if ((state[0] | state[1] | state[2] | state[3]) == 0) g.state_[0] = 1;
    return g;
  }

  // Uniform in [0, bound) for bound >= 1, without modulo bias: Lemire's multiply-shift with
  // rejection (x = next(); m = x * bound as 128 bits; if low64(m) < bound, redraw while
  // low64(m) < (2^64 - bound) mod bound; return high64(m)).
  constexpr std::uint64_t uniform(std::uint64_t bound) noexcept {
    __extension__ using u128 = unsigned __int128;  // GCC/Clang; __extension__: -Wpedantic
    u128 m = static_cast<u128>(next()) * bound;
    if (static_cast<std::uint64_t>(m) < bound) {
      const std::uint64_t t = (0 - bound) % bound;
      while (static_cast<std::uint64_t>(m) < t) m = static_cast<u128>(next()) * bound;
    }
    return static_cast<std::uint64_t>(m >> 64);
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
    return mix64(state += 0x9e3779b97f4a7c15ull);
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::array<std::uint64_t, 4> state_{};
};

}  // namespace riptide::util
