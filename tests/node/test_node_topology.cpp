#include <riptide/node/node_topology.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <riptide/bank/tx_status.hpp>
#include <riptide/txn/transaction.hpp>

#include "../support/temp_dir.hpp"

namespace {

using namespace riptide;
using node::node_shape;
using node::topology;

std::set<std::string> tile_names(const topology& t) {
  std::set<std::string> out;
  for (const auto& tile : t.tiles()) out.insert(tile.name);
  return out;
}

node_shape leader_shape() {
  node_shape s;
  s.net = s.gossip = s.rpc = true;
  s.tpu.verify_tiles = 2;
  s.tpu.bank_tiles = 1;
  s.tpu.records_out = true;
  s.load = true;
  s.shred = true;
  return s;
}

node_shape follower_shape() {
  node_shape s;
  s.net = s.gossip = s.rpc = true;
  s.poh = false;
  s.tpu.ledger = false;
  s.tvu = true;
  return s;
}

TEST(node_topology, a_leader_runs_the_tpu_shred_gossip_and_load) {
  topology t = node::declare_node(leader_shape());
  EXPECT_EQ(tile_names(t), (std::set<std::string>{"net", "gossip", "shred", "load", "poh", "ledger", "dedup", "bank0",
                                                  "verify0", "verify1"}));
  for (const char* link : {"net>verify0", "verify1>dedup", "dedup>bank0", "bank0>poh", "poh>dedup", "poh>ledger",
                           "ledger>shred", "shred>net", "net>shred.repair", "load>net", "api>gossip",
                           "verify0>net.free", "dedup>net.free", "bank0>net.free"})
    EXPECT_NE(t.find_link(link), nullptr) << link;
  t.place_auto(2, false);
  EXPECT_NO_THROW(t.check());
  EXPECT_EQ(t.cores().size(), 2u);
  // Flat-out PoH alone on core thread 0, everything else on the other.
  t.place_auto(2, true);
  t.check();
  EXPECT_EQ(t.cores()[0], std::vector<std::string>{"poh"});
}

TEST(node_topology, a_follower_runs_tvu_and_replay_and_no_tpu) {
  topology t = node::declare_node(follower_shape());
  EXPECT_EQ(tile_names(t), (std::set<std::string>{"net", "gossip", "tvu", "replay"}));
  for (const char* link : {"net>tvu", "tvu>replay", "replay>tvu", "tvu>net", "net>tvu.repair", "tvu.repair>net.free"})
    EXPECT_NE(t.find_link(link), nullptr) << link;
  t.place_auto(2, false);
  t.check();
  EXPECT_EQ(t.cores(), (std::vector<std::vector<std::string>>{{"net", "gossip", "tvu"}, {"replay"}}));
}

// A rotating validator leads and follows: PoH, ledger and shred for its own blocks, TVU and
// replay for everyone's (its own come from the shred tile), and replay resets PoH. Its TVU
// answers repair, so the shred tile has no repair port.
TEST(node_topology, a_rotating_validator_runs_both_pipelines_joined) {
  node_shape s;
  s.net = s.gossip = s.rpc = true;
  s.tpu.records_out = true;
  s.shred = s.tvu = true;
  EXPECT_THROW((void)node::declare_node(s), std::invalid_argument);  // both without rotation
  s.rotation = true;
  topology t = node::declare_node(s);
  EXPECT_EQ(tile_names(t), (std::set<std::string>{"net", "gossip", "poh", "ledger", "shred", "tvu", "replay"}));
  for (const char* link : {"poh>ledger", "ledger>shred", "shred>net", "net>tvu", "tvu>replay", "replay>tvu",
                           "shred>tvu.own", "tvu>shred.own.free", "replay>poh", "net>tvu.repair"})
    EXPECT_NE(t.find_link(link), nullptr) << link;
  EXPECT_EQ(t.find_link("net>shred.repair"), nullptr);
  t.place_auto(2, false);
  EXPECT_NO_THROW(t.check());
  s.tvu = false;
  EXPECT_THROW((void)node::declare_node(s), std::invalid_argument);  // rotation without its TVU
}

// With transactions: verify, dedup, forward (Gulf Stream) and one bank tile; the forward
// tile feeds the bank and sends copies through the net tile; replay and the ledger tile share
// a core thread (both make and root banks of the forks the bank tile executes into).
TEST(node_topology, a_rotating_validator_with_a_bank_forwards_and_keeps_replay_by_the_ledger) {
  node_shape s;
  s.net = s.gossip = s.rpc = true;
  s.tpu.verify_tiles = 1;
  s.tpu.bank_tiles = 1;
  s.tpu.records_out = true;
  s.tpu.forward = true;
  s.shred = s.tvu = s.rotation = true;
  topology t = node::declare_node(s);
  for (const char* link : {"dedup>forward", "forward>bank0", "forward>net", "net>forward.free", "forward>net.free"})
    EXPECT_NE(t.find_link(link), nullptr) << link;
  EXPECT_EQ(t.find_link("dedup>bank0"), nullptr);
  t.place_auto(2, false);
  t.check();
  for (const auto& core : t.cores()) {
    const bool ledger = std::find(core.begin(), core.end(), "ledger") != core.end();
    const bool replay = std::find(core.begin(), core.end(), "replay") != core.end();
    EXPECT_EQ(ledger, replay);
  }
  s.tpu.bank_tiles = 2;
  EXPECT_THROW((void)node::declare_node(s), std::invalid_argument);  // forward feeds one bank tile
}

TEST(node_topology, a_voting_validator_has_a_consensus_tile_fed_by_replay) {
  node_shape s;
  s.net = true;
  s.tpu.verify_tiles = 1;
  s.tpu.records_out = true;
  s.shred = s.tvu = s.rotation = s.consensus = true;
  topology t = node::declare_node(s);
  EXPECT_TRUE(t.has_tile("consensus"));
  for (const char* link : {"replay>consensus", "consensus>replay", "consensus>net", "net>consensus.free"})
    EXPECT_NE(t.find_link(link), nullptr) << link;
  t.place_auto(2, false);
  t.check();
  s.rotation = false;
  s.shred = false;
  EXPECT_THROW((void)node::declare_node(s), std::invalid_argument);  // only a rotating validator votes
}

TEST(node_topology, a_node_without_net_has_poh_and_ledger_only) {
  node_shape s;
  topology t = node::declare_node(s);
  EXPECT_EQ(tile_names(t), (std::set<std::string>{"poh", "ledger"}));
  ASSERT_EQ(t.links().size(), 1u);
  EXPECT_EQ(t.links()[0].name, "poh>ledger");
  s.tpu.ledger = false;
  EXPECT_TRUE(node::declare_node(s).links().empty());
}

TEST(node_topology, gossip_commands_only_with_the_http_api) {
  node_shape s = follower_shape();
  s.rpc = false;
  EXPECT_EQ(node::declare_node(s).find_link("api>gossip"), nullptr);
}

TEST(node_topology, shapes_that_cannot_run_are_refused) {
  struct row {
    const char* what;
    void (*change)(node_shape&);
  };
  const row rows[] = {
      {"gossip without net", [](node_shape& s) { s.net = false; }},
      {"load without verify tiles", [](node_shape& s) { s.tpu.verify_tiles = 0, s.tpu.bank_tiles = 0; }},
      {"shred without records", [](node_shape& s) { s.tpu.records_out = false; }},
      {"shred and tvu", [](node_shape& s) { s.tvu = true; }},
      {"banks without the ledger", [](node_shape& s) { s.tpu.ledger = false, s.tpu.records_out = false, s.shred = false; }},
      {"tpu fed by another source", [](node_shape& s) { s.tpu.source = "driver"; }},
  };
  for (const row& r : rows) {
    node_shape s = leader_shape();
    r.change(s);
    EXPECT_THROW((void)node::declare_node(s), std::invalid_argument) << r.what;
  }
  EXPECT_NO_THROW((void)node::declare_node(leader_shape()));
}

// The TPU the node and bench_pipeline build, driven through its rings on one thread: a
// driver (outside party) feeds signed transfers to the verify tiles; they land in the ledger.
TEST(tpu_pipeline, transfers_fed_to_the_verify_rings_land_in_the_ledger) {
  constexpr std::uint32_t transfers = 40;
  riptide::testing::temp_dir dir("riptide-tpu-pipeline");
  const crypto::hash32 start{};
  std::vector<crypto::keypair> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(crypto::keypair::generate());
  util::frame_pool pool(transfers);
  std::vector<std::uint16_t> lens;
  for (std::uint32_t i = 0; i < transfers; ++i)
    lens.push_back(static_cast<std::uint16_t>(
        txn::build_transfer(keys[i % 8], keys[(i + 3) % 8].public_key(), 100 + i, start, pool.frame(i))));

  bank::forks_config fc;
  fc.max_accounts = 1 << 10;
  fc.max_versions = 1 << 10;
  fc.max_statuses = 1 << 10;
  fc.lock_stripes = 1 << 8;
  bank::bank_forks forks(fc, start);
  for (const auto& k : keys) ASSERT_TRUE(forks.credit(k.public_key(), 1'000'000'000));
  tpu::bank_gate gate(1, 0);
  bank::chain_board board;
  bank::tx_status_cache statuses(1 << 10);
  tpu::microblock_store store(16, 8 * (txn::max_transaction_bytes + tpu::microblock_tx_overhead_bytes));
  ledger::ledger_config lc;
  lc.dir = dir.path() / "ledger";
  lc.segment_bytes = 1 << 20;
  ledger::ledger lg = ledger::ledger::open(lc);

  node::tpu_shape shape;
  shape.source = "driver";
  shape.verify_tiles = 2;
  shape.bank_tiles = 1;
  shape.verify_ring = 64;
  shape.bank_ring = 64;
  shape.free_ring = 64;
  topology topo;
  topo.add_outside("driver");
  node::declare_tpu(topo, shape);
  topo.place_auto(1, false);
  topo.check();
  node::link_set rings(topo);
  node::tpu_resources res;
  res.frames = &pool;
  res.forks = &forks;
  res.gate = &gate;
  res.stores = {&store};
  res.ledger = &lg;
  res.board = &board;
  res.start_hash = start;
  res.dedup.cache_entries = 1 << 10;
  res.bank.max_txs_per_microblock = 8;
  res.poh.hashes_per_tick = 16;
  res.poh.ticks_per_slot = 8;
  res.ledger_tile.statuses = &statuses;
  res.ledger_tile.sync_at_slot_end = false;
  res.ledger_tile.max_microblock_tx_bytes = 8 * (txn::max_transaction_bytes + tpu::microblock_tx_overhead_bytes);
  node::tpu_tiles tiles = node::build_tpu(shape, rings, res);
  std::vector<util::spsc_ring<util::frag_desc>*> to_verify, frees;
  for (std::size_t i = 0; i < 2; ++i) {
    to_verify.push_back(&rings.out<util::frag_desc>("driver", node::tpu_verify_in(shape, i)));
    frees.push_back(&rings.in<util::frag_desc>("driver", node::tpu_verify_free(shape, i)));
  }
  for (const std::string& link : node::tpu_release_links(shape))
    frees.push_back(&rings.in<util::frag_desc>("driver", link));
  ASSERT_NO_THROW(rings.check_bound());

  for (std::uint32_t i = 0; i < transfers; ++i)
    ASSERT_TRUE(to_verify[i % 2]->try_push(util::frag_desc{i, lens[i], 0, i}));
  const std::vector<util::tile*> all = tiles.all();
  for (util::tile* t : all) t->on_start();
  std::uint32_t returned = 0;
  for (int pass = 0; pass < 200'000 && statuses.recorded() < transfers; ++pass) {
    for (util::tile* t : all) (void)t->poll();
    util::frag_desc d{};
    for (auto* f : frees)
      while (f->try_pop(d)) ++returned;
  }
  EXPECT_EQ(statuses.recorded(), transfers);
  EXPECT_EQ(tiles.banks[0]->execution().count(txn::tx_result::ok), transfers);
  EXPECT_EQ(tiles.dedup->own_counter(tpu::dedup_tile::c_unique), transfers);
  EXPECT_EQ(returned, transfers);  // every frame came back to its owner
  for (util::tile* t : all) t->begin_drain();
}

}  // namespace
