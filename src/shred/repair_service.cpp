#include <riptide/shred/repair_service.hpp>

#include <algorithm>
#include <stdexcept>

#include <riptide/util/prng.hpp>

namespace riptide::shred {

namespace {

using util::mix64;

std::size_t kind_slot(repair_kind kind) noexcept { return static_cast<std::size_t>(kind); }

std::uint64_t key_seed(const crypto::pubkey& key) noexcept {
  std::uint64_t seed = 0;
  for (std::size_t i = 0; i < 8; ++i) seed |= std::uint64_t{key[i]} << (8 * i);
  return seed;
}

// The client asks the peer-limit table about every peer: size it for all of them.
std::size_t limiter_capacity(std::size_t peers) noexcept {
  return std::max<std::size_t>(repair_rate_limiter::ways, 2 * peers);
}

}  // namespace

// ------------------------------------------------------------------------------ server

repair_server::repair_server(const crypto::pubkey& self, const repair_server_config& config,
                             std::span<const crypto::pubkey> peers, const shred_store& store,
                             const shred_archive* archive)
    : self_(self),
      config_(config),
      store_(store),
      archive_(archive),
      limiter_(config.max_requesters, config.rate_per_second, config.burst, key_seed(self)),
      keys_(std::max<std::size_t>(2, 2 * peers.size())) {
  peers_by_key_.reserve(peers.size());
  for (std::size_t i = 0; i < peers.size(); ++i) {
    peers_by_key_.emplace_back(peers[i], static_cast<std::uint32_t>(i));
  }
  // Stable: a key listed twice resolves to its first index.
  std::stable_sort(peers_by_key_.begin(), peers_by_key_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

repair_server::~repair_server() = default;

std::optional<std::uint32_t> repair_server::peer_index(
    const crypto::pubkey& key) const noexcept {
  const auto it = std::lower_bound(peers_by_key_.begin(), peers_by_key_.end(), key,
                                   [](const auto& entry, const crypto::pubkey& k) {
                                     return entry.first < k;
                                   });
  if (it == peers_by_key_.end() || it->first != key) return std::nullopt;
  return it->second;
}

std::uint64_t repair_server::refused() const noexcept {
  std::uint64_t total = counters_.unknown_sender + counters_.rate_limited;
  for (const std::uint64_t n : counters_.dropped) total += n;
  return total;
}

bool repair_server::respond(std::span<const std::uint8_t> shred, std::uint32_t nonce,
                            std::uint32_t peer, repair_packet_sink& sink) noexcept {
  const std::size_t size = encode_repair_response(shred, nonce, packet_);
  if (size == 0) return false;  // a stored shred always fits; kept for safety
  sink.on_packet(peer, std::span<const std::uint8_t>(packet_).first(size));
  ++counters_.responses;
  return true;
}

std::size_t repair_server::handle(std::span<const std::uint8_t> request, std::uint64_t now_ms,
                                  repair_packet_sink& sink) noexcept {
  ++counters_.requests;
  repair_request_view req;
  if (const repair_error e = parse_repair_request(request, req); e != repair_error::none) {
    ++counters_.dropped[static_cast<std::size_t>(e)];
    return 0;
  }
  // Membership before the signature: a stranger costs a binary search, not a verification.
  const std::optional<std::uint32_t> peer = peer_index(req.sender());
  if (!peer) {
    ++counters_.unknown_sender;
    return 0;
  }
  if (const repair_error e = verify_repair_request(req, now_ms, config_.wallclock_window_ms,
                                                   self_, config_.shred_version, keys_);
      e != repair_error::none) {
    ++counters_.dropped[static_cast<std::size_t>(e)];
    return 0;
  }
  if (!limiter_.try_acquire(req.sender(), now_ms)) {
    ++counters_.rate_limited;
    return 0;
  }
  std::size_t sent = 0;
  switch (req.kind()) {
    case repair_kind::window_index:
      sent += respond(data_of(req.slot(), req.index()), req.nonce(), *peer, sink) ? 1 : 0;
      break;
    case repair_kind::highest_index:
      sent += respond(highest_of(req.slot(), req.index()), req.nonce(), *peer, sink) ? 1 : 0;
      break;
    case repair_kind::orphan: {
      // Walk the chain back while the store (or the archive) knows it: each ancestor's
      // highest data shred tells the requester that slot's parent (and how far the slot goes).
      std::uint64_t slot = req.slot();
      for (std::uint32_t n = 0; n < config_.orphan_ancestors; ++n) {
        const std::optional<std::uint64_t> parent = parent_of(slot);
        if (!parent || *parent >= slot) break;  // unknown, or slot 0 (its own parent)
        const std::span<const std::uint8_t> shred = highest_of(*parent, 0);
        if (shred.empty() || !respond(shred, req.nonce(), *peer, sink)) break;
        ++sent;
        slot = *parent;
      }
      break;
    }
  }
  if (sent == 0) {
    ++counters_.not_found;
  } else {
    ++counters_.answered[kind_slot(req.kind())];
  }
  return sent;
}

std::span<const std::uint8_t> repair_server::data_of(std::uint64_t slot,
                                                    std::uint32_t index) noexcept {
  const std::span<const std::uint8_t> held = store_.data(slot, index);
  if (!held.empty() || archive_ == nullptr) return held;
  const std::span<const std::uint8_t> archived = archive_->data(slot, index);
  counters_.from_archive += archived.empty() ? 0 : 1;
  return archived;
}

std::span<const std::uint8_t> repair_server::highest_of(std::uint64_t slot,
                                                       std::uint32_t at_or_above) noexcept {
  const std::span<const std::uint8_t> held = store_.highest_data(slot, at_or_above);
  if (!held.empty() || archive_ == nullptr) return held;
  const std::span<const std::uint8_t> archived = archive_->highest_data(slot, at_or_above);
  counters_.from_archive += archived.empty() ? 0 : 1;
  return archived;
}

std::optional<std::uint64_t> repair_server::parent_of(std::uint64_t slot) const noexcept {
  const std::optional<std::uint64_t> held = store_.parent_of(slot);
  if (held || archive_ == nullptr) return held;
  return archive_->parent_of(slot);
}

// ------------------------------------------------------------------------------ client

repair_client::repair_client(const crypto::keypair& identity, const repair_client_config& config,
                             std::span<const crypto::pubkey> peers, std::uint32_t self_index)
    : identity_(identity),
      config_(config),
      peers_(peers.begin(), peers.end()),
      self_index_(self_index),
      rng_(config.seed),
      nonces_(config.nonce_slots, config.nonce_ttl_ms) {
  if (config_.max_requests_per_plan == 0 || config_.retry_slots == 0 ||
      config_.max_slots_per_plan == 0 || config_.orphan_responses == 0 ||
      config_.peers_per_target == 0) {
    throw std::invalid_argument(
        "repair_client: max_requests_per_plan, retry_slots, max_slots_per_plan, "
        "peers_per_target and orphan_responses must be at least 1");
  }
  if (config_.retry_slots > (std::size_t{1} << 24) || config_.max_slots_per_plan > (1u << 20) ||
      config_.peers_per_target > 64) {
    throw std::invalid_argument(
        "repair_client: retry_slots <= 2^24, max_slots_per_plan <= 2^20, peers_per_target <= 64");
  }
  if (config_.peer_rate_per_second != 0) {
    peer_limit_ = std::make_unique<repair_rate_limiter>(
        limiter_capacity(peers_.size()), config_.peer_rate_per_second, config_.peer_burst,
        config_.seed);
  }
  std::size_t n = retry_ways;
  while (n < config_.retry_slots) n <<= 1;
  retry_mask_ = n - 1;
  retry_ = std::make_unique<retry_entry[]>(n);
  eligible_peers_ = peers_.size() - (self_index_ < peers_.size() ? 1 : 0);
  slot_buffer_.resize(config_.max_slots_per_plan);
  index_buffer_.resize(256);
  excluded_.resize(config_.peers_per_target);
}

repair_client::~repair_client() = default;

std::uint64_t repair_client::requests_sent() const noexcept {
  std::uint64_t total = 0;
  for (const std::uint64_t n : counters_.requests) total += n;
  return total;
}

repair_client::retry_entry* repair_client::retry_set(std::uint64_t slot, repair_kind kind,
                                                     std::uint32_t index) noexcept {
  const std::uint64_t key = mix64(slot * 0x9e3779b97f4a7c15ull ^
                                  (std::uint64_t{index} << 2 | kind_slot(kind)));
  return retry_.get() + (static_cast<std::size_t>(key) & (retry_mask_ & ~(retry_ways - 1)));
}

bool repair_client::waiting(std::uint64_t slot, repair_kind kind, std::uint32_t index,
                            std::uint64_t now_ms) noexcept {
  const retry_entry* set = retry_set(slot, kind, index);
  for (std::size_t w = 0; w < retry_ways; ++w) {
    const retry_entry& e = set[w];
    if (e.used && e.slot == slot && e.kind == kind && e.index == index) {
      // A clock that stepped back does not hold a target back.
      return now_ms >= e.asked_ms && now_ms - e.asked_ms < config_.retry_ms;
    }
  }
  return false;
}

void repair_client::remember(std::uint64_t slot, repair_kind kind, std::uint32_t index,
                             std::uint64_t now_ms) noexcept {
  retry_entry* set = retry_set(slot, kind, index);
  retry_entry* victim = nullptr;
  for (std::size_t w = 0; w < retry_ways; ++w) {
    retry_entry& e = set[w];
    if (e.used && e.slot == slot && e.kind == kind && e.index == index) {
      victim = &e;
      break;
    }
    // Otherwise a free way, else the least recently asked target (at worst asked early).
    if (victim == nullptr || (!e.used && victim->used) ||
        (e.used == victim->used && e.asked_ms < victim->asked_ms)) {
      victim = &e;
    }
  }
  victim->used = true;
  victim->slot = slot;
  victim->kind = kind;
  victim->index = index;
  victim->asked_ms = now_ms;
}

std::uint32_t repair_client::choose_peer(std::uint64_t slot, repair_kind kind,
                                         repair_peer_picker* picker,
                                         std::size_t chosen) noexcept {
  auto valid = [&](std::uint32_t p) { return p < peers_.size() && p != self_index_; };
  if (picker != nullptr) {
    // A few draws for a peer not asked yet for this target, else the last one drawn again:
    // a second request to the same peer still helps against loss.
    std::uint32_t p = picker->pick(slot, kind, rng_.next());
    for (int attempt = 1; attempt < 4 && valid(p); ++attempt) {
      const auto end = excluded_.begin() + static_cast<std::ptrdiff_t>(chosen);
      if (std::find(excluded_.begin(), end, p) == end) break;
      p = picker->pick(slot, kind, rng_.next());
    }
    return valid(p) ? p : no_peer;
  }
  if (eligible_peers_ == 0) return no_peer;
  // Uniform over the peers that are neither self nor asked already for this target (over all
  // but self once every one has been): draw a rank among them, then step over the excluded
  // indices (sorted) at or below it.
  if (chosen >= eligible_peers_) chosen = 0;
  auto p = static_cast<std::uint32_t>(rng_.uniform(eligible_peers_ - chosen));
  std::array<std::uint32_t, 65> skip{};
  std::size_t n = 0;
  if (self_index_ < peers_.size()) skip[n++] = self_index_;
  for (std::size_t i = 0; i < chosen; ++i) skip[n++] = excluded_[i];
  std::sort(skip.begin(), skip.begin() + static_cast<std::ptrdiff_t>(n));
  for (std::size_t i = 0; i < n && skip[i] <= p; ++i) ++p;
  return p;
}

bool repair_client::ask(repair_kind kind, std::uint64_t slot, std::uint32_t index,
                        std::uint64_t now_ms, repair_packet_sink& sink,
                        repair_peer_picker* picker) {
  if (budget_ == 0) return false;
  if (waiting(slot, kind, index, now_ms)) {
    ++counters_.waiting;
    return true;
  }
  std::size_t sent = 0;
  std::size_t chosen = 0;
  bool any_peer = false;
  for (std::size_t copy = 0; copy < config_.peers_per_target && budget_ > 0; ++copy) {
    const std::uint32_t peer = choose_peer(slot, kind, picker, chosen);
    if (peer == no_peer) break;
    any_peer = true;
    excluded_[chosen++] = peer;
    const crypto::pubkey& peer_key = peers_[peer];
    if (peer_limit_ && !peer_limit_->try_acquire(peer_key, now_ms)) {
      ++counters_.peer_limited;
      continue;
    }
    repair_nonce_tracker::outstanding o;
    o.kind = kind;
    o.slot = slot;
    // Orphan: the index counts the responses accepted so far (the tracker ignores it there).
    o.index = kind == repair_kind::orphan ? 0 : index;
    o.peer = peer_key;
    o.sent_ms = now_ms;
    bool recorded = false;
    for (int attempt = 0; attempt < 8 && !recorded; ++attempt) {
      o.nonce = static_cast<std::uint32_t>(rng_.next());
      recorded = nonces_.expect(o);
      if (!recorded) ++counters_.nonce_retries;
    }
    if (!recorded) {  // eight drawn nonces all in flight: practically never
      if (peer_limit_) peer_limit_->release(peer_key, now_ms);
      continue;
    }
    repair_request_fields fields;
    fields.kind = kind;
    fields.recipient = peer_key;
    fields.wallclock_ms = now_ms;
    fields.nonce = o.nonce;
    fields.shred_version = config_.shred_version;
    fields.slot = slot;
    fields.index = kind == repair_kind::orphan ? 0 : index;
    const std::size_t size = build_repair_request(identity_, fields, packet_);
    if (size == 0) {  // index out of range: the assembler never reports one
      if (peer_limit_) peer_limit_->release(peer_key, now_ms);
      break;
    }
    sink.on_packet(peer, std::span<const std::uint8_t>(packet_).first(size));
    ++counters_.requests[kind_slot(kind)];
    --budget_;
    ++sent;
  }
  if (!any_peer) ++counters_.no_peer;
  if (sent > 0) remember(slot, kind, index, now_ms);
  if (budget_ == 0) {
    ++counters_.plan_full;
    return false;
  }
  return true;
}

std::size_t repair_client::plan(const slot_assembler& assembler, std::uint64_t first_wanted,
                                std::uint64_t highest_seen, std::uint64_t now_ms,
                                repair_packet_sink& sink) {
  return plan_with(assembler, first_wanted, highest_seen, now_ms, sink, nullptr);
}

std::size_t repair_client::plan(const slot_assembler& assembler, std::uint64_t first_wanted,
                                std::uint64_t highest_seen, std::uint64_t now_ms,
                                repair_packet_sink& sink, repair_peer_picker& picker) {
  return plan_with(assembler, first_wanted, highest_seen, now_ms, sink, &picker);
}

std::size_t repair_client::plan(const slot_assembler& assembler, std::uint64_t first_wanted,
                                std::uint64_t highest_seen, std::uint64_t now_ms,
                                repair_packet_sink& sink, const repair_slot_gate& gate) {
  return plan_with(assembler, first_wanted, highest_seen, now_ms, sink, nullptr, &gate);
}

std::size_t repair_client::plan_with(const slot_assembler& assembler,
                                     std::uint64_t first_wanted, std::uint64_t highest_seen,
                                     std::uint64_t now_ms, repair_packet_sink& sink,
                                     repair_peer_picker* picker, const repair_slot_gate* gate) {
  ++counters_.plans;
  (void)nonces_.expire(now_ms);  // O(nonce_slots): once per plan
  budget_ = config_.max_requests_per_plan;
  const std::size_t budget_at_start = budget_;

  // 1. Gaps of slots the node has shreds of.
  const std::size_t incomplete = assembler.incomplete_slots(slot_buffer_);
  for (std::size_t s = 0; s < incomplete; ++s) {
    const std::uint64_t slot = slot_buffer_[s];
    if (gate != nullptr && (!gate->may_repair(slot) || gate->has(slot))) continue;
    std::uint32_t from = 0;
    for (;;) {
      const std::size_t count = assembler.missing(slot, index_buffer_, from);
      for (std::size_t i = 0; i < count; ++i) {
        if (!ask(repair_kind::window_index, slot, index_buffer_[i], now_ms, sink, picker)) {
          return budget_at_start - budget_;
        }
      }
      if (count < index_buffer_.size()) break;
      from = index_buffer_[count - 1] + 1;
    }
    if (const std::optional<std::uint32_t> tail = assembler.missing_tail(slot)) {
      if (!ask(repair_kind::highest_index, slot, *tail, now_ms, sink, picker)) {
        return budget_at_start - budget_;
      }
    }
  }

  // 2. Slots whose chain back to the root is unknown.
  const std::size_t orphans = assembler.orphans(slot_buffer_);
  for (std::size_t s = 0; s < orphans; ++s) {
    if (gate != nullptr) {
      const std::optional<std::uint64_t> parent = assembler.parent_of(slot_buffer_[s]);
      if (gate->has(slot_buffer_[s]) || (parent && gate->has(*parent))) continue;
    }
    if (!ask(repair_kind::orphan, slot_buffer_[s], 0, now_ms, sink, picker)) {
      return budget_at_start - budget_;
    }
  }

  // 3. Slots that should exist and of which not one shred arrived.
  std::uint64_t slot = std::max(first_wanted, assembler.root());
  for (std::size_t looked = 0; slot <= highest_seen && looked < config_.max_slots_per_plan;
       ++slot, ++looked) {
    if (!assembler.is_tracked(slot) && !assembler.is_taken(slot) &&
        (gate == nullptr || (gate->may_repair(slot) && !gate->has(slot)))) {
      if (!ask(repair_kind::highest_index, slot, 0, now_ms, sink, picker)) break;
    }
    if (slot == UINT64_MAX) break;
  }
  return budget_at_start - budget_;
}

std::span<const std::uint8_t> repair_client::accept_response(
    std::span<const std::uint8_t> response, std::uint64_t now_ms) noexcept {
  ++counters_.responses;
  repair_response_view resp;
  if (const repair_error e = parse_repair_response(response, resp); e != repair_error::none) {
    ++counters_.dropped[static_cast<std::size_t>(e)];
    return {};
  }
  shred_view v;
  if (parse_shred(resp.shred, v) != shred_error::none) {
    ++counters_.bad_shred;
    return {};
  }
  const repair_nonce_tracker::stats before = nonces_.get_stats();
  repair_nonce_tracker::outstanding o;
  if (!nonces_.match(resp.nonce, v.slot(), v.index(), now_ms, &o)) {
    const repair_nonce_tracker::stats& after = nonces_.get_stats();
    if (after.expired != before.expired) {
      ++counters_.expired;
    } else if (after.mismatched != before.mismatched) {
      ++counters_.mismatched;
    } else {
      ++counters_.unknown_nonce;
    }
    return {};
  }
  if (o.kind == repair_kind::orphan) {
    // One token per request: given back with the first answer. Further ancestors of the
    // same request stay acceptable until orphan_responses of them have come.
    if (o.index == 0 && peer_limit_) peer_limit_->release(o.peer, now_ms);
    ++o.index;
    if (o.index < config_.orphan_responses) (void)nonces_.expect(o);
  } else if (peer_limit_) {
    peer_limit_->release(o.peer, now_ms);
  }
  ++counters_.accepted;
  return resp.shred;
}

}  // namespace riptide::shred
