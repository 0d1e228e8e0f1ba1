#pragma once
// Repair: the signed requests a follower sends when it misses shreds, the responses (a shred
// plus the request's nonce), their strict zero-copy parsers, and two bounded tables that keep
// repair traffic in check: a per-peer token bucket and the requester's table of outstanding
// nonces.
//
// Contract
// - parse_repair_request() / parse_repair_response() are on the repair tile's hot path:
//   noexcept, no allocation, O(1). Every way the bytes can be malformed is its own
//   repair_error, so drop counters say exactly why. A successful parse describes the input
//   completely (the format is canonical). Parsing checks structure only.
// - verify_repair_request() is separate from parsing: it checks what depends on the receiver
//   (shred_version, recipient, the freshness window around the caller's clock) and, last
//   because it is the costly part, the sender's signature. noexcept, allocation-free; the
//   pubkey_cache form is for the repair tile (one cache per tile).
// - repair_request_view / repair_response_view are non-owning views into the caller's packet
//   bytes, valid only while those bytes are alive and unchanged. Trivially copyable; a
//   default-constructed request view is empty.
// - build_repair_request() signs, so it may throw what crypto::keypair::sign throws
//   (std::logic_error for an empty keypair, std::runtime_error if the RNG fails); it returns 0
//   when out is too small or a field is out of range. encode_repair_response() is noexcept.
// - repair_rate_limiter and repair_nonce_tracker size their tables in the constructor (which
//   may throw std::invalid_argument / std::bad_alloc) and never allocate afterwards; every
//   other member is noexcept. Neither is thread-safe: one instance per tile. Both take the
//   time as an argument (milliseconds, any monotonic origin) and read no clock.
// - Every function here is callable from any thread; the free functions have no hidden state.
//
// Request (all integers little-endian; docs/protocol.md "Repair" has the same, with reasons)
//
//   offset size  field
//   0      17    domain          "riptide/repair/v1" (ASCII, no terminator)
//   17     1     kind            u8: 1 window_index, 2 highest_index, 3 orphan
//   18     32    sender          requester's pubkey (signs the request)
//   50     32    recipient       the node asked; it drops requests addressed to others
//   82     8     wallclock_ms    u64, requester's clock; the responder checks a window
//   90     4     nonce           u32, echoed in every response to this request
//   94     2     shred_version   u16, the cluster
//   96     8     slot            u64
//   104    4     index           u32, < 32768 (window_index, highest_index only)
//   108    64    signature       by sender over bytes [0, 108)   (orphan: at 104, over [0, 104))
//   172                          end (orphan: 168); no trailing bytes
//
//   +--------+------+--------+-----------+-----------+-------+---------+------+-------+-----------+
//   | domain | kind | sender | recipient | wallclock | nonce | version | slot | index | signature |
//   | 17     | 1    | 32     | 32        | 8         | 4     | 2       | 8    | 4 / - | 64        |
//   +--------+------+--------+-----------+-----------+-------+---------+------+-------+-----------+
//   |<--------------------------------- signed ---------------------------------------->|
//
//   window_index  (172 B) "send me data shred (slot, index)"
//   highest_index (172 B) "send me the highest data shred you hold of slot at or above index"
//   orphan        (168 B) "send me the highest shreds of slot's ancestors" (no index field)
//
// Response: the shred exactly as the responder holds it, then the request's nonce
//
//   0      N     shred           a shred (shred.hpp), 89 <= N <= 1228
//   N      4     nonce           u32
//   N+4                          end; whole response <= 1232 bytes
//
// Why it looks like this:
// - The domain string is on the wire and signed: a repair signature can never be replayed as
//   a gossip message (whose signed bytes start with "riptide/gossip/"), a transaction (signed
//   message starts with version byte 0x01) or a shred (signed message is exactly 32 bytes);
//   and the kind is signed, so a request cannot be replayed as another kind. It also tells
//   requests from responses on the one repair socket: a response starts with a shred's
//   signature, which matches the 17-byte string with probability 2^-136.
// - recipient is signed, so a request captured on the way to one node cannot be redirected to
//   make another node spend bandwidth; wallclock bounds how long a captured request stays
//   usable; the nonce lets the requester match answers and drop unsolicited shreds.
// - Each kind has one size (orphan has no index), so the size is checked exactly.
// - A response is a shred and nothing else is signed: the shred carries the leader's
//   signature, which the requester checks as for any shred from Turbine.

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/shred/shred.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace riptide::shred {

constexpr std::string_view repair_domain = "riptide/repair/v1";
constexpr std::size_t repair_domain_bytes = 17;
constexpr std::size_t repair_header_bytes = repair_domain_bytes + 1;  // domain, kind
// Bytes from the start up to and including slot: common to every kind.
constexpr std::size_t repair_common_bytes = repair_header_bytes + 2 * crypto::pubkey_bytes +
                                            8 + 4 + 2 + 8;  // 104
constexpr std::size_t repair_indexed_request_bytes =
    repair_common_bytes + 4 + crypto::signature_bytes;                              // 172
constexpr std::size_t repair_orphan_request_bytes =
    repair_common_bytes + crypto::signature_bytes;                                  // 168
constexpr std::size_t max_repair_request_bytes = repair_indexed_request_bytes;
constexpr std::size_t repair_nonce_bytes = 4;
constexpr std::size_t max_repair_response_bytes = 1232;
// A shred is at least its common header plus the smaller kind header.
constexpr std::size_t min_repair_response_shred_bytes = coding_headers_end;  // 89
static_assert(max_shred_bytes + repair_nonce_bytes <= max_repair_response_bytes);

enum class repair_kind : std::uint8_t {
  window_index = 1,
  highest_index = 2,
  orphan = 3,
};
constexpr std::size_t repair_kind_count = 4;  // indexable by the u8 value; 0 is unused
[[nodiscard]] const char* to_string(repair_kind kind) noexcept;

// The encoded size of a request of this kind (0 for a value outside the enum).
[[nodiscard]] constexpr std::size_t repair_request_bytes(repair_kind kind) noexcept {
  switch (kind) {
    case repair_kind::window_index:
    case repair_kind::highest_index:
      return repair_indexed_request_bytes;
    case repair_kind::orphan:
      return repair_orphan_request_bytes;
  }
  return 0;
}

// Why a request or response was dropped: the parse reasons first, then verify's.
enum class repair_error : std::uint8_t {
  none,
  // parse_repair_request
  truncated_header,       // fewer than 18 bytes (domain and kind)
  bad_domain,             // the first 17 bytes are not "riptide/repair/v1"
  unknown_kind,           // kind not in 1..3
  truncated,              // fewer bytes than the kind's size (172, orphan 168)
  trailing_bytes,         // more bytes than the kind's size
  index_out_of_range,     // window_index / highest_index: index >= max_shreds_per_slot
  // parse_repair_response
  response_too_short,     // fewer than 89 + 4 bytes: no room for a shred and the nonce
  response_too_long,      // more than 1232 bytes
  // verify_repair_request (the caller's checks, cheapest first)
  wrong_shred_version,    // shred_version != the receiver's
  wrong_recipient,        // recipient != the receiver's pubkey
  from_self,              // sender == the receiver's pubkey
  stale_wallclock,        // wallclock older than now - max_age
  future_wallclock,       // wallclock newer than now + max_age
  bad_signature,          // signature does not verify under sender
};
constexpr std::size_t repair_error_count =
    static_cast<std::size_t>(repair_error::bad_signature) + 1;
// The enumerator's name ("bad_domain"), for logs and metric labels. Never null.
[[nodiscard]] const char* to_string(repair_error error) noexcept;

// What a requester fills in; the sender is the signing key's public key.
struct repair_request_fields {
  repair_kind kind = repair_kind::window_index;
  crypto::pubkey recipient{};
  std::uint64_t wallclock_ms = 0;
  std::uint32_t nonce = 0;
  std::uint16_t shred_version = 0;
  std::uint64_t slot = 0;
  std::uint32_t index = 0;  // < max_shreds_per_slot; must be 0 for orphan
  friend bool operator==(const repair_request_fields&, const repair_request_fields&) = default;
};

class repair_request_view;

// Parses bytes strictly. On none, out views bytes; on any error out is left untouched.
[[nodiscard]] repair_error parse_repair_request(std::span<const std::uint8_t> bytes,
                                                repair_request_view& out) noexcept;

class repair_request_view {
 public:
  [[nodiscard]] bool empty() const noexcept { return bytes_ == nullptr; }
  // The whole request.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return {bytes_, size_}; }
  [[nodiscard]] repair_kind kind() const noexcept { return kind_; }
  [[nodiscard]] const crypto::pubkey& sender() const noexcept {
    // std::array<uint8_t, 32> has alignment 1: the wire bytes are the key.
    return *reinterpret_cast<const crypto::pubkey*>(bytes_ + repair_header_bytes);
  }
  [[nodiscard]] const crypto::pubkey& recipient() const noexcept {
    return *reinterpret_cast<const crypto::pubkey*>(bytes_ + repair_header_bytes +
                                                    crypto::pubkey_bytes);
  }
  [[nodiscard]] std::uint64_t wallclock_ms() const noexcept { return wallclock_ms_; }
  [[nodiscard]] std::uint32_t nonce() const noexcept { return nonce_; }
  [[nodiscard]] std::uint16_t shred_version() const noexcept { return shred_version_; }
  [[nodiscard]] std::uint64_t slot() const noexcept { return slot_; }
  // The requested shred index; 0 for orphan (which has no index field).
  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  [[nodiscard]] const crypto::signature& signature() const noexcept {
    return *reinterpret_cast<const crypto::signature*>(bytes_ + size_ -
                                                       crypto::signature_bytes);
  }
  // The bytes the signature covers: everything before it.
  [[nodiscard]] std::span<const std::uint8_t> signed_message() const noexcept {
    return {bytes_, static_cast<std::size_t>(size_ - crypto::signature_bytes)};
  }
  // The request's fields (sender aside) as a builder would take them.
  [[nodiscard]] repair_request_fields fields() const noexcept {
    repair_request_fields f;
    f.kind = kind_;
    f.recipient = recipient();
    f.wallclock_ms = wallclock_ms_;
    f.nonce = nonce_;
    f.shred_version = shred_version_;
    f.slot = slot_;
    f.index = index_;
    return f;
  }

 private:
  friend repair_error parse_repair_request(std::span<const std::uint8_t> bytes,
                                           repair_request_view& out) noexcept;

  const std::uint8_t* bytes_ = nullptr;
  std::uint64_t wallclock_ms_ = 0;
  std::uint64_t slot_ = 0;
  std::uint32_t nonce_ = 0;
  std::uint32_t index_ = 0;
  std::uint16_t size_ = 0;
  std::uint16_t shred_version_ = 0;
  repair_kind kind_ = repair_kind::window_index;
};

// True iff bytes start with the repair domain string: how the repair socket tells a request
// from a response before parsing either.
[[nodiscard]] inline bool is_repair_request(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.size() >= repair_domain_bytes &&
         std::memcmp(bytes.data(), repair_domain.data(), repair_domain_bytes) == 0;
}

// The receiver's checks on a parsed request, cheapest first: shred_version, recipient, not
// from the receiver itself, |wallclock - now_ms| <= max_age_ms, then the signature.
// Returns none or the first failure. An empty view is reported as bad_signature.
[[nodiscard]] repair_error verify_repair_request(const repair_request_view& request,
                                                 std::uint64_t now_ms, std::uint64_t max_age_ms,
                                                 const crypto::pubkey& my_pubkey,
                                                 std::uint16_t my_shred_version) noexcept;
[[nodiscard]] repair_error verify_repair_request(const repair_request_view& request,
                                                 std::uint64_t now_ms, std::uint64_t max_age_ms,
                                                 const crypto::pubkey& my_pubkey,
                                                 std::uint16_t my_shred_version,
                                                 crypto::pubkey_cache& cache) noexcept;

// Writes a request signed by key into out and returns its size (repair_request_bytes(kind)),
// or 0 if out is too small, the kind is unknown, index >= max_shreds_per_slot, or an orphan
// request has a non-zero index. The aux form signs deterministically (tests); the other draws
// fresh aux randomness. Throws what keypair::sign throws.
std::size_t build_repair_request(const crypto::keypair& key, const repair_request_fields& fields,
                                 std::span<std::uint8_t> out);
std::size_t build_repair_request(const crypto::keypair& key, const repair_request_fields& fields,
                                 const crypto::aux_rand& aux, std::span<std::uint8_t> out);

// ----------------------------------------------------------------------------- responses

struct repair_response_view {
  std::span<const std::uint8_t> shred;  // to be parsed with parse_shred
  std::uint32_t nonce = 0;
};

// Writes shred bytes then the nonce; returns the size, or 0 if the shred is shorter than
// min_repair_response_shred_bytes or longer than max_shred_bytes, or out is too small.
std::size_t encode_repair_response(std::span<const std::uint8_t> shred, std::uint32_t nonce,
                                   std::span<std::uint8_t> out) noexcept;

// Splits a response into its shred and nonce (the shred itself is not parsed here). On any
// error out is left untouched.
[[nodiscard]] repair_error parse_repair_response(std::span<const std::uint8_t> bytes,
                                                 repair_response_view& out) noexcept;

// ------------------------------------------------------------------------- rate limiting

// A token bucket per peer in a fixed table. Each peer's bucket holds up to burst tokens and
// refills at rate_per_second; try_acquire() takes one token or reports the peer as limited.
// A responder calls it per verified request (requests per peer per second); a requester calls
// it before sending to a peer and release()s the token when the answer arrives, so burst is
// the cap on requests outstanding at that peer and the refill rate how fast tokens of lost
// requests come back.
//
// The table has capacity slots (rounded up to a power of two, at least 8) in sets of 8,
// indexed by a seeded hash of the pubkey; a peer new to a full set evicts the set's least recently seen
// peer, which comes back later with a full bucket. Memory is bounded at the price that a
// flood of distinct identities can refresh buckets by evicting them: key the table by
// identities that cost something (verified senders, staked nodes) where that matters.
class repair_rate_limiter {
 public:
  static constexpr std::size_t ways = 8;

  struct stats {
    std::uint64_t allowed = 0;
    std::uint64_t limited = 0;
    std::uint64_t inserted = 0;  // peers given a slot
    std::uint64_t evicted = 0;   // peers pushed out of a full set
  };

  // Throws std::invalid_argument if capacity is 0 or > 2^24, burst is 0 or > 2^20, or
  // rate_per_second is 0 or > 2^20.
  repair_rate_limiter(std::size_t capacity, std::uint32_t rate_per_second, std::uint32_t burst,
                      std::uint64_t hash_seed = 0);

  // Takes one token from peer's bucket if it has one (refilling first from the time since
  // peer was last seen; a clock that steps back refills nothing).
  [[nodiscard]] bool try_acquire(const crypto::pubkey& peer, std::uint64_t now_ms) noexcept;
  // Gives one token back (never beyond burst); no-op for a peer not in the table.
  void release(const crypto::pubkey& peer, std::uint64_t now_ms) noexcept;
  // Whole tokens peer has now (burst for a peer not in the table). Does not change the table.
  [[nodiscard]] std::uint32_t tokens(const crypto::pubkey& peer,
                                     std::uint64_t now_ms) const noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const stats& get_stats() const noexcept { return stats_; }

 private:
  struct slot {
    crypto::pubkey peer{};
    std::uint64_t last_ms = 0;
    std::uint64_t milli_tokens = 0;  // 1000 per token
    bool used = false;
  };

  [[nodiscard]] std::size_t set_of(const crypto::pubkey& peer) const noexcept;
  [[nodiscard]] std::uint64_t refilled(const slot& s, std::uint64_t now_ms) const noexcept;

  std::unique_ptr<slot[]> slots_;
  std::size_t mask_ = 0;  // capacity - 1
  std::size_t size_ = 0;
  std::uint64_t seed_ = 0;
  std::uint64_t rate_per_second_ = 0;
  std::uint64_t burst_milli_ = 0;
  stats stats_;
};

// ----------------------------------------------------------------------- nonce tracking

// The requester's table of requests in flight, keyed by nonce, so a response is accepted only
// if it answers a request this node sent, within timeout_ms, and only once.
//
// What a response must carry to match, by the request's kind:
//   window_index   shred slot == slot and shred index == index
//   highest_index  shred slot == slot and shred index >= index
//   orphan         shred slot <  slot (an ancestor; any index)
//
// Fixed table of capacity slots (a power of two, at least 8) in sets of 8; expect() on a
// full set drops an expired entry if there is one, else the oldest (counted as evicted: its
// answer will be rejected).
class repair_nonce_tracker {
 public:
  static constexpr std::size_t ways = 8;

  struct outstanding {
    std::uint32_t nonce = 0;
    repair_kind kind = repair_kind::window_index;
    std::uint64_t slot = 0;
    std::uint32_t index = 0;
    crypto::pubkey peer{};
    std::uint64_t sent_ms = 0;
  };

  struct stats {
    std::uint64_t expected = 0;
    std::uint64_t duplicate_nonce = 0;  // expect() with a nonce already in flight
    std::uint64_t evicted = 0;          // live entries pushed out of a full set
    std::uint64_t matched = 0;
    std::uint64_t unknown_nonce = 0;    // no such nonce in flight (or already used)
    std::uint64_t mismatched = 0;       // nonce known but the shred does not answer it
    std::uint64_t expired = 0;          // answer (or cleanup) after timeout_ms
  };

  // Throws std::invalid_argument if capacity is 0 or > 2^24.
  repair_nonce_tracker(std::size_t capacity, std::uint64_t timeout_ms);

  // Records a request sent at now_ms. False (table unchanged) if the nonce is already in
  // flight and not expired: the caller picks another nonce.
  [[nodiscard]] bool expect(const outstanding& request) noexcept;
  // True iff nonce is in flight, not expired, and (slot, index) answers it; the entry is then
  // removed (single use) and copied to *matched_out if given. An expired entry is removed; a
  // mismatching one stays (the right answer may still come).
  [[nodiscard]] bool match(std::uint32_t nonce, std::uint64_t slot, std::uint32_t index,
                           std::uint64_t now_ms, outstanding* matched_out = nullptr) noexcept;
  // Removes every expired entry; returns how many. O(capacity): call from housekeeping.
  std::size_t expire(std::uint64_t now_ms) noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint64_t timeout_ms() const noexcept { return timeout_ms_; }
  [[nodiscard]] const stats& get_stats() const noexcept { return stats_; }

 private:
  struct slot {
    outstanding request;
    bool used = false;
  };

  [[nodiscard]] std::size_t set_of(std::uint32_t nonce) const noexcept;
  [[nodiscard]] bool is_expired(const slot& s, std::uint64_t now_ms) const noexcept {
    return now_ms > s.request.sent_ms && now_ms - s.request.sent_ms > timeout_ms_;
  }

  std::unique_ptr<slot[]> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::uint64_t timeout_ms_ = 0;
  stats stats_;
};

}  // namespace riptide::shred
