#include <riptide/gossip/messages.hpp>

#include <riptide/crypto/sha256.hpp>

#include <cstring>

namespace riptide::gossip {

namespace {

using crypto::hash_bytes;
using crypto::pubkey_bytes;
using crypto::signature_bytes;

constexpr std::string_view value_domain = "riptide/gossip/value/v1";
constexpr std::string_view prune_domain = "riptide/gossip/prune/v1";
constexpr std::string_view ping_domain = "riptide/gossip/ping/v1";
constexpr std::string_view pong_domain = "riptide/gossip/pong/v1";
constexpr std::string_view pong_hash_domain = "riptide/gossip/pong-hash/v1";
constexpr std::size_t max_domain_bytes = 32;

// Signed messages are at most one packet; the domain tag and sender key are prepended.
constexpr std::size_t max_signed_bytes = max_domain_bytes + pubkey_bytes + max_packet_bytes;

constexpr std::size_t signed_offset = message_header_bytes + signature_bytes;  // 99
constexpr std::size_t prune_fixed_bytes = signed_offset + pubkey_bytes + 8 + 1;  // 140
constexpr std::size_t bloom_fixed_bytes = 4 + 1 + 8;  // num_bits, mask_bits, mask

static_assert(value_domain.size() <= max_domain_bytes && prune_domain.size() <= max_domain_bytes);
static_assert(max_value_bytes + message_header_bytes + 1 <= max_packet_bytes,
              "the largest value must fit a push message");
static_assert(message_header_bytes + 1 + max_prune_origins * pubkey_bytes + 8 + pubkey_bytes +
                      signature_bytes <=
                  max_packet_bytes,
              "a full prune must fit one packet");
static_assert(ping_message_bytes == 131);

std::uint64_t load_le(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

void store_le(std::uint8_t* p, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

template <std::size_t N>
std::array<std::uint8_t, N> load_array(const std::uint8_t* p) noexcept {
  std::array<std::uint8_t, N> a{};
  std::memcpy(a.data(), p, N);
  return a;
}

std::size_t body_bytes_fixed(value_kind kind) noexcept {
  switch (kind) {
    case value_kind::contact_info: return contact_info_body_bytes;
    case value_kind::node_instance: return node_instance_body_bytes;
    case value_kind::leader_schedule: return leader_schedule_body_bytes;
    case value_kind::vote: return vote_body_bytes;
    case value_kind::lowest_slot: return lowest_slot_body_bytes;
    case value_kind::data: return 0;
  }
  return 0;
}

// domain || prefix || body, into buf; returns the length.
std::size_t build_signed(std::uint8_t* buf, std::string_view domain,
                         std::span<const std::uint8_t> prefix,
                         std::span<const std::uint8_t> body) noexcept {
  std::memcpy(buf, domain.data(), domain.size());
  std::size_t n = domain.size();
  if (!prefix.empty()) std::memcpy(buf + n, prefix.data(), prefix.size());
  n += prefix.size();
  if (!body.empty()) std::memcpy(buf + n, body.data(), body.size());
  return n + body.size();
}

void write_header(std::uint8_t* b, message_type type, std::uint16_t shred_version,
                  const crypto::pubkey& sender) noexcept {
  b[0] = static_cast<std::uint8_t>(type);
  store_le(b + 1, shred_version, 2);
  std::memcpy(b + 3, sender.data(), pubkey_bytes);
}

// Signs bytes [signed_offset, size) of a prune/ping/pong already laid out in b.
void sign_message(std::uint8_t* b, std::size_t size, std::string_view domain,
                  const crypto::keypair& key, const crypto::aux_rand& aux) {
  std::array<std::uint8_t, max_signed_bytes> buf;
  const std::size_t n = build_signed(buf.data(), domain, key.public_key(),
                                     {b + signed_offset, size - signed_offset});
  const crypto::signature sig = key.sign({buf.data(), n}, aux);
  std::memcpy(b + message_header_bytes, sig.data(), signature_bytes);
}

std::size_t encode_token_message(message_type type, std::string_view domain,
                                 std::uint16_t shred_version, const crypto::keypair& key,
                                 const crypto::hash32& token, const crypto::aux_rand& aux,
                                 std::span<std::uint8_t> out) {
  if (out.size() < ping_message_bytes) return 0;
  std::uint8_t* b = out.data();
  write_header(b, type, shred_version, key.public_key());
  std::memcpy(b + signed_offset, token.data(), hash_bytes);
  sign_message(b, ping_message_bytes, domain, key, aux);
  return ping_message_bytes;
}

}  // namespace

const char* to_string(message_type type) noexcept {
  switch (type) {
    case message_type::push: return "push";
    case message_type::pull_request: return "pull_request";
    case message_type::pull_response: return "pull_response";
    case message_type::prune: return "prune";
    case message_type::ping: return "ping";
    case message_type::pong: return "pong";
  }
  return "unknown_message_type";
}

const char* to_string(value_kind kind) noexcept {
  switch (kind) {
    case value_kind::contact_info: return "contact_info";
    case value_kind::node_instance: return "node_instance";
    case value_kind::data: return "data";
    case value_kind::leader_schedule: return "leader_schedule";
    case value_kind::vote: return "vote";
    case value_kind::lowest_slot: return "lowest_slot";
  }
  return "unknown_value_kind";
}

const char* to_string(parse_error error) noexcept {
  switch (error) {
#define RIPTIDE_CASE(name) \
  case parse_error::name: return #name;
    RIPTIDE_CASE(none)
    RIPTIDE_CASE(too_long)
    RIPTIDE_CASE(empty)
    RIPTIDE_CASE(truncated_header)
    RIPTIDE_CASE(unknown_message_type)
    RIPTIDE_CASE(truncated_value_count)
    RIPTIDE_CASE(no_values)
    RIPTIDE_CASE(too_many_values)
    RIPTIDE_CASE(truncated_value_header)
    RIPTIDE_CASE(unknown_value_kind)
    RIPTIDE_CASE(truncated_value_body)
    RIPTIDE_CASE(data_key_empty)
    RIPTIDE_CASE(data_key_too_long)
    RIPTIDE_CASE(data_value_too_long)
    RIPTIDE_CASE(vote_index_out_of_range)
    RIPTIDE_CASE(bloom_no_keys)
    RIPTIDE_CASE(bloom_too_many_keys)
    RIPTIDE_CASE(truncated_bloom)
    RIPTIDE_CASE(bloom_no_bits)
    RIPTIDE_CASE(bloom_too_many_bits)
    RIPTIDE_CASE(bloom_mask_bits_too_large)
    RIPTIDE_CASE(bloom_mask_out_of_range)
    RIPTIDE_CASE(bloom_padding_bits_set)
    RIPTIDE_CASE(pull_request_not_contact_info)
    RIPTIDE_CASE(sender_mismatch)
    RIPTIDE_CASE(truncated_prune)
    RIPTIDE_CASE(prune_no_origins)
    RIPTIDE_CASE(prune_too_many_origins)
    RIPTIDE_CASE(truncated_ping)
    RIPTIDE_CASE(truncated_pong)
    RIPTIDE_CASE(trailing_bytes)
#undef RIPTIDE_CASE
  }
  return "unknown_parse_error";
}

// ----------------------------------------------------------------------------------- values

parse_error parse_value(std::span<const std::uint8_t> in, value_ref& out) noexcept {
  const std::size_t size = in.size();
  const std::uint8_t* const b = in.data();
  if (size < value_header_bytes) return parse_error::truncated_value_header;
  const std::uint8_t kind_byte = b[signature_bytes];
  if (kind_byte < 1 || kind_byte > value_kind_count) return parse_error::unknown_value_kind;
  const auto kind = static_cast<value_kind>(kind_byte);
  std::size_t pos = value_header_bytes;
  std::span<const std::uint8_t> sub_key;
  if (kind == value_kind::data) {
    if (size - pos < 1) return parse_error::truncated_value_body;
    const std::size_t key_len = b[pos];
    pos += 1;
    if (key_len == 0) return parse_error::data_key_empty;
    if (key_len > max_data_key_bytes) return parse_error::data_key_too_long;
    if (size - pos < key_len) return parse_error::truncated_value_body;
    sub_key = {b + pos, key_len};
    pos += key_len;
    if (size - pos < 2) return parse_error::truncated_value_body;
    const std::size_t value_len = load_le(b + pos, 2);
    pos += 2;
    if (value_len > max_data_value_bytes) return parse_error::data_value_too_long;
    if (size - pos < value_len) return parse_error::truncated_value_body;
    pos += value_len;
  } else {
    const std::size_t body = body_bytes_fixed(kind);
    if (size - pos < body) return parse_error::truncated_value_body;
    if (kind == value_kind::vote) {
      if (b[pos] >= max_vote_index) return parse_error::vote_index_out_of_range;
      sub_key = {b + pos, 1};
    }
    pos += body;
  }
  out.bytes = {b, pos};
  out.kind = kind;
  out.origin = load_array<pubkey_bytes>(b + signature_bytes + 1);
  out.wallclock_ms = load_le(b + signature_bytes + 1 + pubkey_bytes, 8);
  out.sub_key = sub_key;
  return parse_error::none;
}

parse_error parse_single_value(std::span<const std::uint8_t> in, value_ref& out) noexcept {
  value_ref v;
  const parse_error err = parse_value(in, v);
  if (err != parse_error::none) return err;
  if (v.bytes.size() != in.size()) return parse_error::trailing_bytes;
  out = v;
  return parse_error::none;
}

crds_value decode_value(const value_ref& ref) {
  crds_value v;
  const std::uint8_t* const b = ref.bytes.data();
  v.signature = load_array<signature_bytes>(b);
  v.origin = ref.origin;
  v.wallclock_ms = ref.wallclock_ms;
  const std::uint8_t* p = b + value_header_bytes;
  switch (ref.kind) {
    case value_kind::contact_info: {
      contact_info ci;
      ci.id = ref.origin;
      ci.wallclock_ms = ref.wallclock_ms;
      ci.shred_version = static_cast<std::uint16_t>(load_le(p, 2));
      ci.ip = static_cast<std::uint32_t>(load_le(p + 2, 4));
      ci.gossip_port = static_cast<std::uint16_t>(load_le(p + 6, 2));
      ci.tpu_port = static_cast<std::uint16_t>(load_le(p + 8, 2));
      ci.tpu_forwards_port = static_cast<std::uint16_t>(load_le(p + 10, 2));
      ci.tvu_port = static_cast<std::uint16_t>(load_le(p + 12, 2));
      ci.repair_port = static_cast<std::uint16_t>(load_le(p + 14, 2));
      ci.rpc_port = static_cast<std::uint16_t>(load_le(p + 16, 2));
      v.body = ci;
      break;
    }
    case value_kind::node_instance:
      v.body = node_instance{load_le(p, 8), load_le(p + 8, 8)};
      break;
    case value_kind::data: {
      const std::size_t key_len = p[0];
      const std::size_t value_len = load_le(p + 1 + key_len, 2);
      data_value d;
      d.key.assign(reinterpret_cast<const char*>(p + 1), key_len);
      d.value.assign(reinterpret_cast<const char*>(p + 3 + key_len), value_len);
      v.body = std::move(d);
      break;
    }
    case value_kind::leader_schedule:
      v.body = leader_schedule_digest{load_le(p, 8), load_array<hash_bytes>(p + 8)};
      break;
    case value_kind::vote:
      v.body = vote_value{p[0], load_le(p + 1, 8), load_array<hash_bytes>(p + 9)};
      break;
    case value_kind::lowest_slot:
      v.body = lowest_slot_value{load_le(p, 8)};
      break;
  }
  return v;
}

std::size_t encoded_value_bytes(const crds_value& v) noexcept {
  if (const auto* d = std::get_if<data_value>(&v.body)) {
    if (d->key.empty() || d->key.size() > max_data_key_bytes) return 0;
    if (d->value.size() > max_data_value_bytes) return 0;
    return value_header_bytes + 3 + d->key.size() + d->value.size();
  }
  if (const auto* vote = std::get_if<vote_value>(&v.body)) {
    if (vote->index >= max_vote_index) return 0;
  }
  return value_header_bytes + body_bytes_fixed(v.kind());
}

std::size_t encode_value(const crds_value& v, std::span<std::uint8_t> out) noexcept {
  const std::size_t size = encoded_value_bytes(v);
  if (size == 0 || out.size() < size) return 0;
  std::uint8_t* const b = out.data();
  std::memcpy(b, v.signature.data(), signature_bytes);
  b[signature_bytes] = static_cast<std::uint8_t>(v.kind());
  std::memcpy(b + signature_bytes + 1, v.origin.data(), pubkey_bytes);
  store_le(b + signature_bytes + 1 + pubkey_bytes, v.wallclock_ms, 8);
  std::uint8_t* p = b + value_header_bytes;
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, contact_info>) {
          store_le(p, body.shred_version, 2);
          store_le(p + 2, body.ip, 4);
          store_le(p + 6, body.gossip_port, 2);
          store_le(p + 8, body.tpu_port, 2);
          store_le(p + 10, body.tpu_forwards_port, 2);
          store_le(p + 12, body.tvu_port, 2);
          store_le(p + 14, body.repair_port, 2);
          store_le(p + 16, body.rpc_port, 2);
        } else if constexpr (std::is_same_v<T, node_instance>) {
          store_le(p, body.token, 8);
          store_le(p + 8, body.started_ms, 8);
        } else if constexpr (std::is_same_v<T, data_value>) {
          p[0] = static_cast<std::uint8_t>(body.key.size());
          std::memcpy(p + 1, body.key.data(), body.key.size());
          store_le(p + 1 + body.key.size(), body.value.size(), 2);
          if (!body.value.empty()) {
            std::memcpy(p + 3 + body.key.size(), body.value.data(), body.value.size());
          }
        } else if constexpr (std::is_same_v<T, leader_schedule_digest>) {
          store_le(p, body.epoch, 8);
          std::memcpy(p + 8, body.digest.data(), hash_bytes);
        } else if constexpr (std::is_same_v<T, vote_value>) {
          p[0] = body.index;
          store_le(p + 1, body.slot, 8);
          std::memcpy(p + 9, body.hash.data(), hash_bytes);
        } else {
          static_assert(std::is_same_v<T, lowest_slot_value>);
          store_le(p, body.slot, 8);
        }
      },
      v.body);
  return size;
}

std::size_t sign_value(crds_value& v, const crypto::keypair& key, const crypto::aux_rand& aux,
                       std::span<std::uint8_t> out) {
  v.origin = key.public_key();
  if (auto* ci = std::get_if<contact_info>(&v.body)) {
    ci->id = v.origin;
    ci->wallclock_ms = v.wallclock_ms;
  }
  const std::size_t size = encode_value(v, out);
  if (size == 0) return 0;
  std::array<std::uint8_t, max_domain_bytes + max_value_bytes> buf;
  const std::size_t n =
      build_signed(buf.data(), value_domain, {}, out.subspan(signature_bytes, size - signature_bytes));
  v.signature = key.sign({buf.data(), n}, aux);
  std::memcpy(out.data(), v.signature.data(), signature_bytes);
  return size;
}

crypto::hash32 value_hash(std::span<const std::uint8_t> value_bytes) noexcept {
  return crypto::sha256(value_bytes);
}

bool verify_value_signature(const value_ref& value, signature_verifier& verifier) noexcept {
  if (value.bytes.size() < value_header_bytes || value.bytes.size() > max_value_bytes) {
    return false;
  }
  std::array<std::uint8_t, max_domain_bytes + max_value_bytes> buf;
  const std::size_t n = build_signed(buf.data(), value_domain, {},
                                     value.bytes.subspan(signature_bytes));
  return verifier.verify(value.origin, {buf.data(), n},
                         load_array<signature_bytes>(value.bytes.data()));
}

// --------------------------------------------------------------------------------- messages

crypto::pubkey message_view::origin(std::size_t i) const noexcept {
  return load_array<pubkey_bytes>(origin_bytes.data() + pubkey_bytes * i);
}

parse_error parse_message(std::span<const std::uint8_t> bytes, message_view& out) noexcept {
  const std::size_t size = bytes.size();
  if (size > max_packet_bytes) return parse_error::too_long;
  if (size == 0) return parse_error::empty;
  if (size < message_header_bytes) return parse_error::truncated_header;
  const std::uint8_t* const b = bytes.data();
  const std::uint8_t type_byte = b[0];
  if (type_byte < 1 || type_byte >= message_type_count) return parse_error::unknown_message_type;

  message_view m;
  m.bytes = bytes;
  m.type = static_cast<message_type>(type_byte);
  m.shred_version = static_cast<std::uint16_t>(load_le(b + 1, 2));
  m.sender = load_array<pubkey_bytes>(b + 3);
  std::size_t pos = message_header_bytes;

  switch (m.type) {
    case message_type::push:
    case message_type::pull_response: {
      if (size - pos < 1) return parse_error::truncated_value_count;
      const std::size_t count = b[pos];
      pos += 1;
      if (count == 0) return parse_error::no_values;
      if (count > max_values_per_message) return parse_error::too_many_values;
      for (std::size_t i = 0; i < count; ++i) {
        const parse_error err = parse_value(bytes.subspan(pos), m.values[i]);
        if (err != parse_error::none) return err;
        pos += m.values[i].bytes.size();
      }
      m.num_values = count;
      break;
    }
    case message_type::pull_request: {
      if (size - pos < 1) return parse_error::truncated_bloom;
      const std::size_t num_keys = b[pos];
      pos += 1;
      if (num_keys == 0) return parse_error::bloom_no_keys;
      if (num_keys > max_bloom_keys) return parse_error::bloom_too_many_keys;
      if (size - pos < 8 * num_keys + bloom_fixed_bytes) return parse_error::truncated_bloom;
      const std::span<const std::uint8_t> keys = bytes.subspan(pos, 8 * num_keys);
      pos += 8 * num_keys;
      const auto num_bits = static_cast<std::uint32_t>(load_le(b + pos, 4));
      const std::uint32_t mask_bits = b[pos + 4];
      const std::uint64_t mask = load_le(b + pos + 5, 8);
      pos += bloom_fixed_bytes;
      if (num_bits == 0) return parse_error::bloom_no_bits;
      if (num_bits > max_bloom_bits) return parse_error::bloom_too_many_bits;
      if (mask_bits > max_bloom_mask_bits) return parse_error::bloom_mask_bits_too_large;
      if ((mask >> mask_bits) != 0) return parse_error::bloom_mask_out_of_range;
      const std::size_t num_words = (num_bits + 63) / 64;
      if (size - pos < 8 * num_words) return parse_error::truncated_bloom;
      const std::span<const std::uint8_t> words = bytes.subspan(pos, 8 * num_words);
      pos += 8 * num_words;
      if (num_bits % 64 != 0) {
        const std::uint64_t last = load_le(words.data() + 8 * (num_words - 1), 8);
        if ((last >> (num_bits % 64)) != 0) return parse_error::bloom_padding_bits_set;
      }
      const parse_error err = parse_value(bytes.subspan(pos), m.values[0]);
      if (err != parse_error::none) return err;
      pos += m.values[0].bytes.size();
      if (m.values[0].kind != value_kind::contact_info) {
        return parse_error::pull_request_not_contact_info;
      }
      if (m.values[0].origin != m.sender) return parse_error::sender_mismatch;
      m.num_values = 1;
      m.filter = bloom_view(keys, num_bits, words);
      m.mask_bits = mask_bits;
      m.mask = mask;
      break;
    }
    case message_type::prune: {
      if (size < prune_fixed_bytes) return parse_error::truncated_prune;
      m.signature = load_array<signature_bytes>(b + message_header_bytes);
      m.destination = load_array<pubkey_bytes>(b + signed_offset);
      m.wallclock_ms = load_le(b + signed_offset + pubkey_bytes, 8);
      const std::size_t count = b[prune_fixed_bytes - 1];
      pos = prune_fixed_bytes;
      if (count == 0) return parse_error::prune_no_origins;
      if (count > max_prune_origins) return parse_error::prune_too_many_origins;
      if (size - pos < pubkey_bytes * count) return parse_error::truncated_prune;
      m.origin_bytes = bytes.subspan(pos, pubkey_bytes * count);
      pos += pubkey_bytes * count;
      break;
    }
    case message_type::ping:
    case message_type::pong: {
      if (size < ping_message_bytes) {
        return m.type == message_type::ping ? parse_error::truncated_ping
                                            : parse_error::truncated_pong;
      }
      m.signature = load_array<signature_bytes>(b + message_header_bytes);
      m.token = load_array<hash_bytes>(b + signed_offset);
      pos = ping_message_bytes;
      break;
    }
  }
  if (pos != size) return parse_error::trailing_bytes;
  out = m;
  return parse_error::none;
}

bool verify_message_signature(const message_view& msg, signature_verifier& verifier) noexcept {
  std::string_view domain;
  switch (msg.type) {
    case message_type::prune: domain = prune_domain; break;
    case message_type::ping: domain = ping_domain; break;
    case message_type::pong: domain = pong_domain; break;
    default: return false;
  }
  if (msg.bytes.size() < signed_offset || msg.bytes.size() > max_packet_bytes) return false;
  std::array<std::uint8_t, max_signed_bytes> buf;
  const std::size_t n =
      build_signed(buf.data(), domain, msg.sender, msg.bytes.subspan(signed_offset));
  return verifier.verify(msg.sender, {buf.data(), n}, msg.signature);
}

crypto::hash32 pong_hash(const crypto::hash32& ping_token) noexcept {
  std::array<std::uint8_t, max_domain_bytes + hash_bytes> buf;
  const std::size_t n = build_signed(buf.data(), pong_hash_domain, {}, ping_token);
  return crypto::sha256({buf.data(), n});
}

value_packer::value_packer(message_type type, std::uint16_t shred_version,
                           const crypto::pubkey& sender) noexcept {
  write_header(buffer_.data(), type, shred_version, sender);
  reset();
}

void value_packer::reset() noexcept {
  size_ = message_header_bytes + 1;
  num_values_ = 0;
  buffer_[message_header_bytes] = 0;
}

bool value_packer::fits(std::size_t value_bytes) const noexcept {
  return num_values_ < max_values_per_message && max_packet_bytes - size_ >= value_bytes;
}

bool value_packer::try_add(std::span<const std::uint8_t> value_bytes) noexcept {
  if (!fits(value_bytes.size())) return false;
  std::memcpy(buffer_.data() + size_, value_bytes.data(), value_bytes.size());
  size_ += value_bytes.size();
  ++num_values_;
  buffer_[message_header_bytes] = static_cast<std::uint8_t>(num_values_);
  return true;
}

std::size_t pull_request_bytes(std::size_t num_keys, std::size_t num_bits) noexcept {
  return message_header_bytes + 1 + 8 * num_keys + bloom_fixed_bytes + 8 * ((num_bits + 63) / 64) +
         contact_info_value_bytes;
}

std::uint32_t max_pull_request_bits(std::size_t num_keys) noexcept {
  const std::size_t fixed = pull_request_bytes(num_keys, 0);
  if (fixed >= max_packet_bytes) return 0;
  const std::size_t bits = (max_packet_bytes - fixed) / 8 * 64;
  return static_cast<std::uint32_t>(bits < max_bloom_bits ? bits : max_bloom_bits);
}

std::size_t encode_pull_request(std::uint16_t shred_version, const crypto::pubkey& sender,
                                const bloom& filter, std::uint32_t mask_bits,
                                std::uint64_t mask, std::span<const std::uint8_t> contact_value,
                                std::span<std::uint8_t> out) noexcept {
  const std::size_t num_keys = filter.keys().size();
  if (num_keys == 0 || num_keys > max_bloom_keys || filter.num_bits() == 0) return 0;
  if (mask_bits > max_bloom_mask_bits || (mask >> mask_bits) != 0) return 0;
  const std::size_t size = message_header_bytes + 1 + 8 * num_keys + bloom_fixed_bytes +
                           8 * filter.words().size() + contact_value.size();
  if (size > max_packet_bytes || out.size() < size) return 0;
  std::uint8_t* const b = out.data();
  write_header(b, message_type::pull_request, shred_version, sender);
  std::size_t pos = message_header_bytes;
  b[pos++] = static_cast<std::uint8_t>(num_keys);
  for (const std::uint64_t key : filter.keys()) {
    store_le(b + pos, key, 8);
    pos += 8;
  }
  store_le(b + pos, filter.num_bits(), 4);
  b[pos + 4] = static_cast<std::uint8_t>(mask_bits);
  store_le(b + pos + 5, mask, 8);
  pos += bloom_fixed_bytes;
  for (const std::uint64_t word : filter.words()) {
    store_le(b + pos, word, 8);
    pos += 8;
  }
  std::memcpy(b + pos, contact_value.data(), contact_value.size());
  return pos + contact_value.size();
}

std::size_t encode_prune(std::uint16_t shred_version, const crypto::keypair& key,
                         const crypto::pubkey& destination, std::uint64_t wallclock_ms,
                         std::span<const crypto::pubkey> origins, const crypto::aux_rand& aux,
                         std::span<std::uint8_t> out) {
  if (origins.empty() || origins.size() > max_prune_origins) return 0;
  const std::size_t size = prune_fixed_bytes + pubkey_bytes * origins.size();
  if (out.size() < size) return 0;
  std::uint8_t* const b = out.data();
  write_header(b, message_type::prune, shred_version, key.public_key());
  std::memcpy(b + signed_offset, destination.data(), pubkey_bytes);
  store_le(b + signed_offset + pubkey_bytes, wallclock_ms, 8);
  b[prune_fixed_bytes - 1] = static_cast<std::uint8_t>(origins.size());
  for (std::size_t i = 0; i < origins.size(); ++i) {
    std::memcpy(b + prune_fixed_bytes + pubkey_bytes * i, origins[i].data(), pubkey_bytes);
  }
  sign_message(b, size, prune_domain, key, aux);
  return size;
}

std::size_t encode_ping(std::uint16_t shred_version, const crypto::keypair& key,
                        const crypto::hash32& token, const crypto::aux_rand& aux,
                        std::span<std::uint8_t> out) {
  return encode_token_message(message_type::ping, ping_domain, shred_version, key, token, aux,
                              out);
}

std::size_t encode_pong(std::uint16_t shred_version, const crypto::keypair& key,
                        const crypto::hash32& ping_token, const crypto::aux_rand& aux,
                        std::span<std::uint8_t> out) {
  return encode_token_message(message_type::pong, pong_domain, shred_version, key,
                              pong_hash(ping_token), aux, out);
}

}  // namespace riptide::gossip
