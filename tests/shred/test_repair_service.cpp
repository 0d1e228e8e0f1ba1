#include <riptide/shred/repair_service.hpp>

#include <riptide/shred/fec_resolver.hpp>
#include <riptide/shred/repair.hpp>
#include <riptide/shred/shred.hpp>
#include <riptide/shred/shred_store.hpp>
#include <riptide/shred/slot_assembler.hpp>

#include "../support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

using namespace riptide;
using namespace riptide::shred;

namespace {

using bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t version = 7;
constexpr std::uint64_t t0_ms = 1'700'000'000'000ull;

crypto::keypair key_for(std::uint8_t n) {
  crypto::seckey secret{};
  secret[0] = 0x11;
  secret[31] = n;
  return crypto::keypair::from_secret(secret);
}

const crypto::keypair& leader() {
  static const crypto::keypair k = key_for(100);
  return k;
}

bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  bytes out(n);
  for (auto& x : out) x = static_cast<std::uint8_t>(rng());
  return out;
}

// A slot as the leader cut it: one full 32:32 set, then a last set of a few data shreds.
struct leader_slot {
  std::uint64_t slot = 0;
  bytes stream;
  std::vector<bytes> shreds;              // data and coding
  std::map<std::uint32_t, bytes> data;    // by index
};

leader_slot make_slot(std::uint64_t slot, std::uint64_t parent, std::size_t tail_bytes = 3000) {
  leader_slot s;
  s.slot = slot;
  const std::size_t first = max_fec_set_payload_bytes(32);
  s.stream = random_bytes(first + tail_bytes, slot);
  fec_set_params p;
  p.slot = slot;
  p.parent_offset = static_cast<std::uint16_t>(slot - parent);
  p.shred_version = version;
  p.fec_set_index = 0;
  p.batch_complete = true;
  auto set0 = make_fec_set(leader(), p, std::span(s.stream).first(first));
  p.fec_set_index = 32;
  p.last_in_slot = true;
  auto set1 = make_fec_set(leader(), p, std::span(s.stream).subspan(first));
  for (auto* set : {&set0, &set1}) {
    for (bytes& b : *set) {
      shred_view v;
      EXPECT_EQ(parse_shred(b, v), shred_error::none);
      if (v.is_data()) s.data[v.index()] = b;
      s.shreds.push_back(std::move(b));
    }
  }
  return s;
}

shred_view view_of(const bytes& b) {
  shred_view v;
  EXPECT_EQ(parse_shred(b, v), shred_error::none);
  return v;
}

struct packet {
  std::uint32_t peer = 0;
  bytes data;
};

struct collecting_sink final : repair_packet_sink {
  void on_packet(std::uint32_t peer, std::span<const std::uint8_t> b) noexcept override {
    packets.push_back({peer, bytes(b.begin(), b.end())});
  }
  std::vector<packet> packets;
};

class fixed_leader final : public leader_lookup {
 public:
  std::optional<crypto::pubkey> leader_for_slot(std::uint64_t) const noexcept override {
    return leader().public_key();
  }
};

// Peers: 0 = the requester, 1 = the responder, 2 = another node.
struct cluster {
  std::vector<crypto::keypair> keys{key_for(1), key_for(2), key_for(3)};
  std::vector<crypto::pubkey> peers{keys[0].public_key(), keys[1].public_key(),
                                    keys[2].public_key()};
};

repair_request_fields fields_for(const cluster& c, repair_kind kind, std::uint64_t slot,
                                 std::uint32_t index, std::uint32_t nonce = 77) {
  repair_request_fields f;
  f.kind = kind;
  f.recipient = c.peers[1];
  f.wallclock_ms = t0_ms;
  f.nonce = nonce;
  f.shred_version = version;
  f.slot = slot;
  f.index = index;
  return f;
}

bytes request_bytes(const crypto::keypair& from, const repair_request_fields& f) {
  bytes out(max_repair_request_bytes);
  out.resize(build_repair_request(from, f, out));
  EXPECT_FALSE(out.empty());
  return out;
}

std::size_t dropped(const repair_server& s, repair_error e) {
  return s.counters().dropped[static_cast<std::size_t>(e)];
}

// ------------------------------------------------------------------------------ server

TEST(RepairServer, AnswersEachKindFromTheStore) {
  cluster c;
  shred_store store({4096, 16});
  const leader_slot s10 = make_slot(10, 9);
  const leader_slot s11 = make_slot(11, 10);
  const leader_slot s12 = make_slot(12, 11);
  for (const auto* s : {&s10, &s11, &s12}) {
    for (const bytes& b : s->shreds) ASSERT_TRUE(store.put(view_of(b)));
  }
  repair_server_config cfg;
  cfg.shred_version = version;
  repair_server server(c.peers[1], cfg, c.peers, store);
  collecting_sink sink;

  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::window_index, 11, 5)),
                          t0_ms, sink),
            1u);
  ASSERT_EQ(sink.packets.size(), 1u);
  EXPECT_EQ(sink.packets[0].peer, 0u);
  repair_response_view resp;
  ASSERT_EQ(parse_repair_response(sink.packets[0].data, resp), repair_error::none);
  EXPECT_EQ(resp.nonce, 77u);
  EXPECT_TRUE(std::equal(resp.shred.begin(), resp.shred.end(), s11.data.at(5).begin(),
                         s11.data.at(5).end()));

  // highest_index: the slot's last data shred, sent to the sender (peer 2 this time).
  const std::uint32_t last = s11.data.rbegin()->first;
  EXPECT_EQ(server.handle(request_bytes(c.keys[2], fields_for(c, repair_kind::highest_index, 11, 33)),
                          t0_ms, sink),
            1u);
  EXPECT_EQ(sink.packets[1].peer, 2u);
  ASSERT_EQ(parse_repair_response(sink.packets[1].data, resp), repair_error::none);
  EXPECT_EQ(view_of(bytes(resp.shred.begin(), resp.shred.end())).index(), last);
  EXPECT_EQ(server.handle(
                request_bytes(c.keys[0], fields_for(c, repair_kind::highest_index, 11, last + 1)),
                t0_ms, sink),
            0u);

  // orphan of 12: the highest data shreds of 11 and 10 (9 is not held: the walk stops).
  sink.packets.clear();
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::orphan, 12, 0)),
                          t0_ms, sink),
            2u);
  ASSERT_EQ(sink.packets.size(), 2u);
  std::vector<std::uint64_t> slots;
  for (const packet& p : sink.packets) {
    ASSERT_EQ(parse_repair_response(p.data, resp), repair_error::none);
    const bytes copy(resp.shred.begin(), resp.shred.end());  // the view must not outlive its bytes
    const shred_view v = view_of(copy);
    slots.push_back(v.slot());
    EXPECT_TRUE(v.slot_complete());
    EXPECT_EQ(p.peer, 0u);
  }
  EXPECT_EQ(slots, (std::vector<std::uint64_t>{11, 10}));

  // Missing shreds are counted, not answered.
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::window_index, 13, 0)),
                          t0_ms, sink),
            0u);
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::orphan, 10, 0)),
                          t0_ms, sink),
            0u);
  EXPECT_EQ(server.counters().not_found, 3u);
  EXPECT_EQ(server.counters().answered[1], 1u);
  EXPECT_EQ(server.counters().answered[2], 1u);
  EXPECT_EQ(server.counters().answered[3], 1u);
  EXPECT_EQ(server.counters().responses, 4u);
  EXPECT_EQ(server.counters().requests, 6u);
  EXPECT_EQ(server.refused(), 0u);
}

TEST(RepairServer, AnswersFromTheArchiveWhatTheStoreDoesNotHold) {
  cluster c;
  riptide::testing::temp_dir dir;
  shred_archive_config ac;
  ac.dir = dir.path() / "shreds";
  ac.segment_bytes = 1 << 20;
  const leader_slot s10 = make_slot(10, 9);
  const leader_slot s11 = make_slot(11, 10);
  const leader_slot s12 = make_slot(12, 11);
  {  // archived by an earlier run of the node
    shred_archive before(ac);
    for (const auto* s : {&s10, &s11}) {
      for (const auto& [index, b] : s->data) ASSERT_TRUE(before.put(view_of(b)));
    }
  }
  shred_archive archive(ac);
  shred_store store({4096, 16});  // this run holds slot 12 only
  for (const bytes& b : s12.shreds) ASSERT_TRUE(store.put(view_of(b)));
  repair_server_config cfg;
  cfg.shred_version = version;
  repair_server without(c.peers[1], cfg, c.peers, store);
  repair_server server(c.peers[1], cfg, c.peers, store, &archive);
  collecting_sink sink;
  const bytes window = request_bytes(c.keys[0], fields_for(c, repair_kind::window_index, 11, 5));
  EXPECT_EQ(without.handle(window, t0_ms, sink), 0u);
  EXPECT_EQ(server.handle(window, t0_ms, sink), 1u);
  repair_response_view resp;
  ASSERT_EQ(sink.packets.size(), 1u);
  ASSERT_EQ(parse_repair_response(sink.packets[0].data, resp), repair_error::none);
  EXPECT_TRUE(std::equal(resp.shred.begin(), resp.shred.end(), s11.data.at(5).begin(), s11.data.at(5).end()));
  EXPECT_EQ(server.counters().from_archive, 1u);

  // highest_index of 10, from the archive.
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::highest_index, 10, 0)),
                          t0_ms, sink),
            1u);
  ASSERT_EQ(parse_repair_response(sink.packets[1].data, resp), repair_error::none);
  EXPECT_EQ(view_of(bytes(resp.shred.begin(), resp.shred.end())).index(), s10.data.rbegin()->first);

  // orphan of 12 (held in the store): its ancestors 11 and 10 come from the archive.
  sink.packets.clear();
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::orphan, 12, 0)),
                          t0_ms, sink),
            2u);
  EXPECT_EQ(server.counters().from_archive, 4u);
  // What the store holds is answered from the store.
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::window_index, 12, 0)),
                          t0_ms, sink),
            1u);
  EXPECT_EQ(server.counters().from_archive, 4u);
  // Neither holds it: not found.
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::window_index, 9, 0)),
                          t0_ms, sink),
            0u);
  EXPECT_EQ(server.counters().not_found, 1u);
}

TEST(RepairServer, OrphanAncestorsAreCapped) {
  cluster c;
  shred_store store({4096, 16});
  for (std::uint64_t slot = 20; slot <= 26; ++slot) {
    for (const bytes& b : make_slot(slot, slot - 1, 10).shreds) ASSERT_TRUE(store.put(view_of(b)));
  }
  for (const std::uint32_t cap : {1u, 4u, 10u}) {
    repair_server_config cfg;
    cfg.shred_version = version;
    cfg.orphan_ancestors = cap;
    repair_server server(c.peers[1], cfg, c.peers, store);
    collecting_sink sink;
    // Ancestors of 26 held: 25..20 (six); 19 is not held.
    EXPECT_EQ(server.handle(request_bytes(c.keys[0], fields_for(c, repair_kind::orphan, 26, 0)),
                            t0_ms, sink),
              std::min<std::size_t>(cap, 6));
  }
}

TEST(RepairServer, CountsEveryDropReason) {
  cluster c;
  shred_store store({4096, 16});
  const leader_slot s10 = make_slot(10, 9);
  for (const bytes& b : s10.shreds) ASSERT_TRUE(store.put(view_of(b)));
  // Peer 1 (self) is in the list, so a request "from self" passes the membership check.
  repair_server_config cfg;
  cfg.shred_version = version;
  cfg.wallclock_window_ms = 1'000;
  cfg.rate_per_second = 1;
  cfg.burst = 3;
  repair_server server(c.peers[1], cfg, c.peers, store);
  collecting_sink sink;
  const bytes good = request_bytes(c.keys[0], fields_for(c, repair_kind::window_index, 10, 1));

  // Parse errors.
  EXPECT_EQ(server.handle(std::span(good).first(10), t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::truncated_header), 1u);
  bytes b = good;
  b[0] ^= 1;
  EXPECT_EQ(server.handle(b, t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::bad_domain), 1u);
  b = good;
  b[repair_domain_bytes] = 9;
  EXPECT_EQ(server.handle(b, t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::unknown_kind), 1u);
  EXPECT_EQ(server.handle(std::span(good).first(good.size() - 1), t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::truncated), 1u);
  b = good;
  b.push_back(0);
  EXPECT_EQ(server.handle(b, t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::trailing_bytes), 1u);
  b = good;
  b[repair_common_bytes + 3] = 0x7f;  // index far above 32767
  EXPECT_EQ(server.handle(b, t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::index_out_of_range), 1u);
  // A response on the request path is not a request.
  std::array<std::uint8_t, max_repair_response_bytes> resp{};
  const std::size_t resp_size = encode_repair_response(s10.data.at(0), 5, resp);
  EXPECT_EQ(server.handle(std::span(resp).first(resp_size), t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::bad_domain), 2u);

  // A stranger: not a peer (checked before the signature).
  const crypto::keypair stranger = key_for(50);
  EXPECT_EQ(server.handle(request_bytes(stranger, fields_for(c, repair_kind::window_index, 10, 1)),
                          t0_ms, sink),
            0u);
  EXPECT_EQ(server.counters().unknown_sender, 1u);

  // verify_repair_request's reasons.
  auto f = fields_for(c, repair_kind::window_index, 10, 1);
  f.shred_version = version + 1;
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], f), t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::wrong_shred_version), 1u);
  f = fields_for(c, repair_kind::window_index, 10, 1);
  f.recipient = c.peers[2];
  EXPECT_EQ(server.handle(request_bytes(c.keys[0], f), t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::wrong_recipient), 1u);
  f = fields_for(c, repair_kind::window_index, 10, 1);
  EXPECT_EQ(server.handle(request_bytes(c.keys[1], f), t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::from_self), 1u);
  EXPECT_EQ(server.handle(good, t0_ms + 1'001, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::stale_wallclock), 1u);
  EXPECT_EQ(server.handle(good, t0_ms - 1'001, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::future_wallclock), 1u);
  b = good;
  b.back() ^= 1;
  EXPECT_EQ(server.handle(b, t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::bad_signature), 1u);
  // Altering a signed field breaks the signature too.
  b = good;
  b[repair_common_bytes] ^= 2;  // index 1 -> 3
  EXPECT_EQ(server.handle(b, t0_ms, sink), 0u);
  EXPECT_EQ(dropped(server, repair_error::bad_signature), 2u);
  EXPECT_TRUE(sink.packets.empty());

  // Rate limit: burst 3 per requester, then nothing until tokens refill (1 per second).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(server.handle(good, t0_ms, sink), 1u);
  EXPECT_EQ(server.handle(good, t0_ms, sink), 0u);
  EXPECT_EQ(server.counters().rate_limited, 1u);
  // Another requester has its own bucket.
  EXPECT_EQ(server.handle(request_bytes(c.keys[2], fields_for(c, repair_kind::window_index, 10, 1)),
                          t0_ms, sink),
            1u);
  EXPECT_EQ(server.handle(good, t0_ms + 1'000, sink), 1u);
  EXPECT_EQ(server.counters().rate_limited, 1u);

  // not_found, after the bucket.
  EXPECT_EQ(server.handle(request_bytes(c.keys[2], fields_for(c, repair_kind::window_index, 10, 40)),
                          t0_ms, sink),
            0u);
  EXPECT_EQ(server.counters().not_found, 1u);
  EXPECT_EQ(server.counters().responses, 5u);
  std::uint64_t parse_and_verify = 0;
  for (const auto n : server.counters().dropped) parse_and_verify += n;
  EXPECT_EQ(parse_and_verify, 14u);
  EXPECT_EQ(server.refused(), 14u + 1u + 1u);
  EXPECT_EQ(server.counters().requests, 14u + 1u + 1u + 5u + 1u);
}

TEST(RepairServer, RejectsABadLimiterConfig) {
  cluster c;
  shred_store store({16, 4});
  repair_server_config cfg;
  cfg.max_requesters = 0;
  EXPECT_THROW(repair_server(c.peers[1], cfg, c.peers, store), std::invalid_argument);
  cfg = {};
  cfg.rate_per_second = 0;
  EXPECT_THROW(repair_server(c.peers[1], cfg, c.peers, store), std::invalid_argument);
}

// ------------------------------------------------------------------------------ client

slot_assembler_config small_assembler() {
  slot_assembler_config a;
  a.max_slots = 32;
  a.max_data_shreds_per_slot = 64;
  a.pool_payloads = 1024;
  return a;
}

repair_client_config client_config() {
  repair_client_config cfg;
  cfg.shred_version = version;
  cfg.retry_ms = 100;
  cfg.nonce_slots = 1024;
  cfg.nonce_ttl_ms = 500;
  return cfg;
}

// Decoded requests a client emitted.
std::vector<repair_request_fields> decode(const collecting_sink& sink) {
  std::vector<repair_request_fields> out;
  for (const packet& p : sink.packets) {
    repair_request_view v;
    EXPECT_EQ(parse_repair_request(p.data, v), repair_error::none);
    out.push_back(v.fields());
  }
  return out;
}

TEST(RepairClient, RoundTripCompletesEverySlot) {
  cluster c;
  // The leader's slots 10..13; the responder's store holds them all.
  std::vector<leader_slot> slots;
  for (std::uint64_t slot = 10; slot <= 13; ++slot) slots.push_back(make_slot(slot, slot - 1));
  shred_store store({4096, 16});
  for (const leader_slot& s : slots) {
    for (const bytes& b : s.shreds) ASSERT_TRUE(store.put(view_of(b)));
  }
  repair_server_config scfg;
  scfg.shred_version = version;
  repair_server server(c.peers[1], scfg, c.peers, store);

  // The requester: slot 10 with holes and no tail, 11 and 12 never seen, 13 an orphan (its
  // parent 12 unknown). Root 10, so 10 itself is not an orphan.
  slot_assembler assembler(small_assembler());
  assembler.set_root(10);
  for (const auto& [index, b] : slots[0].data) {
    if (index <= 20 && index != 5 && index != 7) {
      ASSERT_EQ(assembler.insert(view_of(b)), insert_result::inserted);
    }
  }
  for (std::uint32_t index = 0; index < 3; ++index) {
    ASSERT_EQ(assembler.insert(view_of(slots[3].data.at(index))), insert_result::inserted);
  }
  ASSERT_TRUE(assembler.is_orphan(13));
  fixed_leader leaders;
  fec_resolver_config rcfg;
  rcfg.shred_version = version;
  rcfg.max_sets = 16;
  fec_resolver resolver(rcfg, leaders);

  // Peers 1 and 2 both answer from the same store (only the recipient differs).
  repair_server server2(c.peers[2], scfg, c.peers, store);
  repair_client_config ccfg = client_config();
  repair_client client(c.keys[0], ccfg, c.peers, 0);
  std::uint64_t now = t0_ms;
  std::size_t rounds = 0;
  std::set<repair_kind> kinds;
  auto all_taken = [&] {
    return std::all_of(slots.begin(), slots.end(),
                       [&](const leader_slot& s) { return assembler.is_taken(s.slot); });
  };
  for (; rounds < 10 && !all_taken(); ++rounds, now += ccfg.retry_ms) {
    collecting_sink requests;
    client.plan(assembler, 10, 13, now, requests);
    for (const packet& req : requests.packets) {
      ASSERT_NE(req.peer, 0u);
      repair_request_view v;
      ASSERT_EQ(parse_repair_request(req.data, v), repair_error::none);
      kinds.insert(v.kind());
      collecting_sink responses;
      (req.peer == 1 ? server : server2).handle(req.data, now, responses);
      for (const packet& resp : responses.packets) {
        ASSERT_EQ(resp.peer, 0u);
        const auto shred = client.accept_response(resp.data, now);
        ASSERT_FALSE(shred.empty());
        const add_result r = resolver.add(shred, 10);
        if (!r.accepted) continue;
        const bytes copy(shred.begin(), shred.end());  // the view must not outlive its bytes
        const shred_view sv = view_of(copy);
        if (sv.is_data()) (void)assembler.insert(sv);
        if (r.set_completed) {
          for (const recovered_shred& rec : r.recovered) {
            if (rec.is_data) (void)assembler.insert(view_of(bytes(rec.bytes.begin(), rec.bytes.end())));
          }
        }
      }
    }
    for (const leader_slot& s : slots) {
      if (!assembler.is_complete(s.slot)) continue;
      bytes out(assembler.received_bytes(s.slot));
      ASSERT_TRUE(assembler.take_slot(s.slot, out));
      EXPECT_EQ(out, s.stream) << s.slot;
    }
  }
  EXPECT_TRUE(all_taken()) << "rounds " << rounds;
  // Round 1 reveals the unseen slots' and the tails' last shreds, round 2 fills the rest.
  EXPECT_EQ(rounds, 2u);
  EXPECT_GT(client.counters().requests[static_cast<std::size_t>(repair_kind::window_index)], 80u);
  EXPECT_EQ(kinds, (std::set<repair_kind>{repair_kind::window_index, repair_kind::highest_index,
                                          repair_kind::orphan}));
  EXPECT_GT(client.counters().accepted, 0u);
  EXPECT_EQ(client.counters().accepted,
            server.counters().responses + server2.counters().responses);
  EXPECT_EQ(server.refused() + server2.refused(), 0u);
  // Once complete, nothing more is asked.
  collecting_sink after;
  EXPECT_EQ(client.plan(assembler, 10, 13, now + 1'000, after), 0u);
}

TEST(RepairClient, PlansEachGapKind) {
  cluster c;
  const leader_slot s10 = make_slot(10, 9);
  const leader_slot s13 = make_slot(13, 12);
  slot_assembler assembler(small_assembler());
  assembler.set_root(9);
  for (const std::uint32_t i : {0u, 1u, 4u}) (void)assembler.insert(view_of(s10.data.at(i)));
  (void)assembler.insert(view_of(s13.data.at(0)));
  repair_client client(c.keys[0], client_config(), c.peers, 0);
  collecting_sink sink;
  // Wanted 8..14: 8 is below the root; 11, 12 and 14 never seen.
  EXPECT_EQ(client.plan(assembler, 8, 14, t0_ms, sink), 9u);
  const auto reqs = decode(sink);
  std::vector<std::tuple<repair_kind, std::uint64_t, std::uint32_t>> got;
  for (const auto& f : reqs) {
    got.emplace_back(f.kind, f.slot, f.index);
    EXPECT_EQ(f.shred_version, version);
    EXPECT_EQ(f.wallclock_ms, t0_ms);
  }
  using k = repair_kind;
  const std::vector<std::tuple<repair_kind, std::uint64_t, std::uint32_t>> want = {
      {k::window_index, 10, 2}, {k::window_index, 10, 3}, {k::highest_index, 10, 5},
      {k::highest_index, 13, 1}, {k::orphan, 13, 0},      {k::highest_index, 9, 0},
      {k::highest_index, 11, 0}, {k::highest_index, 12, 0}, {k::highest_index, 14, 0}};
  EXPECT_EQ(got, want);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].recipient, c.peers[sink.packets[i].peer]);
    EXPECT_NE(sink.packets[i].peer, 0u);
  }
  EXPECT_EQ(client.counters().requests[1], 2u);
  EXPECT_EQ(client.counters().requests[2], 6u);
  EXPECT_EQ(client.counters().requests[3], 1u);
  EXPECT_EQ(client.requests_sent(), 9u);
  EXPECT_EQ(client.outstanding(), 9u);

  // A taken slot is not asked for.
  for (const auto& [i, b] : make_slot(11, 10, 10).data) (void)assembler.insert(view_of(b));
  ASSERT_TRUE(assembler.is_complete(11));
  ASSERT_TRUE(assembler.release_slot(11));
  collecting_sink later;
  EXPECT_GT(client.plan(assembler, 9, 14, t0_ms + 1'000, later), 0u);
  for (const auto& f : decode(later)) EXPECT_NE(f.slot, 11u);
}

TEST(RepairClient, PacesRetries) {
  cluster c;
  const leader_slot s10 = make_slot(10, 9);
  slot_assembler assembler(small_assembler());
  assembler.set_root(10);
  for (const auto& [i, b] : s10.data) {
    if (i != 3) (void)assembler.insert(view_of(b));
  }
  ASSERT_EQ(assembler.missing_tail(10), std::nullopt);
  repair_client_config cfg = client_config();
  cfg.retry_ms = 150;
  repair_client client(c.keys[0], cfg, c.peers, 0);
  collecting_sink sink;
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms, sink), 1u);
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 1, sink), 0u);
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 149, sink), 0u);
  EXPECT_EQ(client.counters().waiting, 2u);
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 150, sink), 1u);
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 299, sink), 0u);
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 300, sink), 1u);
  // A clock that steps back does not hold a target back.
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 10, sink), 1u);
  EXPECT_EQ(client.counters().waiting, 3u);
  for (const auto& f : decode(sink)) {
    EXPECT_EQ(f.kind, repair_kind::window_index);
    EXPECT_EQ(f.index, 3u);
  }
  // Distinct nonces.
  std::set<std::uint32_t> nonces;
  for (const auto& f : decode(sink)) nonces.insert(f.nonce);
  EXPECT_EQ(nonces.size(), 4u);
}

TEST(RepairClient, AsksPeersOtherThanSelfUniformly) {
  std::vector<crypto::pubkey> peers;
  for (std::uint8_t i = 0; i < 5; ++i) peers.push_back(key_for(i + 1).public_key());
  const crypto::keypair me = key_for(3);  // peer 2
  const leader_slot s10 = make_slot(10, 9);
  slot_assembler assembler(small_assembler());
  assembler.set_root(10);
  (void)assembler.insert(view_of(s10.data.at(35)));  // the last: 0..34 missing
  repair_client_config cfg = client_config();
  cfg.peers_per_target = 2;
  repair_client client(me, cfg, peers, 2);
  std::map<std::uint32_t, std::size_t> per_peer;
  for (int round = 0; round < 20; ++round) {
    collecting_sink sink;
    EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 1000 * round, sink), 70u);
    for (std::size_t i = 0; i < sink.packets.size(); i += 2) {
      // The two copies of a target go to two different peers.
      EXPECT_NE(sink.packets[i].peer, sink.packets[i + 1].peer);
    }
    for (const packet& p : sink.packets) ++per_peer[p.peer];
  }
  EXPECT_EQ(per_peer.count(2), 0u);
  ASSERT_EQ(per_peer.size(), 4u);
  for (const auto& [peer, n] : per_peer) EXPECT_NEAR(static_cast<double>(n), 350.0, 60.0) << peer;
}

TEST(RepairClient, NoPeerAndPlanLimit) {
  cluster c;
  const leader_slot s10 = make_slot(10, 9);
  slot_assembler assembler(small_assembler());
  assembler.set_root(10);
  (void)assembler.insert(view_of(s10.data.at(6)));  // 0..5 missing, tail 7
  {
    // Alone in the list: nobody to ask.
    const std::vector<crypto::pubkey> only_me{c.peers[0]};
    repair_client client(c.keys[0], client_config(), only_me, 0);
    collecting_sink sink;
    EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms, sink), 0u);
    EXPECT_EQ(client.counters().no_peer, 7u);
  }
  {
    repair_client_config cfg = client_config();
    cfg.max_requests_per_plan = 3;
    repair_client client(c.keys[0], cfg, c.peers, 0);
    collecting_sink sink;
    EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms, sink), 3u);
    EXPECT_EQ(client.counters().plan_full, 1u);
    // The next plan goes on with the targets not asked yet.
    EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 1, sink), 3u);
    EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 2, sink), 1u);
    EXPECT_EQ(client.counters().plan_full, 2u);
    std::set<std::uint32_t> indices;
    for (const auto& f : decode(sink)) indices.insert(f.index);
    EXPECT_EQ(indices, (std::set<std::uint32_t>{0, 1, 2, 3, 4, 5, 7}));
  }
  repair_client_config bad = client_config();
  bad.max_requests_per_plan = 0;
  EXPECT_THROW(repair_client(c.keys[0], bad, c.peers, 0), std::invalid_argument);
  bad = client_config();
  bad.peers_per_target = 0;
  EXPECT_THROW(repair_client(c.keys[0], bad, c.peers, 0), std::invalid_argument);
}

// A picker that sends everything to one peer.
struct fixed_picker final : repair_peer_picker {
  std::uint32_t pick(std::uint64_t, repair_kind, std::uint64_t) noexcept override {
    ++calls;
    return peer;
  }
  std::uint32_t peer = 1;
  std::size_t calls = 0;
};

TEST(RepairClient, PeerPickerAndPerPeerCap) {
  cluster c;
  const leader_slot s10 = make_slot(10, 9);
  slot_assembler assembler(small_assembler());
  assembler.set_root(10);
  (void)assembler.insert(view_of(s10.data.at(4)));  // 0..3 missing, tail 5
  shred_store store({4096, 4});
  for (const bytes& b : s10.shreds) ASSERT_TRUE(store.put(view_of(b)));
  repair_server_config scfg;
  scfg.shred_version = version;
  repair_server server(c.peers[1], scfg, c.peers, store);

  repair_client_config cfg = client_config();
  cfg.peer_burst = 2;
  cfg.peer_rate_per_second = 1;
  repair_client client(c.keys[0], cfg, c.peers, 0);
  fixed_picker picker;
  collecting_sink sink;
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms, sink, picker), 2u);
  EXPECT_EQ(client.counters().peer_limited, 3u);
  for (const packet& p : sink.packets) EXPECT_EQ(p.peer, 1u);
  // Answers give the tokens back: the limited targets go out at the next plan.
  for (const packet& p : sink.packets) {
    collecting_sink out;
    ASSERT_EQ(server.handle(p.data, t0_ms, out), 1u);
    EXPECT_FALSE(client.accept_response(out.packets[0].data, t0_ms).empty());
  }
  sink.packets.clear();
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 1, sink, picker), 2u);
  std::set<std::uint32_t> indices;
  for (const auto& f : decode(sink)) indices.insert(f.index);
  EXPECT_EQ(indices, (std::set<std::uint32_t>{2, 3}));
  // A picker naming self or nobody: no_peer.
  picker.peer = 0;
  sink.packets.clear();
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 2, sink, picker), 0u);
  picker.peer = 9;
  EXPECT_EQ(client.plan(assembler, 10, 10, t0_ms + 3, sink, picker), 0u);
  EXPECT_EQ(client.counters().no_peer, 2u);  // the tail (5): the only target not waiting
  // The cap off: everything goes.
  cfg.peer_rate_per_second = 0;
  repair_client uncapped(c.keys[0], cfg, c.peers, 0);
  picker.peer = 2;
  EXPECT_EQ(uncapped.plan(assembler, 10, 10, t0_ms, sink, picker), 5u);
  EXPECT_EQ(uncapped.counters().peer_limited, 0u);
}

TEST(RepairClient, AcceptsOnlyAnswersToItsRequests) {
  cluster c;
  const leader_slot s10 = make_slot(10, 9);
  shred_store store({4096, 4});
  for (const bytes& b : s10.shreds) ASSERT_TRUE(store.put(view_of(b)));
  repair_server_config scfg;
  scfg.shred_version = version;
  repair_server server(c.peers[1], scfg, c.peers, store);
  slot_assembler assembler(small_assembler());
  assembler.set_root(10);
  for (const std::uint32_t i : {0u, 2u, 5u}) (void)assembler.insert(view_of(s10.data.at(i)));
  repair_client_config cfg = client_config();
  cfg.nonce_ttl_ms = 500;
  repair_client client(c.keys[0], cfg, c.peers, 0);
  fixed_picker picker;
  collecting_sink sink;
  ASSERT_EQ(client.plan(assembler, 10, 10, t0_ms, sink, picker), 4u);  // 1, 3, 4; tail 6
  std::vector<bytes> answers;
  for (const packet& p : sink.packets) {
    collecting_sink out;
    ASSERT_EQ(server.handle(p.data, t0_ms, out), 1u);
    answers.push_back(out.packets[0].data);
  }
  std::uint32_t nonce1 = 0;
  {
    repair_response_view r;
    ASSERT_EQ(parse_repair_response(answers[0], r), repair_error::none);
    nonce1 = r.nonce;
  }
  std::array<std::uint8_t, max_repair_response_bytes> buf{};
  auto response = [&](const bytes& shred, std::uint32_t nonce) {
    const std::size_t n = encode_repair_response(shred, nonce, buf);
    return bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  };

  // Parse errors of the response.
  EXPECT_TRUE(client.accept_response(std::span(answers[0]).first(50), t0_ms).empty());
  EXPECT_EQ(client.counters().dropped[static_cast<std::size_t>(repair_error::response_too_short)], 1u);
  bytes too_long(max_repair_response_bytes + 1, 0);
  EXPECT_TRUE(client.accept_response(too_long, t0_ms).empty());
  EXPECT_EQ(client.counters().dropped[static_cast<std::size_t>(repair_error::response_too_long)], 1u);
  // A response whose shred does not parse.
  bytes garbage = answers[0];
  garbage[64] = 0x30;  // reserved variant bits
  EXPECT_TRUE(client.accept_response(garbage, t0_ms).empty());
  EXPECT_EQ(client.counters().bad_shred, 1u);
  // A nonce never sent.
  EXPECT_TRUE(client.accept_response(response(s10.data.at(1), nonce1 + 1), t0_ms).empty());
  EXPECT_EQ(client.counters().unknown_nonce, 1u);
  // A known nonce with a shred that does not answer it (index 3 for the request of index 1).
  EXPECT_TRUE(client.accept_response(response(s10.data.at(3), nonce1), t0_ms).empty());
  EXPECT_EQ(client.counters().mismatched, 1u);
  // The right answer is still accepted, once.
  const auto shred = client.accept_response(answers[0], t0_ms + 10);
  EXPECT_TRUE(std::equal(shred.begin(), shred.end(), s10.data.at(1).begin(), s10.data.at(1).end()));
  EXPECT_TRUE(client.accept_response(answers[0], t0_ms + 10).empty());
  EXPECT_EQ(client.counters().unknown_nonce, 2u);
  // Too late: expired.
  EXPECT_TRUE(client.accept_response(answers[1], t0_ms + 501).empty());
  EXPECT_EQ(client.counters().expired, 1u);
  // In time for the others; the tail's answer is the slot's highest shred.
  EXPECT_FALSE(client.accept_response(answers[2], t0_ms + 500).empty());
  const auto tail = client.accept_response(answers[3], t0_ms + 500);
  ASSERT_FALSE(tail.empty());
  EXPECT_EQ(view_of(bytes(tail.begin(), tail.end())).index(), s10.data.rbegin()->first);
  EXPECT_EQ(client.counters().accepted, 3u);
  EXPECT_EQ(client.counters().responses, 10u);
}

TEST(RepairClient, OrphanAcceptsAncestorsUpToTheCap) {
  cluster c;
  shred_store store({8192, 16});
  std::vector<leader_slot> slots;
  for (std::uint64_t slot = 20; slot <= 27; ++slot) {
    slots.push_back(make_slot(slot, slot - 1, 10));
    for (const bytes& b : slots.back().shreds) ASSERT_TRUE(store.put(view_of(b)));
  }
  repair_server_config scfg;
  scfg.shred_version = version;
  scfg.orphan_ancestors = 6;
  repair_server server(c.peers[1], scfg, c.peers, store);
  slot_assembler assembler(small_assembler());
  assembler.set_root(15);
  (void)assembler.insert(view_of(slots.back().data.at(0)));  // 27, parent 26 unknown
  ASSERT_TRUE(assembler.is_orphan(27));
  repair_client_config cfg = client_config();
  cfg.orphan_responses = 4;
  repair_client client(c.keys[0], cfg, c.peers, 0);
  fixed_picker picker;
  collecting_sink sink;
  client.plan(assembler, 27, 27, t0_ms, sink, picker);
  const auto reqs = decode(sink);
  std::size_t orphan_at = reqs.size();
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    if (reqs[i].kind == repair_kind::orphan) orphan_at = i;
  }
  ASSERT_LT(orphan_at, reqs.size());
  EXPECT_EQ(reqs[orphan_at].slot, 27u);
  collecting_sink out;
  ASSERT_EQ(server.handle(sink.packets[orphan_at].data, t0_ms, out), 6u);
  // Ancestors 26, 25, 24, 23 accepted (in any order: deliver the last first), then no more.
  std::vector<std::uint64_t> accepted;
  std::swap(out.packets[0], out.packets[3]);
  for (const packet& p : out.packets) {
    const auto shred = client.accept_response(p.data, t0_ms + 1);
    if (!shred.empty()) accepted.push_back(view_of(bytes(shred.begin(), shred.end())).slot());
  }
  std::sort(accepted.begin(), accepted.end());
  EXPECT_EQ(accepted, (std::vector<std::uint64_t>{23, 24, 25, 26}));
  EXPECT_EQ(client.counters().unknown_nonce, 2u);
  // A shred of the orphan slot itself (or later) never answers an orphan request.
}

}  // namespace
