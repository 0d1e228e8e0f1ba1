// schedule_window: the epoch before, of and after a slot, each the same as leader_schedule
// computes alone; advance() moves it across boundaries and keeps references valid.
#include <riptide/epoch/schedule_window.hpp>

#include "../support/filled_key.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <vector>

using namespace riptide;
using riptide::testing::filled_key;

namespace {

epoch::stakes four() {
  const std::vector<epoch::stake_entry> e{{filled_key(1), 10}, {filled_key(2), 20}, {filled_key(3), 30}, {filled_key(4), 40}};
  return epoch::stakes(e);
}

constexpr std::uint64_t spe = 32;  // slots per epoch: 8 groups of 4

// Every slot of epochs [from, to] has the leader leader_schedule gives it.
void expect_epochs(const epoch::schedule_window& w, std::uint64_t from, std::uint64_t to) {
  const epoch::stakes s = four();
  for (std::uint64_t e = from; e <= to; ++e) {
    const epoch::leader_schedule alone(s, e, spe);
    for (std::uint64_t slot = e * spe; slot < (e + 1) * spe; ++slot)
      EXPECT_EQ(w.leader(slot), alone.leader_for_slot(slot)) << "epoch " << e << " slot " << slot;
  }
}

}  // namespace

TEST(schedule_window, the_first_epoch_and_the_next) {
  const epoch::schedule_window w(four(), spe, 5);
  EXPECT_EQ(w.epoch(), 0u);
  expect_epochs(w, 0, 1);
  EXPECT_FALSE(w.leader(2 * spe).has_value());
  EXPECT_EQ(w.timeline().first_slot(), 0u);
  EXPECT_EQ(w.timeline().end_slot(), 2 * spe);
}

TEST(schedule_window, epochs_differ) {
  // Otherwise a window stuck on epoch 0 would pass the tests below.
  const epoch::stakes s = four();
  const epoch::leader_schedule e0(s, 0, spe), e1(s, 1, spe);
  bool differ = false;
  for (std::uint64_t g = 0; g < spe / 4; ++g) differ |= e0.group_leaders()[g] != e1.group_leaders()[g];
  EXPECT_TRUE(differ);
}

TEST(schedule_window, advance_moves_to_the_slots_epoch_with_one_on_each_side) {
  epoch::schedule_window w(four(), spe, 0);
  const epoch::leader_timeline& held = w.timeline();  // a tile's reference
  EXPECT_FALSE(w.advance(spe - 1));                   // still epoch 0
  EXPECT_TRUE(w.advance(spe));                        // epoch 1
  EXPECT_EQ(w.epoch(), 1u);
  expect_epochs(w, 0, 2);
  EXPECT_EQ(held.end_slot(), 3 * spe);  // the reference shows the new window
  EXPECT_TRUE(w.advance(5 * spe + 3));  // a jump: epochs 4-6
  expect_epochs(w, 4, 6);
  EXPECT_FALSE(w.leader(4 * spe - 1).has_value());
  EXPECT_FALSE(w.leader(7 * spe).has_value());
  EXPECT_TRUE(w.advance(2 * spe));  // back (a restarted chain behind): epochs 1-3
  expect_epochs(w, 1, 3);
}

TEST(schedule_window, a_window_made_late_is_the_same_as_one_advanced_to_it) {
  epoch::schedule_window walked(four(), spe, 0);
  for (std::uint64_t slot = 0; slot <= 9 * spe; slot += 7) walked.advance(slot);
  walked.advance(9 * spe);
  const epoch::schedule_window direct(four(), spe, 9 * spe);
  for (std::uint64_t slot = 8 * spe; slot < 11 * spe; ++slot) EXPECT_EQ(walked.leader(slot), direct.leader(slot));
}

TEST(schedule_window, bad_sizes_and_no_stake_are_refused) {
  EXPECT_THROW(epoch::schedule_window(four(), 0, 0), std::invalid_argument);
  EXPECT_THROW(epoch::schedule_window(epoch::stakes(std::vector<epoch::stake_entry>{}), spe, 0), std::invalid_argument);
}

TEST(schedule_window, the_last_epochs_of_the_u64_range) {
  // The last epoch whose slots all fit a u64 is the window's centre: there is no next one.
  constexpr std::uint64_t small = 8;
  const std::uint64_t last = std::numeric_limits<std::uint64_t>::max() / small - 1;
  const epoch::schedule_window w(four(), small, last * small);
  EXPECT_EQ(w.epoch(), last);
  EXPECT_TRUE(w.leader(last * small).has_value());
  EXPECT_TRUE(w.leader(last * small - 1).has_value());  // the epoch before
  EXPECT_EQ(w.timeline().end_slot(), (last + 1) * small);
}
