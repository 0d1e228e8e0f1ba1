// libFuzzer target for the ledger's record parser (bytes read back from disk).
//
// Invariants checked on every input:
//   - parse_record never reads outside the input (ASan) and never crashes;
//   - a parsed record fits in the input: size <= input size, size is a multiple of 8 and at
//     least the header, the payload lies inside [header, size);
//   - re-encoding the parsed fields reproduces the input's first `size` bytes exactly (the
//     format has one encoding per record), and the re-encoded bytes parse to the same record;
//   - on rejection the output view is untouched.
//   - a parsed entry_batch payload goes through the entry decoder: an accepted batch's tx areas
//     lie inside the payload and tx_reader yields exactly tx_count non-empty transactions; a
//     slot_meta payload that decodes re-encodes to the same bytes; a start_state payload that
//     decodes has strictly ascending keys and non-zero balances and re-encodes to the same
//     bytes, and on rejection leaves no accounts behind.
// The first byte also selects a mode that feeds the rest straight to the payload decoders
// (random bytes rarely carry a valid CRC), and a mode that encodes the input as a payload and
// checks that it round-trips, so the encoder is fuzzed too.

#include <riptide/ledger/entry_codec.hpp>
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

void check_payload(const record_view& v) {
  if (v.type == record_type::entry_batch) {
    static std::vector<decoded_entry> entries;
    entries.clear();
    const entry_error err = decode_batch(v.payload, entries);
    check(static_cast<std::size_t>(err) < entry_error_count);
    if (err != entry_error::none) return;
    for (const decoded_entry& e : entries) {
      check(e.entry.num_hashes != 0);
      check(e.tx_count == 0 || (!e.is_tick && e.entry.has_mixin));
      check(e.txs.empty() || (e.txs.data() >= v.payload.data() &&
                              e.txs.data() + e.txs.size() <= v.payload.data() + v.payload.size()));
      tx_reader r(e);
      entry_tx t;
      std::uint32_t n = 0;
      std::size_t bytes = 0;
      while (r.next(t)) {
        check(!t.body.empty());
        bytes += tx_header_bytes + t.body.size();
        ++n;
      }
      check(n == e.tx_count && bytes == e.txs.size());
    }
  } else if (v.type == record_type::slot_meta) {
    slot_meta m;
    if (decode_meta(v.payload, m) != entry_error::none) return;
    std::uint8_t again[slot_meta_bytes];
    check(encode_meta(m, again) == slot_meta_bytes);
    check(std::memcmp(again, v.payload.data(), slot_meta_bytes) == 0);
  } else if (v.type == record_type::start_state) {
    start_state st;
    const entry_error err = decode_start_state(v.payload, st);
    check(static_cast<std::size_t>(err) < entry_error_count);
    if (err != entry_error::none) {
      check(st.accounts.empty());
      return;
    }
    for (std::size_t i = 0; i < st.accounts.size(); ++i) {
      check(st.accounts[i].lamports != 0);
      check(i == 0 || st.accounts[i - 1].key < st.accounts[i].key);
    }
    const std::vector<std::uint8_t> again = encode_start_state(st);
    check(again.size() == v.payload.size() && std::memcmp(again.data(), v.payload.data(), again.size()) == 0);
  }
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
  check_payload(v);
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
  // Payload decoders without a valid CRC in front (which random bytes rarely have).
  if (size >= 1 && (data[0] & 0xC0) == 0x40) {
    record_view v;
    const record_type types[] = {record_type::entry_batch, record_type::slot_meta, record_type::start_state,
                                 record_type::entry_batch};
    v.type = types[data[0] & 3];
    v.payload = in.subspan(1);
    check_payload(v);
  }
  return 0;
}
