#pragma once
// SHA-256 (FIPS 180-4): one-shot, streaming, and the two shapes proof of history needs,
// h = sha256(h) repeated (sha256_chain) and h = sha256(h || mixin) (sha256_mixin).
//
// Backends: a portable C++ implementation that always works, and SHA-NI, chosen at run
// time from CPUID the first time any function here runs. sha256_force_backend() switches
// process-wide for tests and benchmarks; call it before other threads hash (the switch
// itself is an atomic store, so a racing caller sees either backend, both correct).
//
// Threads: every function is pure or works on caller-owned state; any thread may call
// any of them. A sha256_stream is single-owner (no internal locking).
// Memory: nothing allocates. Failure: none; all functions are noexcept and total.

#include <cstddef>
#include <cstdint>
#include <span>

#include <riptide/crypto/types.hpp>

namespace riptide::crypto {

hash32 sha256(std::span<const std::uint8_t> data) noexcept;

// Incremental hashing: update() any number of times with any split, then finish() once.
// After finish() the stream is reset and can hash a new message.
class sha256_stream {
 public:
  sha256_stream() noexcept;
  void update(std::span<const std::uint8_t> data) noexcept;
  hash32 finish() noexcept;

 private:
  std::uint32_t state_[8];
  std::uint64_t total_bytes_;
  std::uint8_t buffer_[64];
  std::size_t buffered_bytes_;
};

// h = sha256(h), n times. The PoH hot loop: the state stays in registers between
// iterations and no bytes are swapped inside the loop.
void sha256_chain(hash32& h, std::uint64_t n) noexcept;

// sha256(h || mixin): the PoH record step.
hash32 sha256_mixin(const hash32& h, const hash32& mixin) noexcept;

enum class sha256_backend : std::uint8_t { portable, shani };

sha256_backend sha256_active_backend() noexcept;
const char* to_string(sha256_backend backend) noexcept;
// True if this CPU (and OS) can run `backend`.
bool sha256_backend_available(sha256_backend backend) noexcept;
// For tests and benches. Returns false, changing nothing, if the CPU lacks `backend`.
bool sha256_force_backend(sha256_backend backend) noexcept;

}  // namespace riptide::crypto
