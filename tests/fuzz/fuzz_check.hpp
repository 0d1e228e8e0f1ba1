#pragma once
// Invariant checks for libFuzzer targets: a failed check prints where and aborts, which
// libFuzzer reports as a crash with the input saved.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#define FUZZ_CHECK(cond)                                                         \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                       \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

// True if `inner` lies entirely within [begin, end).
inline bool fuzz_within(std::span<const std::uint8_t> inner, const std::uint8_t* begin,
                        const std::uint8_t* end) {
  return inner.data() >= begin && inner.data() + inner.size() <= end;
}
inline bool fuzz_within(const void* p, std::size_t n, const std::uint8_t* begin,
                        const std::uint8_t* end) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  return b >= begin && b + n <= end;
}
