// The consensus engine: banks in, votes and roots out, case by case.

#include <riptide/consensus/vote_engine.hpp>

#include <gtest/gtest.h>

#include "../support/towers.hpp"

#include <functional>

#include <optional>
#include <vector>

using namespace riptide;
using consensus::bank_view;
using consensus::vote_engine;
using consensus::vote_engine_config;
using consensus::tower;
using consensus::tower_sync;

namespace {

crypto::hash32 hash_of_slot(std::uint64_t slot) {
  crypto::hash32 h{};
  h[0] = 0xB0;
  for (int i = 0; i < 8; ++i) h[static_cast<std::size_t>(1 + i)] = static_cast<std::uint8_t>(slot >> (8 * i));
  return h;
}

using riptide::testing::voted;

vote_engine_config four_equal(std::optional<std::size_t> self = 0) {
  vote_engine_config c;
  c.stakes = {10, 10, 10, 10};
  c.self = self;
  return c;
}

// A bank with the given voters' towers landed on it (others: none).
struct bank {
  std::uint64_t slot, parent;
  std::vector<std::optional<tower_sync>> votes = std::vector<std::optional<tower_sync>>(4);
  bank(std::uint64_t s, std::uint64_t p) : slot(s), parent(p) {}
  bank& with(std::size_t voter, const tower& t) {
    votes[voter] = tower_sync{t, hash_of_slot(*t.last_voted_slot()), 1};
    return *this;
  }
  bank_view view() const { return {slot, parent, hash_of_slot(slot), votes}; }
};

}  // namespace

TEST(vote_engine, votes_each_new_bank_once_with_its_bank_hash_and_the_time) {
  vote_engine e(four_equal(), 0);
  EXPECT_FALSE(e.decide(5).vote.has_value());  // only the start's root: no bank hash to vote with
  ASSERT_TRUE(e.on_bank(bank(1, 0).view()));
  const auto d = e.decide(1234);
  ASSERT_TRUE(d.vote.has_value());
  EXPECT_EQ(d.why.why, consensus::vote_case::empty_tower);
  EXPECT_EQ(d.vote->votes.last_voted_slot(), 1u);
  EXPECT_EQ(d.vote->bank_hash, hash_of_slot(1));
  EXPECT_EQ(d.vote->timestamp_ms, 1234);
  EXPECT_FALSE(d.root.has_value());
  EXPECT_EQ(e.ours().last_voted_slot(), 1u);
  const auto again = e.decide(1235);
  EXPECT_FALSE(again.vote.has_value());
  EXPECT_TRUE(again.why.already_voted);
  // A bank whose parent never replayed here is refused.
  EXPECT_FALSE(e.on_bank(bank(9, 8).view()));
}

TEST(vote_engine, votes_landed_in_banks_confirm_with_more_than_two_thirds) {
  vote_engine e(four_equal(), 0);
  ASSERT_TRUE(e.on_bank(bank(1, 0).view()));
  (void)e.decide(1);  // our vote: 10 of 40
  ASSERT_TRUE(e.on_bank(bank(2, 1).with(1, voted({1})).view()));  // 20 of 40: not yet
  EXPECT_FALSE(e.highest_confirmed().has_value());
  (void)e.decide(2);
  ASSERT_TRUE(e.on_bank(bank(3, 2).with(2, voted({1})).view()));  // 30 of 40 > 2/3
  EXPECT_EQ(e.highest_confirmed(), 1u);
  EXPECT_EQ(e.take_confirmed(), std::vector<std::uint64_t>{1});
  EXPECT_TRUE(e.take_confirmed().empty());
  (void)e.decide(3);
  // An older vote state of a voter (a bank on which its newer vote had not landed) changes nothing.
  ASSERT_TRUE(e.on_bank(bank(4, 3).with(2, voted({1, 2, 3})).view()));
  ASSERT_TRUE(e.on_bank(bank(5, 4).with(2, voted({1})).with(1, voted({1, 2, 3})).view()));
  EXPECT_EQ(e.highest_confirmed(), 3u);  // ours (after deciding at 2 and 3) and 1's and 2's
}

TEST(vote_engine, the_thirty_second_vote_roots_and_all_rooting_finalizes) {
  vote_engine e(four_equal(), 0);
  tower others;
  std::optional<std::uint64_t> first_root;
  for (std::uint64_t s = 1; s <= 40; ++s) {
    bank b(s, s - 1);
    for (std::size_t v = 1; v < 4; ++v)
      if (others.last_voted_slot()) b.with(v, others);
    ASSERT_TRUE(e.on_bank(b.view())) << s;
    const auto d = e.decide(static_cast<std::int64_t>(s));
    ASSERT_TRUE(d.vote.has_value()) << s;
    if (d.root && !first_root) {
      first_root = d.root;
      EXPECT_EQ(s, 32u);  // 31 votes on top of slot 1
    }
    (void)others.record_vote(s);
  }
  EXPECT_EQ(first_root, 1u);
  EXPECT_EQ(e.root(), 9u);   // votes 10..40 are in the tower
  EXPECT_EQ(e.ours().root(), 9u);
  EXPECT_EQ(e.forks().root(), 9u);  // fork choice pruned to it
  EXPECT_EQ(e.forks().size(), 32u);  // 9..40
  EXPECT_EQ(e.finalized(), 8u);  // the others' vote states lag ours by a slot
  EXPECT_EQ(e.highest_confirmed(), 39u);
}

TEST(vote_engine, switches_forks_when_enough_stake_is_locked_out_elsewhere) {
  vote_engine e(four_equal(), 0);
  ASSERT_TRUE(e.on_bank(bank(1, 0).view()));
  ASSERT_EQ(e.decide(1).vote->votes.last_voted_slot(), 1u);
  ASSERT_TRUE(e.on_bank(bank(2, 1).view()));
  ASSERT_EQ(e.decide(2).vote->votes.last_voted_slot(), 2u);  // on 1, then 2
  // The other three are on 3, a sibling of 2.
  ASSERT_TRUE(e.on_bank(bank(3, 1).view()));
  ASSERT_TRUE(e.on_bank(bank(5, 3).with(1, voted({1, 3})).with(2, voted({1, 3})).with(3, voted({1, 3})).view()));
  EXPECT_EQ(e.best(), 5u);  // (at 4 our vote on 2 would still lock us out)
  // A bank on which only their older votes landed does not take back what they told.
  ASSERT_TRUE(e.on_bank(bank(6, 5).with(1, voted({1})).with(2, voted({1})).with(3, voted({1})).view()));
  const auto d = e.decide(3);
  EXPECT_EQ(d.why.why, consensus::vote_case::switched);
  ASSERT_TRUE(d.vote.has_value());
  EXPECT_EQ(d.vote->votes.last_voted_slot(), 6u);
  EXPECT_EQ(d.why.reset, 6u);
}

TEST(vote_engine, a_dead_block_is_never_chosen) {
  vote_engine e(four_equal(), 0);
  ASSERT_TRUE(e.on_bank(bank(1, 0).view()));
  ASSERT_TRUE(e.on_bank(bank(2, 1).view()));
  ASSERT_TRUE(e.on_bank(bank(3, 1).view()));
  e.mark_dead(2);
  EXPECT_EQ(e.best(), 3u);
}

TEST(vote_engine, an_unstaked_node_follows_fork_choice_and_never_votes) {
  vote_engine e(four_equal(std::nullopt), 0);
  ASSERT_TRUE(e.on_bank(bank(1, 0).view()));
  ASSERT_TRUE(e.on_bank(bank(2, 1).with(1, voted({1})).with(2, voted({1})).with(3, voted({1})).view()));
  const auto d = e.decide(1);
  EXPECT_FALSE(d.vote.has_value());
  EXPECT_EQ(d.why.reset, 2u);
  EXPECT_FALSE(e.ours().last_voted_slot().has_value());
  EXPECT_EQ(e.highest_confirmed(), 1u);
}

TEST(vote_engine, a_restored_tower_is_not_voted_again_and_counts_once_its_block_replays) {
  vote_engine e(four_equal(), 4, voted({3, 5}));
  ASSERT_TRUE(e.on_bank(bank(5, 4).view()));
  // A sibling fork with voter 1's stake: 5 stays the best only with our stake counted on it.
  ASSERT_TRUE(e.on_bank(bank(6, 4).view()));
  ASSERT_TRUE(e.on_bank(bank(8, 6).with(1, voted({6})).view()));
  EXPECT_EQ(e.best(), 5u);
  auto d = e.decide(1);
  EXPECT_FALSE(d.vote.has_value());
  EXPECT_TRUE(d.why.already_voted);
  ASSERT_TRUE(e.on_bank(bank(7, 5).view()));
  d = e.decide(2);
  ASSERT_TRUE(d.vote.has_value());
  EXPECT_EQ(d.vote->votes.votes().size(), 3u);  // 3, 5, 7
}

TEST(vote_engine, delinquent_voters_are_those_without_a_vote_in_the_last_max_age_slots) {
  vote_engine_config c = four_equal(0);
  c.stakes = {10, 10, 10, 0};  // voter 3 unstaked: never delinquent
  vote_engine e(c, 0);
  const std::uint64_t age = 128;
  // Nobody has voted: nobody is delinquent up to slot 128, everyone staked after it.
  EXPECT_EQ(e.delinquent(0, age), 0u);
  EXPECT_EQ(e.delinquent(age, age), 0u);
  EXPECT_EQ(e.delinquent(age + 1, age), 3u);
  // Voter 1's vote for 10 lands in block 11; we (voter 0) vote 11.
  ASSERT_TRUE(e.on_bank(bank(10, 0).view()));
  ASSERT_TRUE(e.on_bank(bank(11, 10).with(1, voted({10})).view()));
  ASSERT_TRUE(e.decide(1).vote);
  struct row {
    std::uint64_t now;
    std::size_t want;
  };
  for (const row r : {row{age + 1, 1}, row{age + 10, 1}, row{age + 11, 2}, row{age + 12, 3}, row{10'000, 3}})
    EXPECT_EQ(e.delinquent(r.now, age), r.want) << "at slot " << r.now;
  // Voter 2 seen outside a bank (gossip): back from delinquency.
  e.on_vote(2, voted({11}));
  EXPECT_EQ(e.delinquent(age + 11, age), 1u);
  EXPECT_EQ(e.delinquent(age + 12, age), 3u);
}

TEST(vote_engine, bad_configs_are_refused) {
  auto bad = [](const std::function<void(vote_engine_config&)>& edit) {
    vote_engine_config c = four_equal();
    edit(c);
    EXPECT_THROW(vote_engine(c, 0), std::invalid_argument);
  };
  bad([](vote_engine_config& c) { c.stakes.clear(); });
  bad([](vote_engine_config& c) { c.stakes = {0, 0}; });
  bad([](vote_engine_config& c) { c.stakes = {~std::uint64_t{0}, 1}; });
  bad([](vote_engine_config& c) { c.self = 4; });
  bad([](vote_engine_config& c) { c.max_blocks = 0; });
  bad([](vote_engine_config& c) { c.max_slots = 0; });
}
