#include <riptide/ledger/entry_codec.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace riptide::ledger {

namespace {
constexpr std::uint8_t flag_tick = 1;
constexpr std::uint8_t flag_mixin = 2;

template <typename T>
void put(std::uint8_t* p, T v) noexcept {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
template <typename T>
T get(const std::uint8_t* p) noexcept {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v | static_cast<T>(static_cast<T>(p[i]) << (8 * i)));
  return v;
}
}  // namespace

const char* to_string(entry_error e) noexcept {
  switch (e) {
    case entry_error::none: return "none";
    case entry_error::truncated_count: return "truncated_count";
    case entry_error::truncated_entry: return "truncated_entry";
    case entry_error::bad_flags: return "bad_flags";
    case entry_error::zero_hashes: return "zero_hashes";
    case entry_error::truncated_txs: return "truncated_txs";
    case entry_error::trailing_bytes: return "trailing_bytes";
    case entry_error::bad_meta_size: return "bad_meta_size";
    case entry_error::bad_meta_version: return "bad_meta_version";
    case entry_error::bad_meta_kind: return "bad_meta_kind";
    case entry_error::tick_with_txs: return "tick_with_txs";
    case entry_error::txs_without_mixin: return "txs_without_mixin";
    case entry_error::empty_tx: return "empty_tx";
    case entry_error::bad_state_size: return "bad_state_size";
    case entry_error::bad_state_version: return "bad_state_version";
    case entry_error::bad_state_order: return "bad_state_order";
    case entry_error::zero_state_lamports: return "zero_state_lamports";
    case entry_error::bad_state_voters: return "bad_state_voters";
  }
  return "unknown";
}

bool tx_reader::next(entry_tx& out) noexcept {
  if (remaining_ == 0 || txs_.size() - offset_ < tx_header_bytes) return false;
  const std::uint8_t* p = txs_.data() + offset_;
  const std::uint16_t len = get<std::uint16_t>(p);
  if (txs_.size() - offset_ - tx_header_bytes < len) return false;
  out.result = p[2];
  out.body = txs_.subspan(offset_ + tx_header_bytes, len);
  offset_ += tx_header_bytes + len;
  --remaining_;
  return true;
}

std::size_t add_entry(std::span<std::uint8_t> out, std::size_t used, const crypto::poh_entry& e,
                      bool is_tick, std::uint32_t tx_count,
                      std::span<const std::uint8_t> txs) noexcept {
  if (used < batch_header_bytes) used = batch_header_bytes;
  const std::size_t need = entry_bytes(e.has_mixin, txs.size());
  if (out.size() < used || out.size() - used < need) return 0;
  std::uint8_t* p = out.data() + used;
  put<std::uint64_t>(p, e.num_hashes);
  std::memcpy(p + 8, e.hash.data(), 32);
  p[40] = static_cast<std::uint8_t>((is_tick ? flag_tick : 0) | (e.has_mixin ? flag_mixin : 0));
  std::size_t off = 41;
  if (e.has_mixin) {
    std::memcpy(p + off, e.mixin.data(), 32);
    off += 32;
  }
  put<std::uint32_t>(p + off, tx_count);
  off += 4;
  if (!txs.empty()) std::memcpy(p + off, txs.data(), txs.size());
  return used + off + txs.size();
}

void finish_batch(std::span<std::uint8_t> out, std::uint32_t entry_count) noexcept {
  put<std::uint32_t>(out.data(), entry_count);
}

entry_error decode_batch(std::span<const std::uint8_t> payload, std::vector<decoded_entry>& out) {
  if (payload.size() < 4) return entry_error::truncated_count;
  const std::uint32_t count = get<std::uint32_t>(payload.data());
  std::size_t off = 4;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (payload.size() - off < 41) return entry_error::truncated_entry;
    const std::uint8_t* p = payload.data() + off;
    decoded_entry d;
    d.entry.num_hashes = get<std::uint64_t>(p);
    std::memcpy(d.entry.hash.data(), p + 8, 32);
    const std::uint8_t flags = p[40];
    if ((flags & ~(flag_tick | flag_mixin)) != 0 || (flags & flag_tick && flags & flag_mixin))
      return entry_error::bad_flags;
    if (d.entry.num_hashes == 0) return entry_error::zero_hashes;
    d.is_tick = (flags & flag_tick) != 0;
    d.entry.has_mixin = (flags & flag_mixin) != 0;
    off += 41;
    if (d.entry.has_mixin) {
      if (payload.size() - off < 32) return entry_error::truncated_entry;
      std::memcpy(d.entry.mixin.data(), payload.data() + off, 32);
      off += 32;
    }
    if (payload.size() - off < 4) return entry_error::truncated_entry;
    d.tx_count = get<std::uint32_t>(payload.data() + off);
    off += 4;
    if (d.tx_count != 0 && d.is_tick) return entry_error::tick_with_txs;
    if (d.tx_count != 0 && !d.entry.has_mixin) return entry_error::txs_without_mixin;
    const std::size_t area_start = off;
    for (std::uint32_t t = 0; t < d.tx_count; ++t) {
      if (payload.size() - off < tx_header_bytes) return entry_error::truncated_txs;
      const std::uint16_t len = get<std::uint16_t>(payload.data() + off);
      off += tx_header_bytes;
      if (len == 0) return entry_error::empty_tx;
      if (payload.size() - off < len) return entry_error::truncated_txs;
      off += len;
    }
    d.txs = payload.subspan(area_start, off - area_start);
    out.push_back(d);
  }
  return off == payload.size() ? entry_error::none : entry_error::trailing_bytes;
}

std::size_t encode_meta(const slot_meta& m, std::span<std::uint8_t> out) noexcept {
  if (out.size() < slot_meta_bytes) return 0;
  std::uint8_t* p = out.data();
  put<std::uint32_t>(p, slot_meta_version);
  put<std::uint32_t>(p + 4, static_cast<std::uint32_t>(m.kind));
  put<std::uint64_t>(p + 8, m.hashes_per_tick);
  put<std::uint64_t>(p + 16, m.ticks_per_slot);
  put<std::uint64_t>(p + 24, m.tick_height);
  std::memcpy(p + 32, m.hash.data(), 32);
  std::memcpy(p + 64, m.bank_hash.data(), 32);
  put<std::uint64_t>(p + 96, m.parent_slot);
  std::memcpy(p + 104, m.leader.data(), 32);
  return slot_meta_bytes;
}

entry_error decode_meta(std::span<const std::uint8_t> payload, slot_meta& out) noexcept {
  // The version comes first so that a record of another version says so, not just its size.
  if (payload.size() < 4) return entry_error::bad_meta_size;
  const std::uint8_t* p = payload.data();
  if (get<std::uint32_t>(p) != slot_meta_version) return entry_error::bad_meta_version;
  if (payload.size() != slot_meta_bytes) return entry_error::bad_meta_size;
  const std::uint32_t kind = get<std::uint32_t>(p + 4);
  if (kind != 1 && kind != 2) return entry_error::bad_meta_kind;
  out.kind = static_cast<meta_kind>(kind);
  out.hashes_per_tick = get<std::uint64_t>(p + 8);
  out.ticks_per_slot = get<std::uint64_t>(p + 16);
  out.tick_height = get<std::uint64_t>(p + 24);
  std::memcpy(out.hash.data(), p + 32, 32);
  std::memcpy(out.bank_hash.data(), p + 64, 32);
  out.parent_slot = get<std::uint64_t>(p + 96);
  std::memcpy(out.leader.data(), p + 104, 32);
  return entry_error::none;
}

std::vector<std::uint8_t> encode_start_state(const start_state& state) {
  std::vector<std::uint8_t> out;
  out.reserve(start_state_header_bytes + start_account_bytes * state.accounts.size() +
              start_voter_bytes * state.voters.size());
  std::array<std::uint8_t, start_state_header_bytes> header{};
  put<std::uint32_t>(header.data(), start_state_version);
  put<std::uint32_t>(header.data() + 4, static_cast<std::uint32_t>(state.accounts.size()));
  put<std::uint64_t>(header.data() + 8, state.lamports_per_signature);
  put<std::uint32_t>(header.data() + 16, static_cast<std::uint32_t>(state.voters.size()));
  out.insert(out.end(), header.begin(), header.end());
  for (const start_account& a : state.accounts) {
    std::array<std::uint8_t, start_account_bytes> item{};
    std::memcpy(item.data(), a.key.data(), 32);
    put<std::uint64_t>(item.data() + 32, a.lamports);
    out.insert(out.end(), item.begin(), item.end());
  }
  for (const crypto::pubkey& v : state.voters) out.insert(out.end(), v.begin(), v.end());
  return out;
}

void sort_start_state(std::vector<start_account>& accounts) {
  std::sort(accounts.begin(), accounts.end(),
            [](const start_account& a, const start_account& b) { return a.key < b.key; });
  std::vector<start_account> merged;
  merged.reserve(accounts.size());
  for (const start_account& a : accounts) {
    if (!merged.empty() && merged.back().key == a.key) {
      const std::uint64_t sum = merged.back().lamports + a.lamports;
      merged.back().lamports = sum < a.lamports ? ~std::uint64_t{0} : sum;
    } else {
      merged.push_back(a);
    }
  }
  std::erase_if(merged, [](const start_account& a) { return a.lamports == 0; });
  accounts = std::move(merged);
}

entry_error decode_start_state(std::span<const std::uint8_t> payload, start_state& state) {
  std::vector<start_account>& out = state.accounts;
  out.clear();
  state.voters.clear();
  state.lamports_per_signature = 0;
  // The version comes first so that a record of another version says so, not just its size.
  if (payload.size() < 4) return entry_error::bad_state_size;
  const std::uint8_t* p = payload.data();
  if (get<std::uint32_t>(p) != start_state_version) return entry_error::bad_state_version;
  if (payload.size() < start_state_header_bytes) return entry_error::bad_state_size;
  const std::uint64_t count = get<std::uint32_t>(p + 4);
  const std::uint64_t voters = get<std::uint32_t>(p + 16);
  if (payload.size() != start_state_header_bytes + start_account_bytes * count + start_voter_bytes * voters)
    return entry_error::bad_state_size;
  if (get<std::uint32_t>(p + 20) != 0) return entry_error::bad_state_voters;
  const std::uint64_t fee = get<std::uint64_t>(p + 8);
  p += start_state_header_bytes;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i, p += start_account_bytes) {
    start_account a;
    std::memcpy(a.key.data(), p, 32);
    a.lamports = get<std::uint64_t>(p + 32);
    if (!out.empty() && !(out.back().key < a.key)) {
      out.clear();
      return entry_error::bad_state_order;
    }
    if (a.lamports == 0) {
      out.clear();
      return entry_error::zero_state_lamports;
    }
    out.push_back(a);
  }
  state.voters.reserve(voters);
  for (std::uint64_t i = 0; i < voters; ++i, p += start_voter_bytes) {
    crypto::pubkey v;
    std::memcpy(v.data(), p, 32);
    if (std::find(state.voters.begin(), state.voters.end(), v) != state.voters.end()) {
      out.clear();
      state.voters.clear();
      return entry_error::bad_state_voters;
    }
    state.voters.push_back(v);
  }
  state.lamports_per_signature = fee;
  return entry_error::none;
}

}  // namespace riptide::ledger
