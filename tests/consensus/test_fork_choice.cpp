#include <riptide/consensus/fork_choice.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <utility>
#include <vector>

using namespace riptide;
using consensus::fork_choice;

namespace {

// Builds a tree from (slot, parent) pairs on root 0.
fork_choice tree_of(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& edges) {
  fork_choice t(0);
  for (const auto& [slot, parent] : edges) EXPECT_EQ(t.add(slot, parent), fork_choice::add_result::added) << slot;
  return t;
}

//        0
//        1
//      +-+-+
//      2   4
//      3   5
//          6
const std::vector<std::pair<std::uint64_t, std::uint64_t>> two_forks{{1, 0}, {2, 1}, {3, 2}, {4, 1}, {5, 4}, {6, 5}};

}  // namespace

TEST(fork_choice, add_refuses_what_does_not_fit) {
  fork_choice t(10, 3);
  EXPECT_EQ(t.add(11, 10), fork_choice::add_result::added);
  EXPECT_EQ(t.add(11, 10), fork_choice::add_result::exists);
  EXPECT_EQ(t.add(13, 12), fork_choice::add_result::unknown_parent);
  EXPECT_EQ(t.add(11, 11), fork_choice::add_result::exists);
  EXPECT_EQ(t.add(9, 11), fork_choice::add_result::not_above_parent);
  EXPECT_EQ(t.add(12, 11), fork_choice::add_result::added);
  EXPECT_EQ(t.add(13, 12), fork_choice::add_result::full);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_THROW(fork_choice(0, 0), std::invalid_argument);
  EXPECT_THROW(fork_choice(0, 1, 0), std::invalid_argument);
}

TEST(fork_choice, best_follows_the_heaviest_subtree_ties_to_the_lower_slot) {
  auto t = tree_of(two_forks);
  // No votes: every subtree weighs 0, the lower slot wins at each level.
  EXPECT_EQ(t.best(), 3u);
  struct row {
    std::size_t voter;
    std::uint64_t slot;
    std::uint64_t stake;
    std::uint64_t best;
  };
  const std::vector<row> rows{
      {0, 5, 10, 6},  // 4's subtree 10 > 2's 0; below 5, 6 is the only child
      {1, 3, 10, 3},  // 10 each: ties go to the lower slot, 2
      {2, 2, 1, 3},   // 2's subtree 11 (its own vote counts for it)
      {3, 6, 2, 6},   // 4's subtree 12 > 11
  };
  for (const auto& r : rows) {
    EXPECT_EQ(t.vote(r.voter, r.slot, r.stake), fork_choice::vote_result::applied);
    EXPECT_EQ(t.best(), r.best) << "after voter " << r.voter << " on " << r.slot;
  }
  EXPECT_EQ(t.subtree_stake(1), 23u);
  EXPECT_EQ(t.subtree_stake(4), 12u);
  EXPECT_EQ(t.stake_voted_at(6), 2u);
  EXPECT_EQ(t.best_from(2), 3u);
  EXPECT_EQ(t.best_from(99), 99u);
}

TEST(fork_choice, only_each_voters_latest_vote_counts) {
  auto t = tree_of(two_forks);
  EXPECT_EQ(t.vote(0, 3, 10), fork_choice::vote_result::applied);
  EXPECT_EQ(t.vote(1, 5, 6), fork_choice::vote_result::applied);
  EXPECT_EQ(t.best(), 3u);
  // Voter 0 switches to the other fork: its 10 moves with it.
  EXPECT_EQ(t.vote(0, 6, 10), fork_choice::vote_result::applied);
  EXPECT_EQ(t.subtree_stake(2), 0u);
  EXPECT_EQ(t.subtree_stake(4), 16u);
  EXPECT_EQ(t.best(), 6u);
  EXPECT_EQ(t.latest_vote(0), 6u);
  // Older or equal votes are stale; a slot not in the tree is not counted.
  EXPECT_EQ(t.vote(0, 3, 10), fork_choice::vote_result::stale);
  EXPECT_EQ(t.vote(0, 6, 10), fork_choice::vote_result::stale);
  EXPECT_EQ(t.vote(1, 40, 6), fork_choice::vote_result::unknown_slot);
  EXPECT_EQ(t.latest_vote(1), 5u);
  EXPECT_EQ(t.subtree_stake(1), 16u);
  EXPECT_FALSE(t.latest_vote(7).has_value());
  fork_choice small(0, 8, 2);
  EXPECT_EQ(small.vote(2, 0, 1), fork_choice::vote_result::bad_voter);
}

TEST(fork_choice, dead_blocks_and_their_subtrees_are_never_chosen) {
  auto t = tree_of(two_forks);
  ASSERT_EQ(t.vote(0, 6, 10), fork_choice::vote_result::applied);
  ASSERT_EQ(t.vote(1, 3, 1), fork_choice::vote_result::applied);
  EXPECT_EQ(t.best(), 6u);
  EXPECT_TRUE(t.mark_dead(5));
  EXPECT_TRUE(t.is_dead(6));
  // The stake voted below 4 still weighs for 4's fork, but the walk stops above the dead block.
  EXPECT_EQ(t.best(), 4u);
  ASSERT_EQ(t.vote(2, 2, 20), fork_choice::vote_result::applied);
  EXPECT_EQ(t.best(), 3u);
  EXPECT_EQ(t.add(7, 6), fork_choice::add_result::added);
  EXPECT_TRUE(t.is_dead(7));
  EXPECT_FALSE(t.mark_dead(99));
  EXPECT_EQ(t.best_from(5), 5u);
}

TEST(fork_choice, set_root_prunes_every_other_fork) {
  auto t = tree_of(two_forks);
  ASSERT_EQ(t.vote(0, 3, 10), fork_choice::vote_result::applied);
  ASSERT_EQ(t.vote(1, 6, 4), fork_choice::vote_result::applied);
  EXPECT_FALSE(t.set_root(42));
  EXPECT_TRUE(t.set_root(4));
  EXPECT_EQ(t.root(), 4u);
  EXPECT_EQ(t.size(), 3u);  // 4, 5, 6
  EXPECT_FALSE(t.contains(3));
  EXPECT_FALSE(t.contains(1));
  EXPECT_FALSE(t.parent(4).has_value());
  EXPECT_EQ(t.best(), 6u);
  EXPECT_EQ(t.subtree_stake(4), 4u);
  // Voter 0's vote was on a pruned fork: its next vote still counts (and is compared with it).
  EXPECT_EQ(t.vote(0, 5, 10), fork_choice::vote_result::applied);
  EXPECT_EQ(t.subtree_stake(4), 14u);
}

TEST(fork_choice, ancestry_and_common_ancestors) {
  auto t = tree_of(two_forks);
  struct row {
    std::uint64_t slot, ancestor;
    bool descends;
  };
  const std::vector<row> rows{
      {3, 3, true}, {3, 2, true}, {3, 1, true}, {3, 0, true}, {3, 4, false}, {6, 4, true},
      {6, 2, false}, {2, 3, false}, {1, 6, false}, {99, 1, false}, {99, 99, true},
  };
  for (const auto& r : rows) EXPECT_EQ(t.descends(r.slot, r.ancestor), r.descends) << r.slot << " from " << r.ancestor;
  EXPECT_EQ(t.common_ancestor(3, 6), 1u);
  EXPECT_EQ(t.common_ancestor(3, 2), 2u);
  EXPECT_EQ(t.common_ancestor(6, 6), 6u);
  EXPECT_EQ(t.common_ancestor(5, 0), 0u);
  EXPECT_FALSE(t.common_ancestor(3, 99).has_value());
  // Below the root: the rooted chain.
  ASSERT_TRUE(t.set_root(1));
  EXPECT_TRUE(t.descends(6, 0));
  EXPECT_TRUE(t.descends(0, 0));
  EXPECT_EQ(t.common_ancestor(0, 6), 0u);
}
