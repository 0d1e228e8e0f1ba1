// libFuzzer target for the repair wire parsers (parse_repair_request, parse_repair_response)
// and the two repair tables: memory safety under ASan/UBSan, plus invariants:
// - a parsed request has its kind's exact size, its views lie inside the input, and
//   re-encoding it from its accessors reproduces the input byte for byte (canonical);
// - no proper prefix of a valid request parses, nor does the request with a byte appended;
// - verify_repair_request, run as the request's own recipient at its own time, reports only
//   the signature (or from_self), never a parse reason, and a wrong shred_version first;
// - a parsed response splits into shred + nonce and encode_repair_response rebuilds it;
// - the rate limiter and nonce tracker, driven by the input as a list of operations, stay
//   within capacity and keep their counters consistent.
// Run:
//   ./build-fuzz-j/tests/fuzz/fuzz_repair -max_total_time=60 -max_len=1400

#include <riptide/shred/repair.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::shred;

void put(std::vector<std::uint8_t>& b, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
template <std::size_t N>
void put(std::vector<std::uint8_t>& b, const std::array<std::uint8_t, N>& a) {
  b.insert(b.end(), a.begin(), a.end());
}

void check_request(const std::uint8_t* data, std::size_t size, const repair_request_view& v) {
  const std::uint8_t* const end = data + size;
  FUZZ_CHECK(!v.empty());
  FUZZ_CHECK(v.bytes().data() == data && v.bytes().size() == size);
  FUZZ_CHECK(is_repair_request(v.bytes()));
  const auto kind_byte = static_cast<std::size_t>(v.kind());
  FUZZ_CHECK(kind_byte >= 1 && kind_byte < repair_kind_count);
  FUZZ_CHECK(size == repair_request_bytes(v.kind()));
  FUZZ_CHECK(v.index() < max_shreds_per_slot);
  if (v.kind() == repair_kind::orphan) FUZZ_CHECK(v.index() == 0);
  FUZZ_CHECK(fuzz_within(v.sender().data(), v.sender().size(), data, end));
  FUZZ_CHECK(fuzz_within(v.recipient().data(), v.recipient().size(), data, end));
  FUZZ_CHECK(fuzz_within(v.signature().data(), v.signature().size(), data, end));
  FUZZ_CHECK(v.signed_message().data() == data &&
             v.signed_message().size() + crypto::signature_bytes == size);

  std::vector<std::uint8_t> again(repair_domain.begin(), repair_domain.end());
  again.push_back(static_cast<std::uint8_t>(v.kind()));
  put(again, v.sender());
  put(again, v.recipient());
  put(again, v.wallclock_ms(), 8);
  put(again, v.nonce(), 4);
  put(again, v.shred_version(), 2);
  put(again, v.slot(), 8);
  if (v.kind() != repair_kind::orphan) put(again, v.index(), 4);
  put(again, v.signature());
  FUZZ_CHECK(again.size() == size && std::memcmp(again.data(), data, size) == 0);

  for (const std::size_t cut : {size - 1, size / 2, repair_header_bytes}) {
    repair_request_view shorter;
    FUZZ_CHECK(parse_repair_request(std::span(data, cut), shorter) != repair_error::none);
    FUZZ_CHECK(shorter.empty());
  }
  again.push_back(0);
  repair_request_view longer;
  FUZZ_CHECK(parse_repair_request(again, longer) == repair_error::trailing_bytes);

  // Verification as the named recipient of the right cluster at the request's own time, so
  // every check but the signature passes (unless the request names its sender as recipient).
  const repair_error verr = verify_repair_request(v, v.wallclock_ms(), 0, v.recipient(),
                                                  v.shred_version());
  FUZZ_CHECK(verr == repair_error::none || verr == repair_error::bad_signature ||
             verr == repair_error::from_self);
  const repair_error wrong = verify_repair_request(
      v, v.wallclock_ms(), 0, v.recipient(), static_cast<std::uint16_t>(v.shred_version() + 1));
  FUZZ_CHECK(wrong == repair_error::wrong_shred_version);
}

void check_response(const std::uint8_t* data, std::size_t size, const repair_response_view& r) {
  FUZZ_CHECK(size >= min_repair_response_shred_bytes + repair_nonce_bytes &&
             size <= max_repair_response_bytes);
  FUZZ_CHECK(r.shred.data() == data && r.shred.size() + repair_nonce_bytes == size);
  std::uint8_t out[max_repair_response_bytes + 8];
  FUZZ_CHECK(r.shred.size() >= min_repair_response_shred_bytes &&
             r.shred.size() <= max_shred_bytes);
  const std::size_t n = encode_repair_response(r.shred, r.nonce, out);
  FUZZ_CHECK(n == size && std::memcmp(out, data, size) == 0);
}

// Reads the input as operations on small tables, 4 bytes each: op, peer/nonce byte,
// slot/index byte, clock step (mostly forward; backward when bit 7 is set).
void drive_tables(const std::uint8_t* data, std::size_t size) {
  repair_rate_limiter limiter(16, static_cast<std::uint32_t>(1 + size % 50),
                              static_cast<std::uint32_t>(1 + size % 7), size);
  repair_nonce_tracker tracker(16, 50);
  std::uint64_t now = 1'000'000;
  std::uint64_t acquired = 0;
  for (std::size_t i = 0; i + 4 <= size && i < 4 * 256; i += 4) {
    const std::uint8_t op = data[i], a = data[i + 1], b = data[i + 2], step = data[i + 3];
    now = (step & 0x80) != 0 ? now - (step & 0x0F) : now + step;
    crypto::pubkey peer{};
    peer[0] = a;
    peer[31] = static_cast<std::uint8_t>(a >> 3);
    switch (op % 6) {
      case 0:
        acquired += limiter.try_acquire(peer, now) ? 1 : 0;
        break;
      case 1:
        limiter.release(peer, now);
        break;
      case 2:
        FUZZ_CHECK(limiter.tokens(peer, now) <= 1 + size % 7);
        break;
      case 3: {
        repair_nonce_tracker::outstanding o;
        o.nonce = a;
        o.kind = static_cast<repair_kind>(1 + b % 3);
        o.slot = b / 3u;
        o.index = o.kind == repair_kind::orphan ? 0 : b % 5u;
        o.peer = peer;
        o.sent_ms = now;
        (void)tracker.expect(o);
        break;
      }
      case 4: {
        repair_nonce_tracker::outstanding got;
        if (tracker.match(a, b / 3u, b % 5u, now, &got)) {
          FUZZ_CHECK(got.nonce == a);
          FUZZ_CHECK(now <= got.sent_ms || now - got.sent_ms <= tracker.timeout_ms());
          // Single use: the same answer cannot match twice.
          FUZZ_CHECK(!tracker.match(a, b / 3u, b % 5u, now));
        }
        break;
      }
      case 5:
        (void)tracker.expire(now);
        break;
    }
    FUZZ_CHECK(limiter.size() <= limiter.capacity());
    FUZZ_CHECK(tracker.size() <= tracker.capacity());
  }
  const auto& ls = limiter.get_stats();
  FUZZ_CHECK(ls.allowed == acquired);
  FUZZ_CHECK(ls.inserted - ls.evicted == limiter.size());
  const auto& ts = tracker.get_stats();
  FUZZ_CHECK(ts.expected >= ts.matched);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);

  repair_request_view v;
  const repair_error err = parse_repair_request(in, v);
  FUZZ_CHECK(static_cast<std::size_t>(err) < repair_error_count);
  FUZZ_CHECK(to_string(err) != nullptr);
  FUZZ_CHECK(err <= repair_error::index_out_of_range);  // only request reasons
  if (err == repair_error::none) {
    check_request(data, size, v);
  } else {
    FUZZ_CHECK(v.empty());  // a failed parse leaves the view untouched
  }

  repair_response_view r;
  const repair_error rerr = parse_repair_response(in, r);
  FUZZ_CHECK(rerr == repair_error::none || rerr == repair_error::response_too_short ||
             rerr == repair_error::response_too_long);
  if (rerr == repair_error::none) {
    check_response(data, size, r);
  } else {
    FUZZ_CHECK(r.shred.empty());
  }

  // The requests the fuzzer is unlikely to find alone: the input's tail behind a valid
  // domain, so the checks after the domain see arbitrary bytes.
  if (size >= 1) {
    std::vector<std::uint8_t> framed(repair_domain.begin(), repair_domain.end());
    framed.insert(framed.end(), data, data + std::min<std::size_t>(size, 256));
    repair_request_view fv;
    if (parse_repair_request(framed, fv) == repair_error::none) {
      check_request(framed.data(), framed.size(), fv);
    }
  }

  drive_tables(data, size);
  return 0;
}
