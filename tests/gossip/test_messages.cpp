#include <riptide/gossip/messages.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::gossip;
using bytes = std::vector<std::uint8_t>;

crypto::keypair key(std::uint8_t n) {
  crypto::seckey s{};
  s[31] = n;
  s[0] = 0x22;
  return crypto::keypair::from_secret(s);
}

crypto::aux_rand aux(std::uint8_t n) {
  crypto::aux_rand a{};
  a[0] = n;
  return a;
}

class verify_all final : public signature_verifier {
 public:
  bool verify(const crypto::pubkey& k, std::span<const std::uint8_t> msg,
              const crypto::signature& sig) noexcept override {
    ++calls;
    return crypto::verify(k, msg, sig);
  }
  int calls = 0;
};

// ---------------------------------------------------------------- little-endian builders

void put(bytes& b, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put(bytes& b, std::span<const std::uint8_t> s) { b.insert(b.end(), s.begin(), s.end()); }

bytes header(message_type type, std::uint16_t shred = 7, const crypto::pubkey& sender = {}) {
  bytes b;
  b.push_back(static_cast<std::uint8_t>(type));
  put(b, shred, 2);
  put(b, sender);
  return b;
}

// An unsigned value laid out by hand: (zero) signature, kind, origin, wallclock, body.
bytes raw_value(std::uint8_t kind, const bytes& body, const crypto::pubkey& origin = {},
                std::uint64_t wallclock = 1) {
  bytes b(64, 0);
  b.push_back(kind);
  put(b, origin);
  put(b, wallclock, 8);
  put(b, body);
  return b;
}

bytes contact_body() { return bytes(contact_info_body_bytes, 0); }

bytes data_body(std::size_t key_len, std::size_t value_len, std::size_t value_present) {
  bytes b;
  b.push_back(static_cast<std::uint8_t>(key_len));
  b.insert(b.end(), key_len, 'k');
  put(b, value_len, 2);
  b.insert(b.end(), value_present, 'v');
  return b;
}

bytes push_of(const std::vector<bytes>& values, std::size_t count_override = SIZE_MAX) {
  bytes b = header(message_type::push);
  b.push_back(static_cast<std::uint8_t>(count_override == SIZE_MAX ? values.size() : count_override));
  for (const auto& v : values) put(b, v);
  return b;
}

struct raw_bloom {
  std::vector<std::uint64_t> keys{1, 2, 3};
  std::uint32_t num_bits = 64;
  std::uint8_t mask_bits = 0;
  std::uint64_t mask = 0;
  std::vector<std::uint64_t> words{0};
  std::size_t num_keys_override = SIZE_MAX;
};

bytes pull_request_of(const raw_bloom& f, const bytes& value, const crypto::pubkey& sender = {}) {
  bytes b = header(message_type::pull_request, 7, sender);
  b.push_back(static_cast<std::uint8_t>(
      f.num_keys_override == SIZE_MAX ? f.keys.size() : f.num_keys_override));
  for (const auto k : f.keys) put(b, k, 8);
  put(b, f.num_bits, 4);
  b.push_back(f.mask_bits);
  put(b, f.mask, 8);
  for (const auto w : f.words) put(b, w, 8);
  put(b, value);
  return b;
}

bytes prune_of(std::size_t count, std::size_t origins_present) {
  bytes b = header(message_type::prune);
  b.insert(b.end(), 64, 0);   // signature
  b.insert(b.end(), 32, 9);   // destination
  put(b, 123, 8);             // wallclock
  b.push_back(static_cast<std::uint8_t>(count));
  b.insert(b.end(), 32 * origins_present, 5);
  return b;
}

parse_error parse(const bytes& b) {
  message_view m;
  const parse_error err = parse_message(b, m);
  if (err != parse_error::none) {
    EXPECT_TRUE(m.bytes.empty()) << "a failed parse must leave the view untouched";
  }
  return err;
}

// ------------------------------------------------------------------------ rejection reasons

TEST(GossipParse, TooLong) {
  bytes b = push_of({raw_value(6, bytes(8, 0))});
  b.resize(max_packet_bytes + 1);
  EXPECT_EQ(parse(b), parse_error::too_long);
}

TEST(GossipParse, Empty) { EXPECT_EQ(parse({}), parse_error::empty); }

TEST(GossipParse, TruncatedHeader) {
  bytes b = header(message_type::push);
  b.pop_back();
  EXPECT_EQ(parse(b), parse_error::truncated_header);
}

TEST(GossipParse, UnknownMessageType) {
  bytes b = header(message_type::ping);
  b[0] = 0;
  EXPECT_EQ(parse(b), parse_error::unknown_message_type);
  b[0] = 7;
  EXPECT_EQ(parse(b), parse_error::unknown_message_type);
}

TEST(GossipParse, TruncatedValueCount) {
  EXPECT_EQ(parse(header(message_type::push)), parse_error::truncated_value_count);
  EXPECT_EQ(parse(header(message_type::pull_response)), parse_error::truncated_value_count);
}

TEST(GossipParse, NoValues) { EXPECT_EQ(parse(push_of({})), parse_error::no_values); }

TEST(GossipParse, TooManyValues) {
  // Checked before any value is read: 17 values could never fit 1232 bytes anyway.
  EXPECT_EQ(parse(push_of({}, max_values_per_message + 1)), parse_error::too_many_values);
  EXPECT_EQ(parse(push_of({}, 255)), parse_error::too_many_values);
}

TEST(GossipParse, TruncatedValueHeader) {
  bytes v = raw_value(6, {});
  v.resize(value_header_bytes - 1);
  EXPECT_EQ(parse(push_of({v})), parse_error::truncated_value_header);
}

TEST(GossipParse, UnknownValueKind) {
  EXPECT_EQ(parse(push_of({raw_value(0, bytes(8, 0))})), parse_error::unknown_value_kind);
  EXPECT_EQ(parse(push_of({raw_value(7, bytes(8, 0))})), parse_error::unknown_value_kind);
}

TEST(GossipParse, TruncatedValueBody) {
  EXPECT_EQ(parse(push_of({raw_value(1, bytes(17, 0))})), parse_error::truncated_value_body);
  EXPECT_EQ(parse(push_of({raw_value(2, bytes(15, 0))})), parse_error::truncated_value_body);
  EXPECT_EQ(parse(push_of({raw_value(4, bytes(39, 0))})), parse_error::truncated_value_body);
  EXPECT_EQ(parse(push_of({raw_value(5, bytes(40, 0))})), parse_error::truncated_value_body);
  EXPECT_EQ(parse(push_of({raw_value(6, bytes(7, 0))})), parse_error::truncated_value_body);
  EXPECT_EQ(parse(push_of({raw_value(3, {})})), parse_error::truncated_value_body);  // no key_len
  EXPECT_EQ(parse(push_of({raw_value(3, bytes{4, 'a', 'b'})})),
            parse_error::truncated_value_body);  // key cut
  EXPECT_EQ(parse(push_of({raw_value(3, bytes{1, 'a', 0})})),
            parse_error::truncated_value_body);  // value_len cut
  EXPECT_EQ(parse(push_of({raw_value(3, data_body(2, 5, 4))})),
            parse_error::truncated_value_body);  // value cut
}

TEST(GossipParse, DataKeyEmpty) {
  EXPECT_EQ(parse(push_of({raw_value(3, data_body(0, 0, 0))})), parse_error::data_key_empty);
}

TEST(GossipParse, DataKeyTooLong) {
  EXPECT_EQ(parse(push_of({raw_value(3, data_body(65, 0, 0))})), parse_error::data_key_too_long);
  EXPECT_EQ(parse(push_of({raw_value(3, data_body(64, 0, 0))})), parse_error::none);
}

TEST(GossipParse, DataValueTooLong) {
  EXPECT_EQ(parse(push_of({raw_value(3, data_body(1, 513, 0))})),
            parse_error::data_value_too_long);
  EXPECT_EQ(parse(push_of({raw_value(3, data_body(1, 512, 512))})), parse_error::none);
}

TEST(GossipParse, VoteIndexOutOfRange) {
  bytes body(vote_body_bytes, 0);
  body[0] = 32;
  EXPECT_EQ(parse(push_of({raw_value(5, body)})), parse_error::vote_index_out_of_range);
  body[0] = 31;
  EXPECT_EQ(parse(push_of({raw_value(5, body)})), parse_error::none);
}

TEST(GossipParse, BloomNoKeys) {
  raw_bloom f;
  f.keys.clear();
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))), parse_error::bloom_no_keys);
}

TEST(GossipParse, BloomTooManyKeys) {
  raw_bloom f;
  f.keys.assign(9, 1);
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))),
            parse_error::bloom_too_many_keys);
}

TEST(GossipParse, TruncatedBloom) {
  EXPECT_EQ(parse(header(message_type::pull_request)), parse_error::truncated_bloom);
  const bytes full = pull_request_of(raw_bloom{}, raw_value(1, contact_body()));
  // Cut inside the keys, inside num_bits/mask, and inside the words.
  for (std::size_t cut : {std::size_t{40}, std::size_t{36 + 24 + 6}, std::size_t{36 + 24 + 13 + 3}}) {
    EXPECT_EQ(parse(bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut))),
              parse_error::truncated_bloom)
        << cut;
  }
  raw_bloom f;
  f.num_bits = 65;  // needs two words, one present
  f.words = {0};
  bytes b = pull_request_of(f, {});
  EXPECT_EQ(parse(b), parse_error::truncated_bloom);
}

TEST(GossipParse, BloomNoBits) {
  raw_bloom f;
  f.num_bits = 0;
  f.words.clear();
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))), parse_error::bloom_no_bits);
}

TEST(GossipParse, BloomTooManyBits) {
  raw_bloom f;
  f.num_bits = max_bloom_bits + 1;
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))),
            parse_error::bloom_too_many_bits);
}

TEST(GossipParse, BloomMaskBitsTooLarge) {
  raw_bloom f;
  f.mask_bits = 33;
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))),
            parse_error::bloom_mask_bits_too_large);
}

TEST(GossipParse, BloomMaskOutOfRange) {
  raw_bloom f;
  f.mask_bits = 2;
  f.mask = 4;
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))),
            parse_error::bloom_mask_out_of_range);
  f.mask = 3;
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))), parse_error::none);
  f.mask_bits = 0;
  f.mask = 1;
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))),
            parse_error::bloom_mask_out_of_range);
}

TEST(GossipParse, BloomPaddingBitsSet) {
  raw_bloom f;
  f.num_bits = 10;
  f.words = {std::uint64_t{1} << 10};
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))),
            parse_error::bloom_padding_bits_set);
  f.words = {std::uint64_t{1} << 9};
  EXPECT_EQ(parse(pull_request_of(f, raw_value(1, contact_body()))), parse_error::none);
}

TEST(GossipParse, PullRequestNotContactInfo) {
  EXPECT_EQ(parse(pull_request_of(raw_bloom{}, raw_value(6, bytes(8, 0)))),
            parse_error::pull_request_not_contact_info);
}

TEST(GossipParse, SenderMismatch) {
  crypto::pubkey other{};
  other[0] = 1;
  EXPECT_EQ(parse(pull_request_of(raw_bloom{}, raw_value(1, contact_body(), other))),
            parse_error::sender_mismatch);
}

TEST(GossipParse, TruncatedPrune) {
  bytes b = prune_of(1, 1);
  b.resize(139);
  EXPECT_EQ(parse(b), parse_error::truncated_prune);
  EXPECT_EQ(parse(prune_of(2, 1)), parse_error::truncated_prune);
}

TEST(GossipParse, PruneNoOrigins) { EXPECT_EQ(parse(prune_of(0, 0)), parse_error::prune_no_origins); }

TEST(GossipParse, PruneTooManyOrigins) {
  EXPECT_EQ(parse(prune_of(33, 33)), parse_error::prune_too_many_origins);
  EXPECT_EQ(parse(prune_of(32, 32)), parse_error::none);
}

TEST(GossipParse, TruncatedPingAndPong) {
  bytes ping = header(message_type::ping);
  ping.resize(ping_message_bytes - 1);
  EXPECT_EQ(parse(ping), parse_error::truncated_ping);
  bytes pong = header(message_type::pong);
  pong.resize(ping_message_bytes - 1);
  EXPECT_EQ(parse(pong), parse_error::truncated_pong);
}

TEST(GossipParse, TrailingBytes) {
  bytes push = push_of({raw_value(6, bytes(8, 0))});
  push.push_back(0);
  EXPECT_EQ(parse(push), parse_error::trailing_bytes);
  bytes req = pull_request_of(raw_bloom{}, raw_value(1, contact_body()));
  req.push_back(0);
  EXPECT_EQ(parse(req), parse_error::trailing_bytes);
  bytes prune = prune_of(1, 1);
  prune.push_back(0);
  EXPECT_EQ(parse(prune), parse_error::trailing_bytes);
  bytes ping = header(message_type::ping);
  ping.resize(ping_message_bytes + 1);
  EXPECT_EQ(parse(ping), parse_error::trailing_bytes);
  bytes v = raw_value(6, bytes(9, 0));
  value_ref r;
  EXPECT_EQ(parse_single_value(v, r), parse_error::trailing_bytes);
}

TEST(GossipParse, EveryErrorHasADistinctName) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < parse_error_count; ++i) {
    names.insert(to_string(static_cast<parse_error>(i)));
  }
  EXPECT_EQ(names.size(), parse_error_count);
  EXPECT_STREQ(to_string(static_cast<parse_error>(parse_error_count)), "unknown_parse_error");
  for (std::size_t k = 0; k < value_kind_count; ++k) {
    EXPECT_STRNE(to_string(kind_at(k)), "unknown_value_kind");
  }
  for (std::size_t t = 1; t < message_type_count; ++t) {
    EXPECT_STRNE(to_string(static_cast<message_type>(t)), "unknown_message_type");
  }
}

// ------------------------------------------------------------------------------- round trips

std::vector<crds_value> sample_values() {
  contact_info ci;
  ci.shred_version = 42;
  ci.ip = 0x0a000001;
  ci.gossip_port = 12000;
  ci.tpu_port = 13000;
  ci.tpu_forwards_port = 16000;
  ci.tvu_port = 14000;
  ci.repair_port = 15000;
  ci.rpc_port = 11000;
  crypto::hash32 h{};
  h[5] = 9;
  std::vector<crds_value> out;
  for (value_body body : std::vector<value_body>{
           ci, node_instance{0xabcdef, 1234}, data_value{"version", "riptide 0.1.0"},
           data_value{std::string(64, 'k'), std::string(512, 'v')}, data_value{"e", ""},
           leader_schedule_digest{77, h}, vote_value{31, 999, h}, lowest_slot_value{123456}}) {
    crds_value v;
    v.wallclock_ms = 1'700'000'000'000ull;
    v.body = std::move(body);
    out.push_back(std::move(v));
  }
  return out;
}

TEST(GossipValues, SignEncodeParseDecodeRoundTrip) {
  const auto k = key(1);
  verify_all verifier;
  for (crds_value v : sample_values()) {
    bytes out(max_value_bytes);
    const std::size_t n = sign_value(v, k, aux(1), out);
    ASSERT_EQ(n, encoded_value_bytes(v));
    out.resize(n);
    value_ref r;
    ASSERT_EQ(parse_single_value(out, r), parse_error::none);
    EXPECT_EQ(r.kind, v.kind());
    EXPECT_EQ(r.origin, k.public_key());
    EXPECT_EQ(r.wallclock_ms, v.wallclock_ms);
    const crds_value d = decode_value(r);
    EXPECT_EQ(d, v) << to_string(v.kind());
    bytes again(max_value_bytes);
    again.resize(encode_value(d, again));
    EXPECT_EQ(again, out);
    EXPECT_TRUE(verify_value_signature(r, verifier));
  }
}

TEST(GossipValues, SubKeyIsDataKeyOrVoteIndex) {
  const auto k = key(2);
  for (crds_value v : sample_values()) {
    bytes out(max_value_bytes);
    out.resize(sign_value(v, k, aux(2), out));
    value_ref r;
    ASSERT_EQ(parse_value(out, r), parse_error::none);
    if (const auto* d = std::get_if<data_value>(&v.body)) {
      EXPECT_EQ(std::string(r.sub_key.begin(), r.sub_key.end()), d->key);
    } else if (const auto* vote = std::get_if<vote_value>(&v.body)) {
      ASSERT_EQ(r.sub_key.size(), 1u);
      EXPECT_EQ(r.sub_key[0], vote->index);
    } else {
      EXPECT_TRUE(r.sub_key.empty());
    }
  }
}

TEST(GossipValues, OutOfRangeFieldsDoNotEncode) {
  crds_value v;
  v.body = data_value{"", "x"};
  EXPECT_EQ(encoded_value_bytes(v), 0u);
  v.body = data_value{std::string(65, 'k'), ""};
  EXPECT_EQ(encoded_value_bytes(v), 0u);
  v.body = data_value{"k", std::string(513, 'v')};
  EXPECT_EQ(encoded_value_bytes(v), 0u);
  v.body = vote_value{32, 0, {}};
  EXPECT_EQ(encoded_value_bytes(v), 0u);
  bytes out(max_value_bytes);
  EXPECT_EQ(sign_value(v, key(1), aux(0), out), 0u);
  v.body = lowest_slot_value{1};
  bytes small(10);
  EXPECT_EQ(encode_value(v, small), 0u);
}

TEST(GossipValues, TamperedValuesFailVerification) {
  const auto k = key(3);
  verify_all verifier;
  crds_value v = sample_values()[2];
  bytes out(max_value_bytes);
  out.resize(sign_value(v, k, aux(3), out));
  for (const std::size_t at : {std::size_t{0}, std::size_t{64}, std::size_t{70},
                               std::size_t{100}, out.size() - 1}) {
    bytes t = out;
    t[at] ^= 0x01;
    value_ref r;
    if (parse_single_value(t, r) != parse_error::none) continue;  // kind byte flipped
    EXPECT_FALSE(verify_value_signature(r, verifier)) << at;
  }
  // Signed by someone else than the origin it names.
  crds_value forged = sample_values()[2];
  bytes f(max_value_bytes);
  f.resize(sign_value(forged, key(4), aux(3), f));
  std::memcpy(f.data() + 65, k.public_key().data(), 32);
  value_ref r;
  ASSERT_EQ(parse_single_value(f, r), parse_error::none);
  EXPECT_FALSE(verify_value_signature(r, verifier));
}

TEST(GossipMessages, PushRoundTrip) {
  const auto k = key(5);
  value_packer packer(message_type::push, 7, k.public_key());
  std::vector<bytes> values;
  for (crds_value v : sample_values()) {
    bytes out(max_value_bytes);
    out.resize(sign_value(v, k, aux(5), out));
    if (packer.try_add(out)) values.push_back(out);
  }
  ASSERT_GE(values.size(), 3u);
  message_view m;
  ASSERT_EQ(parse_message(packer.bytes(), m), parse_error::none);
  EXPECT_EQ(m.type, message_type::push);
  EXPECT_EQ(m.shred_version, 7);
  EXPECT_EQ(m.sender, k.public_key());
  ASSERT_EQ(m.num_values, values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(bytes(m.values[i].bytes.begin(), m.values[i].bytes.end()), values[i]);
  }
  EXPECT_EQ(m.bytes.size(), packer.bytes().size());
  EXPECT_LE(packer.bytes().size(), max_packet_bytes);
}

TEST(GossipMessages, PackerStopsAtSizeAndCount) {
  value_packer packer(message_type::pull_response, 1, {});
  EXPECT_TRUE(packer.empty());
  const bytes big = raw_value(3, data_body(64, 512, 512));
  EXPECT_EQ(big.size(), max_value_bytes);
  EXPECT_TRUE(packer.try_add(big));
  EXPECT_FALSE(packer.try_add(big));  // 36 + 2 * 684 > 1232
  packer.reset();
  const bytes small = raw_value(6, bytes(8, 0));
  std::size_t added = 0;
  while (packer.try_add(small)) ++added;
  EXPECT_EQ(added, 10u);  // 36 + 10 * 113 = 1166; an eleventh would be 1279
  packer.reset();
  EXPECT_EQ(packer.num_values(), 0u);
  message_view m;
  EXPECT_EQ(parse_message(packer.bytes(), m), parse_error::no_values);
}

TEST(GossipMessages, PullRequestRoundTrip) {
  const auto k = key(6);
  crds_value ci = sample_values()[0];
  bytes ci_bytes(max_value_bytes);
  ci_bytes.resize(sign_value(ci, k, aux(6), ci_bytes));
  const std::array<std::uint64_t, 3> keys{9, 8, 7};
  const std::uint32_t bits = max_pull_request_bits(keys.size());
  EXPECT_EQ(bits, 8192u);
  bloom f(bits, keys);
  crypto::hash32 present{}, absent{};
  present[0] = 1;
  absent[0] = 2;
  f.add(present);
  bytes out(max_packet_bytes);
  const std::size_t n = encode_pull_request(7, k.public_key(), f, 3, 5, ci_bytes, out);
  ASSERT_EQ(n, pull_request_bytes(3, bits));
  ASSERT_LE(n, max_packet_bytes);
  out.resize(n);
  message_view m;
  ASSERT_EQ(parse_message(out, m), parse_error::none);
  EXPECT_EQ(m.type, message_type::pull_request);
  EXPECT_EQ(m.mask_bits, 3u);
  EXPECT_EQ(m.mask, 5u);
  EXPECT_EQ(m.filter.num_bits(), bits);
  EXPECT_TRUE(m.filter.contains(present));
  EXPECT_EQ(m.filter.contains(absent), f.contains(absent));
  ASSERT_EQ(m.num_values, 1u);
  EXPECT_EQ(bytes(m.values[0].bytes.begin(), m.values[0].bytes.end()), ci_bytes);
  // Encoder refusals: mask out of range, too many bits for the packet.
  EXPECT_EQ(encode_pull_request(7, k.public_key(), f, 2, 4, ci_bytes, out), 0u);
  const std::array<std::uint64_t, 8> eight{};
  bloom wide(max_bloom_bits, eight);
  bytes big(max_packet_bytes);
  EXPECT_EQ(encode_pull_request(7, k.public_key(), wide, 0, 0, ci_bytes, big), 0u);
}

TEST(GossipMessages, PruneRoundTripAndTamper) {
  const auto k = key(7);
  verify_all verifier;
  crypto::pubkey dest{};
  dest[3] = 3;
  std::vector<crypto::pubkey> origins(max_prune_origins);
  for (std::size_t i = 0; i < origins.size(); ++i) origins[i][0] = static_cast<std::uint8_t>(i);
  bytes out(max_packet_bytes);
  const std::size_t n = encode_prune(7, k, dest, 5555, origins, aux(7), out);
  ASSERT_GT(n, 0u);
  ASSERT_LE(n, max_packet_bytes);
  out.resize(n);
  message_view m;
  ASSERT_EQ(parse_message(out, m), parse_error::none);
  EXPECT_EQ(m.type, message_type::prune);
  EXPECT_EQ(m.destination, dest);
  EXPECT_EQ(m.wallclock_ms, 5555u);
  ASSERT_EQ(m.num_origins(), origins.size());
  for (std::size_t i = 0; i < origins.size(); ++i) EXPECT_EQ(m.origin(i), origins[i]);
  EXPECT_TRUE(verify_message_signature(m, verifier));
  for (const std::size_t at : {std::size_t{3}, std::size_t{40}, std::size_t{100},
                               std::size_t{131}, n - 1}) {
    bytes t = out;
    t[at] ^= 0x80;
    message_view tm;
    ASSERT_EQ(parse_message(t, tm), parse_error::none);
    EXPECT_FALSE(verify_message_signature(tm, verifier)) << at;
  }
  EXPECT_EQ(encode_prune(7, k, dest, 1, {}, aux(0), out), 0u);
}

TEST(GossipMessages, PingPongRoundTripAndTamper) {
  const auto k = key(8);
  verify_all verifier;
  crypto::hash32 token{};
  token[31] = 0x77;
  bytes ping(max_packet_bytes), pong(max_packet_bytes);
  ping.resize(encode_ping(7, k, token, aux(8), ping));
  pong.resize(encode_pong(7, k, token, aux(9), pong));
  ASSERT_EQ(ping.size(), ping_message_bytes);
  ASSERT_EQ(pong.size(), ping_message_bytes);
  message_view pm, qm;
  ASSERT_EQ(parse_message(ping, pm), parse_error::none);
  ASSERT_EQ(parse_message(pong, qm), parse_error::none);
  EXPECT_EQ(pm.type, message_type::ping);
  EXPECT_EQ(pm.token, token);
  EXPECT_EQ(qm.type, message_type::pong);
  EXPECT_EQ(qm.token, pong_hash(token));
  EXPECT_NE(pong_hash(token), token);
  EXPECT_TRUE(verify_message_signature(pm, verifier));
  EXPECT_TRUE(verify_message_signature(qm, verifier));
  // Domains differ: a ping re-labelled as a pong (same bytes otherwise) does not verify.
  bytes relabel = ping;
  relabel[0] = static_cast<std::uint8_t>(message_type::pong);
  message_view rm;
  ASSERT_EQ(parse_message(relabel, rm), parse_error::none);
  EXPECT_FALSE(verify_message_signature(rm, verifier));
  bytes t = ping;
  t[120] ^= 1;
  ASSERT_EQ(parse_message(t, pm), parse_error::none);
  EXPECT_FALSE(verify_message_signature(pm, verifier));
  // Push messages carry no message signature.
  message_view push;
  ASSERT_EQ(parse_message(push_of({raw_value(6, bytes(8, 0))}), push), parse_error::none);
  EXPECT_FALSE(verify_message_signature(push, verifier));
  bytes tiny(10);
  EXPECT_EQ(encode_ping(7, k, token, aux(0), tiny), 0u);
}

TEST(GossipMessages, ShredVersionIsCarriedNotJudged) {
  bytes b = header(message_type::ping, 0xBEEF);
  b.resize(ping_message_bytes);
  message_view m;
  ASSERT_EQ(parse_message(b, m), parse_error::none);
  EXPECT_EQ(m.shred_version, 0xBEEF);
}

}  // namespace
