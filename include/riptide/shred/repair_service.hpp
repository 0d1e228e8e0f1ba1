#pragma once
// Repair service: the two ends of repair (shred/repair.hpp has the wire format) as pure
// components a repair tile drives.
// - repair_server answers signed requests from peers out of this node's shred_store, and
//   from its shred_archive (on disk) for what the store no longer (or never) held.
// - repair_client plans signed requests for the gaps a slot_assembler reports, paces them, and
//   matches the responses to its outstanding nonces.
//
// Contract
// - Pure: no threads, no sockets, no clocks. Time comes in as now_ms and is wall-clock
//   milliseconds (UNIX epoch): the client signs it into each request as its wallclock and the
//   server compares a request's wallclock with it. Packets leave through a repair_packet_sink
//   the caller supplies, addressed by peer index; the span handed to the sink is valid only
//   during the call (it points into the component's one packet buffer).
// - One owner each (the repair tile); not thread-safe. The server reads the shred_store
//   through a const reference: the store must outlive it and is used on the same thread.
// - Tables are sized in the constructors (which copy the peer list and may throw
//   std::invalid_argument / std::bad_alloc); nothing allocates afterwards.
//   repair_server::handle() and repair_client::accept_response() are noexcept.
//   repair_client::plan() signs (one BIP-340 signature per request, with fresh aux randomness
//   from getrandom) and may throw what crypto::keypair::sign throws.
// - Every packet dropped is counted by reason in counters(): a tile copies them into its
//   metrics. On the one repair socket, is_repair_request() tells a request (to
//   repair_server::handle) from a response (to repair_client::accept_response).
//
// Server, per request (cheapest checks first; the first failure is counted):
//   parse (each repair_error) -> sender is a peer (unknown_sender) -> verify_repair_request:
//   shred_version, recipient, not from self, wallclock within ±wallclock_window_ms, signature
//   (each repair_error) -> the sender's token bucket (rate_limited) -> lookup in the store, then the archive:
//     window_index  (slot, index)  data shred (slot, index)
//     highest_index (slot, index)  the highest data shred held of slot, if its index >= index
//     orphan        (slot)         the highest data shred of slot's parent, grandparent, ...
//                                  up to orphan_ancestors of them, as far as the store knows
//                                  the chain (parent_of)
//   -> one response (shred ‖ nonce) per shred found, sent to the sender's peer index, or
//   nothing (not_found).
//
// Client, per plan() call (at most max_requests_per_plan requests):
//   1. every incomplete slot of the assembler, ascending: window_index for each missing()
//      index, then highest_index for missing_tail();
//   2. orphan for each orphan slot (not if a repair_slot_gate says it has the slot or its
//      parent; gated slots are skipped in 1 and 3 as well);
//   3. highest_index(s, 0) for each slot s in [max(first_wanted, assembler root),
//      highest_seen] the assembler neither tracks nor has taken (at most max_slots_per_plan
//      slots of that range are looked at per call).
//   A target (slot, kind, index) asked less than retry_ms ago is skipped (waiting). Each target
//   goes to peers_per_target peers (distinct while there are enough) drawn at random (seeded)
//   among the peers other than self_index, or chosen by a repair_peer_picker. Per peer, a token bucket (peer_burst tokens,
//   refilled at peer_rate_per_second) caps requests outstanding at it: one token per request,
//   given back when the answer comes; a target whose peer has no token is not sent
//   (peer_limited) and is tried again at the next plan.
//   A response is accepted once per request, only from the nonce's table, within nonce_ttl_ms,
//   and only if its shred answers the request (repair_nonce_tracker's rules); an orphan
//   request accepts up to orphan_responses responses (one per ancestor).

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/shred/repair.hpp>
#include <riptide/shred/shred_archive.hpp>
#include <riptide/shred/shred_store.hpp>
#include <riptide/shred/slot_assembler.hpp>
#include <riptide/util/prng.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace riptide::shred {

// Sink for packets a component wants sent. peer = index into the peer list given at construction.
class repair_packet_sink {
 public:
  virtual void on_packet(std::uint32_t peer, std::span<const std::uint8_t> bytes) noexcept = 0;

 protected:
  ~repair_packet_sink() = default;
};

// ------------------------------------------------------------------------------ server

struct repair_server_config {
  std::uint16_t shred_version = 0;
  std::uint64_t wallclock_window_ms = 10'000;   // request freshness (verify_repair_request)
  std::uint32_t rate_per_second = 5'120;        // per requester token bucket
  std::uint32_t burst = 512;
  std::size_t max_requesters = 256;             // limiter table size
  std::uint32_t orphan_ancestors = 4;           // orphan: highest shred of up to this many ancestors
};

struct repair_server_counters {
  std::uint64_t requests = 0;   // handle() calls
  std::array<std::uint64_t, repair_kind_count> answered{};  // requests answered, by kind
  std::uint64_t responses = 0;  // response packets sent
  // Drops, each request counted once under its first failure:
  std::array<std::uint64_t, repair_error_count> dropped{};  // parse and verify, by repair_error
  std::uint64_t unknown_sender = 0;  // sender is not in the peer list
  std::uint64_t rate_limited = 0;    // the sender's token bucket is empty
  std::uint64_t not_found = 0;       // neither the store nor the archive holds an answer
  std::uint64_t from_archive = 0;    // shreds looked up in the archive (the store had none)
};

// Answers requests from a shred_store and, for what the store does not hold, from an optional
// shred_archive (the slots this node archived on disk, including those from before a
// restart). peers[i] is the identity of peer i; a request whose sender is not a peer is
// dropped (counted) — the response goes to the peer index via the sink.
class repair_server {
 public:
  // Throws std::invalid_argument for a bad limiter size or rate (repair_rate_limiter's limits).
  repair_server(const crypto::pubkey& self, const repair_server_config& config,
                std::span<const crypto::pubkey> peers, const shred_store& store,
                const shred_archive* archive = nullptr);
  ~repair_server();
  repair_server(const repair_server&) = delete;
  repair_server& operator=(const repair_server&) = delete;

  // One request packet: parse, verify (version, recipient == self, wallclock, signature),
  // rate-limit the sender, look up, emit 0..orphan_ancestors responses (shred ‖ nonce) to the
  // sender's peer index. Returns responses emitted. Every drop counted by reason
  // (each repair_error, unknown_sender, rate_limited, not_found).
  std::size_t handle(std::span<const std::uint8_t> request, std::uint64_t now_ms,
                     repair_packet_sink& sink) noexcept;

  [[nodiscard]] const repair_server_config& config() const noexcept { return config_; }
  [[nodiscard]] const repair_server_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] const repair_rate_limiter& limiter() const noexcept { return limiter_; }
  // Total of dropped[], unknown_sender and rate_limited: requests refused before a lookup.
  [[nodiscard]] std::uint64_t refused() const noexcept;

 private:
  // Peer index of key, or nullopt.
  [[nodiscard]] std::optional<std::uint32_t> peer_index(const crypto::pubkey& key) const noexcept;
  bool respond(std::span<const std::uint8_t> shred, std::uint32_t nonce, std::uint32_t peer,
               repair_packet_sink& sink) noexcept;
  // Lookups in the store, then in the archive (counted in from_archive when it answers).
  [[nodiscard]] std::span<const std::uint8_t> data_of(std::uint64_t slot, std::uint32_t index) noexcept;
  [[nodiscard]] std::span<const std::uint8_t> highest_of(std::uint64_t slot,
                                                         std::uint32_t at_or_above) noexcept;
  [[nodiscard]] std::optional<std::uint64_t> parent_of(std::uint64_t slot) const noexcept;

  crypto::pubkey self_;
  repair_server_config config_;
  const shred_store& store_;
  const shred_archive* archive_;
  std::vector<std::pair<crypto::pubkey, std::uint32_t>> peers_by_key_;  // sorted by key
  repair_rate_limiter limiter_;
  crypto::pubkey_cache keys_;
  std::array<std::uint8_t, max_repair_response_bytes> packet_{};
  repair_server_counters counters_;
};

// ------------------------------------------------------------------------------ client

struct repair_client_config {
  std::uint16_t shred_version = 0;
  std::uint64_t retry_ms = 150;          // a (slot, kind, index) is asked again after this long
  std::size_t max_requests_per_plan = 256;
  std::size_t nonce_slots = 8192;        // outstanding request table
  std::uint64_t nonce_ttl_ms = 2'000;
  std::uint64_t seed = 1;                // peer choice
  // Requests sent for each target per plan, to distinct peers while there are enough (then
  // the same peer again): more than one trades bandwidth for fewer rounds when loss is high.
  std::size_t peers_per_target = 1;
  std::size_t retry_slots = 8192;        // targets remembered for retry_ms (sets of 8)
  std::size_t max_slots_per_plan = 256;  // incomplete, orphan and never-seen slots per plan
  // Requests outstanding per peer: a token bucket of peer_burst tokens refilled at
  // peer_rate_per_second; a token comes back when the peer's answer is accepted.
  // peer_rate_per_second = 0 turns the cap off.
  std::uint32_t peer_rate_per_second = 1'280;
  std::uint32_t peer_burst = 128;
  std::uint32_t orphan_responses = 4;    // responses accepted per orphan request (>= 1)
};

struct repair_client_counters {
  std::uint64_t plans = 0;
  std::array<std::uint64_t, repair_kind_count> requests{};  // requests sent, by kind
  std::uint64_t waiting = 0;          // targets skipped: asked less than retry_ms ago
  std::uint64_t peer_limited = 0;     // requests not sent: the chosen peer has no token
  std::uint64_t no_peer = 0;          // targets with no peer to ask (none other than self)
  std::uint64_t plan_full = 0;        // plans that stopped at max_requests_per_plan
  std::uint64_t nonce_retries = 0;    // a drawn nonce was already in flight
  std::uint64_t responses = 0;        // accept_response() calls
  std::uint64_t accepted = 0;         // responses returned to the caller
  // Drops of responses, each counted once under its first failure:
  std::array<std::uint64_t, repair_error_count> dropped{};  // parse_repair_response errors
  std::uint64_t bad_shred = 0;        // the shred part does not parse (parse_shred)
  std::uint64_t unknown_nonce = 0;    // no such nonce in flight (never sent, or answered)
  std::uint64_t mismatched = 0;       // nonce in flight, but the shred does not answer it
  std::uint64_t expired = 0;          // nonce older than nonce_ttl_ms
};

// Chooses the peer to ask for a slot (e.g. from EpochSlots: peers that announced the slot).
// random is 64 fresh bits from the client's seeded generator. Return a peer index; an index
// out of range or equal to the client's self_index means "nobody" (counted as no_peer).
class repair_peer_picker {
 public:
  virtual std::uint32_t pick(std::uint64_t slot, repair_kind kind,
                             std::uint64_t random) noexcept = 0;

 protected:
  ~repair_peer_picker() = default;
};

// Says whether a slot's gaps may be asked for now. A tile uses it to leave alone a slot whose
// shreds are still arriving (Turbine and FEC usually fill those gaps a moment later), and
// names slots its consumer already has (the assembler forgets taken slots when it needs the
// room): such a slot is never asked for, nor is it an orphan's unknown parent.
class repair_slot_gate {
 public:
  virtual bool may_repair(std::uint64_t slot) const noexcept = 0;
  virtual bool has(std::uint64_t /*slot*/) const noexcept { return false; }

 protected:
  ~repair_slot_gate() = default;
};

// Plans requests for an assembler's gaps, and matches responses.
class repair_client {
 public:
  // peers[i] = identity of peer i (the node's own index `self_index` is never asked; any
  // value >= peers.size() means the node is not in the list). Throws std::invalid_argument
  // for a zero max_requests_per_plan, retry_slots, max_slots_per_plan or orphan_responses,
  // or a table size or rate out of repair.hpp's limits.
  repair_client(const crypto::keypair& identity, const repair_client_config& config,
                std::span<const crypto::pubkey> peers, std::uint32_t self_index);
  ~repair_client();
  repair_client(const repair_client&) = delete;
  repair_client& operator=(const repair_client&) = delete;

  // Emits signed requests for: every missing index of incomplete slots (window_index);
  // missing_tail (highest_index); orphans (orphan); and highest_index(s, 0) for every slot in
  // [first_wanted, highest_seen] the assembler does not track, is not taken and not below root
  // (slots the node never saw a shred of). Each request goes to a random peer != self_index;
  // a target is not asked again before retry_ms; at most max_requests_per_plan per call.
  // Returns requests emitted. Signing costs one Schnorr signature each.
  std::size_t plan(const slot_assembler& assembler, std::uint64_t first_wanted,
                   std::uint64_t highest_seen, std::uint64_t now_ms, repair_packet_sink& sink);
  // The same, skipping the slots (of steps 1 and 3) the gate holds back.
  std::size_t plan(const slot_assembler& assembler, std::uint64_t first_wanted,
                   std::uint64_t highest_seen, std::uint64_t now_ms, repair_packet_sink& sink,
                   const repair_slot_gate& gate);
  // The same, with peers chosen by picker instead of uniformly.
  std::size_t plan(const slot_assembler& assembler, std::uint64_t first_wanted,
                   std::uint64_t highest_seen, std::uint64_t now_ms, repair_packet_sink& sink,
                   repair_peer_picker& picker);

  // A response packet: its nonce must be outstanding (not expired); then returns the shred
  // bytes (the response without its nonce), else an empty span and a counted reason
  // (parse error, unknown/expired nonce). The caller then runs the shred through its
  // fec_resolver like any other.
  std::span<const std::uint8_t> accept_response(std::span<const std::uint8_t> response,
                                                std::uint64_t now_ms) noexcept;

  [[nodiscard]] const repair_client_config& config() const noexcept { return config_; }
  [[nodiscard]] const repair_client_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::uint64_t requests_sent() const noexcept;
  // Requests in flight (sent, neither answered nor expired at the last plan()).
  [[nodiscard]] std::size_t outstanding() const noexcept { return nonces_.size(); }

 private:
  struct retry_entry {
    std::uint64_t slot = 0;
    std::uint64_t asked_ms = 0;
    std::uint32_t index = 0;
    repair_kind kind = repair_kind::window_index;
    bool used = false;
  };
  static constexpr std::size_t retry_ways = 8;
  static constexpr std::uint32_t no_peer = 0xffff'ffffu;

  std::size_t plan_with(const slot_assembler& assembler, std::uint64_t first_wanted,
                        std::uint64_t highest_seen, std::uint64_t now_ms,
                        repair_packet_sink& sink, repair_peer_picker* picker,
                        const repair_slot_gate* gate = nullptr);
  // Asks for one target; false once the plan's budget is spent.
  bool ask(repair_kind kind, std::uint64_t slot, std::uint32_t index, std::uint64_t now_ms,
           repair_packet_sink& sink, repair_peer_picker* picker);
  // A peer index other than self, and other than the first `chosen` of excluded_ (the peers
  // asked already for this target) while there are others; no_peer if there is nobody.
  [[nodiscard]] std::uint32_t choose_peer(std::uint64_t slot, repair_kind kind,
                                          repair_peer_picker* picker,
                                          std::size_t chosen) noexcept;
  [[nodiscard]] retry_entry* retry_set(std::uint64_t slot, repair_kind kind,
                                       std::uint32_t index) noexcept;
  // True if the target was asked less than retry_ms ago.
  [[nodiscard]] bool waiting(std::uint64_t slot, repair_kind kind, std::uint32_t index,
                             std::uint64_t now_ms) noexcept;
  void remember(std::uint64_t slot, repair_kind kind, std::uint32_t index,
                std::uint64_t now_ms) noexcept;

  crypto::keypair identity_;
  repair_client_config config_;
  std::vector<crypto::pubkey> peers_;
  std::uint32_t self_index_ = 0;
  std::size_t eligible_peers_ = 0;  // peers other than self
  util::xoshiro256ss rng_;
  repair_nonce_tracker nonces_;
  std::unique_ptr<repair_rate_limiter> peer_limit_;  // null when peer_rate_per_second is 0
  std::unique_ptr<retry_entry[]> retry_;
  std::size_t retry_mask_ = 0;
  std::vector<std::uint64_t> slot_buffer_;   // max_slots_per_plan
  std::vector<std::uint32_t> index_buffer_;  // missing() indices, a page at a time
  std::vector<std::uint32_t> excluded_;      // peers already asked for the current target
  std::size_t budget_ = 0;                   // requests left in the current plan
  std::array<std::uint8_t, max_repair_request_bytes> packet_{};
  repair_client_counters counters_;
};

}  // namespace riptide::shred
