// libFuzzer target for the ledger's record parser (bytes read back from disk).
//
// Invariants checked on every input:
//   - parse_record never reads outside the input (ASan) and never crashes;
//   - a parsed record fits in the input: size <= input size, size is a multiple of 8 and at
//     least the header, the payload lies inside [header, size);
//   - re-encoding the parsed fields reproduces the input's first `size` bytes exactly (the
//     format has one encoding per record), and the re-encoded bytes parse to the same record;
//   - on rejection the output view is untouched.
// The first byte also selects a second mode that encodes the input as a payload and checks
// that it round-trips, so the encoder is fuzzed too.

#include <riptide/ledger/ledger.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace riptide::ledger;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_parsed(std::span<const std::uint8_t> in) {
  record_view v;
  v.size = 12345;  // sentinel: must survive a rejection
  const record_error err = parse_record(in, v);
  check(static_cast<std::size_t>(err) < record_error_count);
  if (err != record_error::none) {
    check(v.size == 12345 && v.payload.empty());
    return;
  }
  check(v.size <= in.size());
  check(v.size >= record_header_bytes && v.size % record_alignment_bytes == 0);
  check(v.size == encoded_record_bytes(v.payload.size()));
  check(v.payload.data() == in.data() + record_header_bytes);
  check(v.payload.size() <= max_record_payload_bytes);
  const auto t = static_cast<std::uint16_t>(v.type);
  check(t >= 1 && t <= max_record_type);

  std::vector<std::uint8_t> again(v.size);
  check(encode_record(v.type, v.slot, v.payload, again) == v.size);
  check(std::memcmp(again.data(), in.data(), v.size) == 0);
}

void check_encoded(std::span<const std::uint8_t> payload, std::uint8_t selector) {
  const auto type = static_cast<record_type>(1 + selector % max_record_type);
  const std::uint64_t slot = static_cast<std::uint64_t>(selector) * 0x0101010101010101ULL;
  std::vector<std::uint8_t> bytes(encoded_record_bytes(payload.size()) + (selector & 7));
  check(encode_record(type, slot, payload, bytes) == encoded_record_bytes(payload.size()));
  record_view v;
  check(parse_record(bytes, v) == record_error::none);
  check(v.type == type && v.slot == slot && v.size == encoded_record_bytes(payload.size()));
  check(v.payload.size() == payload.size() &&
        (payload.empty() || std::memcmp(v.payload.data(), payload.data(), payload.size()) == 0));
  // Any single-bit flip in the covered bytes must be caught (CRC-32C detects all 1-bit errors).
  if (!payload.empty()) {
    const std::size_t at = record_header_bytes + (selector % payload.size());
    bytes[at] ^= 0x01;
    check(parse_record(bytes, v) == record_error::checksum_mismatch);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  check_parsed(in);
  if (size >= 1 && (data[0] & 0x80) != 0) check_encoded(in.subspan(1), data[0]);
  return 0;
}
