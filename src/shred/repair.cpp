#include <riptide/shred/repair.hpp>

#include <algorithm>
#include <stdexcept>

#include <riptide/util/prng.hpp>

namespace riptide::shred {

namespace {

// Field offsets (see the diagram in the header).
constexpr std::size_t kind_offset = repair_domain_bytes;                       // 17
constexpr std::size_t sender_offset = repair_header_bytes;                     // 18
constexpr std::size_t recipient_offset = sender_offset + crypto::pubkey_bytes;  // 50
constexpr std::size_t wallclock_offset = recipient_offset + crypto::pubkey_bytes;  // 82
constexpr std::size_t nonce_offset = wallclock_offset + 8;                     // 90
constexpr std::size_t version_offset = nonce_offset + 4;                       // 94
constexpr std::size_t slot_offset = version_offset + 2;                        // 96
constexpr std::size_t index_offset = slot_offset + 8;                          // 104
static_assert(index_offset == repair_common_bytes);
static_assert(repair_domain.size() == repair_domain_bytes);
static_assert(repair_indexed_request_bytes == 172 && repair_orphan_request_bytes == 168);
static_assert(max_repair_response_bytes <= UINT16_MAX);

std::uint64_t load_le(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

void store_le(std::uint8_t* p, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

bool has_index(repair_kind kind) noexcept { return kind != repair_kind::orphan; }

using util::mix64;

std::size_t table_mask(std::size_t capacity, std::size_t ways) {
  if (capacity == 0 || capacity > (std::size_t{1} << 24)) {
    throw std::invalid_argument("repair table capacity must be in 1 .. 2^24");
  }
  std::size_t n = ways;
  while (n < capacity) n <<= 1;
  return n - 1;
}

constexpr std::uint64_t milli_per_token = 1000;

}  // namespace

const char* to_string(repair_kind kind) noexcept {
  switch (kind) {
    case repair_kind::window_index: return "window_index";
    case repair_kind::highest_index: return "highest_index";
    case repair_kind::orphan: return "orphan";
  }
  return "unknown";
}

const char* to_string(repair_error error) noexcept {
  switch (error) {
    case repair_error::none: return "none";
    case repair_error::truncated_header: return "truncated_header";
    case repair_error::bad_domain: return "bad_domain";
    case repair_error::unknown_kind: return "unknown_kind";
    case repair_error::truncated: return "truncated";
    case repair_error::trailing_bytes: return "trailing_bytes";
    case repair_error::index_out_of_range: return "index_out_of_range";
    case repair_error::response_too_short: return "response_too_short";
    case repair_error::response_too_long: return "response_too_long";
    case repair_error::wrong_shred_version: return "wrong_shred_version";
    case repair_error::wrong_recipient: return "wrong_recipient";
    case repair_error::from_self: return "from_self";
    case repair_error::stale_wallclock: return "stale_wallclock";
    case repair_error::future_wallclock: return "future_wallclock";
    case repair_error::bad_signature: return "bad_signature";
  }
  return "unknown";
}

// ------------------------------------------------------------------------------- requests

repair_error parse_repair_request(std::span<const std::uint8_t> bytes,
                                  repair_request_view& out) noexcept {
  const std::uint8_t* b = bytes.data();
  const std::size_t size = bytes.size();
  if (size < repair_header_bytes) return repair_error::truncated_header;
  if (!is_repair_request(bytes)) return repair_error::bad_domain;
  const std::uint8_t kind_byte = b[kind_offset];
  if (kind_byte == 0 || kind_byte >= repair_kind_count) return repair_error::unknown_kind;
  const auto kind = static_cast<repair_kind>(kind_byte);
  const std::size_t expected = repair_request_bytes(kind);
  if (size < expected) return repair_error::truncated;
  if (size > expected) return repair_error::trailing_bytes;
  const std::uint32_t index =
      has_index(kind) ? static_cast<std::uint32_t>(load_le(b + index_offset, 4)) : 0;
  if (index >= max_shreds_per_slot) return repair_error::index_out_of_range;

  out.bytes_ = b;
  out.size_ = static_cast<std::uint16_t>(size);
  out.kind_ = kind;
  out.wallclock_ms_ = load_le(b + wallclock_offset, 8);
  out.nonce_ = static_cast<std::uint32_t>(load_le(b + nonce_offset, 4));
  out.shred_version_ = static_cast<std::uint16_t>(load_le(b + version_offset, 2));
  out.slot_ = load_le(b + slot_offset, 8);
  out.index_ = index;
  return repair_error::none;
}

namespace {

template <typename Verify>
repair_error check_request(const repair_request_view& request, std::uint64_t now_ms,
                           std::uint64_t max_age_ms, const crypto::pubkey& my_pubkey,
                           std::uint16_t my_shred_version, Verify&& verify) noexcept {
  if (request.empty()) return repair_error::bad_signature;
  if (request.shred_version() != my_shred_version) return repair_error::wrong_shred_version;
  if (request.recipient() != my_pubkey) return repair_error::wrong_recipient;
  if (request.sender() == my_pubkey) return repair_error::from_self;
  const std::uint64_t wallclock = request.wallclock_ms();
  if (wallclock < now_ms && now_ms - wallclock > max_age_ms) return repair_error::stale_wallclock;
  if (wallclock > now_ms && wallclock - now_ms > max_age_ms) {
    return repair_error::future_wallclock;
  }
  if (!verify(request.sender(), request.signed_message(), request.signature())) {
    return repair_error::bad_signature;
  }
  return repair_error::none;
}

}  // namespace

repair_error verify_repair_request(const repair_request_view& request, std::uint64_t now_ms,
                                   std::uint64_t max_age_ms, const crypto::pubkey& my_pubkey,
                                   std::uint16_t my_shred_version) noexcept {
  return check_request(request, now_ms, max_age_ms, my_pubkey, my_shred_version,
                       [](const crypto::pubkey& key, std::span<const std::uint8_t> msg,
                          const crypto::signature& sig) { return crypto::verify(key, msg, sig); });
}

repair_error verify_repair_request(const repair_request_view& request, std::uint64_t now_ms,
                                   std::uint64_t max_age_ms, const crypto::pubkey& my_pubkey,
                                   std::uint16_t my_shred_version,
                                   crypto::pubkey_cache& cache) noexcept {
  return check_request(request, now_ms, max_age_ms, my_pubkey, my_shred_version,
                       [&cache](const crypto::pubkey& key, std::span<const std::uint8_t> msg,
                                const crypto::signature& sig) {
                         return cache.verify(key, msg, sig);
                       });
}

namespace {

// Writes everything but the signature; returns the request's size or 0.
std::size_t write_unsigned(const crypto::pubkey& sender, const repair_request_fields& f,
                           std::span<std::uint8_t> out) noexcept {
  const std::size_t size = repair_request_bytes(f.kind);
  if (size == 0 || out.size() < size) return 0;
  if (f.index >= max_shreds_per_slot) return 0;
  if (!has_index(f.kind) && f.index != 0) return 0;
  std::uint8_t* b = out.data();
  std::memcpy(b, repair_domain.data(), repair_domain_bytes);
  b[kind_offset] = static_cast<std::uint8_t>(f.kind);
  std::memcpy(b + sender_offset, sender.data(), crypto::pubkey_bytes);
  std::memcpy(b + recipient_offset, f.recipient.data(), crypto::pubkey_bytes);
  store_le(b + wallclock_offset, f.wallclock_ms, 8);
  store_le(b + nonce_offset, f.nonce, 4);
  store_le(b + version_offset, f.shred_version, 2);
  store_le(b + slot_offset, f.slot, 8);
  if (has_index(f.kind)) store_le(b + index_offset, f.index, 4);
  return size;
}

template <typename Sign>
std::size_t build(const crypto::keypair& key, const repair_request_fields& fields,
                  std::span<std::uint8_t> out, Sign&& sign) {
  if (key.empty()) throw std::logic_error("build_repair_request: empty keypair");
  const std::size_t size = write_unsigned(key.public_key(), fields, out);
  if (size == 0) return 0;
  const std::size_t signed_bytes = size - crypto::signature_bytes;
  const crypto::signature sig = sign(std::span<const std::uint8_t>(out.data(), signed_bytes));
  std::memcpy(out.data() + signed_bytes, sig.data(), sig.size());
  return size;
}

}  // namespace

std::size_t build_repair_request(const crypto::keypair& key, const repair_request_fields& fields,
                                 std::span<std::uint8_t> out) {
  return build(key, fields, out, [&key](std::span<const std::uint8_t> msg) {
    return key.sign(msg);
  });
}

std::size_t build_repair_request(const crypto::keypair& key, const repair_request_fields& fields,
                                 const crypto::aux_rand& aux, std::span<std::uint8_t> out) {
  return build(key, fields, out, [&key, &aux](std::span<const std::uint8_t> msg) {
    return key.sign(msg, aux);
  });
}

// ------------------------------------------------------------------------------ responses

std::size_t encode_repair_response(std::span<const std::uint8_t> shred, std::uint32_t nonce,
                                   std::span<std::uint8_t> out) noexcept {
  if (shred.size() < min_repair_response_shred_bytes || shred.size() > max_shred_bytes) return 0;
  const std::size_t size = shred.size() + repair_nonce_bytes;
  if (out.size() < size) return 0;
  // memmove: a responder may build the response in place behind a shred already in out.
  std::memmove(out.data(), shred.data(), shred.size());
  store_le(out.data() + shred.size(), nonce, repair_nonce_bytes);
  return size;
}

repair_error parse_repair_response(std::span<const std::uint8_t> bytes,
                                   repair_response_view& out) noexcept {
  if (bytes.size() > max_repair_response_bytes) return repair_error::response_too_long;
  if (bytes.size() < min_repair_response_shred_bytes + repair_nonce_bytes) {
    return repair_error::response_too_short;
  }
  const std::size_t shred_size = bytes.size() - repair_nonce_bytes;
  out.shred = bytes.first(shred_size);
  out.nonce = static_cast<std::uint32_t>(load_le(bytes.data() + shred_size, repair_nonce_bytes));
  return repair_error::none;
}

// --------------------------------------------------------------------------- rate limiter

repair_rate_limiter::repair_rate_limiter(std::size_t capacity, std::uint32_t rate_per_second,
                                         std::uint32_t burst, std::uint64_t hash_seed)
    : mask_(table_mask(capacity, ways)),
      seed_(hash_seed),
      rate_per_second_(rate_per_second),
      burst_milli_(std::uint64_t{burst} * milli_per_token) {
  constexpr std::uint32_t limit = 1u << 20;
  if (rate_per_second == 0 || rate_per_second > limit) {
    throw std::invalid_argument("repair_rate_limiter: rate_per_second must be in 1 .. 2^20");
  }
  if (burst == 0 || burst > limit) {
    throw std::invalid_argument("repair_rate_limiter: burst must be in 1 .. 2^20");
  }
  slots_ = std::make_unique<slot[]>(mask_ + 1);
}

std::size_t repair_rate_limiter::set_of(const crypto::pubkey& peer) const noexcept {
  std::uint64_t a = 0, b = 0;
  std::memcpy(&a, peer.data(), 8);
  std::memcpy(&b, peer.data() + 8, 8);
  return static_cast<std::size_t>(mix64(mix64(a ^ seed_) ^ b)) & (mask_ & ~(ways - 1));
}

std::uint64_t repair_rate_limiter::refilled(const slot& s, std::uint64_t now_ms) const noexcept {
  if (now_ms <= s.last_ms) return s.milli_tokens;
  // 1 token per second is 1 milli-token per millisecond. Saturate instead of overflowing on a
  // long absence: anything past burst is capped anyway.
  const std::uint64_t elapsed = now_ms - s.last_ms;
  if (elapsed >= burst_milli_) return burst_milli_;  // rate >= 1, so this refills fully
  return std::min(burst_milli_, s.milli_tokens + elapsed * rate_per_second_);
}

bool repair_rate_limiter::try_acquire(const crypto::pubkey& peer, std::uint64_t now_ms) noexcept {
  slot* set = slots_.get() + set_of(peer);
  slot* victim = nullptr;
  for (std::size_t w = 0; w < ways; ++w) {
    slot& s = set[w];
    if (s.used && s.peer == peer) {
      s.milli_tokens = refilled(s, now_ms);
      s.last_ms = std::max(s.last_ms, now_ms);
      if (s.milli_tokens < milli_per_token) {
        ++stats_.limited;
        return false;
      }
      s.milli_tokens -= milli_per_token;
      ++stats_.allowed;
      return true;
    }
    if (!s.used) {
      if (victim == nullptr || victim->used) victim = &s;
    } else if (victim == nullptr || (victim->used && s.last_ms < victim->last_ms)) {
      victim = &s;
    }
  }
  if (victim->used) {
    ++stats_.evicted;
  } else {
    ++size_;
  }
  ++stats_.inserted;
  victim->used = true;
  victim->peer = peer;
  victim->last_ms = now_ms;
  victim->milli_tokens = burst_milli_ - milli_per_token;
  ++stats_.allowed;
  return true;
}

void repair_rate_limiter::release(const crypto::pubkey& peer, std::uint64_t now_ms) noexcept {
  slot* set = slots_.get() + set_of(peer);
  for (std::size_t w = 0; w < ways; ++w) {
    slot& s = set[w];
    if (s.used && s.peer == peer) {
      s.milli_tokens = std::min(burst_milli_, refilled(s, now_ms) + milli_per_token);
      s.last_ms = std::max(s.last_ms, now_ms);
      return;
    }
  }
}

std::uint32_t repair_rate_limiter::tokens(const crypto::pubkey& peer,
                                          std::uint64_t now_ms) const noexcept {
  const slot* set = slots_.get() + set_of(peer);
  for (std::size_t w = 0; w < ways; ++w) {
    const slot& s = set[w];
    if (s.used && s.peer == peer) {
      return static_cast<std::uint32_t>(refilled(s, now_ms) / milli_per_token);
    }
  }
  return static_cast<std::uint32_t>(burst_milli_ / milli_per_token);
}

// --------------------------------------------------------------------------- nonce tracker

repair_nonce_tracker::repair_nonce_tracker(std::size_t capacity, std::uint64_t timeout_ms)
    : mask_(table_mask(capacity, ways)), timeout_ms_(timeout_ms) {
  slots_ = std::make_unique<slot[]>(mask_ + 1);
}

std::size_t repair_nonce_tracker::set_of(std::uint32_t nonce) const noexcept {
  return static_cast<std::size_t>(mix64(nonce)) & (mask_ & ~(ways - 1));
}

bool repair_nonce_tracker::expect(const outstanding& request) noexcept {
  slot* set = slots_.get() + set_of(request.nonce);
  const std::uint64_t now_ms = request.sent_ms;
  slot* victim = nullptr;
  // Preference for the slot to take: free, then expired, then the oldest live one.
  auto rank = [&](const slot& s) { return !s.used ? 0 : is_expired(s, now_ms) ? 1 : 2; };
  for (std::size_t w = 0; w < ways; ++w) {
    slot& s = set[w];
    if (s.used && s.request.nonce == request.nonce) {
      if (!is_expired(s, now_ms)) {
        ++stats_.duplicate_nonce;
        return false;
      }
      victim = &s;  // the same nonce, expired: reuse its slot
      break;
    }
    if (victim == nullptr || rank(s) < rank(*victim) ||
        (rank(s) == rank(*victim) && s.request.sent_ms < victim->request.sent_ms)) {
      victim = &s;
    }
  }
  if (!victim->used) {
    ++size_;
  } else if (is_expired(*victim, now_ms)) {
    ++stats_.expired;
  } else {
    ++stats_.evicted;
  }
  victim->used = true;
  victim->request = request;
  ++stats_.expected;
  return true;
}

bool repair_nonce_tracker::match(std::uint32_t nonce, std::uint64_t slot_number,
                                 std::uint32_t index, std::uint64_t now_ms,
                                 outstanding* matched_out) noexcept {
  slot* set = slots_.get() + set_of(nonce);
  for (std::size_t w = 0; w < ways; ++w) {
    slot& s = set[w];
    if (!s.used || s.request.nonce != nonce) continue;
    if (is_expired(s, now_ms)) {
      s.used = false;
      --size_;
      ++stats_.expired;
      return false;
    }
    const outstanding& r = s.request;
    bool answers = false;
    switch (r.kind) {
      case repair_kind::window_index:
        answers = slot_number == r.slot && index == r.index;
        break;
      case repair_kind::highest_index:
        answers = slot_number == r.slot && index >= r.index;
        break;
      case repair_kind::orphan:
        answers = slot_number < r.slot;
        break;
    }
    if (!answers) {
      ++stats_.mismatched;
      return false;
    }
    if (matched_out != nullptr) *matched_out = r;
    s.used = false;
    --size_;
    ++stats_.matched;
    return true;
  }
  ++stats_.unknown_nonce;
  return false;
}

std::size_t repair_nonce_tracker::expire(std::uint64_t now_ms) noexcept {
  std::size_t removed = 0;
  for (std::size_t i = 0; i <= mask_; ++i) {
    slot& s = slots_[i];
    if (s.used && is_expired(s, now_ms)) {
      s.used = false;
      ++removed;
    }
  }
  size_ -= removed;
  stats_.expired += removed;
  return removed;
}

}  // namespace riptide::shred
