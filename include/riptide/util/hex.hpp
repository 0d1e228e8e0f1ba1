#pragma once
// Lowercase hex of a byte string, for logs, JSON and files (not a hot path: allocates).

#include <cstdint>
#include <span>
#include <string>

namespace riptide::util {

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = digits[bytes[i] >> 4];
    s[2 * i + 1] = digits[bytes[i] & 15];
  }
  return s;
}

}  // namespace riptide::util
