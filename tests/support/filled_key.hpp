#pragma once
// A public key whose 32 bytes are all `b`: a readable validator identity for tests of
// schedules and rotation (A = filled_key(0xa), ...). Tests only.

#include <cstdint>

#include <riptide/crypto/types.hpp>

namespace riptide::testing {

inline crypto::pubkey filled_key(std::uint8_t b) {
  crypto::pubkey k{};
  k.fill(b);
  return k;
}

}  // namespace riptide::testing
