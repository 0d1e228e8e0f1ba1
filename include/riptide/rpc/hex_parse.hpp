#pragma once
// Parsing hex text into fixed-size byte strings (keys, signatures, hashes, transactions) for
// the HTTP API and its clients: input from users and from the network, so every malformed
// text is rejected, never trusted. The inverse of util::to_hex; not a hot path.
//
// Contract: pure, callable from any thread, never throws. Both cases of a-f are accepted.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace riptide::rpc {

// Value of one hex digit, or -1.
[[nodiscard]] constexpr int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// True iff text is exactly 2 * out.size() hex digits; then out holds the bytes. On false,
// out may be partly written.
[[nodiscard]] constexpr bool parse_hex(std::string_view text, std::span<std::uint8_t> out) noexcept {
  if (text.size() != out.size() * 2) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit_value(text[2 * i]);
    const int lo = hex_digit_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace riptide::rpc
