#include <riptide/consensus/vote.hpp>

#include <riptide/util/le_bytes.hpp>

namespace riptide::consensus {

const char* to_string(vote_parse_error e) noexcept {
  switch (e) {
    case vote_parse_error::none: return "none";
    case vote_parse_error::truncated: return "truncated";
    case vote_parse_error::unknown_kind: return "unknown_kind";
    case vote_parse_error::unknown_flags: return "unknown_flags";
    case vote_parse_error::root_without_flag: return "root_without_flag";
    case vote_parse_error::time_without_flag: return "time_without_flag";
    case vote_parse_error::no_lockouts: return "no_lockouts";
    case vote_parse_error::too_many_lockouts: return "too_many_lockouts";
    case vote_parse_error::not_a_tower: return "not_a_tower";
    case vote_parse_error::trailing_bytes: return "trailing_bytes";
  }
  return "?";
}

std::size_t tower_sync_size(const tower_sync& v) noexcept {
  const std::size_t n = v.votes.votes().size();
  return n == 0 ? 0 : tower_sync_header_bytes + lockout_bytes * n;
}

std::size_t encode_tower_sync(const tower_sync& v, std::span<std::uint8_t> out) noexcept {
  const std::size_t size = tower_sync_size(v);
  if (size == 0 || out.size() < size) return 0;
  util::le_writer w(out);
  const auto root = v.votes.root();
  w.u32(vote_kind_tower_sync);
  w.u8(static_cast<std::uint8_t>((root ? vote_flag_root : 0) | (v.timestamp_ms ? vote_flag_timestamp : 0)));
  w.u64(root.value_or(0));
  w.bytes(v.bank_hash);
  w.i64(v.timestamp_ms.value_or(0));
  w.u8(static_cast<std::uint8_t>(v.votes.votes().size()));
  for (const lockout& l : v.votes.votes()) {
    w.u64(l.slot);
    w.u8(static_cast<std::uint8_t>(l.confirmation_count));
  }
  return w.ok() ? w.size() : 0;
}

vote_parse_error parse_tower_sync(std::span<const std::uint8_t> data, tower_sync& out) noexcept {
  if (data.size() < tower_sync_header_bytes) return vote_parse_error::truncated;
  util::le_reader r(data);
  if (r.u32() != vote_kind_tower_sync) return vote_parse_error::unknown_kind;
  const std::uint8_t flags = r.u8();
  if ((flags & ~(vote_flag_root | vote_flag_timestamp)) != 0) return vote_parse_error::unknown_flags;
  const std::uint64_t root = r.u64();
  if (root != 0 && (flags & vote_flag_root) == 0) return vote_parse_error::root_without_flag;
  crypto::hash32 bank_hash{};
  r.bytes(bank_hash);
  const std::int64_t timestamp = r.i64();
  if (timestamp != 0 && (flags & vote_flag_timestamp) == 0) return vote_parse_error::time_without_flag;
  const std::size_t n = r.u8();
  if (n == 0) return vote_parse_error::no_lockouts;
  if (n > max_lockout_history) return vote_parse_error::too_many_lockouts;
  if (r.remaining() < n * lockout_bytes) return vote_parse_error::truncated;
  std::array<lockout, max_lockout_history> lockouts{};
  for (std::size_t i = 0; i < n; ++i) {
    lockouts[i].slot = r.u64();
    lockouts[i].confirmation_count = r.u8();
  }
  if (r.remaining() != 0) return vote_parse_error::trailing_bytes;
  const auto t = tower::from(std::span(lockouts.data(), n),
                             (flags & vote_flag_root) != 0 ? std::optional<std::uint64_t>(root) : std::nullopt);
  if (!t) return vote_parse_error::not_a_tower;
  out.votes = *t;
  out.bank_hash = bank_hash;
  out.timestamp_ms = (flags & vote_flag_timestamp) != 0 ? std::optional<std::int64_t>(timestamp) : std::nullopt;
  return vote_parse_error::none;
}

}  // namespace riptide::consensus
