// Deterministic in-process simulation of block delivery through loss: leaders shred slots,
// Turbine carries the shreds down per-shred trees, followers verify, recover, retransmit and
// assemble them, and repair fills what is still missing. No sockets, no threads inside a
// simulation, no clocks: a simulated clock in microseconds orders every delivery, and one
// seeded util::xoshiro256ss per simulation decides loss, duplication, latency and repair peers,
// so a run is the same every time (signatures carry fresh BIP-340 aux randomness, but nothing
// the simulation decides depends on signature bytes).
//
// Cluster: N nodes (keys derived from their number) with stakes 1000..9000 drawn from the seed;
// a leader_schedule over them (slots_per_epoch 64, 4 slots per leader), and slots 1..K are
// produced by whoever the schedule names: every scheduled leader runs a shredder over its
// slots (parent = the slot before), so a node leads some slots and follows the rest. Turbine:
// one turbine_cluster, trees with fanout F (default 2). Slot contents: random byte streams of
// varied sizes, cycling through 0 (one set of one empty data shred), 1 byte, one set, exactly
// one full set, one byte past it, and several sets; each added in random chunks.
//
// Network: every delivery (leader -> root, node -> child, repair request, repair response)
// is lost with probability p, else arrives after 1 ms + uniform jitter of 2 ms (shreds leave
// the leader 20 us apart, so arrival order is shuffled) and, in the duplication scenario, is
// delivered twice with probability d.
//
// Follower, per received shred: fec_resolver::add (leader from the schedule) -> on accepted,
// store the wire bytes (keyed by slot, kind, index), retransmit to its children in that
// shred's tree, insert data shreds into its slot_assembler; when the shred completes its set,
// the recovered shreds get the same treatment (retransmitted too). A complete slot is taken
// and its stream compared with the leader's.
//
// Repair, after the Turbine phase, in rounds of 100 ms of simulated time, runs the node's
// repair components (shred/repair_service.hpp) as a repair tile would: each follower's
// repair_client plans from its assembler (window_index for missing(), highest_index for
// missing_tail() and for expected slots it has not heard of at all (slots 1..K: a node knows
// from its clock which slots should exist), orphan for orphans()), with retry_ms = one round.
// Each target goes to two peers (peers_per_target; at 50 % loss a round trip succeeds one time
// in four, and with one request per round the last shred of a slot took more than 40 rounds at
// some of 200 nodes), picked by a repair_peer_picker uniformly from the slot's leader and the
// followers that hold the slot complete (the simulation's stand-in for what EpochSlots gossip
// announces); the client caps requests outstanding per peer and records each nonce. The
// responder's repair_server parses, verifies and rate-limits the request and answers from the
// node's shred_store (which holds every shred the node accepted or recovered, and the leader's
// own slots), or stays silent if it lacks the shred. The requester's repair_client matches the
// response's nonce and the shred goes to its fec_resolver like any other shred, so repaired
// shreds are verified too. Repaired shreds and what they complete are stored and assembled but
// not retransmitted (repair is point to point).
//
// Forged traffic: for every slot and every follower, six packets from outside the cluster (not
// subject to loss): before the slot's first honest shred can arrive, a data shred signed by a
// non-leader, the slot's first coding shred with a shard byte flipped and its first data shred
// with a proof byte flipped (each is then the first shred of its set at that node); after the
// slot's broadcast, the same three kinds built from the slot's last shreds. None may be
// accepted, stored or retransmitted by any node, and every shred any node stores must equal
// the leader's byte for byte.
//
// Scenarios and what is asserted (perf/delivery.md has runs):
//   0 %:                  every slot complete on every follower by Turbine alone.
//   20 %:                 every slot complete on every follower by Turbine and FEC alone, no
//                         repair request at all (trees of depth <= 3; deeper: delivered).
//   20 %, 10 % duplicated: the same.
//   50 %:                 every slot complete on every follower within 40 repair rounds.
//   all:                  streams byte-identical to the leader's; forged traffic never
//                         accepted, stored or retransmitted.
// Where FEC alone stops: loss compounds down the tree. A node at depth h gets a shred
// straight from Turbine with probability 0.8^(h+1) at 20 % loss, unless an ancestor rebuilt the
// set and retransmitted the recovered shreds; and an ancestor rebuilds a d:32 set only once it
// holds d of its d + 32 shreds. In a shallow tree (6 nodes, fanout 2: depth 3) the roots
// and their children recover nearly every set and the cascade carries it to everyone. In a
// deep one it never starts: with fanout 2 most nodes sit at depth 5-8 of each shred's tree,
// receive well under half of a 32:32 set, and so does almost every ancestor. Seed 1 (8 slots,
// 14 sets): FEC alone delivers every set at 6 and 14 nodes (depth 3 and 4), 377 of 406
// follower sets at 30 nodes (depth 5), and at 200 nodes (depth 8) only the sets of fewer
// than 32 data shreds; the 32:32 sets all need repair. With fanout 200 (depth 2) 200 nodes
// need none. So "20 %: FEC alone" is asserted for trees of depth <= 3 (the 6 nodes at
// fanout 2) and the figures are printed for the rest; perf/delivery.md has the runs.
//
// Environment: RIPTIDE_DELIVERY_NODES (default 6), RIPTIDE_DELIVERY_SLOTS (default 8, at
// most 63), RIPTIDE_DELIVERY_FANOUT (default 2), RIPTIDE_DELIVERY_SEED (default 1),
// RIPTIDE_DELIVERY_THREADS (default 2: the scenarios are independent simulations).

#include <riptide/shred/fec_resolver.hpp>
#include <riptide/shred/repair.hpp>
#include <riptide/shred/repair_service.hpp>
#include <riptide/shred/shred.hpp>
#include <riptide/shred/shred_store.hpp>
#include <riptide/shred/shredder.hpp>
#include <riptide/shred/slot_assembler.hpp>
#include <riptide/shred/turbine.hpp>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/util/prng.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::shred;

using bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t cluster_shred_version = 42;
constexpr std::uint64_t start_ms = 1'700'000'000'000ull;  // the simulated clock's origin
constexpr std::uint64_t slots_per_epoch = 64;
constexpr std::uint64_t first_slot = 1;
constexpr std::uint64_t slot_duration_us = 400'000;
constexpr std::uint64_t shred_spacing_us = 20;  // the leader's pacing
constexpr std::uint64_t base_latency_us = 1'000;
constexpr std::uint64_t jitter_us = 2'000;
constexpr std::uint64_t repair_round_ms = 100;
constexpr std::uint64_t repair_max_age_ms = 1'000;
constexpr std::uint64_t repair_nonce_timeout_ms = 200;
constexpr std::size_t max_repair_rounds = 40;
constexpr std::size_t max_requests_per_round = 512;  // per node
// Each target is asked of this many peers per round (see the header comment).
constexpr std::size_t requests_per_target = 2;
constexpr std::uint32_t requester_rate_per_second = 1'280;  // refills the burst every round
constexpr std::uint32_t requester_burst = 128;              // requests outstanding per peer
constexpr std::uint32_t responder_rate_per_second = 5'120;
constexpr std::uint32_t responder_burst = 512;
constexpr std::size_t forged_per_slot_and_follower = 6;
// The deepest Turbine tree for which 20 % loss is asserted to need no repair (the issue's
// configuration: 6 nodes, fanout 2, depth 3). Deeper trees are only asserted to deliver;
// see "Where FEC alone stops" above.
constexpr std::uint32_t fec_alone_max_depth = 3;

// Slot sizes cycle through these: empty, a byte, part of a set, exactly one full set, one
// byte past it, several sets.
constexpr std::size_t full_set = 31'712;  // max_fec_set_payload_bytes(32)
constexpr std::size_t slot_sizes[] = {0, 20'000, full_set, 70'000, 1, 100'000, 5'000,
                                      full_set + 1};

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
}

crypto::keypair key_for(std::uint64_t domain, std::uint64_t i) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    std::array<std::uint8_t, 24> in{};
    for (int k = 0; k < 8; ++k) {
      in[k] = static_cast<std::uint8_t>(domain >> (8 * k));
      in[8 + k] = static_cast<std::uint8_t>(i >> (8 * k));
      in[16 + k] = static_cast<std::uint8_t>(attempt >> (8 * k));
    }
    crypto::keypair kp;
    if (crypto::keypair::try_from_secret(crypto::sha256(in), kp)) return kp;
  }
}

struct scenario {
  std::string name;
  std::size_t nodes = 6;
  std::size_t slots = 8;
  std::uint32_t fanout = 2;
  double loss = 0.0;
  double duplicate = 0.0;
  bool expect_fec_alone = false;  // assert: no repair request at all
  std::uint64_t seed = 1;
};

struct figures {
  scenario sc;
  std::size_t slots = 0, sets = 0, followers_slots = 0, follower_sets = 0;
  std::uint64_t leader_sent = 0, retransmitted = 0, delivered = 0, lost = 0, duplicated = 0;
  std::uint64_t recovered_turbine = 0, recovered_repair = 0;  // shreds rebuilt by FEC
  std::uint64_t sets_complete_after_turbine = 0;              // (follower, set) pairs
  std::uint64_t slots_complete_after_turbine = 0;             // (follower, slot) pairs
  std::uint64_t slots_complete = 0, stream_mismatches = 0, store_mismatches = 0;
  std::uint64_t repair_requests = 0, repair_limited = 0, repair_responses = 0;
  std::uint64_t repair_unanswered = 0, repair_responder_limited = 0, repair_rejected = 0;
  std::uint64_t repaired = 0;            // repair responses the resolver accepted
  std::uint64_t repair_redundant = 0;    // matched responses the resolver dropped (duplicate)
  std::uint64_t repair_unmatched = 0;    // responses whose nonce did not match
  std::size_t repair_rounds = 0;
  std::uint64_t forged_injected = 0, forged_accepted = 0, forged_stored = 0,
                forged_retransmitted = 0;
  std::array<std::uint64_t, drop_reason_count> dropped{};  // summed over every resolver
  std::uint32_t max_hops = 0;
  std::uint32_t tree_depth = 0;
  std::string leaders;  // "slots 1-3: node 4, ..."
  double wall_s = 0;
};

// The schedule as the resolvers' leader_lookup.
class schedule_lookup final : public leader_lookup {
 public:
  explicit schedule_lookup(const epoch::leader_schedule& schedule) : schedule_(schedule) {}
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t slot) const noexcept override {
    return schedule_.leader_for_slot(slot);
  }

 private:
  const epoch::leader_schedule& schedule_;
};

struct collecting_sink final : shred_sink {
  void on_shred(std::span<const std::uint8_t> shred, shred_kind, std::uint32_t) noexcept override {
    shreds.emplace_back(shred.begin(), shred.end());
  }
  std::vector<bytes> shreds;
};

// (slot, coding?, index): how a node's store and the leader's output are keyed.
using shred_key = std::tuple<std::uint64_t, std::uint8_t, std::uint32_t>;

shred_key key_of(const shred_view& v) {
  return {v.slot(), v.is_coding() ? 1 : 0, v.index()};
}

enum class msg_kind : std::uint8_t { turbine, repair_request, repair_response };

struct message {
  std::uint64_t at_us = 0;
  std::uint64_t seq = 0;
  std::uint32_t from = 0, to = 0;
  msg_kind kind = msg_kind::turbine;
  std::uint32_t hops = 0;  // turbine: deliveries this copy took from the leader
  bool forged = false;     // known to the simulation only, never to the nodes
  bytes data;
};

struct later {
  bool operator()(const message& a, const message& b) const {
    return std::tie(a.at_us, a.seq) > std::tie(b.at_us, b.seq);
  }
};

struct node {
  crypto::keypair key;
  std::uint32_t canonical = 0;  // turbine_cluster index
  std::unique_ptr<fec_resolver> resolver;
  std::unique_ptr<slot_assembler> assembler;
  std::unique_ptr<shred_store> store;  // wire bytes of every shred accepted or recovered
  std::unique_ptr<repair_server> server;
  std::unique_ptr<repair_client> client;
  std::vector<std::uint8_t> done;    // per slot of the run: stream taken and compared
};

class simulation {
 public:
  explicit simulation(const scenario& sc) : sc_(sc), rng_(sc.seed * 0x9E3779B97F4A7C15ull + 11) {
    const std::size_t n = sc.nodes;
    std::vector<epoch::stake_entry> members;
    for (std::size_t i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<node>());
      nodes_[i]->key = key_for(1, i);
      members.push_back({nodes_[i]->key.public_key(), 1000 * (1 + rng_.uniform(9))});
    }
    impostor_ = key_for(2, 0);
    cluster_ = std::make_unique<turbine_cluster>(members);
    tree_ = std::make_unique<turbine_tree>(*cluster_, sc.fanout);
    const std::uint64_t epoch_slots = std::max<std::uint64_t>(slots_per_epoch, sc.slots + 1);
    schedule_ = std::make_unique<epoch::leader_schedule>(epoch::stakes(members), 0, epoch_slots);
    lookup_ = std::make_unique<schedule_lookup>(*schedule_);
    node_of_canonical_.resize(n);
    for (std::size_t i = 0; i < n; ++i) peer_keys_.push_back(nodes_[i]->key.public_key());
    for (std::size_t i = 0; i < n; ++i) {
      nodes_[i]->canonical = cluster_->index_of(nodes_[i]->key.public_key());
      node_of_canonical_[nodes_[i]->canonical] = static_cast<std::uint32_t>(i);
      node_of_key_[nodes_[i]->key.public_key()] = static_cast<std::uint32_t>(i);
    }
    produce_slots();
    std::size_t max_data = 0, total_data = 0;
    for (const auto& [key, b] : leader_shreds_) {
      if (std::get<1>(key) == 0) {
        ++total_data;
        max_data = std::max<std::size_t>(max_data, std::get<2>(key) + 1);
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      node& nd = *nodes_[i];
      fec_resolver_config rc;
      rc.shred_version = cluster_shred_version;
      rc.max_sets = sets_.size() + 8;  // every set of the run fits: nothing is evicted
      nd.resolver = std::make_unique<fec_resolver>(rc, *lookup_);
      slot_assembler_config ac;
      ac.max_slots = sc.slots + 8;
      ac.max_data_shreds_per_slot = (max_data + 63) / 64 * 64;
      ac.pool_payloads = total_data + 64;
      nd.assembler = std::make_unique<slot_assembler>(ac);
      shred_store_config stc;
      stc.max_shreds = leader_shreds_.size() + 64;  // every shred of the run fits
      stc.max_slots = sc.slots + 8;
      nd.store = std::make_unique<shred_store>(stc);
      repair_server_config sv;
      sv.shred_version = cluster_shred_version;
      sv.wallclock_window_ms = repair_max_age_ms;
      sv.rate_per_second = responder_rate_per_second;
      sv.burst = responder_burst;
      sv.max_requesters = std::max<std::size_t>(64, 2 * n);
      nd.server = std::make_unique<repair_server>(nd.key.public_key(), sv, peer_keys_, *nd.store);
      repair_client_config cl;
      cl.shred_version = cluster_shred_version;
      cl.retry_ms = repair_round_ms;  // every round asks again what is still missing
      cl.max_requests_per_plan = max_requests_per_round;
      cl.nonce_slots = 4096;
      cl.nonce_ttl_ms = repair_nonce_timeout_ms;
      cl.seed = sc.seed * 0x9E3779B97F4A7C15ull + 1000 + i;
      cl.peers_per_target = requests_per_target;
      cl.peer_rate_per_second = requester_rate_per_second;
      cl.peer_burst = requester_burst;
      nd.client = std::make_unique<repair_client>(nd.key, cl, peer_keys_,
                                                  static_cast<std::uint32_t>(i));
      nd.done.assign(sc.slots, 0);
    }
    // Each leader holds its own slots: in its store, to answer repair, and as taken slots of
    // its assembler, so its repair client does not ask for them.
    for (std::size_t k = 0; k < sc.slots; ++k) {
      node& nd = *nodes_[leader_node(first_slot + k)];
      for (const bytes& b : slot_shreds_[k]) {
        shred_view v;
        EXPECT_EQ(parse_shred(b, v), shred_error::none);
        EXPECT_TRUE(nd.store->put(v));
        if (v.is_data()) {
          EXPECT_EQ(nd.assembler->insert(v), insert_result::inserted);
        }
      }
      bytes out(nd.assembler->received_bytes(first_slot + k));
      EXPECT_TRUE(nd.assembler->take_slot(first_slot + k, out));
      nd.done[k] = 1;
    }
    holders_.resize(sc.slots);
  }

  figures run() {
    const auto t0 = std::chrono::steady_clock::now();
    f_.sc = sc_;
    f_.slots = sc_.slots;
    f_.sets = sets_.size();
    schedule_broadcast();
    drain();
    turbine_snapshot();
    repair();
    finish();
    f_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return f_;
  }

 private:
  struct set_id {
    std::uint64_t slot;
    std::uint32_t fec_set_index;
    std::uint32_t leader;  // node index
  };

  std::uint32_t leader_node(std::uint64_t slot) const {
    return node_of_key_.at(*schedule_->leader_for_slot(slot));
  }
  std::size_t slot_number(std::uint64_t slot) const { return slot - first_slot; }
  double uniform01() { return static_cast<double>(rng_.next() >> 11) * 0x1.0p-53; }
  std::uint64_t now_ms() const { return start_ms + now_us_ / 1000; }

  // Every slot's stream, cut by its scheduled leader's shredder.
  void produce_slots() {
    std::map<std::uint32_t, std::unique_ptr<shredder>> shredders;
    std::uint64_t run_start = first_slot;
    for (std::size_t k = 0; k < sc_.slots; ++k) {
      const std::uint64_t slot = first_slot + k;
      const std::uint32_t leader = leader_node(slot);
      if (k > 0 && leader != leader_node(slot - 1)) {
        note_leader_run(run_start, slot - 1);
        run_start = slot;
      }
      auto& sh = shredders[leader];
      if (!sh) {
        sh = std::make_unique<shredder>(nodes_[leader]->key, cluster_shred_version,
                                        shredder_config{});
      }
      bytes stream(slot_sizes[k % std::size(slot_sizes)]);
      for (auto& b : stream) b = static_cast<std::uint8_t>(rng_.next());
      collecting_sink sink;
      EXPECT_TRUE(sh->begin_slot(slot, slot - 1));
      for (std::size_t at = 0; at < stream.size();) {
        const std::size_t chunk = std::min<std::size_t>(stream.size() - at,
                                                        1 + rng_.uniform(12'000));
        const bool batch_end = at + chunk == stream.size() || rng_.uniform(2) == 0;
        EXPECT_TRUE(sh->add({stream.data() + at, chunk}, batch_end, sink));
        at += chunk;
      }
      EXPECT_TRUE(sh->finish_slot(sink));
      streams_.push_back(std::move(stream));
      slot_shreds_.push_back(std::move(sink.shreds));
      for (const bytes& b : slot_shreds_.back()) {
        shred_view v;
        EXPECT_EQ(parse_shred(b, v), shred_error::none);
        leader_shreds_[key_of(v)] = b;
        if (v.is_data() && v.index() == v.fec_set_index()) {
          sets_.push_back({slot, v.fec_set_index(), leader});
        }
      }
    }
    note_leader_run(run_start, first_slot + sc_.slots - 1);
  }

  void note_leader_run(std::uint64_t from, std::uint64_t to) {
    if (!f_.leaders.empty()) f_.leaders += ", ";
    f_.leaders += "slots " + std::to_string(from) + "-" + std::to_string(to) + ": node " +
                  std::to_string(leader_node(from));
  }

  // -------------------------------------------------------------------------- network
  void enqueue(std::uint64_t at_us, std::uint32_t from, std::uint32_t to, msg_kind kind,
               std::span<const std::uint8_t> data, std::uint32_t hops, bool forged) {
    message m;
    m.at_us = at_us;
    m.seq = seq_++;
    m.from = from;
    m.to = to;
    m.kind = kind;
    m.hops = hops;
    m.forged = forged;
    m.data.assign(data.begin(), data.end());
    queue_.push(std::move(m));
  }

  // One delivery through the loss model, sent at at_us.
  void send(std::uint64_t at_us, std::uint32_t from, std::uint32_t to, msg_kind kind,
            std::span<const std::uint8_t> data, std::uint32_t hops, bool forged) {
    if (sc_.loss > 0 && uniform01() < sc_.loss) {
      ++f_.lost;
      return;
    }
    enqueue(at_us + base_latency_us + rng_.uniform(jitter_us), from, to, kind, data, hops, forged);
    if (sc_.duplicate > 0 && uniform01() < sc_.duplicate) {
      ++f_.duplicated;
      enqueue(at_us + base_latency_us + rng_.uniform(jitter_us), from, to, kind, data, hops,
              forged);
    }
  }

  void drain() {
    while (!queue_.empty()) {
      message m = queue_.top();
      queue_.pop();
      now_us_ = std::max(now_us_, m.at_us);
      ++f_.delivered;
      switch (m.kind) {
        case msg_kind::turbine: on_turbine(m); break;
        case msg_kind::repair_request: on_repair_request(m); break;
        case msg_kind::repair_response: on_repair_response(m); break;
      }
    }
  }

  // ------------------------------------------------------------------------ turbine
  void schedule_broadcast() {
    const std::uint32_t outside = static_cast<std::uint32_t>(sc_.nodes);  // forger's id
    for (std::size_t k = 0; k < sc_.slots; ++k) {
      const std::uint64_t slot = first_slot + k;
      const std::uint32_t leader = leader_node(slot);
      const crypto::pubkey& leader_key = nodes_[leader]->key.public_key();
      const std::uint64_t t0 = k * slot_duration_us + 10;
      const std::vector<bytes>& shreds = slot_shreds_[k];
      for (std::size_t j = 0; j < shreds.size(); ++j) {
        shred_view v;
        (void)parse_shred(shreds[j], v);
        const std::uint32_t root =
            tree_->root(slot, v.index(),
                        v.is_coding() ? turbine_shred_type::coding : turbine_shred_type::data,
                        leader_key);
        if (root == turbine_npos) continue;
        ++f_.leader_sent;
        send(t0 + j * shred_spacing_us, leader, node_of_canonical_[root], msg_kind::turbine,
             shreds[j], 1, false);
      }
      tree_->compute(slot, 0, turbine_shred_type::data, leader_key);
      f_.tree_depth = std::max(f_.tree_depth, tree_->depth());
      // Forgeries, injected straight at every follower: three that arrive before any honest
      // shred (base latency is 1 ms), three after the slot's broadcast has landed.
      const std::vector<bytes> before = forgeries(slot, shreds, true);
      const std::vector<bytes> after = forgeries(slot, shreds, false);
      const std::uint64_t after_us = t0 + shreds.size() * shred_spacing_us + 50'000;
      for (std::uint32_t i = 0; i < sc_.nodes; ++i) {
        if (i == leader) continue;
        for (const bytes& b : before) enqueue(t0, outside, i, msg_kind::turbine, b, 0, true);
        for (const bytes& b : after) enqueue(after_us, outside, i, msg_kind::turbine, b, 0, true);
        f_.forged_injected += before.size() + after.size();
      }
    }
  }

  // A data or coding shred signed by a non-leader for the slot, a real coding shred with a
  // shard byte flipped and a real data shred with a proof byte flipped; from the slot's first
  // set (early) or its last shreds (late).
  std::vector<bytes> forgeries(std::uint64_t slot, const std::vector<bytes>& shreds,
                               bool early) {
    std::vector<bytes> out;
    fec_set_params p;
    p.slot = slot;
    p.parent_offset = 1;
    p.shred_version = cluster_shred_version;
    p.fec_set_index = 0;
    p.last_in_slot = true;
    p.batch_complete = true;
    bytes payload(3000);
    for (auto& b : payload) b = static_cast<std::uint8_t>(rng_.next());
    const auto impostor_set = make_fec_set(impostor_, p, payload);
    out.push_back(early ? impostor_set.front() : impostor_set.back());
    const bytes* coding = nullptr;
    const bytes* data = nullptr;
    for (const bytes& b : shreds) {  // first (early) or last (late) of each kind
      shred_view v;
      (void)parse_shred(b, v);
      const bytes** slot_for = v.is_coding() ? &coding : &data;
      if (!early || *slot_for == nullptr) *slot_for = &b;
    }
    bytes flipped_shard = *coding;
    flipped_shard[coding_headers_end + 10] ^= 0x01;
    out.push_back(std::move(flipped_shard));
    bytes flipped_proof = *data;
    flipped_proof.back() ^= 0x80;
    out.push_back(std::move(flipped_proof));
    for (const bytes& b : out) {
      shred_view v;
      EXPECT_EQ(parse_shred(b, v), shred_error::none) << "a forgery must parse";
    }
    return out;
  }

  void on_turbine(const message& m) {
    node& nd = *nodes_[m.to];
    const add_result r = nd.resolver->add(m.data, 0);
    if (!r.accepted) return;
    if (m.forged) ++f_.forged_accepted;
    accept(m.to, m.data, m.hops, true, m.forged);
    if (r.set_completed) {
      for (const recovered_shred& rec : r.recovered) accept(m.to, rec.bytes, m.hops, true, m.forged);
    }
  }

  // A shred the node's resolver accepted or recovered: store, retransmit, assemble.
  void accept(std::uint32_t self, std::span<const std::uint8_t> wire, std::uint32_t hops,
              bool retransmit, bool forged) {
    node& nd = *nodes_[self];
    shred_view v;
    if (parse_shred(wire, v) != shred_error::none) {
      ADD_FAILURE() << "an accepted shred does not parse";
      return;
    }
    if (forged) ++f_.forged_stored;
    (void)nd.store->put(v);
    f_.max_hops = std::max(f_.max_hops, hops);
    if (retransmit) {
      const std::uint32_t leader = leader_node(v.slot());
      const auto kids = tree_->children(
          v.slot(), v.index(), v.is_coding() ? turbine_shred_type::coding : turbine_shred_type::data,
          nodes_[leader]->key.public_key(), nd.canonical);
      const std::vector<std::uint32_t> children(kids.begin(), kids.end());
      for (const std::uint32_t child : children) {
        ++f_.retransmitted;
        if (forged) ++f_.forged_retransmitted;
        send(now_us_, self, node_of_canonical_[child], msg_kind::turbine, wire, hops + 1, forged);
      }
    }
    if (v.is_data()) {
      (void)nd.assembler->insert(v);
      const std::size_t k = slot_number(v.slot());
      if (k < sc_.slots && !nd.done[k] && nd.assembler->is_complete(v.slot())) {
        bytes out(nd.assembler->received_bytes(v.slot()));
        const auto taken = nd.assembler->take_slot(v.slot(), out);
        nd.done[k] = 1;
        holders_[k].push_back(self);
        if (!taken || *taken != streams_[k].size() ||
            !std::equal(streams_[k].begin(), streams_[k].end(), out.begin())) {
          ++f_.stream_mismatches;
        }
      }
    }
  }

  // Figures at the end of the Turbine phase.
  void turbine_snapshot() {
    for (std::uint32_t i = 0; i < sc_.nodes; ++i) {
      const node& nd = *nodes_[i];
      f_.recovered_turbine += nd.resolver->metrics().data_shreds_recovered +
                              nd.resolver->metrics().coding_shreds_recovered;
      for (const set_id& s : sets_) {
        if (s.leader == i) continue;
        ++f_.follower_sets;
        if (nd.resolver->completed(s.slot, s.fec_set_index)) ++f_.sets_complete_after_turbine;
      }
      for (std::size_t k = 0; k < sc_.slots; ++k) {
        if (leader_node(first_slot + k) == i) continue;
        ++f_.followers_slots;
        if (nd.done[k]) ++f_.slots_complete_after_turbine;
      }
    }
  }

  // ------------------------------------------------------------------------- repair
  bool all_complete() const {
    for (std::uint32_t i = 0; i < sc_.nodes; ++i) {
      for (std::size_t k = 0; k < sc_.slots; ++k) {
        if (leader_node(first_slot + k) != i && !nodes_[i]->done[k]) return false;
      }
    }
    return true;
  }

  void repair() {
    const std::uint64_t start_us = (now_us_ / 1000 + 1) * 1000;
    for (std::size_t round = 0; round < max_repair_rounds && !all_complete(); ++round) {
      now_us_ = start_us + round * repair_round_ms * 1000;
      f_.repair_rounds = round + 1;
      for (std::uint32_t i = 0; i < sc_.nodes; ++i) {
        request_missing(i);
      }
      drain();  // every answer lands within the round (latency <= 3 ms)
    }
  }

  // Packets a node's repair component sends, through the loss model.
  struct repair_sink final : repair_packet_sink {
    repair_sink(simulation& sim, std::uint32_t self, msg_kind kind)
        : sim_(sim), self_(self), kind_(kind) {}
    void on_packet(std::uint32_t peer, std::span<const std::uint8_t> packet) noexcept override {
      sim_.send(sim_.now_us_, self_, peer, kind_, packet, 0, false);
    }
    simulation& sim_;
    std::uint32_t self_;
    msg_kind kind_;
  };

  // The slot's leader or a follower that holds the slot complete, uniformly; self is never
  // asked (the leader instead; if self leads the slot, nobody).
  struct holder_picker final : repair_peer_picker {
    holder_picker(const simulation& sim, std::uint32_t self) : sim_(sim), self_(self) {}
    std::uint32_t pick(std::uint64_t slot, repair_kind, std::uint64_t random) noexcept override {
      const std::uint32_t leader = sim_.leader_node(slot);
      const std::size_t k = sim_.slot_number(slot);
      std::uint32_t peer = leader;
      if (k < sim_.sc_.slots && !sim_.holders_[k].empty()) {
        const std::size_t choice = random % (sim_.holders_[k].size() + 1);
        if (choice < sim_.holders_[k].size()) peer = sim_.holders_[k][choice];
      }
      return peer == self_ ? leader : peer;
    }
    const simulation& sim_;
    std::uint32_t self_;
  };

  void request_missing(std::uint32_t self) {
    node& nd = *nodes_[self];
    repair_sink sink(*this, self, msg_kind::repair_request);
    holder_picker picker(*this, self);
    nd.client->plan(*nd.assembler, first_slot, first_slot + sc_.slots - 1, now_ms(), sink,
                    picker);
  }

  void on_repair_request(const message& m) {
    repair_sink sink(*this, m.to, msg_kind::repair_response);
    (void)nodes_[m.to]->server->handle(m.data, now_ms(), sink);
  }

  void on_repair_response(const message& m) {
    node& nd = *nodes_[m.to];
    const std::span<const std::uint8_t> shred = nd.client->accept_response(m.data, now_ms());
    if (shred.empty()) return;
    const add_result r = nd.resolver->add(shred, 0);
    if (!r.accepted) {
      ++f_.repair_redundant;
      return;
    }
    ++f_.repaired;
    accept(m.to, shred, 0, false, m.forged);
    if (r.set_completed) {
      for (const recovered_shred& rec : r.recovered) accept(m.to, rec.bytes, 0, false, m.forged);
    }
  }

  // ------------------------------------------------------------------------- results
  void finish() {
    std::uint64_t recovered_total = 0;
    for (std::uint32_t i = 0; i < sc_.nodes; ++i) {
      const node& nd = *nodes_[i];
      const fec_resolver_metrics& met = nd.resolver->metrics();
      recovered_total += met.data_shreds_recovered + met.coding_shreds_recovered;
      for (std::size_t r = 0; r < drop_reason_count; ++r) f_.dropped[r] += met.dropped[r];
      for (std::size_t k = 0; k < sc_.slots; ++k) {
        if (leader_node(first_slot + k) != i && nd.done[k]) ++f_.slots_complete;
      }
      nd.store->for_each([&](std::span<const std::uint8_t> b) {
        shred_view v;
        const auto it = parse_shred(b, v) == shred_error::none ? leader_shreds_.find(key_of(v))
                                                                : leader_shreds_.end();
        if (it == leader_shreds_.end() || !std::equal(b.begin(), b.end(), it->second.begin(),
                                                      it->second.end())) {
          ++f_.store_mismatches;
        }
      });
      const repair_client_counters& cc = nd.client->counters();
      f_.repair_requests += nd.client->requests_sent();
      f_.repair_limited += cc.peer_limited;
      f_.repair_unmatched += cc.bad_shred + cc.unknown_nonce + cc.mismatched + cc.expired;
      for (const std::uint64_t d : cc.dropped) f_.repair_unmatched += d;
      const repair_server_counters& sv = nd.server->counters();
      f_.repair_responses += sv.responses;
      f_.repair_unanswered += sv.not_found;
      f_.repair_responder_limited += sv.rate_limited;
      f_.repair_rejected += nd.server->refused() - sv.rate_limited;
    }
    f_.recovered_repair = recovered_total - f_.recovered_turbine;
  }

  scenario sc_;
  util::xoshiro256ss rng_;
  std::vector<std::unique_ptr<node>> nodes_;
  crypto::keypair impostor_;
  std::unique_ptr<turbine_cluster> cluster_;
  std::unique_ptr<turbine_tree> tree_;  // one for the whole simulation: it runs on one thread
  std::unique_ptr<epoch::leader_schedule> schedule_;
  std::unique_ptr<schedule_lookup> lookup_;
  std::vector<std::uint32_t> node_of_canonical_;
  std::map<crypto::pubkey, std::uint32_t> node_of_key_;
  std::vector<crypto::pubkey> peer_keys_;  // the repair components' peer list: node index
  std::vector<bytes> streams_;                   // per slot of the run
  std::vector<std::vector<bytes>> slot_shreds_;  // per slot, in emission order
  std::map<shred_key, bytes> leader_shreds_;
  std::vector<set_id> sets_;
  std::vector<std::vector<std::uint32_t>> holders_;  // per slot: followers that completed it
  std::priority_queue<message, std::vector<message>, later> queue_;
  std::uint64_t seq_ = 0;
  std::uint64_t now_us_ = 0;
  figures f_;
};

std::vector<scenario> scenarios() {
  scenario base;
  base.nodes = std::max<std::size_t>(2, env_size("RIPTIDE_DELIVERY_NODES", 6));
  base.slots = std::clamp<std::size_t>(env_size("RIPTIDE_DELIVERY_SLOTS", 8), 1, 63);
  base.fanout = static_cast<std::uint32_t>(std::max<std::size_t>(1, env_size("RIPTIDE_DELIVERY_FANOUT", 2)));
  base.seed = env_size("RIPTIDE_DELIVERY_SEED", 1);
  std::vector<scenario> out;
  auto add = [&](const char* name, double loss, double duplicate, bool fec_alone) {
    scenario s = base;
    s.name = name;
    s.loss = loss;
    s.duplicate = duplicate;
    s.expect_fec_alone = fec_alone;
    out.push_back(s);
  };
  add("loss 0%", 0.0, 0.0, true);
  add("loss 20%", 0.2, 0.0, true);
  add("loss 20%, 10% duplicated", 0.2, 0.1, true);
  add("loss 50%", 0.5, 0.0, false);
  return out;
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

void print(const std::vector<figures>& all) {
  const figures& a = all.front();
  std::printf("\ndelivery simulation: %zu nodes, fanout %u (tree depth %u), %zu slots, %zu FEC "
              "sets, seed %llu; leaders %s\n",
              a.sc.nodes, a.sc.fanout, a.tree_depth, a.slots, a.sets, ull(a.sc.seed),
              a.leaders.c_str());
  std::printf("%-26s %6s %7s %9s %9s %9s %7s %8s %8s %7s %6s %5s %13s %13s %8s %6s\n",
              "scenario", "slots", "sets", "leader tx", "retx", "lost", "dup", "FEC rec",
              "repaired", "req", "rounds", "hops", "sets by FEC", "slots by FEC", "forged",
              "wall s");
  for (const figures& f : all) {
    char sets_fec[32], slots_fec[32], forged[32];
    std::snprintf(sets_fec, sizeof sets_fec, "%llu/%zu", ull(f.sets_complete_after_turbine),
                  f.follower_sets);
    std::snprintf(slots_fec, sizeof slots_fec, "%llu/%zu", ull(f.slots_complete_after_turbine),
                  f.followers_slots);
    std::snprintf(forged, sizeof forged, "%llu/%llu", ull(f.forged_accepted),
                  ull(f.forged_injected));
    std::printf("%-26s %6zu %7zu %9llu %9llu %9llu %7llu %8llu %8llu %7llu %6zu %5u %13s %13s "
                "%8s %6.2f\n",
                f.sc.name.c_str(), f.slots, f.sets, ull(f.leader_sent), ull(f.retransmitted),
                ull(f.lost), ull(f.duplicated), ull(f.recovered_turbine + f.recovered_repair),
                ull(f.repaired), ull(f.repair_requests), f.repair_rounds, f.max_hops, sets_fec,
                slots_fec, forged, f.wall_s);
  }
  std::printf("columns: leader tx = shreds the leaders sent to Turbine roots; retx = "
              "retransmissions to children; lost = deliveries dropped by the loss model (all "
              "kinds); FEC rec = shreds rebuilt by Reed-Solomon (all nodes, both phases); "
              "repaired = repair responses accepted; req = repair requests sent; hops = most "
              "deliveries a Turbine shred took to a node (a recovered shred counts on from the "
              "shred that completed its set, so it can pass the tree depth); sets/slots by FEC = (follower, set|slot) pairs "
              "complete after the Turbine phase; forged = accepted/injected\n");
  for (const figures& f : all) {
    std::printf("%s: complete %llu/%zu (follower, slot); streams differing %llu; stored shreds "
                "differing from the leader's %llu; FEC rec in repair %llu; repair: limited %llu, "
                "unanswered %llu, responses %llu, unmatched %llu, redundant %llu, rejected %llu, "
                "responder-limited %llu; resolver drops:",
                f.sc.name.c_str(), ull(f.slots_complete), f.followers_slots,
                ull(f.stream_mismatches), ull(f.store_mismatches), ull(f.recovered_repair),
                ull(f.repair_limited), ull(f.repair_unanswered), ull(f.repair_responses),
                ull(f.repair_unmatched), ull(f.repair_redundant), ull(f.repair_rejected),
                ull(f.repair_responder_limited));
    for (std::size_t r = 1; r < drop_reason_count; ++r) {
      if (f.dropped[r] != 0) {
        std::printf(" %s %llu", to_string(static_cast<drop_reason>(r)), ull(f.dropped[r]));
      }
    }
    std::printf("\n");
  }
  std::fflush(stdout);
}

// Runs every scenario once, the first time any test asks.
const std::vector<figures>& results() {
  static const std::vector<figures> all = [] {
    const std::vector<scenario> scs = scenarios();
    std::vector<figures> out(scs.size());
    std::atomic<std::size_t> next{0};
    const std::size_t threads = std::max<std::size_t>(1, env_size("RIPTIDE_DELIVERY_THREADS", 2));
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < std::min(threads, scs.size()); ++t) {
      pool.emplace_back([&] {
        for (std::size_t i; (i = next++) < scs.size();) out[i] = simulation(scs[i]).run();
      });
    }
    for (auto& th : pool) th.join();
    print(out);
    return out;
  }();
  return all;
}

void expect_delivered(const figures& f) {
  EXPECT_EQ(f.slots_complete, f.followers_slots) << f.sc.name << ": slots left incomplete";
  EXPECT_EQ(f.stream_mismatches, 0u) << f.sc.name;
  EXPECT_EQ(f.store_mismatches, 0u) << f.sc.name;
}

TEST(DeliverySimulation, NoLossDeliversByTurbineAlone) {
  const figures& f = results().at(0);
  expect_delivered(f);
  EXPECT_EQ(f.slots_complete_after_turbine, f.followers_slots);
  EXPECT_EQ(f.lost, 0u);
  EXPECT_EQ(f.repair_requests, 0u);
  // Shreds are still "recovered" without loss: a set completes with its num_data-th distinct
  // shred, and the rest are rebuilt (and retransmitted) before they arrive.
}

TEST(DeliverySimulation, TwentyPercentLossDeliversByFecAlone) {
  for (const std::size_t i : {1u, 2u}) {
    const figures& f = results().at(i);
    expect_delivered(f);
    EXPECT_GT(f.lost, 0u);
    EXPECT_GT(f.recovered_turbine, 0u);
    if (f.tree_depth > fec_alone_max_depth) {
      // Deeper trees: delivered, with repair where FEC fell short (the figures say how much).
      EXPECT_LE(f.repair_rounds, max_repair_rounds) << f.sc.name;
      continue;
    }
    EXPECT_EQ(f.sets_complete_after_turbine, f.follower_sets) << f.sc.name;
    EXPECT_EQ(f.slots_complete_after_turbine, f.followers_slots) << f.sc.name;
    EXPECT_EQ(f.repair_requests, 0u) << f.sc.name;
  }
  EXPECT_GT(results().at(2).duplicated, 0u);
}

TEST(DeliverySimulation, FiftyPercentLossDeliversWithRepair) {
  const figures& f = results().at(3);
  expect_delivered(f);
  EXPECT_LE(f.repair_rounds, max_repair_rounds);
  EXPECT_LT(f.slots_complete_after_turbine, f.followers_slots)
      << "at 50 % some slot should need repair";
  EXPECT_GT(f.repair_requests, 0u);
  EXPECT_GT(f.repaired, 0u);
}

TEST(DeliverySimulation, ForgedShredsAreNeverAcceptedStoredOrRetransmitted) {
  for (const figures& f : results()) {
    EXPECT_EQ(f.forged_injected,
              forged_per_slot_and_follower * (f.followers_slots))
        << f.sc.name;
    EXPECT_EQ(f.forged_accepted, 0u) << f.sc.name;
    EXPECT_EQ(f.forged_stored, 0u) << f.sc.name;
    EXPECT_EQ(f.forged_retransmitted, 0u) << f.sc.name;
    EXPECT_EQ(f.store_mismatches, 0u) << f.sc.name;
    // Each forgery is dropped for its own reason: a bad signature when it is the first shred
    // of its set or carries another signature, a wrong root for an altered leaf or proof, or
    // a duplicate when its position is already filled (late forgeries of completed sets).
    EXPECT_GT(f.dropped[static_cast<std::size_t>(drop_reason::bad_signature)], 0u) << f.sc.name;
  }
}

}  // namespace
