#include <riptide/consensus/confirmation.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace riptide;
using consensus::confirmation_tracker;
using consensus::lockout;
using consensus::voter_root;

namespace {

using stack = std::vector<lockout>;

}  // namespace

TEST(confirmation, a_slot_is_confirmed_when_more_than_two_thirds_voted_for_it) {
  confirmation_tracker c(4, 4);  // four validators of stake 1
  const stack on5{{4, 2}, {5, 1}};
  const stack on6{{6, 1}};  // a vote for a descendant of 5 alone does not count for 5
  EXPECT_TRUE(c.on_vote(0, 1, on5, std::nullopt));
  EXPECT_TRUE(c.on_vote(1, 1, on5, std::nullopt));
  EXPECT_TRUE(c.on_vote(2, 1, on6, std::nullopt));
  EXPECT_FALSE(c.is_confirmed(5));  // 2 of 4
  EXPECT_EQ(c.voted_stake(5), 2u);
  EXPECT_TRUE(c.on_vote(1, 1, on5, std::nullopt));  // the same voter again counts once
  EXPECT_EQ(c.voted_stake(5), 2u);
  EXPECT_FALSE(c.highest_confirmed().has_value());
  EXPECT_TRUE(c.on_vote(3, 1, on5, std::nullopt));  // 3 of 4 > 2/3
  EXPECT_TRUE(c.is_confirmed(4));
  EXPECT_TRUE(c.is_confirmed(5));
  EXPECT_FALSE(c.is_confirmed(6));
  EXPECT_EQ(c.highest_confirmed(), 5u);
  EXPECT_EQ(c.take_confirmed(), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_TRUE(c.take_confirmed().empty());
  EXPECT_FALSE(c.on_vote(4, 1, on5, std::nullopt));  // no such voter
}

TEST(confirmation, exactly_two_thirds_is_not_enough) {
  // Stakes 2, 2, 2 of 6 total... two of them are 4 of 6: exactly 2/3.
  confirmation_tracker c(6, 3);
  const stack on9{{9, 1}};
  c.on_vote(0, 2, on9, std::nullopt);
  c.on_vote(1, 2, on9, std::nullopt);
  EXPECT_FALSE(c.is_confirmed(9));
  c.on_vote(2, 2, on9, std::nullopt);
  EXPECT_TRUE(c.is_confirmed(9));
}

TEST(confirmation, finalized_is_the_root_more_than_two_thirds_hold) {
  struct row {
    std::string name;
    std::vector<voter_root> voters;
    std::uint64_t total;
    std::optional<std::uint64_t> finalized;
  };
  const std::vector<row> rows{
      {"3 of 4 at or above 10", {{1, 10}, {1, 12}, {1, 14}, {1, 8}}, 4, 10},
      {"nobody rooted", {{1, std::nullopt}, {1, std::nullopt}}, 2, std::nullopt},
      {"2 of 4 is not enough", {{1, 10}, {1, 12}, {1, std::nullopt}, {1, std::nullopt}}, 4, std::nullopt},
      // 5 validators 2,2,2,1,1: the three heavy (6 of 8) root 20, the light two 5
      {"the heavy three", {{2, 20}, {2, 20}, {2, 20}, {1, 5}, {1, 5}}, 8, 20},
      {"the light two and one heavy", {{2, 20}, {2, std::nullopt}, {2, std::nullopt}, {1, 30}, {1, 30}}, 8, std::nullopt},
      {"exactly 2/3", {{2, 20}, {2, 20}, {1, std::nullopt}, {1, std::nullopt}}, 6, std::nullopt},
      {"stake 0 never counts", {{0, 50}, {3, 40}}, 3, 40},
  };
  for (const auto& r : rows) EXPECT_EQ(consensus::super_majority_root(r.voters, r.total), r.finalized) << r.name;

  confirmation_tracker c(4, 4);
  c.on_vote(0, 1, {}, 10);
  c.on_vote(1, 1, {}, 11);
  EXPECT_FALSE(c.finalized().has_value());
  c.on_vote(2, 1, {}, 12);
  EXPECT_EQ(c.finalized(), 10u);
  c.on_vote(0, 1, {}, 9);  // a root never goes back
  EXPECT_EQ(c.finalized(), 10u);
  c.on_vote(0, 1, {}, 13);
  EXPECT_EQ(c.finalized(), 11u);
}

TEST(confirmation, pruned_and_evicted_slots_are_forgotten) {
  confirmation_tracker c(3, 3, 2);
  c.on_vote(0, 1, stack{{1, 3}, {2, 2}, {3, 1}}, std::nullopt);
  EXPECT_EQ(c.tracked(), 2u);  // room for 2: the lowest went
  EXPECT_EQ(c.voted_stake(1), 0u);
  EXPECT_EQ(c.voted_stake(3), 1u);
  c.prune_to(2);
  EXPECT_EQ(c.tracked(), 1u);
  c.on_vote(1, 1, stack{{2, 2}, {3, 1}}, std::nullopt);
  EXPECT_EQ(c.voted_stake(2), 0u);  // at or below the prune point: not tracked again
  EXPECT_EQ(c.voted_stake(3), 2u);
  EXPECT_THROW(confirmation_tracker(0, 1), std::invalid_argument);
  EXPECT_THROW(confirmation_tracker(1, 0), std::invalid_argument);
  EXPECT_THROW(confirmation_tracker(1, 1, 0), std::invalid_argument);
}
