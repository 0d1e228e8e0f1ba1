#pragma once
// Gossip wire formats: signed CRDS values, the six message types, their strict zero-copy
// parser, encoders, and signature checks.
//
// Contract
// - parse_message() / parse_value() are total and noexcept: they read only inside the given
//   bytes, never allocate, and report the first problem as its own parse_error (one enumerator
//   per rejection reason, so drop counters say exactly why). A successful parse describes the
//   input completely: re-encoding the view gives the same bytes (the format is canonical).
//   Parsing checks structure only; signatures, shred_version, wallclock and table state are
//   the engine's business (verify_value_signature / verify_message_signature help).
// - message_view and value_ref are non-owning views into the caller's packet bytes, valid only
//   while those bytes are alive and unchanged. decode_value() copies a value out (allocates
//   for Data strings only).
// - Encoders write into caller-provided buffers and return the byte count (0 when the
//   buffer is too small or an argument is out of range); the signing ones may throw what
//   crypto::keypair::sign throws (std::logic_error for an empty keypair, std::runtime_error if
//   libsecp256k1's context cannot be created).
// - Every function here is callable from any thread; nothing has hidden state.
//
// Signatures are BIP-340 over a domain tag followed by the signed bytes, so a gossip
// signature can never be replayed as a transaction (whose message starts with byte 0x01) or as
// another gossip kind: "riptide/gossip/value/v1", ".../prune/v1", ".../ping/v1", ".../pong/v1".
//
// All integers are little-endian, fixed width. Every message is at most 1232 bytes.
//
// Message header (every message)
//
//   offset size  field
//   0      1     type            u8: 1 push, 2 pull_request, 3 pull_response, 4 prune,
//                                    5 ping, 6 pong
//   1      2     shred_version   u16: the cluster; receivers drop other clusters' messages
//   3      32    sender          pubkey of the sending node
//   35     ...   body by type
//
// push (1) and pull_response (3)
//
//   35     1     num_values N    u8, 1 <= N <= 16
//   36     ...   values[N]       back to back; each is self-delimiting (layout below)
//   end                          no trailing bytes
//
// pull_request (2): a bloom filter over the hashes the sender holds in one hash partition,
// and the sender's own signed ContactInfo (so the answering node learns where to reply)
//
//   35     1     num_keys K      u8, 1 <= K <= 8
//   36     8K    keys[K]         u64 each (bit i of key j: xxh3_64(hash, key_j) mod B)
//   36+8K  4     num_bits B      u32, 1 <= B <= 8192
//   40+8K  1     mask_bits M     u8, M <= 32
//   41+8K  8     mask            u64, < 2^M: the filter covers hashes whose top M bits of
//                                their first 8 bytes (LE u64) equal mask
//   49+8K  8W    words[W]        u64 each, W = ceil(B / 64); bits >= B must be 0
//   ...    ...   contact_info    one value, kind 1, origin == sender
//   end                          no trailing bytes
//
// prune (4): "stop pushing me values of these origins"
//
//   35     64    signature       by sender over "riptide/gossip/prune/v1" || sender ||
//                                bytes[99, end)
//   99     32    destination     the node asked to stop (must be the receiver)
//   131    8     wallclock_ms    u64, sender's clock (stale prunes are ignored)
//   139    1     num_origins N   u8, 1 <= N <= 32
//   140    32N   origins[N]
//   end                          no trailing bytes
//
// ping (5) / pong (6): proof that sender holds its key and receives at the source address
//
//   35     64    signature       by sender over "riptide/gossip/ping/v1" (or pong) || sender ||
//                                bytes[99, 131)
//   99     32    token (ping)    opaque; riptide derives it from a secret and the target
//                hash (pong)     sha256("riptide/gossip/pong-hash/v1" || ping token)
//   131                          end (exactly 131 bytes)
//
// Value (CRDS): signed by its origin, relayed unchanged by everyone else
//
//   offset size  field
//   0      64    signature       by origin over "riptide/gossip/value/v1" || bytes[64, end)
//   64     1     kind            u8: 1 contact_info, 2 node_instance, 3 data,
//                                    4 leader_schedule, 5 vote, 6 lowest_slot
//   65     32    origin          pubkey
//   97     8     wallclock_ms    u64, origin's clock when signed (newer replaces older)
//   105    ...   body by kind:
//
//   contact_info (18)   shred_version u16 | ip u32 | gossip_port u16 | tpu_port u16 |
//                       tpu_forwards_port u16 | tvu_port u16 | repair_port u16 | rpc_port u16
//   node_instance (16)  token u64 | started_ms u64
//   data (3+K+V)        key_len K u8 (1..64) | key[K] | value_len V u16 (0..512) | value[V]
//   leader_schedule (40) epoch u64 | digest[32]
//   vote (41)           index u8 (< 32) | slot u64 | hash[32]
//   lowest_slot (8)     slot u64
//
// A value's label, what "newer replaces older" is keyed on, is (origin, kind) plus the key for
// data and the index for vote.

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/gossip/bloom.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace riptide::gossip {

constexpr std::size_t max_packet_bytes = 1232;
constexpr std::size_t message_header_bytes = 35;
constexpr std::size_t max_values_per_message = 16;
constexpr std::size_t max_prune_origins = 32;
constexpr std::size_t value_header_bytes = 105;  // signature, kind, origin, wallclock
constexpr std::size_t contact_info_body_bytes = 18;
constexpr std::size_t node_instance_body_bytes = 16;
constexpr std::size_t leader_schedule_body_bytes = 40;
constexpr std::size_t vote_body_bytes = 41;
constexpr std::size_t lowest_slot_body_bytes = 8;
constexpr std::size_t max_data_key_bytes = 64;
constexpr std::size_t max_data_value_bytes = 512;
constexpr std::size_t max_vote_index = 32;  // vote indices are 0 .. max_vote_index - 1
constexpr std::size_t ping_message_bytes = message_header_bytes + 64 + 32;  // 131
constexpr std::size_t contact_info_value_bytes = value_header_bytes + contact_info_body_bytes;
constexpr std::size_t max_value_bytes =
    value_header_bytes + 3 + max_data_key_bytes + max_data_value_bytes;  // 684

enum class message_type : std::uint8_t {
  push = 1,
  pull_request = 2,
  pull_response = 3,
  prune = 4,
  ping = 5,
  pong = 6,
};
constexpr std::size_t message_type_count = 7;  // indexable by the u8 value; 0 is unused
[[nodiscard]] const char* to_string(message_type type) noexcept;

enum class value_kind : std::uint8_t {
  contact_info = 1,
  node_instance = 2,
  data = 3,
  leader_schedule = 4,
  vote = 5,
  lowest_slot = 6,
};
constexpr std::size_t value_kind_count = 6;
// 0-based index for per-kind arrays: kind_index(contact_info) == 0.
[[nodiscard]] constexpr std::size_t kind_index(value_kind kind) noexcept {
  return static_cast<std::size_t>(kind) - 1;
}
[[nodiscard]] constexpr value_kind kind_at(std::size_t index) noexcept {
  return static_cast<value_kind>(index + 1);
}
[[nodiscard]] const char* to_string(value_kind kind) noexcept;

enum class parse_error : std::uint8_t {
  none,
  too_long,                       // more than max_packet_bytes
  empty,                          // zero bytes
  truncated_header,               // fewer than 35 bytes of message header
  unknown_message_type,           // type byte not in 1..6
  truncated_value_count,          // push / pull_response: no num_values byte
  no_values,                      // num_values == 0
  too_many_values,                // num_values > max_values_per_message
  truncated_value_header,         // fewer than 105 bytes left for a value's fixed part
  unknown_value_kind,             // value kind not in 1..6
  truncated_value_body,           // the value's body runs past the end
  data_key_empty,                 // data key_len == 0
  data_key_too_long,              // data key_len > 64
  data_value_too_long,            // data value_len > 512
  vote_index_out_of_range,        // vote index >= 32
  bloom_no_keys,                  // num_keys == 0
  bloom_too_many_keys,            // num_keys > max_bloom_keys
  truncated_bloom,                // the filter's keys, header or words run past the end
  bloom_no_bits,                  // num_bits == 0
  bloom_too_many_bits,            // num_bits > max_bloom_bits
  bloom_mask_bits_too_large,      // mask_bits > 32
  bloom_mask_out_of_range,        // mask >= 2^mask_bits
  bloom_padding_bits_set,         // a bit >= num_bits is set in the last word
  pull_request_not_contact_info,  // the pull request's value is not a contact_info
  sender_mismatch,                // the pull request's contact_info origin != sender
  truncated_prune,                // prune shorter than its fixed part or its origins
  prune_no_origins,               // num_origins == 0
  prune_too_many_origins,         // num_origins > max_prune_origins
  truncated_ping,                 // ping shorter than 131 bytes
  truncated_pong,                 // pong shorter than 131 bytes
  trailing_bytes,                 // bytes left after the last field
};
constexpr std::size_t parse_error_count =
    static_cast<std::size_t>(parse_error::trailing_bytes) + 1;
[[nodiscard]] const char* to_string(parse_error error) noexcept;

// ------------------------------------------------------------------------------ value bodies

// Where a node can be reached. id and wallclock_ms mirror the value's origin and wallclock.
struct contact_info {
  crypto::pubkey id{};
  std::uint16_t shred_version = 0;
  std::uint64_t wallclock_ms = 0;
  std::uint32_t ip = 0;  // IPv4, host order
  std::uint16_t gossip_port = 0, tpu_port = 0, tpu_forwards_port = 0, tvu_port = 0,
                repair_port = 0, rpc_port = 0;
  friend bool operator==(const contact_info&, const contact_info&) = default;
};

// One running process of a node: a new token (and start time) on every start, so a restart or
// a second process with the same identity is visible to everyone.
struct node_instance {
  std::uint64_t token = 0;
  std::uint64_t started_ms = 0;
  friend bool operator==(const node_instance&, const node_instance&) = default;
};

struct data_value {
  std::string key;    // 1..64 bytes
  std::string value;  // 0..512 bytes
  friend bool operator==(const data_value&, const data_value&) = default;
};

struct leader_schedule_digest {
  std::uint64_t epoch = 0;
  crypto::hash32 digest{};
  friend bool operator==(const leader_schedule_digest&, const leader_schedule_digest&) = default;
};

struct vote_value {
  std::uint8_t index = 0;  // < max_vote_index: a node's recent votes occupy distinct labels
  std::uint64_t slot = 0;
  crypto::hash32 hash{};
  friend bool operator==(const vote_value&, const vote_value&) = default;
};

struct lowest_slot_value {
  std::uint64_t slot = 0;
  friend bool operator==(const lowest_slot_value&, const lowest_slot_value&) = default;
};

// Alternative i is value kind i + 1.
using value_body = std::variant<contact_info, node_instance, data_value, leader_schedule_digest,
                                vote_value, lowest_slot_value>;

// A decoded (owning) value.
struct crds_value {
  crypto::signature signature{};
  crypto::pubkey origin{};
  std::uint64_t wallclock_ms = 0;
  value_body body;

  [[nodiscard]] value_kind kind() const noexcept {
    return static_cast<value_kind>(body.index() + 1);
  }
  friend bool operator==(const crds_value&, const crds_value&) = default;
};

// A parsed value inside packet bytes. `sub_key` is the label's extra part: the data key, or
// the one vote index byte; empty for the other kinds.
struct value_ref {
  std::span<const std::uint8_t> bytes;  // the whole value, signature first
  value_kind kind = value_kind::contact_info;
  crypto::pubkey origin{};
  std::uint64_t wallclock_ms = 0;
  std::span<const std::uint8_t> sub_key;

  [[nodiscard]] std::span<const std::uint8_t, crypto::signature_bytes> signature_bytes()
      const noexcept {
    return bytes.first<crypto::signature_bytes>();
  }
};

// Parses one value at the start of `in` (it may be followed by more bytes); on success
// out.bytes is the value's exact extent. On failure out is untouched.
[[nodiscard]] parse_error parse_value(std::span<const std::uint8_t> in, value_ref& out) noexcept;

// Parses a buffer holding exactly one value (trailing bytes are an error).
[[nodiscard]] parse_error parse_single_value(std::span<const std::uint8_t> in,
                                             value_ref& out) noexcept;

// Copies a successfully parsed value out. Allocates only for data strings.
[[nodiscard]] crds_value decode_value(const value_ref& ref);

// Encoded size of v, or 0 if a field is out of range (data key/value length, vote index).
[[nodiscard]] std::size_t encoded_value_bytes(const crds_value& v) noexcept;

// Writes v (with its current signature) into out; returns the size or 0 (out too small, or
// a field out of range).
std::size_t encode_value(const crds_value& v, std::span<std::uint8_t> out) noexcept;

// Sets v.origin to the key's public key, signs, and writes the value into out; returns its size
// or 0 (out too small / fields out of range, in which case v is unchanged apart from origin).
std::size_t sign_value(crds_value& v, const crypto::keypair& key, const crypto::aux_rand& aux,
                       std::span<std::uint8_t> out);

// sha256 over the value's full bytes (signature included): its identity in tables and filters.
[[nodiscard]] crypto::hash32 value_hash(std::span<const std::uint8_t> value_bytes) noexcept;

// ----------------------------------------------------------------------- signature checking

// Checks a signature; injectable so a simulation of many nodes can share one memoizing
// verifier. Implementations may keep state (caches) but must be deterministic.
class signature_verifier {
 public:
  virtual ~signature_verifier() = default;
  virtual bool verify(const crypto::pubkey& key, std::span<const std::uint8_t> msg,
                      const crypto::signature& sig) noexcept = 0;
};

// The default: crypto::pubkey_cache (parsed keys cached, signatures checked every call).
class pubkey_cache_verifier final : public signature_verifier {
 public:
  explicit pubkey_cache_verifier(std::size_t capacity = 4096) : cache_(capacity) {}
  bool verify(const crypto::pubkey& key, std::span<const std::uint8_t> msg,
              const crypto::signature& sig) noexcept override {
    return cache_.verify(key, msg, sig);
  }

 private:
  crypto::pubkey_cache cache_;
};

// True iff the value's signature verifies under its origin.
[[nodiscard]] bool verify_value_signature(const value_ref& value,
                                          signature_verifier& verifier) noexcept;

// ------------------------------------------------------------------------------- messages

struct message_view {
  std::span<const std::uint8_t> bytes;
  message_type type = message_type::push;
  std::uint16_t shred_version = 0;
  crypto::pubkey sender{};

  // push / pull_response: values[0, num_values); pull_request: values[0] is the caller's
  // contact_info and num_values == 1.
  std::size_t num_values = 0;
  std::array<value_ref, max_values_per_message> values{};

  // pull_request
  bloom_view filter;
  std::uint32_t mask_bits = 0;
  std::uint64_t mask = 0;

  // prune / ping / pong
  crypto::signature signature{};
  // prune
  crypto::pubkey destination{};
  std::uint64_t wallclock_ms = 0;
  std::span<const std::uint8_t> origin_bytes;  // 32 * num_origins
  // ping: token; pong: sha256 of the ping token (pong_hash)
  crypto::hash32 token{};

  [[nodiscard]] std::size_t num_origins() const noexcept { return origin_bytes.size() / 32; }
  [[nodiscard]] crypto::pubkey origin(std::size_t i) const noexcept;
};

// Parses one packet. On failure `out` is untouched.
[[nodiscard]] parse_error parse_message(std::span<const std::uint8_t> bytes,
                                        message_view& out) noexcept;

// prune / ping / pong: true iff the signature verifies under sender. False for other types.
[[nodiscard]] bool verify_message_signature(const message_view& msg,
                                            signature_verifier& verifier) noexcept;

// What a pong must carry for a ping with this token.
[[nodiscard]] crypto::hash32 pong_hash(const crypto::hash32& ping_token) noexcept;

// Builds push and pull_response messages value by value into its own 1232-byte buffer.
class value_packer {
 public:
  value_packer(message_type type, std::uint16_t shred_version,
               const crypto::pubkey& sender) noexcept;

  // Appends a value (its encoded bytes); false if it would not fit (size or count).
  [[nodiscard]] bool try_add(std::span<const std::uint8_t> value_bytes) noexcept;
  [[nodiscard]] bool fits(std::size_t value_bytes) const noexcept;
  [[nodiscard]] std::size_t num_values() const noexcept { return num_values_; }
  [[nodiscard]] bool empty() const noexcept { return num_values_ == 0; }
  // The finished message (valid while the packer lives and is not changed).
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return {buffer_.data(), size_};
  }
  // Starts a new message of the same type and sender.
  void reset() noexcept;

 private:
  std::array<std::uint8_t, max_packet_bytes> buffer_{};
  std::size_t size_ = 0;
  std::size_t num_values_ = 0;
};

// Size of a pull request whose filter has `num_keys` keys and `num_bits` bits.
[[nodiscard]] std::size_t pull_request_bytes(std::size_t num_keys, std::size_t num_bits) noexcept;
// The most filter bits a pull request with num_keys keys can carry in one packet.
[[nodiscard]] std::uint32_t max_pull_request_bits(std::size_t num_keys) noexcept;

// Writes a pull request. contact_value must be the sender's encoded contact_info value.
// Returns the size, or 0 if anything does not fit or is out of range.
std::size_t encode_pull_request(std::uint16_t shred_version, const crypto::pubkey& sender,
                                const bloom& filter, std::uint32_t mask_bits,
                                std::uint64_t mask, std::span<const std::uint8_t> contact_value,
                                std::span<std::uint8_t> out) noexcept;

// Writes a signed prune (1..32 origins). Returns the size, or 0 if out is too small or the
// origin count is out of range.
std::size_t encode_prune(std::uint16_t shred_version, const crypto::keypair& key,
                         const crypto::pubkey& destination, std::uint64_t wallclock_ms,
                         std::span<const crypto::pubkey> origins, const crypto::aux_rand& aux,
                         std::span<std::uint8_t> out);

// Writes a signed ping (token) or pong (pong_hash(ping token)).
std::size_t encode_ping(std::uint16_t shred_version, const crypto::keypair& key,
                        const crypto::hash32& token, const crypto::aux_rand& aux,
                        std::span<std::uint8_t> out);
std::size_t encode_pong(std::uint16_t shred_version, const crypto::keypair& key,
                        const crypto::hash32& ping_token, const crypto::aux_rand& aux,
                        std::span<std::uint8_t> out);

}  // namespace riptide::gossip
