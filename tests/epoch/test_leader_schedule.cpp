#include <riptide/epoch/leader_schedule.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string_view>
#include <vector>

#include <riptide/crypto/sha256.hpp>
#include <riptide/util/prng.hpp>

using namespace riptide;

namespace {

crypto::pubkey id(std::uint8_t b) {
  crypto::pubkey k{};
  k.fill(b);
  return k;
}

std::vector<epoch::stake_entry> three() { return {{id(1), 100}, {id(2), 200}, {id(3), 700}}; }

}  // namespace

TEST(leader_schedule, same_for_any_input_order_and_four_slots_per_leader) {
  auto nodes = three();
  const epoch::leader_schedule a(epoch::stakes(nodes), 5, 64);
  std::reverse(nodes.begin(), nodes.end());
  const epoch::leader_schedule b(epoch::stakes(nodes), 5, 64);
  EXPECT_EQ(a.digest(), b.digest());
  ASSERT_EQ(a.group_leaders().size(), 16u);
  EXPECT_TRUE(std::equal(a.group_leaders().begin(), a.group_leaders().end(), b.group_leaders().begin()));
  EXPECT_EQ(a.first_slot(), 5u * 64);
  for (std::uint64_t s = a.first_slot(); s < a.first_slot() + 64; ++s)
    EXPECT_EQ(*a.leader_for_slot(s), a.group_leaders()[(s - a.first_slot()) / 4]);
  EXPECT_FALSE(a.leader_for_slot(a.first_slot() - 1).has_value());
  EXPECT_FALSE(a.leader_for_slot(a.first_slot() + 64).has_value());
  EXPECT_EQ(epoch::epoch_of(5 * 64 + 63, 64), 5u);
}

TEST(leader_schedule, follows_the_written_specification) {
  const auto nodes = three();
  const epoch::leader_schedule s(epoch::stakes(nodes), 9, 4 * 8);
  // Rebuild by hand from the header's five steps.
  std::vector<std::uint8_t> in;
  for (char c : std::string_view("riptide leader schedule")) in.push_back(static_cast<std::uint8_t>(c));
  for (int i = 0; i < 8; ++i) in.push_back(static_cast<std::uint8_t>(std::uint64_t{9} >> (8 * i)));
  const auto seed = crypto::sha256(in);
  std::array<std::uint64_t, 4> state{};
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t b = 0; b < 8; ++b) state[i] |= std::uint64_t{seed[8 * i + b]} << (8 * b);
  auto rng = util::xoshiro256ss::from_state(state);
  // Canonical order: 700 (id 3), 200 (id 2), 100 (id 1).
  for (std::size_t g = 0; g < 8; ++g) {
    const std::uint64_t r = rng.uniform(1000);
    const crypto::pubkey want = r < 700 ? id(3) : r < 900 ? id(2) : id(1);
    EXPECT_EQ(s.group_leaders()[g], want) << "group " << g;
  }
}

TEST(leader_schedule, leads_in_proportion_to_stake_and_never_without_stake) {
  auto nodes = three();
  nodes.push_back({id(9), 0});
  const epoch::leader_schedule s(epoch::stakes(nodes), 1, 4 * 20000);
  std::map<crypto::pubkey, double> share;
  for (const auto& l : s.group_leaders()) share[l] += 1.0 / 20000;
  EXPECT_NEAR(share[id(1)], 0.1, 0.015);
  EXPECT_NEAR(share[id(2)], 0.2, 0.015);
  EXPECT_NEAR(share[id(3)], 0.7, 0.015);
  EXPECT_EQ(share.count(id(9)), 0u);
}

TEST(leader_schedule, epochs_differ_and_bad_input_is_refused) {
  const auto nodes = three();
  const epoch::stakes staked(nodes);
  EXPECT_NE(epoch::leader_schedule(staked, 1, 400).digest(), epoch::leader_schedule(staked, 2, 400).digest());
  const std::vector<epoch::stake_entry> none{{id(1), 0}};
  EXPECT_THROW(epoch::leader_schedule(epoch::stakes(none), 0, 64), std::invalid_argument);
  EXPECT_THROW(epoch::leader_schedule(staked, 0, 0), std::invalid_argument);
  EXPECT_THROW(epoch::leader_schedule(staked, 0, 64, 0), std::invalid_argument);
  const std::vector<epoch::stake_entry> huge{{id(1), ~std::uint64_t{0}}, {id(2), 1}};
  EXPECT_THROW(epoch::leader_schedule(epoch::stakes(huge), 0, 64), std::invalid_argument);
  // A partial last group: 10 slots, 4 per leader -> 3 groups.
  const epoch::leader_schedule p(staked, 0, 10);
  EXPECT_EQ(p.group_leaders().size(), 3u);
  EXPECT_EQ(*p.leader_for_slot(9), p.group_leaders()[2]);
}

TEST(xoshiro_uniform, stays_in_bounds_and_is_unbiased_enough) {
  auto rng = util::xoshiro256ss::from_state({1, 2, 3, 4});
  std::array<int, 3> counts{};
  for (int i = 0; i < 30000; ++i) {
    const auto v = rng.uniform(3);
    ASSERT_LT(v, 3u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  EXPECT_EQ(rng.uniform(1), 0u);
  auto zero = util::xoshiro256ss::from_state({0, 0, 0, 0});
  std::uint64_t any = 0;  // the all-zero state (which would give zeros forever) is replaced
  for (int i = 0; i < 4; ++i) any |= zero.next();
  EXPECT_NE(any, 0u);
}
