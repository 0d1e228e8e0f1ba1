#include <riptide/shred/repair.hpp>

#include <riptide/shred/shred.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;

// Field offsets, spelled out again from the header's diagram so a change there shows up here.
constexpr std::size_t kind_at = 17;
constexpr std::size_t sender_at = 18;
constexpr std::size_t recipient_at = 50;
constexpr std::size_t wallclock_at = 82;
constexpr std::size_t nonce_at = 90;
constexpr std::size_t version_at = 94;
constexpr std::size_t slot_at = 96;
constexpr std::size_t index_at = 104;

constexpr std::uint64_t now_ms = 1'700'000'000'000ull;
constexpr std::uint64_t max_age_ms = 10'000;
constexpr std::uint16_t version = 4242;

void put(bytes& b, std::size_t at, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

const crypto::keypair& requester() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}
const crypto::keypair& responder() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}

crypto::pubkey key_of(std::uint8_t tag) {
  crypto::pubkey k{};
  k.fill(tag);
  return k;
}

repair_request_fields fields_for(repair_kind kind) {
  repair_request_fields f;
  f.kind = kind;
  f.recipient = responder().public_key();
  f.wallclock_ms = now_ms - 1234;
  f.nonce = 0xdeadbeef;
  f.shred_version = version;
  f.slot = 0x0102030405060708ull;
  f.index = kind == repair_kind::orphan ? 0 : 31000;
  return f;
}

bytes build(const repair_request_fields& f, const crypto::keypair& key = requester()) {
  bytes out(max_repair_request_bytes + 16);
  const std::size_t n = build_repair_request(key, f, out);
  EXPECT_NE(n, 0u);
  out.resize(n);
  return out;
}

repair_error parse(const bytes& b) {
  repair_request_view v;
  return parse_repair_request(b, v);
}

// Parses, then verifies as the responder at now_ms.
repair_error check(const bytes& b, std::uint64_t at_ms = now_ms) {
  repair_request_view v;
  const repair_error e = parse_repair_request(b, v);
  if (e != repair_error::none) return e;
  return verify_repair_request(v, at_ms, max_age_ms, responder().public_key(), version);
}

constexpr std::array all_kinds{repair_kind::window_index, repair_kind::highest_index,
                               repair_kind::orphan};

// ------------------------------------------------------------------------------ round trip

TEST(RepairRequest, RoundTripEachKind) {
  for (const repair_kind kind : all_kinds) {
    SCOPED_TRACE(to_string(kind));
    const repair_request_fields f = fields_for(kind);
    const bytes b = build(f);
    ASSERT_EQ(b.size(), repair_request_bytes(kind));
    EXPECT_EQ(b.size(), kind == repair_kind::orphan ? 168u : 172u);
    EXPECT_TRUE(is_repair_request(b));

    repair_request_view v;
    ASSERT_EQ(parse_repair_request(b, v), repair_error::none);
    EXPECT_FALSE(v.empty());
    EXPECT_EQ(v.bytes().data(), b.data());
    EXPECT_EQ(v.bytes().size(), b.size());
    EXPECT_EQ(v.fields(), f);
    EXPECT_EQ(v.kind(), kind);
    EXPECT_EQ(v.sender(), requester().public_key());
    EXPECT_EQ(v.recipient(), responder().public_key());
    EXPECT_EQ(v.wallclock_ms(), f.wallclock_ms);
    EXPECT_EQ(v.nonce(), f.nonce);
    EXPECT_EQ(v.shred_version(), version);
    EXPECT_EQ(v.slot(), f.slot);
    EXPECT_EQ(v.index(), f.index);
    EXPECT_EQ(v.signed_message().size(), b.size() - 64);
    EXPECT_EQ(std::memcmp(v.signature().data(), b.data() + b.size() - 64, 64), 0);
    EXPECT_EQ(verify_repair_request(v, now_ms, max_age_ms, responder().public_key(), version),
              repair_error::none);
    crypto::pubkey_cache cache(16);
    EXPECT_EQ(
        verify_repair_request(v, now_ms, max_age_ms, responder().public_key(), version, cache),
        repair_error::none);
  }
}

TEST(RepairRequest, LayoutMatchesDiagram) {
  const repair_request_fields f = fields_for(repair_kind::highest_index);
  const bytes b = build(f);
  EXPECT_EQ(std::memcmp(b.data(), "riptide/repair/v1", 17), 0);
  EXPECT_EQ(b[kind_at], 2);
  EXPECT_EQ(std::memcmp(b.data() + sender_at, requester().public_key().data(), 32), 0);
  EXPECT_EQ(std::memcmp(b.data() + recipient_at, responder().public_key().data(), 32), 0);
  bytes expect = b;
  put(expect, wallclock_at, f.wallclock_ms, 8);
  put(expect, nonce_at, f.nonce, 4);
  put(expect, version_at, f.shred_version, 2);
  put(expect, slot_at, f.slot, 8);
  put(expect, index_at, f.index, 4);
  EXPECT_EQ(expect, b);  // little-endian at the documented offsets
  EXPECT_EQ(b[nonce_at], 0xef);
  EXPECT_EQ(b[slot_at], 0x08);
}

TEST(RepairRequest, DeterministicWithAux) {
  crypto::aux_rand aux{};
  aux[0] = 9;
  const repair_request_fields f = fields_for(repair_kind::window_index);
  bytes a(max_repair_request_bytes), b(max_repair_request_bytes);
  ASSERT_EQ(build_repair_request(requester(), f, aux, a), 172u);
  ASSERT_EQ(build_repair_request(requester(), f, aux, b), 172u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(check(a), repair_error::none);
}

TEST(RepairRequest, BuildRejectsBadArguments) {
  bytes out(max_repair_request_bytes);
  repair_request_fields f = fields_for(repair_kind::window_index);
  EXPECT_EQ(build_repair_request(requester(), f, std::span(out).first(171)), 0u);
  f.index = max_shreds_per_slot;
  EXPECT_EQ(build_repair_request(requester(), f, out), 0u);
  f = fields_for(repair_kind::orphan);
  EXPECT_EQ(build_repair_request(requester(), f, std::span(out).first(167)), 0u);
  EXPECT_EQ(build_repair_request(requester(), f, std::span(out).first(168)), 168u);
  f.index = 1;  // orphan requests carry no index
  EXPECT_EQ(build_repair_request(requester(), f, out), 0u);
  f = fields_for(repair_kind::window_index);
  f.kind = static_cast<repair_kind>(4);
  EXPECT_EQ(build_repair_request(requester(), f, out), 0u);
  EXPECT_THROW((void)build_repair_request(crypto::keypair{}, fields_for(repair_kind::orphan), out),
               std::logic_error);
}

TEST(RepairRequest, HighestValidIndexAccepted) {
  repair_request_fields f = fields_for(repair_kind::window_index);
  f.index = max_shreds_per_slot - 1;
  EXPECT_EQ(check(build(f)), repair_error::none);
}

// ---------------------------------------------------------------- one test per repair_error

TEST(RepairRequestError, TruncatedHeader) {
  EXPECT_EQ(parse(bytes{}), repair_error::truncated_header);
  const bytes b = build(fields_for(repair_kind::window_index));
  EXPECT_EQ(parse(bytes(b.begin(), b.begin() + 17)), repair_error::truncated_header);
  EXPECT_EQ(parse(bytes(b.begin(), b.begin() + 18)), repair_error::truncated);
}

TEST(RepairRequestError, BadDomain) {
  bytes b = build(fields_for(repair_kind::window_index));
  for (std::size_t i = 0; i < 17; ++i) {
    bytes c = b;
    c[i] ^= 0x20;
    EXPECT_EQ(parse(c), repair_error::bad_domain) << i;
    EXPECT_FALSE(is_repair_request(c));
  }
}

TEST(RepairRequestError, UnknownKind) {
  bytes b = build(fields_for(repair_kind::window_index));
  for (const std::uint8_t k : {0, 4, 255}) {
    b[kind_at] = k;
    EXPECT_EQ(parse(b), repair_error::unknown_kind) << int{k};
  }
}

TEST(RepairRequestError, TruncatedForTheKind) {
  for (const repair_kind kind : all_kinds) {
    const bytes b = build(fields_for(kind));
    for (std::size_t n = 18; n < b.size(); ++n) {
      EXPECT_EQ(parse(bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n))),
                repair_error::truncated)
          << to_string(kind) << " " << n;
    }
  }
  // An indexed kind cut to the orphan size is still too short for its kind.
  bytes w = build(fields_for(repair_kind::window_index));
  w.resize(repair_orphan_request_bytes);
  EXPECT_EQ(parse(w), repair_error::truncated);
}

TEST(RepairRequestError, TrailingBytesForTheKind) {
  for (const repair_kind kind : all_kinds) {
    bytes b = build(fields_for(kind));
    b.push_back(0);
    EXPECT_EQ(parse(b), repair_error::trailing_bytes) << to_string(kind);
    b.resize(1300);
    EXPECT_EQ(parse(b), repair_error::trailing_bytes) << to_string(kind);
  }
  // A valid orphan request relabelled as window_index is 4 bytes short, and a window_index
  // request relabelled as orphan has 4 bytes too many.
  bytes o = build(fields_for(repair_kind::orphan));
  o[kind_at] = 1;
  EXPECT_EQ(parse(o), repair_error::truncated);
  bytes w = build(fields_for(repair_kind::window_index));
  w[kind_at] = 3;
  EXPECT_EQ(parse(w), repair_error::trailing_bytes);
}

TEST(RepairRequestError, IndexOutOfRange) {
  for (const repair_kind kind : {repair_kind::window_index, repair_kind::highest_index}) {
    bytes b = build(fields_for(kind));
    put(b, index_at, max_shreds_per_slot, 4);
    EXPECT_EQ(parse(b), repair_error::index_out_of_range);
    put(b, index_at, 0xffffffffu, 4);
    EXPECT_EQ(parse(b), repair_error::index_out_of_range);
  }
}

TEST(RepairRequestError, FailedParseLeavesViewUntouched) {
  repair_request_view v;
  EXPECT_NE(parse_repair_request(bytes(10), v), repair_error::none);
  EXPECT_TRUE(v.empty());
  const bytes good = build(fields_for(repair_kind::orphan));
  ASSERT_EQ(parse_repair_request(good, v), repair_error::none);
  bytes bad = good;
  bad.push_back(1);
  EXPECT_EQ(parse_repair_request(bad, v), repair_error::trailing_bytes);
  EXPECT_EQ(v.bytes().data(), good.data());
}

TEST(RepairRequestError, WrongShredVersion) {
  repair_request_fields f = fields_for(repair_kind::window_index);
  f.shred_version = version + 1;
  EXPECT_EQ(check(build(f)), repair_error::wrong_shred_version);
}

TEST(RepairRequestError, WrongRecipient) {
  repair_request_fields f = fields_for(repair_kind::highest_index);
  f.recipient = key_of(7);
  EXPECT_EQ(check(build(f)), repair_error::wrong_recipient);
  // Redirecting a captured request by rewriting the recipient breaks the signature.
  bytes b = build(fields_for(repair_kind::highest_index));
  repair_request_view v;
  ASSERT_EQ(parse_repair_request(b, v), repair_error::none);
  const crypto::pubkey other = key_of(7);
  EXPECT_EQ(verify_repair_request(v, now_ms, max_age_ms, other, version),
            repair_error::wrong_recipient);
  std::memcpy(b.data() + recipient_at, other.data(), 32);
  ASSERT_EQ(parse_repair_request(b, v), repair_error::none);
  EXPECT_EQ(verify_repair_request(v, now_ms, max_age_ms, other, version),
            repair_error::bad_signature);
}

TEST(RepairRequestError, FromSelf) {
  repair_request_fields f = fields_for(repair_kind::orphan);
  f.recipient = responder().public_key();
  EXPECT_EQ(check(build(f, responder())), repair_error::from_self);
}

TEST(RepairRequestError, StaleWallclock) {
  repair_request_fields f = fields_for(repair_kind::window_index);
  f.wallclock_ms = now_ms - max_age_ms;
  EXPECT_EQ(check(build(f)), repair_error::none);  // the window is inclusive
  f.wallclock_ms = now_ms - max_age_ms - 1;
  EXPECT_EQ(check(build(f)), repair_error::stale_wallclock);
  f.wallclock_ms = 0;
  EXPECT_EQ(check(build(f)), repair_error::stale_wallclock);
  // The same request, fine when fresh, goes stale as the receiver's clock moves on.
  const bytes b = build(fields_for(repair_kind::window_index));
  EXPECT_EQ(check(b, now_ms + 5000), repair_error::none);
  EXPECT_EQ(check(b, now_ms + 60'000), repair_error::stale_wallclock);
}

TEST(RepairRequestError, FutureWallclock) {
  repair_request_fields f = fields_for(repair_kind::window_index);
  f.wallclock_ms = now_ms + max_age_ms;
  EXPECT_EQ(check(build(f)), repair_error::none);
  f.wallclock_ms = now_ms + max_age_ms + 1;
  EXPECT_EQ(check(build(f)), repair_error::future_wallclock);
  f.wallclock_ms = UINT64_MAX;
  EXPECT_EQ(check(build(f)), repair_error::future_wallclock);
}

TEST(RepairRequestError, BadSignature) {
  bytes b = build(fields_for(repair_kind::window_index));
  b.back() ^= 1;
  EXPECT_EQ(check(b), repair_error::bad_signature);
  repair_request_view empty;
  EXPECT_EQ(verify_repair_request(empty, now_ms, max_age_ms, responder().public_key(), version),
            repair_error::bad_signature);
}

TEST(RepairRequestError, FlippedByteAnywhereFails) {
  for (const repair_kind kind : all_kinds) {
    const bytes b = build(fields_for(kind));
    ASSERT_EQ(check(b), repair_error::none);
    for (std::size_t i = 0; i < b.size(); ++i) {
      for (const std::uint8_t mask : {0x01, 0x80}) {
        bytes c = b;
        c[i] ^= mask;
        EXPECT_NE(check(c), repair_error::none) << to_string(kind) << " byte " << i;
      }
    }
  }
}

TEST(RepairRequestError, KindCannotBeSwappedUnderTheSignature) {
  // window_index and highest_index have the same size: only the signature tells them apart.
  bytes b = build(fields_for(repair_kind::window_index));
  b[kind_at] = static_cast<std::uint8_t>(repair_kind::highest_index);
  EXPECT_EQ(parse(b), repair_error::none);
  EXPECT_EQ(check(b), repair_error::bad_signature);
}

TEST(RepairRequestError, NamesAreDistinct) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < repair_error_count; ++i) {
    const char* name = to_string(static_cast<repair_error>(i));
    ASSERT_NE(name, nullptr);
    EXPECT_STRNE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), repair_error_count);
  EXPECT_STREQ(to_string(static_cast<repair_error>(repair_error_count)), "unknown");
  EXPECT_STREQ(to_string(repair_kind::orphan), "orphan");
}

// ------------------------------------------------------------------------------- responses

std::vector<bytes> sample_set() {
  fec_set_params p;
  p.slot = 77;
  p.parent_offset = 1;
  p.shred_version = version;
  p.fec_set_index = 0;
  p.num_coding = 4;
  const bytes payload(3000, 0x5a);
  return make_fec_set(responder(), p, payload);
}

TEST(RepairResponse, RoundTripWithRealShreds) {
  const std::vector<bytes> set = sample_set();
  std::uint32_t nonce = 1;
  for (const bytes& s : set) {
    bytes out(max_repair_response_bytes);
    const std::size_t n = encode_repair_response(s, nonce, out);
    ASSERT_EQ(n, s.size() + 4);
    out.resize(n);
    EXPECT_FALSE(is_repair_request(out));
    repair_response_view r;
    ASSERT_EQ(parse_repair_response(out, r), repair_error::none);
    EXPECT_EQ(r.nonce, nonce);
    EXPECT_EQ(r.shred.data(), out.data());
    EXPECT_TRUE(std::equal(r.shred.begin(), r.shred.end(), s.begin(), s.end()));
    shred_view v;
    ASSERT_EQ(parse_shred(r.shred, v), shred_error::none);
    EXPECT_EQ(v.slot(), 77u);
    nonce *= 0x10001;
  }
}

TEST(RepairResponse, MaximumShredFitsExactly) {
  bytes shred(max_shred_bytes, 1);
  bytes out(max_repair_response_bytes);
  ASSERT_EQ(encode_repair_response(shred, 0xa1b2c3d4, out), max_repair_response_bytes);
  EXPECT_EQ(out[1228], 0xd4);
  EXPECT_EQ(out[1231], 0xa1);
  repair_response_view r;
  ASSERT_EQ(parse_repair_response(out, r), repair_error::none);
  EXPECT_EQ(r.shred.size(), max_shred_bytes);
  EXPECT_EQ(r.nonce, 0xa1b2c3d4u);
}

TEST(RepairResponse, EncodeRejects) {
  bytes out(2000);
  EXPECT_EQ(encode_repair_response(bytes(max_shred_bytes + 1), 1, out), 0u);
  EXPECT_EQ(encode_repair_response(bytes(min_repair_response_shred_bytes - 1), 1, out), 0u);
  EXPECT_EQ(encode_repair_response(bytes(500), 1, std::span(out).first(503)), 0u);
  EXPECT_EQ(encode_repair_response(bytes(500), 1, std::span(out).first(504)), 504u);
}

TEST(RepairResponseError, ResponseTooShort) {
  repair_response_view r;
  EXPECT_EQ(parse_repair_response(bytes{}, r), repair_error::response_too_short);
  EXPECT_EQ(parse_repair_response(bytes(92), r), repair_error::response_too_short);
  EXPECT_TRUE(r.shred.empty());
  EXPECT_EQ(parse_repair_response(bytes(93), r), repair_error::none);
}

TEST(RepairResponseError, ResponseTooLong) {
  repair_response_view r;
  EXPECT_EQ(parse_repair_response(bytes(1233), r), repair_error::response_too_long);
  EXPECT_TRUE(r.shred.empty());
  EXPECT_EQ(parse_repair_response(bytes(1232), r), repair_error::none);
}

// --------------------------------------------------------------------------- nonce tracker

repair_nonce_tracker::outstanding request(std::uint32_t nonce, repair_kind kind,
                                          std::uint64_t slot, std::uint32_t index,
                                          std::uint64_t sent_ms) {
  repair_nonce_tracker::outstanding o;
  o.nonce = nonce;
  o.kind = kind;
  o.slot = slot;
  o.index = index;
  o.peer = key_of(static_cast<std::uint8_t>(nonce));
  o.sent_ms = sent_ms;
  return o;
}

TEST(RepairNonceTracker, MatchesOnceThenRejects) {
  repair_nonce_tracker t(64, 500);
  ASSERT_TRUE(t.expect(request(11, repair_kind::window_index, 100, 5, 1000)));
  EXPECT_EQ(t.size(), 1u);
  repair_nonce_tracker::outstanding got;
  EXPECT_TRUE(t.match(11, 100, 5, 1200, &got));
  EXPECT_EQ(got.peer, key_of(11));
  EXPECT_EQ(got.sent_ms, 1000u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.match(11, 100, 5, 1201));  // single use
  EXPECT_EQ(t.get_stats().matched, 1u);
  EXPECT_EQ(t.get_stats().unknown_nonce, 1u);
}

TEST(RepairNonceTracker, UnknownNonceRejected) {
  repair_nonce_tracker t(64, 500);
  EXPECT_FALSE(t.match(12345, 1, 1, 0));
  ASSERT_TRUE(t.expect(request(1, repair_kind::window_index, 100, 5, 0)));
  EXPECT_FALSE(t.match(2, 100, 5, 1));
  EXPECT_EQ(t.get_stats().unknown_nonce, 2u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(RepairNonceTracker, MismatchKeepsTheEntry) {
  repair_nonce_tracker t(64, 500);
  ASSERT_TRUE(t.expect(request(3, repair_kind::window_index, 100, 5, 0)));
  EXPECT_FALSE(t.match(3, 100, 6, 1));
  EXPECT_FALSE(t.match(3, 101, 5, 1));
  EXPECT_EQ(t.get_stats().mismatched, 2u);
  EXPECT_TRUE(t.match(3, 100, 5, 2));
}

TEST(RepairNonceTracker, WhatAnswersEachKind) {
  repair_nonce_tracker t(64, 500);
  ASSERT_TRUE(t.expect(request(1, repair_kind::highest_index, 100, 10, 0)));
  EXPECT_FALSE(t.match(1, 100, 9, 1));
  EXPECT_TRUE(t.match(1, 100, 20, 1));
  ASSERT_TRUE(t.expect(request(2, repair_kind::highest_index, 100, 10, 0)));
  EXPECT_TRUE(t.match(2, 100, 10, 1));
  ASSERT_TRUE(t.expect(request(3, repair_kind::orphan, 100, 0, 0)));
  EXPECT_FALSE(t.match(3, 100, 0, 1));
  EXPECT_FALSE(t.match(3, 101, 0, 1));
  EXPECT_TRUE(t.match(3, 97, 1234, 1));
}

TEST(RepairNonceTracker, ExpiresAfterTimeout) {
  repair_nonce_tracker t(64, 500);
  ASSERT_TRUE(t.expect(request(5, repair_kind::window_index, 100, 5, 1000)));
  ASSERT_TRUE(t.expect(request(6, repair_kind::window_index, 100, 6, 1000)));
  EXPECT_TRUE(t.match(5, 100, 5, 1500));   // exactly timeout_ms later: still in time
  EXPECT_FALSE(t.match(6, 100, 6, 1501));  // one past: expired and removed
  EXPECT_EQ(t.get_stats().expired, 1u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(RepairNonceTracker, DuplicateNonceRefusedUntilExpired) {
  repair_nonce_tracker t(64, 500);
  ASSERT_TRUE(t.expect(request(9, repair_kind::window_index, 100, 5, 0)));
  EXPECT_FALSE(t.expect(request(9, repair_kind::window_index, 200, 5, 10)));
  EXPECT_EQ(t.get_stats().duplicate_nonce, 1u);
  EXPECT_TRUE(t.expect(request(9, repair_kind::window_index, 200, 5, 600)));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.match(9, 100, 5, 601));
  EXPECT_TRUE(t.match(9, 200, 5, 601));
}

TEST(RepairNonceTracker, BoundedAndEvictsOldest) {
  repair_nonce_tracker t(16, 1'000'000);
  EXPECT_EQ(t.capacity(), 16u);
  for (std::uint32_t n = 0; n < 1000; ++n) {
    ASSERT_TRUE(t.expect(request(n, repair_kind::window_index, n, 0, n)));
    ASSERT_LE(t.size(), t.capacity());
  }
  EXPECT_EQ(t.size(), 16u);
  EXPECT_EQ(t.get_stats().evicted, 1000u - 16u);
  // What stays are recent requests: nothing older than the newest 16 * 8 is left.
  std::size_t found = 0;
  for (std::uint32_t n = 0; n < 1000; ++n) {
    if (t.match(n, n, 0, 1000)) {
      ++found;
      EXPECT_GE(n, 1000u - 16u * 8u);
    }
  }
  EXPECT_EQ(found, 16u);
}

TEST(RepairNonceTracker, ExpireSweeps) {
  repair_nonce_tracker t(64, 100);
  for (std::uint32_t n = 0; n < 10; ++n) {
    ASSERT_TRUE(t.expect(request(n, repair_kind::orphan, 50, 0, n * 20)));
  }
  EXPECT_EQ(t.expire(200), 5u);  // sent at 0, 20, 40, 60, 80: more than 100 ms ago
  EXPECT_EQ(t.size(), 5u);
  EXPECT_EQ(t.expire(200), 0u);
  EXPECT_TRUE(t.match(5, 10, 0, 200));
}

TEST(RepairNonceTracker, RejectsBadCapacity) {
  EXPECT_THROW(repair_nonce_tracker(0, 1), std::invalid_argument);
  EXPECT_THROW(repair_nonce_tracker((std::size_t{1} << 24) + 1, 1), std::invalid_argument);
  EXPECT_EQ(repair_nonce_tracker(3, 1).capacity(), 8u);
  EXPECT_EQ(repair_nonce_tracker(100, 1).capacity(), 128u);
}

// ---------------------------------------------------------------------------- rate limiter

TEST(RepairRateLimiter, BurstThenLimited) {
  repair_rate_limiter l(64, 10, 5);
  const crypto::pubkey a = key_of(1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.try_acquire(a, 1000)) << i;
  EXPECT_FALSE(l.try_acquire(a, 1000));
  EXPECT_EQ(l.tokens(a, 1000), 0u);
  EXPECT_EQ(l.get_stats().allowed, 5u);
  EXPECT_EQ(l.get_stats().limited, 1u);
}

TEST(RepairRateLimiter, RefillsAtRate) {
  repair_rate_limiter l(64, 10, 5);  // one token per 100 ms
  const crypto::pubkey a = key_of(1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.try_acquire(a, 0));
  EXPECT_FALSE(l.try_acquire(a, 99));   // 0.99 of a token
  EXPECT_TRUE(l.try_acquire(a, 100));   // the 99 ms above counted toward this token
  EXPECT_FALSE(l.try_acquire(a, 199));
  EXPECT_TRUE(l.try_acquire(a, 200));
  EXPECT_EQ(l.tokens(a, 10'000), 5u);  // capped at burst
  // Steady state: over 10 s at most burst + 10/s * 10 s.
  int allowed = 0;
  for (std::uint64_t t = 10'000; t < 20'000; ++t) allowed += l.try_acquire(a, t) ? 1 : 0;
  EXPECT_GE(allowed, 100);
  EXPECT_LE(allowed, 105);
}

TEST(RepairRateLimiter, PeersAreIndependent) {
  repair_rate_limiter l(64, 1, 2);
  const crypto::pubkey a = key_of(1), b = key_of(2);
  EXPECT_TRUE(l.try_acquire(a, 0));
  EXPECT_TRUE(l.try_acquire(a, 0));
  EXPECT_FALSE(l.try_acquire(a, 0));
  EXPECT_TRUE(l.try_acquire(b, 0));
  EXPECT_TRUE(l.try_acquire(b, 0));
  EXPECT_FALSE(l.try_acquire(b, 0));
  EXPECT_EQ(l.size(), 2u);
}

TEST(RepairRateLimiter, ReleaseCapsOutstanding) {
  // Requester side: burst 3 = at most 3 requests in flight to a peer; answers give tokens back.
  repair_rate_limiter l(64, 1, 3);
  const crypto::pubkey a = key_of(1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(l.try_acquire(a, 0));
  EXPECT_FALSE(l.try_acquire(a, 10));
  l.release(a, 20);
  EXPECT_TRUE(l.try_acquire(a, 20));
  EXPECT_FALSE(l.try_acquire(a, 20));
  for (int i = 0; i < 10; ++i) l.release(a, 30);
  EXPECT_EQ(l.tokens(a, 30), 3u);  // never beyond burst
  l.release(key_of(9), 30);        // unknown peer: nothing happens
  EXPECT_EQ(l.size(), 1u);
}

TEST(RepairRateLimiter, ClockSteppingBackRefillsNothing) {
  repair_rate_limiter l(64, 1000, 1);
  const crypto::pubkey a = key_of(1);
  ASSERT_TRUE(l.try_acquire(a, 5000));
  EXPECT_FALSE(l.try_acquire(a, 4000));
  EXPECT_FALSE(l.try_acquire(a, 5000));
  EXPECT_TRUE(l.try_acquire(a, 5001));
}

TEST(RepairRateLimiter, BoundedAndEvictsLeastRecentlySeen) {
  repair_rate_limiter l(16, 1, 1, 0x1234);
  EXPECT_EQ(l.capacity(), 16u);
  std::vector<crypto::pubkey> peers;
  for (int i = 0; i < 200; ++i) {
    crypto::pubkey k{};
    k[0] = static_cast<std::uint8_t>(i);
    k[9] = static_cast<std::uint8_t>(i * 7);
    peers.push_back(k);
    ASSERT_TRUE(l.try_acquire(k, static_cast<std::uint64_t>(i)));
    ASSERT_LE(l.size(), l.capacity());
  }
  EXPECT_EQ(l.size(), 16u);
  EXPECT_EQ(l.get_stats().inserted, 200u);
  EXPECT_EQ(l.get_stats().evicted, 200u - 16u);
  // The newest peer is still held (and limited); the oldest was evicted and comes back full.
  EXPECT_FALSE(l.try_acquire(peers.back(), 199));
  EXPECT_EQ(l.tokens(peers.front(), 199), 1u);
}

TEST(RepairRateLimiter, RecentlySeenPeerSurvivesEviction) {
  // Capacity 8 is one set: a peer touched just before a newcomer arrives is not the victim.
  repair_rate_limiter l(8, 1, 1);
  for (std::uint8_t i = 0; i < 8; ++i) ASSERT_TRUE(l.try_acquire(key_of(i), i));
  EXPECT_FALSE(l.try_acquire(key_of(0), 100));  // touches peer 0 (limited, but seen)
  ASSERT_TRUE(l.try_acquire(key_of(50), 101));  // evicts peer 1, the least recently seen
  EXPECT_FALSE(l.try_acquire(key_of(0), 102));  // still held, so still limited
  EXPECT_TRUE(l.try_acquire(key_of(1), 103));   // came back with a full bucket
}

TEST(RepairRateLimiter, RejectsBadParameters) {
  EXPECT_THROW(repair_rate_limiter(0, 1, 1), std::invalid_argument);
  EXPECT_THROW(repair_rate_limiter(8, 0, 1), std::invalid_argument);
  EXPECT_THROW(repair_rate_limiter(8, 1, 0), std::invalid_argument);
  EXPECT_THROW(repair_rate_limiter(8, 1u << 21, 1), std::invalid_argument);
  EXPECT_THROW(repair_rate_limiter(8, 1, 1u << 21), std::invalid_argument);
}

}  // namespace
