#include <riptide/gossip/engine.hpp>

#include <riptide/crypto/sha256.hpp>
#include <riptide/crypto/xxh3.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace riptide::gossip {

namespace {

// Relayers tracked per origin for prune decisions; more are ignored until a rotation clears
// the scores (a node has at most a few dozen upstream relayers per origin in practice).
constexpr std::size_t max_tracked_relayers = 16;
// Hashes of values whose signature failed, remembered so a replayed bad value costs a lookup.
constexpr std::size_t bad_signature_memory = 1024;
// Candidate peers examined per attempt to fill the active set or find a pull target.
constexpr std::size_t max_peer_samples = 64;
// Untrusted peers pinged per pull round to widen the pool of trusted peers, until it holds
// trusted_pool_fanouts active sets' worth of peers.
constexpr std::size_t maintenance_pings_per_pull = 1;
constexpr std::size_t trusted_pool_fanouts = 2;

std::string sub_key_of(const value_body& body) {
  if (const auto* d = std::get_if<data_value>(&body)) return d->key;
  if (const auto* v = std::get_if<vote_value>(&body)) return std::string(1, static_cast<char>(v->index));
  return {};
}

socket_addr gossip_addr_of(const contact_info& ci) noexcept { return {ci.ip, ci.gossip_port}; }

}  // namespace

// ------------------------------------------------------------------------------- names

const char* to_string(peer_health health) noexcept {
  switch (health) {
    case peer_health::active: return "active";
    case peer_health::suspected: return "suspected";
    case peer_health::dead: return "dead";
  }
  return "unknown_peer_health";
}

const char* to_string(node_health health) noexcept {
  switch (health) {
    case node_health::healthy: return "healthy";
    case node_health::degraded: return "degraded";
    case node_health::isolated: return "isolated";
  }
  return "unknown_node_health";
}

const char* to_string(value_reject reason) noexcept {
  switch (reason) {
    case value_reject::bad_signature: return "bad_signature";
    case value_reject::future_wallclock: return "future_wallclock";
    case value_reject::too_old: return "too_old";
    case value_reject::shred_version_mismatch: return "shred_version_mismatch";
    case value_reject::own_origin: return "own_origin";
    case value_reject::table_full: return "table_full";
  }
  return "unknown_value_reject";
}

const char* to_string(prune_reject reason) noexcept {
  switch (reason) {
    case prune_reject::wrong_destination: return "wrong_destination";
    case prune_reject::stale_wallclock: return "stale_wallclock";
    case prune_reject::bad_signature: return "bad_signature";
    case prune_reject::not_in_active_set: return "not_in_active_set";
  }
  return "unknown_prune_reject";
}

const char* to_string(data_error error) noexcept {
  switch (error) {
    case data_error::none: return "none";
    case data_error::key_empty: return "key_empty";
    case data_error::key_too_long: return "key_too_long";
    case data_error::value_too_long: return "value_too_long";
    case data_error::too_many_keys: return "too_many_keys";
  }
  return "unknown_data_error";
}

void gossip_config::validate() const {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("gossip_config: ") + what);
  };
  need(push_fanout >= 1 && push_fanout <= 64, "push_fanout must be in [1, 64]");
  need(push_interval_ms > 0, "push_interval_ms must be > 0");
  need(pull_interval_ms > 0, "pull_interval_ms must be > 0");
  need(active_set_rotate_ms > 0, "active_set_rotate_ms must be > 0");
  need(refresh_own_values_ms > 0, "refresh_own_values_ms must be > 0");
  need(ping_secret_rotate_ms > 0, "ping_secret_rotate_ms must be > 0");
  need(heartbeat_ms > 0, "heartbeat_ms must be > 0");
  need(suspect_after_ms > 0, "suspect_after_ms must be > 0");
  need(dead_after_ms > suspect_after_ms, "dead_after_ms must be > suspect_after_ms");
  need(purge_after_ms >= dead_after_ms, "purge_after_ms must be >= dead_after_ms");
  need(refresh_own_values_ms < purge_after_ms,
       "refresh_own_values_ms must be < purge_after_ms (own values would expire)");
  need(max_values >= 16, "max_values must be >= 16");
  need(prune_min_redundant >= 1, "prune_min_redundant must be >= 1");
  need(prune_keep_relayers >= 1, "prune_keep_relayers must be >= 1");
  need(trust_ttl_ms > 0, "trust_ttl_ms must be > 0");
  need(push_budget_bytes >= max_value_bytes, "push_budget_bytes must hold one value (684)");
  need(max_pull_requests >= 1 && max_pull_requests <= 64, "max_pull_requests must be in [1, 64]");
  need(pull_fanout >= 1 && pull_fanout <= 16, "pull_fanout must be in [1, 16]");
  need(max_outgoing_packets >= 1 && max_outgoing_packets <= (1u << 20),
       "max_outgoing_packets must be in [1, 2^20]");
  need(max_addresses >= 1, "max_addresses must be >= 1");
}

// ------------------------------------------------------------------------ construction

engine::engine(const crypto::keypair& identity, const contact_info& self,
               const gossip_config& cfg, std::vector<socket_addr> entrypoints,
               std::uint64_t seed, signature_verifier* verifier)
    : identity_(identity), self_(self), cfg_(cfg), verifier_(verifier), table_(cfg.max_values) {
  cfg_.validate();
  if (identity_.empty()) throw std::invalid_argument("gossip engine: empty identity keypair");
  self_.id = identity_.public_key();
  self_.shred_version = cfg_.shred_version;
  for (const socket_addr& ep : entrypoints) {
    if (ep.port == 0 || ep == gossip_addr()) continue;
    if (std::find(entrypoints_.begin(), entrypoints_.end(), ep) == entrypoints_.end()) {
      entrypoints_.push_back(ep);
    }
  }
  if (verifier_ == nullptr) {
    own_verifier_ = std::make_unique<pubkey_cache_verifier>(4096);
    verifier_ = own_verifier_.get();
  }
  rng_ = util::xoshiro256ss(seed ^ crypto::xxh3_64(self_.id, 0x676f73736970ull));
  secret_ = random_hash();
  previous_secret_ = random_hash();
  instance_ = {next_random(), self.wallclock_ms};
  put_own(crds_value{{}, self_.id, self.wallclock_ms, self_}, self.wallclock_ms);
  put_own(crds_value{{}, self_.id, self.wallclock_ms, instance_}, self.wallclock_ms);
}

engine::~engine() = default;

// --------------------------------------------------------------------------- randomness

std::uint64_t engine::next_random() noexcept { return rng_.next(); }

std::uint64_t engine::random_below(std::uint64_t n) noexcept {
  // Modulo of 64 random bits: bias below n / 2^64, negligible for the small n used here.
  return next_random() % n;
}

crypto::aux_rand engine::random_aux() noexcept {
  crypto::aux_rand a{};
  for (std::size_t i = 0; i < a.size(); i += 8) {
    const std::uint64_t r = next_random();
    std::memcpy(a.data() + i, &r, 8);
  }
  return a;
}

crypto::hash32 engine::random_hash() noexcept { return random_aux(); }

// ------------------------------------------------------------------------------ own values

void engine::put_own(crds_value v, std::uint64_t now) {
  v.origin = self_.id;
  v.wallclock_ms = now;
  // Our next version must replace the held one even if the clock has not moved.
  const crds_label label{self_.id, v.kind(), sub_key_of(v.body)};
  if (const crds_entry* held = table_.find(label); held != nullptr && held->wallclock_ms >= now) {
    v.wallclock_ms = held->wallclock_ms + 1;
  }
  std::array<std::uint8_t, max_value_bytes> buf;
  const std::size_t size = sign_value(v, identity_, random_aux(), buf);
  if (size == 0) return;
  value_ref ref;
  if (parse_single_value({buf.data(), size}, ref) != parse_error::none) return;
  const crypto::hash32 hash = value_hash(ref.bytes);
  (void)table_.insert(ref, hash, {now, self_.id, true});
}

void engine::refresh_own_values(std::uint64_t now) {
  put_own(crds_value{{}, self_.id, now, self_}, now);
  for (const auto& [key, value] : own_data_) {
    put_own(crds_value{{}, self_.id, now, data_value{key, value}}, now);
  }
  if (own_schedule_) put_own(crds_value{{}, self_.id, now, *own_schedule_}, now);
  for (const vote_value& vote : own_votes_) put_own(crds_value{{}, self_.id, now, vote}, now);
  if (own_lowest_slot_) put_own(crds_value{{}, self_.id, now, *own_lowest_slot_}, now);
}

void engine::sign_heartbeat(std::uint64_t now) {
  put_own(crds_value{{}, self_.id, now, instance_}, now);
}

data_error engine::check_data(std::string_view key, std::string_view value) const noexcept {
  if (key.empty()) return data_error::key_empty;
  if (key.size() > max_data_key_bytes) return data_error::key_too_long;
  if (value.size() > max_data_value_bytes) return data_error::value_too_long;
  const bool known = std::any_of(own_data_.begin(), own_data_.end(),
                                 [&](const auto& kv) { return kv.first == key; });
  if (!known && own_data_.size() >= cfg_.max_own_data_keys) return data_error::too_many_keys;
  return data_error::none;
}

bool engine::set_data(std::string_view key, std::string_view value, std::uint64_t now_ms) {
  if (check_data(key, value) != data_error::none) return false;
  auto it = std::find_if(own_data_.begin(), own_data_.end(),
                         [&](const auto& kv) { return kv.first == key; });
  if (it == own_data_.end()) {
    own_data_.emplace_back(std::string(key), std::string(value));
  } else {
    it->second.assign(value);
  }
  const std::size_t before = table_.next_ordinal();
  try {
    put_own(crds_value{{}, self_.id, now_ms, data_value{std::string(key), std::string(value)}},
            now_ms);
  } catch (...) {
    ++stats_.sign_failures;
    return false;
  }
  return table_.next_ordinal() != before;  // false only if the table was full
}

void engine::set_leader_schedule_digest(std::uint64_t epoch, const crypto::hash32& digest,
                                        std::uint64_t now_ms) {
  own_schedule_ = leader_schedule_digest{epoch, digest};
  put_own(crds_value{{}, self_.id, now_ms, *own_schedule_}, now_ms);
}

void engine::set_vote(std::uint8_t index, std::uint64_t slot, const crypto::hash32& hash,
                      std::uint64_t now_ms) {
  if (index >= max_vote_index) return;
  const vote_value vote{index, slot, hash};
  auto it = std::find_if(own_votes_.begin(), own_votes_.end(),
                         [&](const vote_value& v) { return v.index == index; });
  if (it == own_votes_.end()) {
    own_votes_.push_back(vote);
  } else {
    *it = vote;
  }
  put_own(crds_value{{}, self_.id, now_ms, vote}, now_ms);
}

void engine::set_lowest_slot(std::uint64_t slot, std::uint64_t now_ms) {
  own_lowest_slot_ = lowest_slot_value{slot};
  put_own(crds_value{{}, self_.id, now_ms, *own_lowest_slot_}, now_ms);
}

// ---------------------------------------------------------------------------------- output

bool engine::enqueue(const socket_addr& to, std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.empty() || bytes.size() > max_packet_bytes) return false;
  if (out_count_ >= cfg_.max_outgoing_packets) {
    ++stats_.outgoing_dropped;
    return false;
  }
  if (out_count_ == out_.size()) {
    // Grow (bounded by max_outgoing_packets), keeping FIFO order.
    const std::size_t grown =
        std::min(cfg_.max_outgoing_packets, std::max<std::size_t>(16, 2 * out_.size()));
    try {
      std::vector<outgoing> bigger(grown);
      for (std::size_t i = 0; i < out_count_; ++i) {
        bigger[i] = out_[(out_head_ + i) % out_.size()];
      }
      out_ = std::move(bigger);
      out_head_ = 0;
    } catch (...) {
      ++stats_.outgoing_dropped;
      return false;
    }
  }
  outgoing& o = out_[(out_head_ + out_count_) % out_.size()];
  o.to = to;
  o.len = static_cast<std::uint16_t>(bytes.size());
  std::memcpy(o.bytes.data(), bytes.data(), bytes.size());
  ++out_count_;
  ++stats_.packets_out;
  stats_.bytes_out += bytes.size();
  const std::uint8_t type = bytes[0];
  if (type < message_type_count) ++stats_.packets_out_by_type[type];
  return true;
}

bool engine::pop_outgoing(outgoing& out) noexcept {
  if (out_count_ == 0) return false;
  out = out_[out_head_];
  out_head_ = (out_head_ + 1) % out_.size();
  --out_count_;
  return true;
}

// ------------------------------------------------------------------------- peers and trust

peer_health engine::health_of(const peer_state& p, std::uint64_t now) const noexcept {
  const std::uint64_t quiet = now > p.last_contact_ms ? now - p.last_contact_ms : 0;
  if (quiet < cfg_.suspect_after_ms) return peer_health::active;
  if (quiet < cfg_.dead_after_ms) return peer_health::suspected;
  return peer_health::dead;
}

bool engine::trusted(const crypto::pubkey& id, const socket_addr& addr,
                     std::uint64_t now) const noexcept {
  const auto it = addresses_.find(addr);
  if (it == addresses_.end()) return false;
  const addr_state& a = it->second;
  return a.answered && a.id == id && now - std::min(now, a.pong_ms) <= cfg_.trust_ttl_ms;
}

bool engine::is_trusted(const crypto::pubkey& id, const socket_addr& addr,
                        std::uint64_t now_ms) const noexcept {
  return trusted(id, addr, now_ms);
}

bool engine::is_entrypoint(const socket_addr& addr) const noexcept {
  return std::find(entrypoints_.begin(), entrypoints_.end(), addr) != entrypoints_.end();
}

crypto::hash32 engine::ping_token(const crypto::hash32& secret,
                                  const socket_addr& addr) const noexcept {
  std::array<std::uint8_t, crypto::hash_bytes + 6> buf{};
  std::memcpy(buf.data(), secret.data(), secret.size());
  for (int i = 0; i < 4; ++i) buf[32 + i] = static_cast<std::uint8_t>(addr.ip >> (8 * i));
  buf[36] = static_cast<std::uint8_t>(addr.port);
  buf[37] = static_cast<std::uint8_t>(addr.port >> 8);
  return crypto::sha256(buf);
}

engine::addr_state* engine::address(const socket_addr& addr, std::uint64_t now) {
  auto it = addresses_.find(addr);
  if (it != addresses_.end()) return &it->second;
  if (addresses_.size() >= cfg_.max_addresses) {
    // Evict the entry with the oldest activity (trust expires first there anyway).
    auto victim = addresses_.begin();
    std::uint64_t oldest = UINT64_MAX;
    for (auto a = addresses_.begin(); a != addresses_.end(); ++a) {
      const std::uint64_t last = std::max(a->second.pong_ms, a->second.ping_ms);
      if (last < oldest) {
        oldest = last;
        victim = a;
      }
    }
    addresses_.erase(victim);
  }
  (void)now;
  return &addresses_.emplace(addr, addr_state{}).first->second;
}

bool engine::maybe_ping(const socket_addr& addr, std::uint64_t now) {
  if (addr == gossip_addr() || addr.port == 0) return false;
  addr_state* a = address(addr, now);
  if (a->pinged && now - std::min(now, a->ping_ms) < cfg_.ping_retry_ms) return false;
  std::array<std::uint8_t, ping_message_bytes> buf;
  const std::size_t n =
      encode_ping(cfg_.shred_version, identity_, ping_token(secret_, addr), random_aux(), buf);
  if (n == 0 || !enqueue(addr, {buf.data(), n})) return false;
  a->pinged = true;
  a->ping_ms = now;
  ++stats_.pings_sent;
  return true;
}

void engine::note_contact(const crypto::pubkey& id, std::uint64_t when) noexcept {
  const auto it = peers_.find(id);
  if (it != peers_.end()) it->second.last_contact_ms = std::max(it->second.last_contact_ms, when);
}

void engine::forget_peer(const crypto::pubkey& id) {
  const auto it = peers_.find(id);
  if (it == peers_.end()) return;
  const std::size_t index = it->second.list_index;
  if (index != SIZE_MAX) {
    const crypto::pubkey moved = peer_list_.back();
    peer_list_[index] = moved;
    peer_list_.pop_back();
    if (moved != id) peers_[moved].list_index = index;
  }
  peers_.erase(it);
  std::erase_if(active_set_, [&](const active_peer& a) { return a.id == id; });
  received_.erase(id);
}

std::optional<crypto::pubkey> engine::random_trusted_peer(std::uint64_t now) {
  const std::size_t n = peer_list_.size();
  if (n == 0) return std::nullopt;
  // Trust is per direction: a peer that answered our ping trusts us only if we answered its
  // ping. Prefer peers with evidence of that (they pinged us, or answered a pull of ours), so
  // fewer requests are dropped; fall back to any peer we trust.
  auto usable = [&](const crypto::pubkey& id, bool mutual) {
    const peer_state& p = peers_.at(id);
    const socket_addr addr = gossip_addr_of(p.contact);
    if (health_of(p, now) == peer_health::dead || !trusted(id, addr, now)) return false;
    if (!mutual) return true;
    const addr_state& a = addresses_.at(addr);
    return a.trusts_us && now - std::min(now, a.trusts_us_ms) <= cfg_.trust_ttl_ms;
  };
  for (const bool mutual : {true, false}) {
    for (std::size_t i = 0; i < std::min(n, max_peer_samples / 4); ++i) {
      const crypto::pubkey& id = peer_list_[random_below(n)];
      if (usable(id, mutual)) return id;
    }
    std::vector<crypto::pubkey> candidates;
    for (const crypto::pubkey& id : peer_list_) {
      if (usable(id, mutual)) candidates.push_back(id);
    }
    if (!candidates.empty()) return candidates[random_below(candidates.size())];
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------ ingestion

engine::ingest_result engine::ingest(const value_ref& v, std::uint64_t now,
                                     const crypto::pubkey& delivered_by, route r) {
  ++stats_.values_received;
  const crypto::hash32 hash = value_hash(v.bytes);
  // Held already: no signature check, no further work.
  if (table_.contains(hash)) {
    // A value we pulled quietly is being pushed around: relay it like a fresh push, so the
    // rumour does not die at every node that happened to pull it first.
    if (r == route::push && table_.promote(hash, delivered_by)) {
      ++stats_.values_promoted;
      return ingest_result::promoted;
    }
    ++stats_.values_duplicate;
    return ingest_result::duplicate;
  }
  if (v.origin == self_.id) {
    // Only we sign as us. A NodeInstance of ours with another token, signed after we
    // started, means a second process runs with our identity; one signed before we started is
    // our previous incarnation's, still circulating. Checked only if the signature is genuine.
    // The last such value is remembered, so the same copy arriving again costs no check.
    if (v.kind == value_kind::node_instance && v.wallclock_ms >= instance_.started_ms) {
      if (hash == last_foreign_instance_) {
        ++stats_.duplicate_identity_detected;
      } else if (bad_signature_set_.count(hash) == 0 && verify_value_signature(v, *verifier_)) {
        const crds_value decoded = decode_value(v);
        if (std::get<node_instance>(decoded.body).token != instance_.token) {
          ++stats_.duplicate_identity_detected;
          last_foreign_instance_ = hash;
        }
      } else {
        remember_bad_signature(hash);
      }
    }
    reject(value_reject::own_origin);
    return ingest_result::rejected;
  }
  if (v.wallclock_ms > now + cfg_.wallclock_tolerance_ms) {
    reject(value_reject::future_wallclock);
    return ingest_result::rejected;
  }
  if (v.wallclock_ms + cfg_.purge_after_ms < now) {
    reject(value_reject::too_old);
    return ingest_result::rejected;
  }
  if (v.kind == value_kind::contact_info) {
    const std::uint8_t* body = v.bytes.data() + value_header_bytes;
    const auto shred_version = static_cast<std::uint16_t>(body[0] | (body[1] << 8));
    if (shred_version != cfg_.shred_version) {
      reject(value_reject::shred_version_mismatch);
      return ingest_result::rejected;
    }
  }
  const crds_label label = label_of(v);
  const crds_outcome expected = table_.check(label, v.wallclock_ms, hash);
  if (expected == crds_outcome::outdated) {
    ++stats_.values_outdated;
    return ingest_result::outdated;
  }
  if (expected == crds_outcome::table_full) {
    reject(value_reject::table_full);
    return ingest_result::rejected;
  }
  if (bad_signature_set_.count(hash) != 0) {
    reject(value_reject::bad_signature);
    return ingest_result::rejected;
  }
  ++stats_.signatures_verified;
  if (!verify_value_signature(v, *verifier_)) {
    reject(value_reject::bad_signature);
    remember_bad_signature(hash);
    return ingest_result::rejected;
  }
  const crds_outcome outcome =
      table_.insert(v, hash, {now, delivered_by, r != route::pull_response});
  if (outcome == crds_outcome::inserted) {
    ++stats_.values_inserted;
  } else if (outcome == crds_outcome::updated) {
    ++stats_.values_updated;
  } else {
    return outcome == crds_outcome::table_full ? ingest_result::rejected : ingest_result::outdated;
  }
  on_value_stored(v, now);
  return outcome == crds_outcome::inserted ? ingest_result::inserted : ingest_result::updated;
}

void engine::remember_bad_signature(const crypto::hash32& hash) {
  if (!bad_signature_set_.insert(hash).second) return;
  if (bad_signatures_.size() < bad_signature_memory) {
    bad_signatures_.push_back(hash);
    return;
  }
  bad_signature_set_.erase(bad_signatures_[bad_signature_next_]);
  bad_signatures_[bad_signature_next_] = hash;
  bad_signature_next_ = (bad_signature_next_ + 1) % bad_signature_memory;
}

void engine::on_value_stored(const value_ref& v, std::uint64_t now) {
  peer_state& p = peers_[v.origin];
  p.last_contact_ms = std::max(p.last_contact_ms, std::min(v.wallclock_ms, now));
  if (v.kind == value_kind::contact_info) {
    const crds_value decoded = decode_value(v);
    const contact_info& ci = std::get<contact_info>(decoded.body);
    p.contact = ci;
    p.has_contact = true;
    if (p.list_index == SIZE_MAX) {
      p.list_index = peer_list_.size();
      peer_list_.push_back(v.origin);
    }
    for (active_peer& a : active_set_) {
      if (a.id == v.origin) a.addr = gossip_addr_of(ci);
    }
  } else if (v.kind == value_kind::node_instance) {
    const crds_value decoded = decode_value(v);
    const node_instance& ni = std::get<node_instance>(decoded.body);
    if (p.instance && p.instance->token != ni.token) {
      if (ni.started_ms > p.instance->started_ms) {
        ++stats_.node_restarts_detected;
      } else {
        ++stats_.duplicate_instances_detected;
      }
    }
    p.instance = ni;
  }
}

void engine::record_delivery(const crypto::pubkey& origin, const crypto::pubkey& relayer,
                             const socket_addr& relayer_addr, bool fresh, std::uint64_t now) {
  // The origin pushing its own values is the shortest path; it is never pruned.
  if (relayer == origin) return;
  std::vector<relayer_score>& scores = received_[origin];
  auto it = std::find_if(scores.begin(), scores.end(),
                         [&](const relayer_score& s) { return s.relayer == relayer; });
  if (it == scores.end()) {
    if (scores.size() >= max_tracked_relayers) return;
    scores.push_back({relayer, relayer_addr, 0, 0});
    it = scores.end() - 1;
  }
  if (fresh) {
    ++it->firsts;
    return;
  }
  ++it->duplicates;
  if (it->duplicates < cfg_.prune_min_redundant) return;
  // Keep the relayers that most often deliver first (earlier-tracked ones win ties).
  std::size_t rank = 0;
  for (auto s = scores.begin(); s != scores.end(); ++s) {
    if (s == it) continue;
    if (s->firsts > it->firsts || (s->firsts == it->firsts && s < it)) ++rank;
  }
  if (rank < cfg_.prune_keep_relayers) return;
  auto pending = std::find_if(pending_prunes_.begin(), pending_prunes_.end(),
                              [&](const auto& p) { return p.first == relayer; });
  if (pending == pending_prunes_.end()) {
    pending_prunes_.push_back({relayer, pending_prune{relayer_addr, {}, now}});
    pending = pending_prunes_.end() - 1;
  }
  if (std::find(pending->second.origins.begin(), pending->second.origins.end(), origin) ==
      pending->second.origins.end()) {
    pending->second.origins.push_back(origin);
  }
  scores.erase(it);
}

// --------------------------------------------------------------------------------- packets

void engine::on_packet(const socket_addr& from, std::span<const std::uint8_t> bytes,
                       std::uint64_t now_ms) noexcept {
  ++stats_.packets_in;
  stats_.bytes_in += bytes.size();
  message_view m;
  const parse_error err = parse_message(bytes, m);
  if (err != parse_error::none) {
    ++stats_.parse_errors[static_cast<std::size_t>(err)];
    return;
  }
  ++stats_.packets_in_by_type[static_cast<std::size_t>(m.type)];
  if (m.shred_version != cfg_.shred_version) {
    ++stats_.shred_version_mismatch;
    return;
  }
  if (m.sender == self_.id) {
    ++stats_.from_self;
    return;
  }
  try {
    switch (m.type) {
      case message_type::push: handle_push(from, m, now_ms); break;
      case message_type::pull_request: handle_pull_request(from, m, now_ms); break;
      case message_type::pull_response: handle_pull_response(from, m, now_ms); break;
      case message_type::prune: handle_prune(m, now_ms); break;
      case message_type::ping: handle_ping(from, m, now_ms); break;
      case message_type::pong: handle_pong(from, m, now_ms); break;
    }
  } catch (...) {
    ++stats_.internal_errors;
  }
}

void engine::handle_push(const socket_addr& from, const message_view& m, std::uint64_t now) {
  for (std::size_t i = 0; i < m.num_values; ++i) {
    const value_ref& v = m.values[i];
    const ingest_result r = ingest(v, now, m.sender, route::push);
    if (r == ingest_result::rejected) continue;
    record_delivery(v.origin, m.sender, from,
                    r == ingest_result::inserted || r == ingest_result::updated ||
                        r == ingest_result::promoted,
                    now);
  }
}

void engine::handle_pull_response(const socket_addr& from, const message_view& m,
                                  std::uint64_t now) {
  ++stats_.pull_responses_received;
  note_trusts_us(from, now);
  for (std::size_t i = 0; i < m.num_values; ++i) {
    // A value for a label we did not know means we are behind (joining, or packets were
    // lost): pull again next round instead of a pull interval later.
    if (ingest(m.values[i], now, m.sender, route::pull_response) == ingest_result::inserted) {
      catch_up_due_ = true;
    }
  }
}

void engine::handle_pull_request(const socket_addr& from, const message_view& m,
                                 std::uint64_t now) {
  ++stats_.pull_requests_received;
  // The caller's ContactInfo is signed: learn it even if we will not answer yet.
  (void)ingest(m.values[0], now, m.sender, route::pull_request);
  if (!trusted(m.sender, from, now)) {
    ++stats_.pull_requests_untrusted;
    (void)maybe_ping(from, now);
    return;
  }
  std::size_t budget = cfg_.pull_response_budget_bytes;
  std::size_t packets_left = free_slots();
  value_packer packer(message_type::pull_response, cfg_.shred_version, self_.id);
  bool truncated = false;
  auto flush = [&] {
    if (packer.empty()) return;
    if (enqueue(from, packer.bytes())) {
      ++stats_.pull_responses_sent;
      stats_.pull_response_values_sent += packer.num_values();
    }
    packer.reset();
    --packets_left;
  };
  // Start at a random place so a budget cut-off does not always favour the same values.
  table_.scan_from(random_below(std::max<std::size_t>(table_.size(), 1)),
                   [&](const crypto::hash32& hash, const crds_entry& e) {
    if (hash_partition(hash, m.mask_bits) != m.mask) return true;
    if (m.filter.contains(hash)) return true;
    // The requester's own values are not skipped: its filter holds them anyway, and if a
    // second process signs with its identity, this is how the requester finds out.
    if (e.wallclock_ms + cfg_.purge_after_ms < now) return true;
    if (e.bytes.size() > budget) {
      truncated = true;
      return false;
    }
    if (!packer.fits(e.bytes.size())) flush();
    if (packets_left == 0) {
      truncated = true;
      return false;
    }
    (void)packer.try_add(e.bytes);
    budget -= e.bytes.size();
    return true;
  });
  flush();
  if (truncated) ++stats_.pull_responses_truncated;
}

void engine::handle_prune(const message_view& m, std::uint64_t now) {
  ++stats_.prunes_received;
  auto rejected = [&](prune_reject why) {
    ++stats_.prunes_rejected[static_cast<std::size_t>(why)];
  };
  if (m.destination != self_.id) return rejected(prune_reject::wrong_destination);
  const std::uint64_t skew = m.wallclock_ms > now ? m.wallclock_ms - now : now - m.wallclock_ms;
  if (skew > cfg_.wallclock_tolerance_ms) return rejected(prune_reject::stale_wallclock);
  if (!verify_message_signature(m, *verifier_)) return rejected(prune_reject::bad_signature);
  note_contact(m.sender, now);
  auto it = std::find_if(active_set_.begin(), active_set_.end(),
                         [&](const active_peer& a) { return a.id == m.sender; });
  if (it == active_set_.end()) return rejected(prune_reject::not_in_active_set);
  for (std::size_t i = 0; i < m.num_origins(); ++i) {
    it->pruned.insert(m.origin(i));
    ++stats_.prune_origins_received;
  }
}

void engine::handle_ping(const socket_addr& from, const message_view& m, std::uint64_t now) {
  ++stats_.pings_received;
  if (!verify_message_signature(m, *verifier_)) {
    ++stats_.pings_rejected;
    return;
  }
  std::array<std::uint8_t, ping_message_bytes> buf;
  const std::size_t n = encode_pong(cfg_.shred_version, identity_, m.token, random_aux(), buf);
  if (n != 0 && enqueue(from, {buf.data(), n})) ++stats_.pongs_sent;
  note_trusts_us(from, now);
  if (auto it = peers_.find(m.sender); it != peers_.end()) {
    it->second.observed = from;
    it->second.has_observed = true;
    it->second.last_contact_ms = std::max(it->second.last_contact_ms, now);
  }
  // Ping back, so trust becomes mutual and the pinger's pull requests get answers.
  if (!trusted(m.sender, from, now)) (void)maybe_ping(from, now);
  // A ping from a node we just sent a pull request to means it did not trust us and dropped
  // the request; it will once our pong arrives, so ask again next tick instead of waiting a
  // pull interval (one retry per request).
  if (const auto a = addresses_.find(from);
      a != addresses_.end() && a->second.pulled &&
      now - std::min(now, a->second.pulled_ms) <= cfg_.pull_interval_ms) {
    a->second.pulled = false;
    schedule_repull(from);
  }
}

void engine::note_trusts_us(const socket_addr& addr, std::uint64_t now) {
  // Only addresses we track already (we pinged or pulled them): no entry per stranger.
  const auto it = addresses_.find(addr);
  if (it == addresses_.end()) return;
  it->second.trusts_us = true;
  it->second.trusts_us_ms = now;
}

void engine::schedule_repull(const socket_addr& to) {
  if (std::find(repulls_.begin(), repulls_.end(), to) == repulls_.end()) repulls_.push_back(to);
}

void engine::handle_pong(const socket_addr& from, const message_view& m, std::uint64_t now) {
  ++stats_.pongs_received;
  // Recompute what a pong from this address must carry: no per-ping state is kept.
  if (m.token != pong_hash(ping_token(secret_, from)) &&
      m.token != pong_hash(ping_token(previous_secret_, from))) {
    ++stats_.pongs_bad_token;
    return;
  }
  if (!verify_message_signature(m, *verifier_)) {
    ++stats_.pongs_bad_signature;
    return;
  }
  addr_state* a = address(from, now);
  const bool was_trusted = a->answered && a->id == m.sender &&
                           now - std::min(now, a->pong_ms) <= cfg_.trust_ttl_ms;
  a->id = m.sender;
  a->pong_ms = now;
  a->answered = true;
  note_contact(m.sender, now);
  if (!was_trusted && is_entrypoint(from)) {
    // Join fast: pull from the entrypoint in the next tick (after this round's pong to its
    // ping-back is queued, so it trusts us by the time the request arrives).
    schedule_repull(from);
  }
}

// ---------------------------------------------------------------------------------- timers

void engine::tick(std::uint64_t now_ms) noexcept {
  const std::uint64_t now = now_ms;
  try {
    if (!started_) {
      started_ = true;
      first_tick_ms_ = now;
      next_push_ms_ = now;
      next_pull_ms_ = now + cfg_.pull_interval_ms;
      next_rotate_ms_ = now + cfg_.active_set_rotate_ms;
      next_refresh_ms_ = now + cfg_.refresh_own_values_ms;
      next_heartbeat_ms_ = now + cfg_.heartbeat_ms;
      next_secret_ms_ = now + cfg_.ping_secret_rotate_ms;
      if (now > self_.wallclock_ms) {
        refresh_own_values(now);
        sign_heartbeat(now);
      }
      bootstrap(now);
    }
    if (now >= next_secret_ms_) {
      previous_secret_ = secret_;
      secret_ = random_hash();
      next_secret_ms_ = now + cfg_.ping_secret_rotate_ms;
    }
    if (now >= next_heartbeat_ms_) {
      sign_heartbeat(now);
      run_health(now);
      next_heartbeat_ms_ = now + cfg_.heartbeat_ms;
    }
    if (now >= next_refresh_ms_) {
      refresh_own_values(now);
      next_refresh_ms_ = now + cfg_.refresh_own_values_ms;
    }
    if (now >= next_rotate_ms_) {
      rotate_active_set(now);
      next_rotate_ms_ = now + cfg_.active_set_rotate_ms;
    }
    if (!repulls_.empty()) {
      const std::vector<socket_addr> due = std::move(repulls_);
      repulls_.clear();
      for (const socket_addr& ep : due) send_pull_requests(now, &ep);
    }
    if (now >= next_pull_ms_) {
      run_pull(now);
      next_pull_ms_ = now + cfg_.pull_interval_ms;
      catch_up_due_ = false;
    } else if (now >= next_push_ms_ &&
               (catch_up_due_ || (peers_.size() > peer_list_.size() &&
                                  now >= last_catch_up_ms_ + cfg_.pull_interval_ms / 2))) {
      // Also pull early while some origin's values are held without its ContactInfo: a
      // known gap (usually a lost push), at most twice per pull interval.
      catch_up_due_ = false;
      last_catch_up_ms_ = now;
      ++stats_.catch_up_pulls;
      send_pull_requests(now, nullptr);
    }
    if (now >= next_push_ms_) {
      pings_this_round_ = 0;
      // Knowing no live peer, knock on the entrypoints every round, not every pull interval:
      // joining (or rejoining) needs a ping, a pong and a pull to get through.
      if (!entrypoints_.empty() && health(now) == node_health::isolated &&
          now != first_tick_ms_) {
        bootstrap(now);
      }
      run_push(now);
      flush_prunes(now);
      next_push_ms_ = now + cfg_.push_interval_ms;
    }
  } catch (...) {
    ++stats_.internal_errors;
  }
}

void engine::bootstrap(std::uint64_t now) {
  for (const socket_addr& ep : entrypoints_) {
    // Pinged even if it answered before: if our pong to its ping-back was lost, it does not
    // trust us and drops our pull requests, and our ping makes it ping us again.
    (void)maybe_ping(ep, now);
    // Sent even before the entrypoint answered: it learns our ContactInfo from the request
    // and pings us back; the next request (after its pong) is answered.
    send_pull_requests(now, &ep);
  }
}

void engine::run_pull(std::uint64_t now) {
  for (std::size_t i = 0; i < cfg_.pull_fanout; ++i) send_pull_requests(now, nullptr);
  // Widen the trusted pool a little every round until it is a few active sets deep, so pull
  // targets and active-set rotations have some choice. (Every ping costs a signature on each
  // side, and its ping-back two more, so the pool is not grown without need.)
  const std::size_t n = peer_list_.size();
  std::size_t trusted_peers = 0;
  for (const crypto::pubkey& id : peer_list_) {
    const peer_state& p = peers_.at(id);
    trusted_peers += trusted(id, gossip_addr_of(p.contact), now) ? 1 : 0;
  }
  if (trusted_peers >= trusted_pool_fanouts * cfg_.push_fanout) return;
  std::size_t pinged = 0;
  for (std::size_t i = 0; i < std::min(n, max_peer_samples / 4) &&
                          pinged < maintenance_pings_per_pull;
       ++i) {
    const crypto::pubkey& id = peer_list_[random_below(n)];
    const peer_state& p = peers_.at(id);
    const socket_addr addr = gossip_addr_of(p.contact);
    if (health_of(p, now) == peer_health::dead || trusted(id, addr, now)) continue;
    if (maybe_ping(addr, now)) ++pinged;
  }
}

void engine::send_pull_requests(std::uint64_t now, const socket_addr* only_to) {
  const crds_entry* own_contact = table_.find(crds_label{self_.id, value_kind::contact_info, {}});
  if (own_contact == nullptr) return;
  const double fp = default_bloom_false_positive_rate;
  // Shape one filter at the target rate with the bits a packet leaves; split hash space into
  // 2^mask_bits partitions until each partition's share of the table fits one filter.
  const bloom_shape full = optimal_bloom_shape(1000, fp, max_bloom_bits);  // k for the rate
  const std::uint32_t max_bits = max_pull_request_bits(full.num_keys);
  const std::size_t per_filter = std::max<std::size_t>(bloom_capacity(fp, max_bits), 1);
  const std::size_t items = table_.size();
  std::uint32_t mask_bits = 0;
  while ((std::uint64_t{1} << mask_bits) * per_filter < items && mask_bits < max_bloom_mask_bits) {
    ++mask_bits;
  }
  const std::uint64_t partitions = std::uint64_t{1} << mask_bits;
  const std::size_t requests =
      static_cast<std::size_t>(std::min<std::uint64_t>(partitions, cfg_.max_pull_requests));
  const std::uint64_t first = random_below(partitions);
  std::vector<std::vector<crypto::hash32>> buckets(requests);
  table_.scan_from(0, [&](const crypto::hash32& hash, const crds_entry&) {
    const std::uint64_t slot = (hash_partition(hash, mask_bits) - first) & (partitions - 1);
    if (slot < requests) buckets[slot].push_back(hash);
    return true;
  });
  std::array<std::uint8_t, max_packet_bytes> buf;
  for (std::size_t i = 0; i < requests; ++i) {
    socket_addr to;
    if (only_to != nullptr) {
      to = *only_to;
    } else {
      const std::optional<crypto::pubkey> peer = random_trusted_peer(now);
      if (!peer) return;
      to = gossip_addr_of(peers_.at(*peer).contact);
    }
    // Use every bit the packet has room for: partitions are sized so a full filter stays at or
    // below the target rate, and a smaller table gets a much lower one. That matters for the
    // tail: a value hidden by a false positive waits a whole pull interval for its next chance.
    bloom_shape shape;
    shape.num_keys = optimal_bloom_keys(buckets[i].size(), max_bits);
    shape.num_bits = max_pull_request_bits(shape.num_keys);
    shape.num_keys = optimal_bloom_keys(buckets[i].size(), shape.num_bits);
    std::array<std::uint64_t, max_bloom_keys> keys{};
    for (std::uint32_t k = 0; k < shape.num_keys; ++k) keys[k] = next_random();
    bloom filter(shape.num_bits, {keys.data(), shape.num_keys});
    for (const crypto::hash32& h : buckets[i]) filter.add(h);
    const std::uint64_t mask = (first + i) & (partitions - 1);
    const std::size_t n = encode_pull_request(cfg_.shred_version, self_.id, filter, mask_bits,
                                              mask, own_contact->bytes, buf);
    if (n != 0 && enqueue(to, {buf.data(), n})) {
      ++stats_.pull_requests_sent;
      addr_state* a = address(to, now);
      a->pulled = true;
      a->pulled_ms = now;
    }
  }
}

void engine::fill_active_set(std::uint64_t now) {
  // Candidates pinged for the active set and not answered yet count as members-to-be, so a
  // node does not ping a new batch every round while the first batch's pongs are in flight.
  std::erase_if(candidate_pings_, [&](const std::pair<socket_addr, std::uint64_t>& c) {
    if (now - std::min(now, c.second) >= cfg_.ping_retry_ms) return true;
    const auto it = addresses_.find(c.first);
    return it != addresses_.end() && it->second.answered && it->second.pong_ms >= c.second;
  });
  if (active_set_.size() >= cfg_.push_fanout || peer_list_.empty()) return;
  const std::size_t n = peer_list_.size();
  auto consider = [&](const crypto::pubkey& id) {
    if (active_set_.size() >= cfg_.push_fanout) return;
    for (const active_peer& a : active_set_) {
      if (a.id == id) return;
    }
    const peer_state& p = peers_.at(id);
    if (health_of(p, now) == peer_health::dead) return;
    const socket_addr addr = gossip_addr_of(p.contact);
    if (trusted(id, addr, now)) {
      active_set_.push_back({id, addr, {}});
    } else if (active_set_.size() + candidate_pings_.size() < cfg_.push_fanout &&
               pings_this_round_ < cfg_.max_pings_per_round && maybe_ping(addr, now)) {
      ++pings_this_round_;
      candidate_pings_.emplace_back(addr, now);
    }
  };
  if (n <= max_peer_samples) {
    // Few peers: look at each once, in random order.
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[random_below(i)]);
    for (const std::size_t i : order) consider(peer_list_[i]);
  } else {
    for (std::size_t i = 0; i < max_peer_samples; ++i) consider(peer_list_[random_below(n)]);
  }
}

void engine::rotate_active_set(std::uint64_t now) {
  ++stats_.active_set_rotations;
  received_.clear();  // fresh duplicate scores for the new upstream mix
  // One member at a time: every new member receives all our pushes until it has pruned the
  // origins it gets elsewhere, so replacing many at once multiplies duplicates and prunes.
  if (!active_set_.empty()) {
    active_set_.erase(active_set_.begin() +
                      static_cast<std::ptrdiff_t>(random_below(active_set_.size())));
  }
  fill_active_set(now);
}

void engine::run_push(std::uint64_t now) {
  // Drop members that died or whose trust lapsed; refresh trust before it lapses.
  std::erase_if(active_set_, [&](const active_peer& a) {
    const auto it = peers_.find(a.id);
    return it == peers_.end() || health_of(it->second, now) == peer_health::dead ||
           !trusted(a.id, a.addr, now);
  });
  for (const active_peer& a : active_set_) {
    const auto it = addresses_.find(a.addr);
    if (it != addresses_.end() && now - std::min(now, it->second.pong_ms) > cfg_.trust_ttl_ms / 2) {
      (void)maybe_ping(a.addr, now);
    }
  }
  fill_active_set(now);
  if (active_set_.empty()) return;  // keep the cursor: nothing new is lost before peers exist

  std::vector<const crds_entry*> batch;
  std::size_t budget = cfg_.push_budget_bytes;
  push_cursor_ = table_.for_each_since(push_cursor_, [&](const crds_entry& e) {
    if (!e.pushable || e.wallclock_ms + cfg_.push_timeout_ms < now) return true;
    if (e.bytes.size() > budget) return false;
    budget -= e.bytes.size();
    batch.push_back(&e);
    return true;
  });
  if (batch.empty()) return;
  value_packer packer(message_type::push, cfg_.shred_version, self_.id);
  for (const active_peer& peer : active_set_) {
    packer.reset();
    auto flush = [&] {
      if (packer.empty()) return;
      if (enqueue(peer.addr, packer.bytes())) {
        ++stats_.push_messages_sent;
        stats_.push_values_sent += packer.num_values();
      }
      packer.reset();
    };
    for (const crds_entry* e : batch) {
      const crypto::pubkey& origin = e->label.origin;
      if (origin == peer.id || e->from == peer.id || peer.pruned.count(origin) != 0) continue;
      if (!packer.try_add(e->bytes)) {
        flush();
        (void)packer.try_add(e->bytes);
      }
    }
    flush();
  }
}

void engine::flush_prunes(std::uint64_t now) {
  std::array<std::uint8_t, max_packet_bytes> buf;
  // A relayer's prunes wait (up to prune_flush_ms) until half a message's worth of origins is
  // pending: each prune message costs a signature on each side, and duplicates of one origin
  // tend to cross the threshold together with others from the same relayer.
  std::erase_if(pending_prunes_, [&](auto& item) {
    auto& [relayer, pending] = item;
    if (pending.origins.size() < max_prune_origins / 2 &&
        now - std::min(now, pending.first_ms) < cfg_.prune_flush_ms) {
      return false;
    }
    socket_addr to = pending.addr;
    if (const auto it = peers_.find(relayer); it != peers_.end() && it->second.has_contact) {
      to = gossip_addr_of(it->second.contact);
    }
    const std::vector<crypto::pubkey>& origins = pending.origins;
    for (std::size_t i = 0; i < origins.size(); i += max_prune_origins) {
      const std::size_t count = std::min(max_prune_origins, origins.size() - i);
      const std::size_t n = encode_prune(cfg_.shred_version, identity_, relayer, now,
                                         {origins.data() + i, count}, random_aux(), buf);
      if (n != 0 && enqueue(to, {buf.data(), n})) {
        ++stats_.prunes_sent;
        stats_.prune_origins_sent += count;
      }
    }
    return true;
  });
}

void engine::run_health(std::uint64_t now) {
  std::vector<crds_label> stale;
  table_.for_each([&](const crds_entry& e) {
    if (e.label.origin != self_.id && e.wallclock_ms + cfg_.purge_after_ms < now) {
      stale.push_back(e.label);
    }
  });
  for (const crds_label& label : stale) {
    if (table_.remove(label)) ++stats_.values_purged;
  }
  std::vector<crypto::pubkey> gone;
  for (const auto& [id, p] : peers_) {
    if (table_.origin_count(id) == 0) gone.push_back(id);
  }
  for (const crypto::pubkey& id : gone) {
    forget_peer(id);
    ++stats_.peers_purged;
  }
}

// ------------------------------------------------------------------------------- queries

std::vector<peer_view> engine::peers(std::uint64_t now_ms) const {
  std::vector<peer_view> out;
  out.reserve(peer_list_.size());
  for (const crypto::pubkey& id : peer_list_) {
    const peer_state& p = peers_.at(id);
    peer_view v;
    v.contact = p.contact;
    v.addr = p.has_observed ? p.observed : gossip_addr_of(p.contact);
    v.health = health_of(p, now_ms);
    v.last_contact_ms = p.last_contact_ms;
    v.trusted = trusted(id, gossip_addr_of(p.contact), now_ms);
    out.push_back(v);
  }
  return out;
}

std::vector<data_view> engine::data() const {
  std::vector<data_view> out;
  table_.for_each([&](const crds_entry& e) {
    if (e.label.kind != value_kind::data) return;
    crds_value v = decode_value(e.ref());
    data_value& d = std::get<data_value>(v.body);
    out.push_back({v.origin, std::move(d.key), std::move(d.value), v.wallclock_ms});
  });
  std::sort(out.begin(), out.end(), [](const data_view& a, const data_view& b) {
    return a.key != b.key ? a.key < b.key : a.origin < b.origin;
  });
  return out;
}

std::vector<data_view> engine::data(std::string_view key) const {
  std::vector<data_view> all = data();
  std::erase_if(all, [&](const data_view& d) { return d.key != key; });
  return all;
}

node_health engine::health(std::uint64_t now_ms) const noexcept {
  bool suspected = false;
  for (const crypto::pubkey& id : peer_list_) {
    const auto it = peers_.find(id);
    if (it == peers_.end()) continue;
    const peer_health h = health_of(it->second, now_ms);
    if (h == peer_health::active) return node_health::healthy;
    if (h == peer_health::suspected) suspected = true;
  }
  return suspected ? node_health::degraded : node_health::isolated;
}

std::vector<crypto::pubkey> engine::active_set() const {
  std::vector<crypto::pubkey> out;
  for (const active_peer& a : active_set_) out.push_back(a.id);
  return out;
}

std::vector<crypto::pubkey> engine::pruned_origins(const crypto::pubkey& peer) const {
  for (const active_peer& a : active_set_) {
    if (a.id == peer) return {a.pruned.begin(), a.pruned.end()};
  }
  return {};
}

}  // namespace riptide::gossip
