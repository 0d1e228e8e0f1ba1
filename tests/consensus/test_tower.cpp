#include <riptide/consensus/tower.hpp>

#include <gtest/gtest.h>

#include "../support/towers.hpp"

#include <string>
#include <utility>
#include <vector>

using namespace riptide;
using consensus::fork_choice;
using consensus::lockout;
using consensus::switch_result;
using consensus::tower;
using consensus::vote_case;
using consensus::voter_tower;

namespace {

using stack = std::vector<lockout>;

stack votes_of(const tower& t) { return {t.votes().begin(), t.votes().end()}; }

using riptide::testing::voted;

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

// A chain 0 -> 1 -> ... -> n (each slot's parent the one before).
fork_choice chain(std::uint64_t n) {
  fork_choice t(0);
  for (std::uint64_t s = 1; s <= n; ++s) EXPECT_EQ(t.add(s, s - 1), fork_choice::add_result::added);
  return t;
}

}  // namespace

TEST(tower, lockouts_double_with_each_vote_stacked_on_them) {
  struct row {
    std::uint64_t vote;
    stack after;
  };
  const std::vector<row> rows{
      {1, {{1, 1}}},
      {2, {{1, 2}, {2, 1}}},
      {3, {{1, 3}, {2, 2}, {3, 1}}},
      {4, {{1, 4}, {2, 3}, {3, 2}, {4, 1}}},
      // 4 + 2 >= 6: nothing expires, but 6 does not deepen what it does not stack on evenly
      {6, {{1, 5}, {2, 4}, {3, 3}, {4, 2}, {6, 1}}},
  };
  tower t;
  for (const auto& r : rows) {
    EXPECT_FALSE(t.record_vote(r.vote).has_value());
    EXPECT_EQ(votes_of(t), r.after) << "after voting " << r.vote;
  }
  EXPECT_EQ(t.last_voted_slot(), 6u);
  EXPECT_EQ(t.nth_recent(0), (lockout{6, 1}));
  EXPECT_EQ(t.nth_recent(4), (lockout{1, 5}));
  EXPECT_FALSE(t.nth_recent(5).has_value());
  EXPECT_EQ(lockout({10, 3}).lockout_slots(), 8u);
  EXPECT_EQ(lockout({10, 3}).last_locked_out_slot(), 18u);
  EXPECT_EQ(lockout({~std::uint64_t{0} - 1, 4}).last_locked_out_slot(), ~std::uint64_t{0});
}

TEST(tower, votes_expire_from_the_top_until_one_still_locks) {
  struct row {
    std::string name;
    std::vector<std::uint64_t> before;
    std::uint64_t vote;
    stack after;
  };
  const std::vector<row> rows{
      // [1:3 (to 9), 2:2 (to 6), 3:1 (to 5)]
      {"nothing expires at the lockout's last slot", {1, 2, 3}, 5, {{1, 4}, {2, 3}, {3, 2}, {5, 1}}},
      {"the top expires", {1, 2, 3}, 6, {{1, 3}, {2, 2}, {6, 1}}},
      {"two expire, the third still locks", {1, 2, 3}, 7, {{1, 3}, {7, 1}}},
      {"all expire", {1, 2, 3}, 10, {{10, 1}}},
      // [1:4 (to 17), 2:3 (to 10), 3:2 (to 7), 4:1 (to 6)]: expiry stops at 2
      {"expiry stops at the first vote still locked", {1, 2, 3, 4}, 8, {{1, 4}, {2, 3}, {8, 1}}},
      {"a vote not above the last is ignored", {1, 2, 3}, 3, {{1, 3}, {2, 2}, {3, 1}}},
      {"older still", {1, 2, 3}, 2, {{1, 3}, {2, 2}, {3, 1}}},
  };
  for (const auto& r : rows) {
    tower t = voted(r.before);
    (void)t.record_vote(r.vote);
    EXPECT_EQ(votes_of(t), r.after) << r.name;
  }
}

TEST(tower, the_bottom_vote_becomes_the_root_at_the_32nd_vote) {
  tower t = voted(range(1, 30));
  EXPECT_FALSE(t.record_vote(31).has_value());  // 31 deep: full, no root yet
  EXPECT_EQ(t.votes().size(), 31u);
  EXPECT_EQ(t.votes().front(), (lockout{1, 31}));
  EXPECT_FALSE(t.root().has_value());
  EXPECT_EQ(t.record_vote(32), 1u);
  EXPECT_EQ(t.root(), 1u);
  EXPECT_EQ(t.votes().size(), 31u);
  EXPECT_EQ(t.votes().front(), (lockout{2, 31}));
  EXPECT_EQ(t.record_vote(33), 2u);
  // A gap lets votes expire: no root from a vote that pops the top ones.
  tower gap = voted(range(1, 31));
  EXPECT_FALSE(gap.record_vote(40).has_value());
  EXPECT_LT(gap.votes().size(), 31u);
}

TEST(tower, from_accepts_only_a_well_formed_tower) {
  const stack good{{1, 3}, {2, 2}, {3, 1}};
  const auto t = tower::from(good, 0);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(votes_of(*t), good);
  EXPECT_EQ(t->root(), 0u);
  struct row {
    std::string name;
    stack votes;
    std::optional<std::uint64_t> root;
  };
  const std::vector<row> bad{
      {"slots not increasing", {{2, 2}, {2, 1}}, std::nullopt},
      {"counts not decreasing", {{1, 1}, {2, 1}}, std::nullopt},
      {"count 0", {{1, 0}}, std::nullopt},
      {"count above 31", {{1, 32}}, std::nullopt},
      {"root not below the votes", {{5, 1}}, 5},
      {"more than 31 votes", stack(32, lockout{1, 1}), std::nullopt},
  };
  for (const auto& r : bad) EXPECT_FALSE(tower::from(r.votes, r.root).has_value()) << r.name;
  EXPECT_TRUE(tower::from({}, 7).has_value());
}

TEST(tower, lockout_check_forbids_voting_off_a_locked_fork) {
  //   0 - 1 - 2 - 3 - 4 - 5     (our fork)
  //       |
  //       +-- 6 - 7 - 30        (another)
  fork_choice t = chain(5);
  ASSERT_EQ(t.add(6, 1), fork_choice::add_result::added);
  ASSERT_EQ(t.add(7, 6), fork_choice::add_result::added);
  ASSERT_EQ(t.add(30, 7), fork_choice::add_result::added);
  struct row {
    std::string name;
    std::vector<std::uint64_t> votes;
    std::uint64_t candidate;
    bool locked;
  };
  // [1:3 (to 9), 2:2 (to 6), 3:1 (to 5)]
  const std::vector<row> rows{
      {"empty tower: anything", {}, 30, false},
      {"same fork", {1, 2, 3}, 4, false},
      {"not above the last vote", {1, 2, 3}, 3, true},
      {"other fork while 2 still locks", {1, 2, 3}, 6, true},
      {"other fork once 2 and 3 expired; 1 is an ancestor", {1, 2, 3}, 7, false},
      {"far on the other fork: all expired", {1, 2, 3}, 30, false},
      {"2 alone locks to 6", {2, 3}, 6, true},
      {"1 alone expired", {1}, 6, false},
      {"3 locks to 7 in a deeper tower", {1, 2, 3, 4}, 7, true},
  };
  for (const auto& r : rows) EXPECT_EQ(voted(r.votes).is_locked_out(r.candidate, t), r.locked) << r.name;
}

TEST(tower, threshold_needs_two_thirds_eight_deep) {
  fork_choice t = chain(40);
  const tower ours = voted(range(1, 8));  // voting 9 puts slot 1 eight deep
  const stack deep{{1, 8}, {2, 7}, {3, 6}, {4, 5}, {5, 4}, {6, 3}, {7, 2}, {8, 1}};
  const stack on_two{{2, 4}};   // holds 2 (to 18), a descendant of 1: counts for 1
  const stack expired{{1, 1}};  // 1 + 2 < 9: gone at 9
  struct row {
    std::string name;
    std::vector<voter_tower> voters;
    bool passed;
    std::uint64_t fork_stake;
  };
  const std::vector<row> rows{
      {"3 of 4 hold it", {{1, deep}, {1, deep}, {1, deep}, {1, {}}}, true, 3},
      {"2 of 4 do not", {{1, deep}, {1, deep}, {1, {}}, {1, {}}}, false, 2},
      {"a vote below the slot counts", {{1, deep}, {1, deep}, {1, on_two}, {1, {}}}, true, 3},
      {"an expired vote does not", {{1, deep}, {1, deep}, {1, expired}, {1, {}}}, false, 2},
      {"a root at or below it counts", {{1, deep}, {1, deep}, {1, {}, 3}, {1, {}}}, true, 3},
      {"exactly 2/3 is not more", {{2, deep}, {2, deep}, {1, {}}, {1, {}}}, false, 4},
  };
  for (const auto& r : rows) {
    std::uint64_t total = 0;
    for (const auto& v : r.voters) total += v.stake;
    const auto d = consensus::check_threshold(ours, 9, r.voters, total, t);
    EXPECT_TRUE(d.deep_enough) << r.name;
    EXPECT_EQ(d.threshold_slot, 1u) << r.name;
    EXPECT_EQ(d.fork_stake, r.fork_stake) << r.name;
    EXPECT_EQ(d.passed, r.passed) << r.name;
  }
  // A shallower tower passes with no stake at all.
  const std::vector<voter_tower> nobody{{1, {}}, {1, {}}};
  const auto shallow = consensus::check_threshold(voted(range(1, 7)), 8, nobody, 2, t);
  EXPECT_FALSE(shallow.deep_enough);
  EXPECT_TRUE(shallow.passed);
  // Back from a pause: voting 19 on [1..12] pops 12, 11 and 10; the vote 8 deep is then
  // (2, 11), in the tower already with that lockout: it passes whatever the stake.
  const tower paused = voted(range(1, 12));
  const auto back = consensus::check_threshold(paused, 19, nobody, 2, t);
  EXPECT_TRUE(back.deep_enough);
  EXPECT_EQ(back.threshold_slot, 2u);
  EXPECT_EQ(back.fork_stake, 0u);
  EXPECT_TRUE(back.passed);
}

TEST(tower, switch_needs_more_than_38_percent_locked_out_elsewhere) {
  //   0 - 1 - 2 - 10          (ours: last vote 10)
  //       |
  //       +-- 3 - 4 - 5       (other)
  fork_choice t(0);
  for (const auto& [s, p] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {1, 0}, {2, 1}, {10, 2}, {3, 1}, {4, 3}, {5, 4}, {11, 10}})
    ASSERT_EQ(t.add(s, p), fork_choice::add_result::added);
  const tower ours = voted({1, 2, 10});
  const stack at5{{5, 3}};      // to 13 >= 10: locked out
  const stack at4{{4, 3}};      // to 12
  const stack at3_short{{3, 1}};  // to 5 < 10: its lockout is over
  const stack at1{{1, 4}};      // the common ancestor itself: not another fork
  const stack at2{{2, 4}};      // on our fork
  const stack at45{{4, 4}, {5, 3}};  // two votes on the other fork
  struct row {
    std::string name;
    std::vector<voter_tower> voters;
    switch_result result;
    std::uint64_t locked;
  };
  const std::vector<row> rows{
      {"39 % locked out", {{39, at5}, {61, {}}}, switch_result::passed, 39},
      {"exactly 38 % is not more", {{38, at5}, {62, {}}}, switch_result::failed, 38},
      {"two voters add up", {{20, at5}, {20, at4}, {60, {}}}, switch_result::passed, 40},
      {"an expired lockout does not count", {{50, at3_short}, {50, {}}}, switch_result::failed, 0},
      {"a vote on the common ancestor does not", {{50, at1}, {50, {}}}, switch_result::failed, 0},
      {"a vote on our fork does not", {{50, at2}, {50, {}}}, switch_result::failed, 0},
      {"a voter counts once", {{30, at45}, {70, {}}}, switch_result::failed, 30},
  };
  for (const auto& r : rows) {
    const auto d = consensus::check_switch(ours, 5, r.voters, 100, t);
    EXPECT_EQ(d.result, r.result) << r.name;
    EXPECT_EQ(d.locked_out_stake, r.locked) << r.name;
  }
  EXPECT_EQ(consensus::check_switch(ours, 11, {}, 100, t).result, switch_result::same_fork);
  EXPECT_EQ(consensus::check_switch(ours, 2, {}, 100, t).result, switch_result::rollback);
  EXPECT_EQ(consensus::check_switch(tower{}, 5, {}, 100, t).result, switch_result::same_fork);
}

// The four cases of the vote-and-reset decision, on
//   0 - 1 - 2 - 3          (A's fork: our last vote 2)
//       |
//       +-- 4 - 5          (B's fork)
TEST(tower, vote_and_reset_cases) {
  const auto make = [] {
    fork_choice t(0);
    for (const auto& [s, p] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{{1, 0}, {2, 1}, {3, 2}, {4, 1}, {5, 4}})
      EXPECT_EQ(t.add(s, p), fork_choice::add_result::added);
    return t;
  };
  const stack on5{{4, 2}, {5, 1}};
  const stack on3{{1, 3}, {2, 2}, {3, 1}};
  struct row {
    std::string name;
    std::vector<std::uint64_t> ours;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> fork_votes;  // (slot, stake) per voter
    std::vector<voter_tower> voters;
    vote_case why;
    std::uint64_t reset;
    std::optional<std::uint64_t> vote;
  };
  const std::vector<row> rows{
      {"0: empty tower votes best", {}, {{5, 60}, {3, 40}}, {{60, on5}, {40, on3}}, vote_case::empty_tower, 5, 5},
      {"2: best on our fork", {1, 2}, {{3, 60}, {5, 40}}, {{60, on3}, {40, on5}}, vote_case::same_fork, 3, 3},
      {"3: other fork, switch passes", {1, 2}, {{5, 60}, {3, 40}}, {{60, on5}, {40, on3}}, vote_case::switched, 5, 5},
      {"4: other fork, switch fails: reset below our vote",
       {1, 2},
       {{5, 30}, {3, 20}},
       {{30, on5}, {20, on3}, {50, {}}},
       vote_case::switch_failed,
       3,
       std::nullopt},
      {"already voted best", {1, 2, 3}, {{3, 60}}, {{60, on3}}, vote_case::same_fork, 3, std::nullopt},
  };
  for (const auto& r : rows) {
    fork_choice t = make();
    for (std::size_t i = 0; i < r.fork_votes.size(); ++i)
      ASSERT_EQ(t.vote(i, r.fork_votes[i].first, r.fork_votes[i].second), fork_choice::vote_result::applied) << r.name;
    const auto d = consensus::decide_vote_and_reset(voted(r.ours), t, r.voters, 100);
    EXPECT_EQ(d.why, r.why) << r.name;
    EXPECT_EQ(d.reset, r.reset) << r.name;
    EXPECT_EQ(d.vote, r.vote) << r.name;
  }
  // Our voted block died: best is now its ancestor, a rollback; no vote, reset to best.
  fork_choice t = make();
  ASSERT_TRUE(t.mark_dead(3));
  ASSERT_EQ(t.vote(0, 2, 10), fork_choice::vote_result::applied);
  const auto d = consensus::decide_vote_and_reset(voted({1, 3}), t, {}, 100);
  EXPECT_EQ(d.why, vote_case::rollback);
  EXPECT_EQ(d.reset, 2u);
  EXPECT_FALSE(d.vote.has_value());
}
