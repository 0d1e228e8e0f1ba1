// Turbine tree: agreement with a straightforward O(n²) rendering of the header's
// specification (seed via OpenSSL), independence from input order, tree structure (one
// parent each, leader excluded, minimal depth), the lazy hot call against the full tree,
// stake weighting of the root, zero-stake nodes last, and construction errors.

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include <riptide/shred/turbine.hpp>
#include <riptide/util/prng.hpp>

namespace {

using namespace riptide::shred;
using riptide::epoch::stake_entry;
using riptide::crypto::pubkey;

pubkey key_from(std::uint64_t seed) {
  riptide::util::xoshiro256ss rng(seed * 7919 + 1);
  pubkey k{};
  for (std::size_t i = 0; i < k.size(); i += 8) {
    const std::uint64_t w = rng.next();
    std::memcpy(k.data() + i, &w, 8);
  }
  return k;
}

// n nodes with varied stakes (some equal, to exercise the id tie-break) and `zero` of them
// unstaked.
std::vector<stake_entry> make_nodes(std::size_t n, std::size_t zero = 0,
                                    std::uint64_t salt = 0) {
  riptide::util::xoshiro256ss rng(salt + 12345);
  std::vector<stake_entry> nodes(n);
  for (std::size_t i = 0; i < n; ++i) {
    nodes[i].id = key_from(salt * 1'000'003 + i);
    nodes[i].stake = i < zero ? 0 : 1 + rng.next() % 50 * 1'000'000;
  }
  return nodes;
}

// --- reference: the header's specification, written out naively ---------------------------

struct reference_rng {
  std::uint64_t s[4];
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  std::uint64_t uniform(std::uint64_t b) {
    __extension__ using u128 = unsigned __int128;
    u128 m = u128{next()} * b;
    if (static_cast<std::uint64_t>(m) < b) {
      const std::uint64_t t = (0 - b) % b;
      while (static_cast<std::uint64_t>(m) < t) m = u128{next()} * b;
    }
    return static_cast<std::uint64_t>(m >> 64);
  }
};

std::array<std::uint8_t, 32> reference_seed(std::uint64_t slot, std::uint32_t index,
                                            std::uint8_t type, const pubkey& leader) {
  std::vector<std::uint8_t> in;
  for (int i = 0; i < 8; ++i) in.push_back(static_cast<std::uint8_t>(slot >> (8 * i)));
  for (int i = 0; i < 4; ++i) in.push_back(static_cast<std::uint8_t>(index >> (8 * i)));
  in.push_back(type);
  in.insert(in.end(), leader.begin(), leader.end());
  std::array<std::uint8_t, 32> out{};
  SHA256(in.data(), in.size(), out.data());
  return out;
}

// The shuffle as a list of node ids.
std::vector<pubkey> reference_shuffle(std::vector<stake_entry> nodes, std::uint64_t slot,
                                      std::uint32_t index, std::uint8_t type,
                                      const pubkey& leader) {
  std::sort(nodes.begin(), nodes.end(), [](const stake_entry& a, const stake_entry& b) {
    return a.stake != b.stake ? a.stake > b.stake : a.id < b.id;
  });
  std::erase_if(nodes, [&](const stake_entry& n) { return n.id == leader; });
  const auto seed = reference_seed(slot, index, type, leader);
  reference_rng rng{};
  for (int w = 0; w < 4; ++w)
    for (int b = 7; b >= 0; --b) rng.s[w] = (rng.s[w] << 8) | seed[8 * w + b];

  std::vector<pubkey> out;
  std::vector<stake_entry> staked, zero;
  for (const auto& n : nodes) (n.stake ? staked : zero).push_back(n);
  std::uint64_t remaining = 0;
  for (const auto& n : staked) remaining += n.stake;
  while (remaining != 0) {
    std::uint64_t r = rng.uniform(remaining);
    for (auto& n : staked) {
      if (r < n.stake) {
        out.push_back(n.id);
        remaining -= n.stake;
        n.stake = 0;
        break;
      }
      r -= n.stake;
    }
  }
  for (std::size_t j = 0; j < zero.size(); ++j) {
    std::swap(zero[j], zero[j + rng.uniform(zero.size() - j)]);
    out.push_back(zero[j].id);
  }
  return out;
}

std::vector<pubkey> ids_of(const turbine_cluster& cluster, const turbine_tree& tree) {
  std::vector<pubkey> out;
  for (const auto node : tree.order()) out.push_back(cluster.node(node).id);
  return out;
}

std::uint32_t minimal_levels(std::uint64_t n, std::uint64_t fanout) {
  std::uint32_t levels = 0;
  std::uint64_t held = 0, width = 1;
  while (held < n) {
    held += width;
    width *= fanout;
    ++levels;
  }
  return levels;
}

// Checks every structural property of the last compute().
void expect_well_formed(const turbine_cluster& cluster, const turbine_tree& tree,
                        const pubkey& leader) {
  const std::uint32_t leader_index = cluster.index_of(leader);
  const std::uint32_t expected_size = cluster.size() - (leader_index == turbine_npos ? 0 : 1);
  ASSERT_EQ(tree.size(), expected_size);
  ASSERT_EQ(tree.order().size(), expected_size);
  if (leader_index != turbine_npos) {
    EXPECT_EQ(tree.position_of(leader_index), turbine_npos);
    EXPECT_EQ(tree.position_of(leader), turbine_npos);
    EXPECT_EQ(tree.parent_of(leader_index), turbine_npos);
    EXPECT_TRUE(tree.children_of(leader_index).empty());
  }
  std::vector<int> seen(cluster.size(), 0);
  for (const auto node : tree.order()) {
    ASSERT_LT(node, cluster.size());
    ASSERT_NE(node, leader_index);
    ++seen[node];
  }
  for (std::uint32_t i = 0; i < cluster.size(); ++i)
    ASSERT_EQ(seen[i], i == leader_index ? 0 : 1) << "node " << i;

  if (expected_size == 0) {
    EXPECT_EQ(tree.root(), turbine_npos);
    EXPECT_EQ(tree.depth(), 0u);
    return;
  }
  EXPECT_EQ(tree.root(), tree.order()[0]);
  EXPECT_EQ(tree.parent_of(tree.root()), turbine_npos);
  EXPECT_EQ(tree.depth(), minimal_levels(expected_size, tree.fanout()));

  // Parents: exactly one for all but the root; children lists invert parent_of.
  std::vector<int> as_child(cluster.size(), 0);
  std::uint32_t max_level = 0;
  for (const auto node : tree.order()) {
    EXPECT_EQ(tree.node_at(tree.position_of(node)), node);
    const auto kids = tree.children_of(node);
    EXPECT_LE(kids.size(), tree.fanout());
    for (const auto kid : kids) {
      ++as_child[kid];
      EXPECT_EQ(tree.parent_of(kid), node);
    }
    std::uint32_t level = 0;
    for (std::uint32_t up = node; tree.parent_of(up) != turbine_npos; up = tree.parent_of(up))
      ASSERT_LE(++level, tree.depth());
    max_level = std::max(max_level, level);
  }
  EXPECT_EQ(max_level + 1, tree.depth());
  for (const auto node : tree.order()) EXPECT_EQ(as_child[node], node == tree.root() ? 0 : 1);
}

// --- tests ---------------------------------------------------------------------------------

TEST(turbine_seed, is_sha256_of_the_documented_bytes) {
  const pubkey leader = key_from(9);
  for (const std::uint8_t type : {0, 1}) {
    const auto got = turbine_seed(0x0102030405060708ull, 0xa0b0c0d0u,
                                  static_cast<turbine_shred_type>(type), leader);
    const auto want = reference_seed(0x0102030405060708ull, 0xa0b0c0d0u, type, leader);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin()));
  }
  EXPECT_NE(turbine_seed(1, 2, turbine_shred_type::data, leader),
            turbine_seed(1, 2, turbine_shred_type::coding, leader));
}

TEST(turbine_tree, matches_the_specification_written_out) {
  // Staked only, mixed, unstaked only; leader inside (staked and unstaked) and outside.
  for (const auto& [n, zero] : std::vector<std::pair<std::size_t, std::size_t>>{
           {1, 0}, {2, 1}, {7, 0}, {50, 10}, {300, 120}, {40, 40}}) {
    const auto nodes = make_nodes(n, zero, n);
    const turbine_cluster cluster(nodes);
    turbine_tree tree(cluster, 4);
    for (std::uint32_t shred = 0; shred < 12; ++shred) {
      const pubkey leader = shred % 3 == 2 ? key_from(999'999) : nodes[(shred * 5) % n].id;
      const auto type = static_cast<std::uint8_t>(shred & 1);
      tree.compute(77 + shred / 4, shred, static_cast<turbine_shred_type>(type), leader);
      EXPECT_EQ(ids_of(cluster, tree), reference_shuffle(nodes, 77 + shred / 4, shred, type, leader))
          << "n=" << n << " zero=" << zero << " shred=" << shred;
    }
  }
}

TEST(turbine_tree, same_tree_for_any_input_order) {
  auto nodes = make_nodes(500, 50);
  nodes[10].stake = nodes[11].stake;  // a stake tie, broken by id
  const turbine_cluster a(nodes);
  std::reverse(nodes.begin(), nodes.end());
  std::rotate(nodes.begin(), nodes.begin() + 137, nodes.end());
  const turbine_cluster b(nodes);
  turbine_tree ta(a, 8), tb(b, 8);
  for (std::uint32_t shred = 0; shred < 64; ++shred) {
    const pubkey leader = nodes[shred].id;
    ta.compute(5, shred, turbine_shred_type::data, leader);
    tb.compute(5, shred, turbine_shred_type::data, leader);
    ASSERT_EQ(ids_of(a, ta), ids_of(b, tb)) << shred;
  }
}

TEST(turbine_tree, well_formed_with_minimal_depth) {
  for (const std::size_t n : {1, 2, 6, 200, 1000, 10000}) {
    const auto nodes = make_nodes(n, n / 10, 3);
    const turbine_cluster cluster(nodes);
    for (const std::uint32_t fanout : {2u, 8u, 200u}) {
      turbine_tree tree(cluster, fanout);
      // The leader a member, then not.
      tree.compute(1, 0, turbine_shred_type::data, nodes[n / 2].id);
      SCOPED_TRACE(testing::Message() << "n=" << n << " fanout=" << fanout);
      expect_well_formed(cluster, tree, nodes[n / 2].id);
      const std::uint32_t members = static_cast<std::uint32_t>(n) - 1;
      EXPECT_EQ(tree.depth(), minimal_levels(members, fanout));
      tree.compute(1, 1, turbine_shred_type::coding, key_from(424242));
      expect_well_formed(cluster, tree, key_from(424242));
    }
  }
  // Depth spot checks against the closed form.
  const auto nodes = make_nodes(10000);
  const turbine_cluster cluster(nodes);
  turbine_tree wide(cluster, 200), binary(cluster, 2);
  wide.compute(9, 9, turbine_shred_type::data, key_from(1'000'000));
  binary.compute(9, 9, turbine_shred_type::data, key_from(1'000'000));
  EXPECT_EQ(wide.depth(), 3u);     // 1 + 200 + 40 000 >= 10 000
  EXPECT_EQ(binary.depth(), 14u);  // 2^14 - 1 >= 10 000 > 2^13 - 1
}

TEST(turbine_tree, fanout_one_is_a_chain) {
  const auto nodes = make_nodes(20, 5);
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, 1);
  tree.compute(3, 3, turbine_shred_type::data, nodes[0].id);
  expect_well_formed(cluster, tree, nodes[0].id);
  EXPECT_EQ(tree.depth(), 19u);
}

TEST(turbine_tree, hot_call_matches_the_full_tree) {
  for (const std::uint32_t fanout : {2u, 8u, 200u}) {
    const auto nodes = make_nodes(1000, 300, fanout);
    const turbine_cluster cluster(nodes);
    turbine_tree full(cluster, fanout), hot(cluster, fanout);
    for (std::uint32_t shred = 0; shred < 20; ++shred) {
      const pubkey leader = shred % 4 == 3 ? key_from(31337) : nodes[shred * 37].id;
      const auto type = static_cast<turbine_shred_type>(shred & 1);
      full.compute(11, shred, type, leader);
      for (std::uint32_t self = 0; self < cluster.size(); ++self) {
        const auto want = full.children_of(self);
        const auto got = hot.children(11, shred, type, leader, self);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), got.begin(), got.end()))
            << "fanout=" << fanout << " shred=" << shred << " self=" << self;
      }
      // The leader's one-draw call names the same root.
      EXPECT_EQ(hot.root(11, shred, type, leader), full.root());
      // A non-member asks: nothing to send.
      EXPECT_TRUE(hot.children(11, shred, type, leader, turbine_npos).empty());
      // Queries after the hot call describe nothing.
      EXPECT_EQ(hot.root(), turbine_npos);
      EXPECT_EQ(hot.size(), 0u);
      // And a full compute() on the same object after partial draws is still exact.
      hot.compute(11, shred, type, leader);
      ASSERT_TRUE(std::ranges::equal(hot.order(), full.order()));
    }
  }
}

TEST(turbine_tree, children_copy_reports_the_full_count) {
  const auto nodes = make_nodes(100);
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, 8);
  tree.compute(1, 2, turbine_shred_type::data, key_from(5555));
  std::uint32_t out[3] = {};
  EXPECT_EQ(tree.children_of(tree.root(), out), 8u);
  EXPECT_TRUE(std::equal(out, out + 3, tree.order().begin() + 1));
  EXPECT_EQ(tree.children_of(turbine_npos, out), 0u);
}

TEST(turbine_tree, roots_vary_across_shreds) {
  std::vector<stake_entry> nodes = make_nodes(50);
  for (auto& n : nodes) n.stake = 100;
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, 8);
  std::set<std::uint32_t> roots;
  std::uint32_t changes = 0, previous = turbine_npos;
  for (std::uint32_t shred = 0; shred < 200; ++shred) {
    tree.compute(42, shred, turbine_shred_type::data, nodes[0].id);
    roots.insert(tree.root());
    changes += tree.root() != previous;
    previous = tree.root();
  }
  EXPECT_GE(roots.size(), 40u);  // 49 candidates, 200 draws: all but a few appear
  EXPECT_GE(changes, 180u);      // consecutive shreds rarely share a root
  // Slot, type and leader each change the tree too.
  tree.compute(42, 0, turbine_shred_type::data, nodes[0].id);
  const std::vector<std::uint32_t> base(tree.order().begin(), tree.order().end());
  tree.compute(43, 0, turbine_shred_type::data, nodes[0].id);
  EXPECT_FALSE(std::ranges::equal(base, tree.order()));
  tree.compute(42, 0, turbine_shred_type::coding, nodes[0].id);
  EXPECT_FALSE(std::ranges::equal(base, tree.order()));
  tree.compute(42, 0, turbine_shred_type::data, nodes[1].id);
  EXPECT_FALSE(std::ranges::equal(base, tree.order().subspan(0, 10)));
}

TEST(turbine_tree, root_frequency_follows_stake) {
  // One heavy node (10x), one light node, 20 more light ones, and a staked leader outside the
  // draw. P(root = heavy) = 1000/3100, P(root = a given light) = 100/3100.
  std::vector<stake_entry> nodes = make_nodes(23);
  for (auto& n : nodes) n.stake = 100;
  nodes[0].stake = 1000;
  nodes[22].stake = 5000;  // the leader
  const turbine_cluster cluster(nodes);
  turbine_tree tree(cluster, 200);
  const std::uint32_t heavy = cluster.index_of(nodes[0].id);
  const std::uint32_t light = cluster.index_of(nodes[1].id);
  std::map<std::uint32_t, int> root_count;
  for (std::uint32_t shred = 0; shred < 20000; ++shred) {
    tree.compute(1000 + shred / 64, shred % 64, static_cast<turbine_shred_type>(shred / 32 % 2),
                 nodes[22].id);
    ++root_count[tree.root()];
  }
  EXPECT_EQ(root_count.count(cluster.index_of(nodes[22].id)), 0u);
  const double heavy_share = root_count[heavy] / 20000.0;
  EXPECT_NEAR(heavy_share, 1000.0 / 3100.0, 0.02);
  // Averaged over the 21 light nodes the ratio is tight; a single light node is looser.
  int light_total = 0;
  for (const auto& [node, count] : root_count)
    if (node != heavy) light_total += count;
  const double ratio_avg = root_count[heavy] / (light_total / 21.0);
  EXPECT_GT(ratio_avg, 9.0);
  EXPECT_LT(ratio_avg, 11.0);
  const double ratio_one = static_cast<double>(root_count[heavy]) / root_count[light];
  EXPECT_GT(ratio_one, 7.5);
  EXPECT_LT(ratio_one, 13.0);
}

TEST(turbine_tree, zero_stake_nodes_come_last) {
  const auto nodes = make_nodes(100, 60, 8);  // 60 unstaked, 40 staked
  const turbine_cluster cluster(nodes);
  ASSERT_EQ(cluster.staked_count(), 40u);
  turbine_tree tree(cluster, 4);
  std::set<std::uint32_t> zero_roots;
  for (std::uint32_t shred = 0; shred < 2000; ++shred) {
    tree.compute(2, shred, turbine_shred_type::data, nodes[shred % 100].id);
    const auto order = tree.order();
    ASSERT_GT(cluster.node(tree.root()).stake, 0u);
    const auto first_zero = std::ranges::find_if(
        order, [&](std::uint32_t node) { return cluster.node(node).stake == 0; });
    ASSERT_TRUE(std::all_of(first_zero, order.end(),
                            [&](std::uint32_t node) { return cluster.node(node).stake == 0; }));
  }
  // With the only staked node leading, the unstaked ones are shuffled uniformly.
  std::vector<stake_entry> lone = make_nodes(30, 29, 9);
  const turbine_cluster only(lone);
  ASSERT_EQ(only.staked_count(), 1u);
  turbine_tree t(only, 4);
  for (std::uint32_t shred = 0; shred < 300; ++shred) {
    t.compute(2, shred, turbine_shred_type::data, lone[29].id);
    zero_roots.insert(t.root());
  }
  EXPECT_GE(zero_roots.size(), 25u);
}

TEST(turbine_cluster, canonical_order_and_lookup) {
  auto nodes = make_nodes(64, 8);
  const turbine_cluster cluster(nodes);
  ASSERT_EQ(cluster.size(), 64u);
  for (std::uint32_t i = 1; i < cluster.size(); ++i) {
    const auto& a = cluster.node(i - 1);
    const auto& b = cluster.node(i);
    EXPECT_TRUE(a.stake > b.stake || (a.stake == b.stake && a.id < b.id));
  }
  for (const auto& n : nodes) EXPECT_EQ(cluster.node(cluster.index_of(n.id)).id, n.id);
  EXPECT_EQ(cluster.index_of(key_from(77777)), turbine_npos);
  std::uint64_t total = 0;
  for (const auto& n : nodes) total += n.stake;
  EXPECT_EQ(cluster.total_stake(), total);
  EXPECT_EQ(cluster.staked_count(), 56u);
}

TEST(turbine_cluster, rejects_bad_input) {
  auto nodes = make_nodes(5);
  nodes[3].id = nodes[1].id;
  EXPECT_THROW(turbine_cluster{nodes}, std::invalid_argument);
  // A zero-stake member twice, or both with and without stake.
  auto unstaked = make_nodes(6, 3);
  unstaked[2].id = unstaked[0].id;
  EXPECT_THROW(turbine_cluster{unstaked}, std::invalid_argument);
  auto both = make_nodes(6, 3);
  both[4].id = both[1].id;
  EXPECT_THROW(turbine_cluster{both}, std::invalid_argument);
  auto heavy = make_nodes(3);
  heavy[0].stake = heavy[1].stake = UINT64_MAX / 2 + 1;
  EXPECT_THROW(turbine_cluster{heavy}, std::invalid_argument);
  const turbine_cluster ok(make_nodes(3));
  EXPECT_THROW(turbine_tree(ok, 0), std::invalid_argument);
}

TEST(turbine_tree, empty_cluster_and_lone_leader) {
  const turbine_cluster empty(std::span<const stake_entry>{});
  turbine_tree t0(empty, 8);
  t0.compute(1, 1, turbine_shred_type::data, key_from(1));
  EXPECT_EQ(t0.size(), 0u);
  EXPECT_EQ(t0.root(), turbine_npos);
  EXPECT_TRUE(t0.children(1, 1, turbine_shred_type::data, key_from(1), 0).empty());
  EXPECT_EQ(t0.root(1, 1, turbine_shred_type::data, key_from(1)), turbine_npos);

  const auto one = make_nodes(1);
  const turbine_cluster single(one);
  turbine_tree t1(single, 8);
  t1.compute(1, 1, turbine_shred_type::data, one[0].id);
  expect_well_formed(single, t1, one[0].id);
  t1.compute(1, 1, turbine_shred_type::data, key_from(2));
  EXPECT_EQ(t1.root(), 0u);
  EXPECT_EQ(t1.depth(), 1u);
  EXPECT_TRUE(t1.children(1, 1, turbine_shred_type::data, key_from(2), 0).empty());
}

}  // namespace
