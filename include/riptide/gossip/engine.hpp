#pragma once
// The gossip engine: a node's whole gossip state machine with no sockets, threads or clocks.
//
// Contract
// - Purpose: keep a CRDS table of signed values in sync with the cluster by push (to a rotating
//   active set, pruned where relayers are redundant), pull (bloom filters of what we hold, to
//   random trusted peers), and ping/pong (an address is trusted for pull answers and the active
//   set only after it answered a ping); track peer health from last contact; purge stale values;
//   refresh our own values; join through entrypoint addresses. The glue (the gossip tile) feeds
//   packets and time in and sends what pop_outgoing() yields. docs/protocol.md ("Gossip")
//   describes the wire formats and the behaviour; perf/gossip.md the measured convergence.
// - Threading: single owner. Every member runs on the caller's thread; nothing is shared
//   except the optional signature_verifier, which the caller owns and must outlive the engine
//   (it is called from this engine's calls only, so one verifier may serve many engines driven
//   from one thread, as the simulation does).
// - Time: every call that needs time takes now_ms (milliseconds on the node's wall clock; the
//   same clock signs wallclock_ms into values, so cluster clocks are assumed synchronised
//   within wallclock_tolerance_ms). now_ms must not go backwards between calls.
// - Determinism: all randomness (tokens, ping secrets, peer choice, bloom keys, signature aux
//   randomness) comes from a PRNG seeded from `seed` and the identity, so a given seed and
//   packet/time sequence always produces the same packets.
// - Memory: bounded by config. The CRDS table holds at most max_values values; the outgoing
//   queue at most max_outgoing_packets packets (grown on demand up to that, then overflow is
//   dropped and counted); the address/trust table at most max_addresses entries; per-origin
//   duplicate tracking at most 16 relayers per origin. Allocation happens inside calls (this
//   is a control plane at tens of packets per second per peer), never without bound.
// - Failure: the constructor throws std::invalid_argument for an invalid config or an empty
//   identity, std::runtime_error if libsecp256k1's context cannot be created. Everything
//   after that is noexcept or reports by return value; each dropped packet or value bumps a
//   counter in stats (by reason). An internal exception (std::bad_alloc) inside a noexcept
//   entry point is caught and counted in stats.internal_errors.

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/gossip/bloom.hpp>
#include <riptide/gossip/crds.hpp>
#include <riptide/gossip/messages.hpp>
#include <riptide/util/prng.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace riptide::gossip {

// IPv4 address and UDP port, host order.
struct socket_addr {
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
  friend bool operator==(const socket_addr&, const socket_addr&) = default;
};

struct socket_addr_hasher {
  std::size_t operator()(const socket_addr& a) const noexcept {
    return static_cast<std::size_t>((std::uint64_t{a.ip} << 16 | a.port) * 0x9E3779B97F4A7C15ull);
  }
};

// Every field is validated once by the engine constructor (validate()).
struct gossip_config {
  std::uint16_t shred_version = 0;  // cluster id: messages with another value are dropped
  std::size_t push_fanout = 6;      // active set size
  std::uint64_t push_interval_ms = 100;         // one push round
  std::uint64_t pull_interval_ms = 1000;        // one pull round
  std::uint64_t active_set_rotate_ms = 10000;   // replace one active-set member
  std::uint64_t refresh_own_values_ms = 5000;   // re-sign own ContactInfo/Data/... with now
  std::uint64_t ping_secret_rotate_ms = 30000;  // a pong must answer a ping of the current or
                                                // previous secret
  std::uint64_t heartbeat_ms = 1000;      // re-sign own NodeInstance (proof of life for peers
                                          // that never hear from us directly); health check
  std::uint64_t suspect_after_ms = 5000;  // a peer with no contact for this long is suspected
  std::uint64_t dead_after_ms = 15000;    // ... and dead
  std::uint64_t purge_after_ms = 60000;   // values whose wallclock is this old are purged
                                          // (and never accepted); a peer goes with its values
  std::uint64_t wallclock_tolerance_ms = 10000;  // values/prunes further in the future: rejected
  std::size_t pull_response_budget_bytes = 64 * 1024;  // value bytes answering one pull request
  std::size_t max_values = 100000;       // CRDS capacity; beyond it new values are rejected
  std::size_t prune_min_redundant = 3;   // prune an origin from a relayer after this many
                                         // duplicate deliveries
  // Additions beyond the list:
  std::size_t prune_keep_relayers = 2;   // per origin, the relayers that delivered first most
                                         // often are never pruned (keeps ingress redundant)
  std::uint64_t prune_flush_ms = 500;    // a relayer's prunes wait at most this long for more
                                         // origins (each message costs a signature each side)
  std::uint64_t trust_ttl_ms = 120000;   // a pong keeps (id, address) trusted this long
  std::uint64_t ping_retry_ms = 500;     // minimum gap between pings to one address
  std::size_t max_pings_per_round = 4;   // pings for candidate peers per push round
  std::uint64_t push_timeout_ms = 30000;  // values older than this (wallclock) are not pushed
  std::size_t push_budget_bytes = 64 * 1024;  // value bytes pushed per round (to each peer)
  std::size_t max_pull_requests = 8;     // hash partitions requested per pull round
  std::size_t pull_fanout = 2;           // peers asked (for every partition) per pull round
  std::size_t max_outgoing_packets = 4096;  // outgoing queue bound
  std::size_t max_addresses = 16384;     // ping/trust table bound (address -> id, pong time)
  std::size_t max_own_data_keys = 64;    // set_data() refuses new keys beyond this

  // Throws std::invalid_argument naming the first bad field.
  void validate() const;
};

enum class peer_health : std::uint8_t { active, suspected, dead };
enum class node_health : std::uint8_t { healthy, degraded, isolated };
[[nodiscard]] const char* to_string(peer_health health) noexcept;
[[nodiscard]] const char* to_string(node_health health) noexcept;

struct peer_view {
  contact_info contact;
  socket_addr addr;  // where we last saw its pings come from; else its advertised gossip addr
  peer_health health = peer_health::dead;
  std::uint64_t last_contact_ms = 0;
  bool trusted = false;  // answered our ping (at its gossip address) within trust_ttl_ms
};

struct data_view {
  crypto::pubkey origin{};
  std::string key;
  std::string value;
  std::uint64_t wallclock_ms = 0;
};

struct outgoing {
  socket_addr to;
  std::uint16_t len = 0;
  std::array<std::uint8_t, max_packet_bytes> bytes;
};

// Why a value was not inserted (engine::stats::values_rejected is indexed by this).
enum class value_reject : std::uint8_t {
  bad_signature,           // signature does not verify under the origin
  future_wallclock,        // wallclock > now + wallclock_tolerance_ms
  too_old,                 // wallclock + purge_after_ms < now: it would be purged at once
  shred_version_mismatch,  // a ContactInfo of another cluster
  own_origin,              // claims to be from this node but is not in our table
  table_full,              // new label while the table holds max_values values
};
constexpr std::size_t value_reject_count = 6;
[[nodiscard]] const char* to_string(value_reject reason) noexcept;

// Why a prune was not honoured (engine::stats::prunes_rejected is indexed by this).
enum class prune_reject : std::uint8_t {
  wrong_destination,  // addressed to another node
  stale_wallclock,    // wallclock further than wallclock_tolerance_ms from now
  bad_signature,
  not_in_active_set,  // we do not push to the pruner anyway
};
constexpr std::size_t prune_reject_count = 4;
[[nodiscard]] const char* to_string(prune_reject reason) noexcept;

enum class data_error : std::uint8_t { none, key_empty, key_too_long, value_too_long, too_many_keys };
[[nodiscard]] const char* to_string(data_error error) noexcept;

class engine {
 public:
  // The identity signs every value and message. `self` gives our ports and address (its id
  // is replaced by the identity's key, its shred_version by cfg.shred_version; wallclock_ms is
  // the start time, also signed into our NodeInstance). Entrypoints equal to our own gossip
  // address are ignored. verifier: nullptr for an own pubkey_cache-based verifier.
  engine(const crypto::keypair& identity, const contact_info& self, const gossip_config& cfg,
         std::vector<socket_addr> entrypoints, std::uint64_t seed,
         signature_verifier* verifier = nullptr);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;
  // Movable: tables are node-based, so the pointers between them survive a move; a verifier
  // the engine owns lives on the heap.
  engine(engine&&) = default;
  engine& operator=(engine&&) = default;

  // Parses, verifies and applies one packet from `from`; may queue replies.
  void on_packet(const socket_addr& from, std::span<const std::uint8_t> bytes,
                 std::uint64_t now_ms) noexcept;
  // Runs whatever timers are due: push, pull, pings, active-set rotation, health and purge,
  // own value refresh, ping secret rotation. Call at least every push_interval_ms.
  void tick(std::uint64_t now_ms) noexcept;
  // Takes the oldest queued packet; false when the queue is empty.
  bool pop_outgoing(outgoing& out) noexcept;
  [[nodiscard]] std::size_t outgoing_size() const noexcept { return out_count_; }

  // Signs and inserts our own Data value (pushed next round). False if key/value are out of
  // range (key 1..64 bytes, value <= 512 bytes) or we already hold max_own_data_keys keys;
  // check_data() says which.
  bool set_data(std::string_view key, std::string_view value, std::uint64_t now_ms);
  [[nodiscard]] data_error check_data(std::string_view key, std::string_view value) const noexcept;
  void set_leader_schedule_digest(std::uint64_t epoch, const crypto::hash32& digest,
                                  std::uint64_t now_ms);
  // Carried now, consumed by later consensus/repair code.
  void set_vote(std::uint8_t index, std::uint64_t slot, const crypto::hash32& hash,
                std::uint64_t now_ms);
  void set_lowest_slot(std::uint64_t slot, std::uint64_t now_ms);

  std::vector<peer_view> peers(std::uint64_t now_ms) const;  // every known node except self
  std::vector<data_view> data() const;                       // all Data values, by key, origin
  std::vector<data_view> data(std::string_view key) const;   // that key, from every origin
  node_health health(std::uint64_t now_ms) const noexcept;

  struct stats {
    // Packets and bytes. *_by_type arrays are indexed by the message_type value (0 unused).
    std::uint64_t packets_in = 0, bytes_in = 0, packets_out = 0, bytes_out = 0;
    std::array<std::uint64_t, message_type_count> packets_in_by_type{};
    std::array<std::uint64_t, message_type_count> packets_out_by_type{};
    std::array<std::uint64_t, parse_error_count> parse_errors{};  // [none] stays 0
    std::uint64_t shred_version_mismatch = 0;  // whole messages of another cluster
    std::uint64_t from_self = 0;               // messages claiming our own id as sender
    std::uint64_t outgoing_dropped = 0;        // queue full
    std::uint64_t internal_errors = 0;         // exceptions caught at the noexcept boundary

    // Values (each value of a push / pull response / pull request counts once).
    std::uint64_t values_received = 0;
    std::uint64_t values_inserted = 0;    // new label
    std::uint64_t values_updated = 0;     // replaced an older value
    std::uint64_t values_duplicate = 0;   // held already (no signature check)
    std::uint64_t values_promoted = 0;    // held from a pull, first pushed copy: now relayed
    std::uint64_t values_outdated = 0;    // an equal-or-newer value is held (no signature check)
    std::array<std::uint64_t, value_reject_count> values_rejected{};
    std::uint64_t signatures_verified = 0;  // value signature checks (each distinct value once)
    std::uint64_t values_purged = 0;        // stale values removed
    std::uint64_t peers_purged = 0;         // peers removed with their last value

    // Push and prune.
    std::uint64_t push_messages_sent = 0, push_values_sent = 0;
    std::uint64_t prunes_sent = 0, prune_origins_sent = 0;
    std::uint64_t prunes_received = 0, prune_origins_received = 0;
    std::array<std::uint64_t, prune_reject_count> prunes_rejected{};
    std::uint64_t active_set_rotations = 0;

    // Pull.
    std::uint64_t pull_requests_sent = 0, pull_requests_received = 0;
    std::uint64_t pull_requests_untrusted = 0;  // dropped: requester never answered our ping
    std::uint64_t pull_responses_sent = 0, pull_response_values_sent = 0;
    std::uint64_t pull_responses_received = 0;
    std::uint64_t pull_responses_truncated = 0;  // budget or queue space ran out
    std::uint64_t catch_up_pulls = 0;  // extra pull rounds: an answer had new labels, or an
                                       // origin's values are held without its ContactInfo

    // Ping / pong.
    std::uint64_t pings_sent = 0, pings_received = 0, pings_rejected = 0;  // bad signature
    std::uint64_t pongs_sent = 0, pongs_received = 0;
    std::uint64_t pongs_bad_token = 0;      // answers no ping of ours to that address
    std::uint64_t pongs_bad_signature = 0;

    // Identity.
    std::uint64_t node_restarts_detected = 0;       // a peer's NodeInstance token changed
                                                    // to a later start
    std::uint64_t duplicate_instances_detected = 0;  // a peer's token changed to an earlier
                                                     // (or equal) start: two processes
    std::uint64_t duplicate_identity_detected = 0;   // someone else signs as us
    std::uint64_t sign_failures = 0;
  };
  [[nodiscard]] const stats& get_stats() const noexcept { return stats_; }

  [[nodiscard]] std::size_t table_size() const noexcept { return table_.size(); }
  // CRDS values held by kind, indexed by kind_index(value_kind) (to_string(kind_at(i)) names
  // them), for /gossip/state.
  [[nodiscard]] const std::array<std::size_t, value_kind_count>& table_counts() const noexcept {
    return table_.counts();
  }
  [[nodiscard]] std::size_t table_count(value_kind kind) const noexcept {
    return table_.count(kind);
  }

  // Introspection (tests, the HTTP API).
  [[nodiscard]] const crypto::pubkey& id() const noexcept { return self_.id; }
  [[nodiscard]] socket_addr gossip_addr() const noexcept { return {self_.ip, self_.gossip_port}; }
  [[nodiscard]] std::vector<crypto::pubkey> active_set() const;
  [[nodiscard]] bool is_trusted(const crypto::pubkey& id, const socket_addr& addr,
                                std::uint64_t now_ms) const noexcept;
  // Origins a peer in our active set asked us not to push (empty if not in the set).
  [[nodiscard]] std::vector<crypto::pubkey> pruned_origins(const crypto::pubkey& peer) const;
  [[nodiscard]] bool duplicate_identity() const noexcept {
    return stats_.duplicate_identity_detected != 0;
  }
  [[nodiscard]] const crds_table& table() const noexcept { return table_; }
  [[nodiscard]] const gossip_config& config() const noexcept { return cfg_; }
  [[nodiscard]] std::uint64_t instance_token() const noexcept { return instance_.token; }

 private:
  enum class route : std::uint8_t { push, pull_request, pull_response };
  enum class ingest_result : std::uint8_t {
    inserted, updated, promoted, duplicate, outdated, rejected
  };

  struct peer_state {
    contact_info contact{};
    bool has_contact = false;
    socket_addr observed{};  // source address of its last verified ping
    bool has_observed = false;
    std::uint64_t last_contact_ms = 0;
    std::optional<node_instance> instance;
    std::size_t list_index = SIZE_MAX;  // position in peer_list_ (peers with a ContactInfo)
  };
  struct addr_state {
    crypto::pubkey id{};       // who answered our ping here
    std::uint64_t pong_ms = 0;
    std::uint64_t ping_ms = 0;
    std::uint64_t pulled_ms = 0;  // when we last sent it a pull request
    std::uint64_t trusts_us_ms = 0;  // last evidence it trusts us (its ping, a pull answer)
    bool answered = false;
    bool pinged = false;
    bool pulled = false;
    bool trusts_us = false;
  };
  struct active_peer {
    crypto::pubkey id{};
    socket_addr addr{};
    std::unordered_set<crypto::pubkey, pubkey_hasher> pruned;
  };
  struct relayer_score {
    crypto::pubkey relayer{};
    socket_addr addr{};
    std::uint32_t firsts = 0;
    std::uint32_t duplicates = 0;
  };
  struct pending_prune {
    socket_addr addr{};
    std::vector<crypto::pubkey> origins;
    std::uint64_t first_ms = 0;  // when the oldest pending origin was queued
  };

  // Packet handlers.
  void handle_push(const socket_addr& from, const message_view& m, std::uint64_t now);
  void handle_pull_request(const socket_addr& from, const message_view& m, std::uint64_t now);
  void handle_pull_response(const socket_addr& from, const message_view& m, std::uint64_t now);
  void handle_prune(const message_view& m, std::uint64_t now);
  void handle_ping(const socket_addr& from, const message_view& m, std::uint64_t now);
  void handle_pong(const socket_addr& from, const message_view& m, std::uint64_t now);

  ingest_result ingest(const value_ref& v, std::uint64_t now, const crypto::pubkey& delivered_by,
                       route r);
  void on_value_stored(const value_ref& v, std::uint64_t now);
  void remember_bad_signature(const crypto::hash32& hash);
  void record_delivery(const crypto::pubkey& origin, const crypto::pubkey& relayer,
                       const socket_addr& relayer_addr, bool fresh, std::uint64_t now);
  void reject(value_reject reason) noexcept { ++stats_.values_rejected[static_cast<std::size_t>(reason)]; }

  // Own values.
  void put_own(crds_value v, std::uint64_t now);
  void refresh_own_values(std::uint64_t now);
  void sign_heartbeat(std::uint64_t now);

  // Timers.
  void run_push(std::uint64_t now);
  void run_pull(std::uint64_t now);
  void send_pull_requests(std::uint64_t now, const socket_addr* only_to);
  void rotate_active_set(std::uint64_t now);
  void fill_active_set(std::uint64_t now);
  void run_health(std::uint64_t now);
  void flush_prunes(std::uint64_t now);
  void bootstrap(std::uint64_t now);

  // Peers and trust.
  [[nodiscard]] peer_health health_of(const peer_state& p, std::uint64_t now) const noexcept;
  [[nodiscard]] bool trusted(const crypto::pubkey& id, const socket_addr& addr,
                             std::uint64_t now) const noexcept;
  bool maybe_ping(const socket_addr& addr, std::uint64_t now);
  void schedule_repull(const socket_addr& to);
  void note_trusts_us(const socket_addr& addr, std::uint64_t now);
  [[nodiscard]] crypto::hash32 ping_token(const crypto::hash32& secret,
                                          const socket_addr& addr) const noexcept;
  addr_state* address(const socket_addr& addr, std::uint64_t now);
  void note_contact(const crypto::pubkey& id, std::uint64_t when) noexcept;
  void forget_peer(const crypto::pubkey& id);
  [[nodiscard]] std::optional<crypto::pubkey> random_trusted_peer(std::uint64_t now);
  [[nodiscard]] bool is_entrypoint(const socket_addr& addr) const noexcept;

  // Output.
  bool enqueue(const socket_addr& to, std::span<const std::uint8_t> bytes) noexcept;
  [[nodiscard]] std::size_t free_slots() const noexcept {
    return cfg_.max_outgoing_packets - out_count_;
  }

  // Randomness.
  std::uint64_t next_random() noexcept;
  std::uint64_t random_below(std::uint64_t n) noexcept;  // n > 0
  crypto::aux_rand random_aux() noexcept;
  crypto::hash32 random_hash() noexcept;

  crypto::keypair identity_;
  contact_info self_;
  gossip_config cfg_;
  std::vector<socket_addr> entrypoints_;
  std::unique_ptr<signature_verifier> own_verifier_;
  signature_verifier* verifier_;
  util::xoshiro256ss rng_;

  crds_table table_;
  node_instance instance_{};
  std::vector<std::pair<std::string, std::string>> own_data_;  // in insertion order
  std::optional<leader_schedule_digest> own_schedule_;
  std::vector<vote_value> own_votes_;
  std::optional<lowest_slot_value> own_lowest_slot_;

  std::unordered_map<crypto::pubkey, peer_state, pubkey_hasher> peers_;
  std::vector<crypto::pubkey> peer_list_;  // peers with a ContactInfo, for random choice
  std::unordered_map<socket_addr, addr_state, socket_addr_hasher> addresses_;
  std::vector<active_peer> active_set_;
  std::uint64_t push_cursor_ = 0;
  std::unordered_map<crypto::pubkey, std::vector<relayer_score>, pubkey_hasher> received_;
  std::vector<std::pair<crypto::pubkey, pending_prune>> pending_prunes_;
  std::vector<crypto::hash32> bad_signatures_;  // ring of recent failures: never re-verified
  std::unordered_set<crypto::hash32, hash32_hasher> bad_signature_set_;
  std::size_t bad_signature_next_ = 0;
  crypto::hash32 last_foreign_instance_{};  // our NodeInstance as signed by another process

  crypto::hash32 secret_{};
  crypto::hash32 previous_secret_{};
  bool started_ = false;
  bool catch_up_due_ = false;  // a pull answer taught us a new label: pull again next round
  std::uint64_t last_catch_up_ms_ = 0;
  std::vector<std::pair<socket_addr, std::uint64_t>> candidate_pings_;  // (addr, ping time)
  std::vector<socket_addr> repulls_;  // pull from these next tick (see handle_ping/pong)
  std::uint64_t first_tick_ms_ = 0;
  std::size_t pings_this_round_ = 0;
  std::uint64_t next_push_ms_ = 0, next_pull_ms_ = 0, next_rotate_ms_ = 0,
                next_refresh_ms_ = 0, next_heartbeat_ms_ = 0, next_secret_ms_ = 0;

  std::vector<outgoing> out_;  // ring, grown on demand up to max_outgoing_packets
  std::size_t out_head_ = 0;
  std::size_t out_count_ = 0;

  stats stats_;
};

}  // namespace riptide::gossip
