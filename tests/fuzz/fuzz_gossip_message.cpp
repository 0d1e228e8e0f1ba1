// libFuzzer target for the gossip wire parser (parse_message / parse_value / decode_value):
// memory safety under ASan/UBSan, plus invariants a successful parse must satisfy:
// - every count is within its bound and every view lies inside the input;
// - the view describes the input completely: re-encoding it from its accessors (and each value
//   from its decoded form) reproduces the input byte for byte (the format is canonical);
// - no proper prefix of a valid message parses.
// One input in 16 is also fed to a live engine, whose counters must account for it.
// Run:
//   ./build-fuzz-g/tests/fuzz/fuzz_gossip_message -max_total_time=60 -max_len=1400

#include <riptide/gossip/engine.hpp>
#include <riptide/gossip/messages.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::gossip;

void put(std::vector<std::uint8_t>& b, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
template <std::size_t N>
void put(std::vector<std::uint8_t>& b, const std::array<std::uint8_t, N>& a) {
  b.insert(b.end(), a.begin(), a.end());
}

// A value re-encoded from its decoded (owning) form.
std::vector<std::uint8_t> reencode_value(const value_ref& v) {
  const crds_value d = decode_value(v);
  FUZZ_CHECK(d.kind() == v.kind);
  FUZZ_CHECK(d.origin == v.origin && d.wallclock_ms == v.wallclock_ms);
  std::vector<std::uint8_t> out(encoded_value_bytes(d));
  FUZZ_CHECK(!out.empty());
  FUZZ_CHECK(encode_value(d, out) == out.size());
  return out;
}

void check_value(const value_ref& v, const std::uint8_t* begin, const std::uint8_t* end) {
  FUZZ_CHECK(fuzz_within(v.bytes, begin, end));
  FUZZ_CHECK(v.bytes.size() >= value_header_bytes && v.bytes.size() <= max_value_bytes);
  FUZZ_CHECK(static_cast<std::size_t>(v.kind) >= 1 &&
             static_cast<std::size_t>(v.kind) <= value_kind_count);
  FUZZ_CHECK(v.sub_key.empty() ||
             fuzz_within(v.sub_key, v.bytes.data(), v.bytes.data() + v.bytes.size()));
  if (v.kind == value_kind::data) {
    FUZZ_CHECK(v.sub_key.size() >= 1 && v.sub_key.size() <= max_data_key_bytes);
  } else if (v.kind == value_kind::vote) {
    FUZZ_CHECK(v.sub_key.size() == 1 && v.sub_key[0] < max_vote_index);
  } else {
    FUZZ_CHECK(v.sub_key.empty());
  }
  const std::vector<std::uint8_t> again = reencode_value(v);
  FUZZ_CHECK(again.size() == v.bytes.size() &&
             std::memcmp(again.data(), v.bytes.data(), again.size()) == 0);
  value_ref alone;
  FUZZ_CHECK(parse_single_value(v.bytes, alone) == parse_error::none);
  FUZZ_CHECK(alone.bytes.data() == v.bytes.data() && alone.bytes.size() == v.bytes.size());
  (void)value_hash(v.bytes);
}

// The message re-encoded from the view's accessors alone.
std::vector<std::uint8_t> reencode(const message_view& m) {
  std::vector<std::uint8_t> b;
  b.push_back(static_cast<std::uint8_t>(m.type));
  put(b, m.shred_version, 2);
  put(b, m.sender);
  switch (m.type) {
    case message_type::push:
    case message_type::pull_response:
      b.push_back(static_cast<std::uint8_t>(m.num_values));
      for (std::size_t i = 0; i < m.num_values; ++i) {
        const auto v = reencode_value(m.values[i]);
        b.insert(b.end(), v.begin(), v.end());
      }
      break;
    case message_type::pull_request: {
      b.push_back(static_cast<std::uint8_t>(m.filter.num_keys()));
      for (std::size_t k = 0; k < m.filter.num_keys(); ++k) put(b, m.filter.key(k), 8);
      put(b, m.filter.num_bits(), 4);
      b.push_back(static_cast<std::uint8_t>(m.mask_bits));
      put(b, m.mask, 8);
      for (std::size_t w = 0; w < m.filter.num_words(); ++w) put(b, m.filter.word(w), 8);
      const auto v = reencode_value(m.values[0]);
      b.insert(b.end(), v.begin(), v.end());
      break;
    }
    case message_type::prune:
      put(b, m.signature);
      put(b, m.destination);
      put(b, m.wallclock_ms, 8);
      b.push_back(static_cast<std::uint8_t>(m.num_origins()));
      for (std::size_t i = 0; i < m.num_origins(); ++i) put(b, m.origin(i));
      break;
    case message_type::ping:
    case message_type::pong:
      put(b, m.signature);
      put(b, m.token);
      break;
  }
  return b;
}

void check_valid(const std::uint8_t* data, std::size_t size, const message_view& m) {
  const std::uint8_t* const end = data + size;
  FUZZ_CHECK(size >= message_header_bytes && size <= max_packet_bytes);
  FUZZ_CHECK(m.bytes.data() == data && m.bytes.size() == size);
  FUZZ_CHECK(static_cast<std::size_t>(m.type) >= 1 &&
             static_cast<std::size_t>(m.type) < message_type_count);
  FUZZ_CHECK(m.num_values <= max_values_per_message);
  switch (m.type) {
    case message_type::push:
    case message_type::pull_response:
      FUZZ_CHECK(m.num_values >= 1);
      break;
    case message_type::pull_request:
      FUZZ_CHECK(m.num_values == 1);
      FUZZ_CHECK(m.values[0].kind == value_kind::contact_info);
      FUZZ_CHECK(m.values[0].origin == m.sender);
      FUZZ_CHECK(m.filter.num_keys() >= 1 && m.filter.num_keys() <= max_bloom_keys);
      FUZZ_CHECK(m.filter.num_bits() >= 1 && m.filter.num_bits() <= max_bloom_bits);
      FUZZ_CHECK(m.filter.num_words() == (m.filter.num_bits() + 63) / 64);
      FUZZ_CHECK(m.mask_bits <= max_bloom_mask_bits && (m.mask >> m.mask_bits) == 0);
      if (m.filter.num_bits() % 64 != 0) {
        FUZZ_CHECK((m.filter.word(m.filter.num_words() - 1) >> (m.filter.num_bits() % 64)) == 0);
      }
      (void)m.filter.contains(crypto::hash32{});
      break;
    case message_type::prune:
      FUZZ_CHECK(m.num_values == 0);
      FUZZ_CHECK(m.num_origins() >= 1 && m.num_origins() <= max_prune_origins);
      FUZZ_CHECK(fuzz_within(m.origin_bytes, data, end));
      FUZZ_CHECK(m.origin_bytes.data() + m.origin_bytes.size() == end);
      break;
    case message_type::ping:
    case message_type::pong:
      FUZZ_CHECK(m.num_values == 0);
      FUZZ_CHECK(size == ping_message_bytes);
      break;
  }
  const std::uint8_t* prev_end = data;
  for (std::size_t i = 0; i < m.num_values; ++i) {
    check_value(m.values[i], data, end);
    FUZZ_CHECK(m.values[i].bytes.data() >= prev_end);  // in order, not overlapping
    prev_end = m.values[i].bytes.data() + m.values[i].bytes.size();
  }
  if (m.num_values > 0) FUZZ_CHECK(prev_end == end);

  const std::vector<std::uint8_t> again = reencode(m);
  FUZZ_CHECK(again.size() == size && std::memcmp(again.data(), data, size) == 0);

  for (const std::size_t cut : {size - 1, size / 2, message_header_bytes}) {
    if (cut >= size) continue;
    message_view shorter;
    FUZZ_CHECK(parse_message(std::span(data, cut), shorter) != parse_error::none);
    FUZZ_CHECK(shorter.bytes.empty());
  }
}

// A live engine for one input in 16: every packet must be counted as parsed-and-handled or
// rejected by reason, and the engine must stay within its bounds.
engine& live_engine() {
  static std::unique_ptr<engine> e = [] {
    crypto::seckey secret{};
    secret[31] = 7;
    gossip_config cfg;
    cfg.shred_version = 0;  // what an all-zero fuzz header carries
    cfg.max_values = 1024;
    cfg.max_outgoing_packets = 64;
    contact_info self;
    self.ip = 0x7f000001;
    self.gossip_port = 12000;
    self.wallclock_ms = 1'700'000'000'000ull;
    return std::make_unique<engine>(crypto::keypair::from_secret(secret), self, cfg,
                                    std::vector<socket_addr>{{0x7f000002, 12001}}, 1);
  }();
  return *e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  message_view m;
  const parse_error err = parse_message(std::span(data, size), m);
  FUZZ_CHECK(static_cast<std::size_t>(err) < parse_error_count);
  FUZZ_CHECK(to_string(err) != nullptr);
  if (err != parse_error::none) {
    FUZZ_CHECK(m.bytes.empty());  // a failed parse leaves the view untouched
  } else {
    check_valid(data, size, m);
  }

  // Value parsing on its own, at the start of the input.
  value_ref v;
  const parse_error verr = parse_value(std::span(data, size), v);
  if (verr == parse_error::none) check_value(v, data, data + size);

  if (size > 3 && (data[size / 2] & 0x0F) == 0) {
    engine& e = live_engine();
    const engine::stats before = e.get_stats();
    e.on_packet({0x7f000003, 12002}, std::span(data, size), 1'700'000'000'000ull);
    const engine::stats& after = e.get_stats();
    FUZZ_CHECK(after.packets_in == before.packets_in + 1);
    if (err != parse_error::none) {
      FUZZ_CHECK(after.parse_errors[static_cast<std::size_t>(err)] ==
                 before.parse_errors[static_cast<std::size_t>(err)] + 1);
    }
    FUZZ_CHECK(e.table_size() <= e.config().max_values);
    FUZZ_CHECK(e.outgoing_size() <= e.config().max_outgoing_packets);
    FUZZ_CHECK(after.internal_errors == 0);
    e.tick(1'700'000'000'000ull + after.packets_in * 10);
    outgoing o;
    while (e.pop_outgoing(o)) FUZZ_CHECK(o.len >= message_header_bytes && o.len <= max_packet_bytes);
  }
  return 0;
}
