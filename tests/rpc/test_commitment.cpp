// commitment_of() case by case: a slot's level from the root, the confirmed and finalized
// slots and the confirmed slot's fork as consensus published them; and the level names.

#include <riptide/rpc/commitment.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>

using namespace riptide;
using rpc::commitment;

namespace {

// A node whose root is 100, finalized 90, confirmed 120, the confirmed fork above the root
// being 101, 103, 110, 120 (102 and 104..109 another fork's or skipped).
bank::chain_status forked_node() {
  bank::chain_status c;
  c.has_root_slot = true;
  c.root_slot = 100;
  c.has_finalized_slot = true;
  c.finalized_slot = 90;
  c.has_confirmed_slot = true;
  c.confirmed_slot = 120;
  c.has_confirmed_fork = true;
  c.fork.first = 101;
  for (const std::uint64_t s : {101, 103, 110, 120}) c.fork.add(s);
  return c;
}

struct row {
  const char* why;
  std::uint64_t slot;
  commitment want;
};

}  // namespace

TEST(commitment, levels_of_slots_on_and_off_the_confirmed_fork) {
  const bank::chain_status c = forked_node();
  const row rows[] = {
      {"rooted and finalized", 90, commitment::finalized},
      {"rooted, older than finalized", 3, commitment::finalized},
      {"rooted, past finalized, below confirmed", 95, commitment::confirmed},
      {"the root itself", 100, commitment::confirmed},
      {"above the root, on the confirmed fork", 101, commitment::confirmed},
      {"above the root, another fork below the confirmed slot", 102, commitment::processed},
      {"the confirmed slot", 120, commitment::confirmed},
      {"a skipped slot number between fork blocks", 105, commitment::processed},
      {"past the confirmed slot", 121, commitment::processed},
  };
  for (const row& r : rows) EXPECT_EQ(rpc::commitment_of(r.slot, c), r.want) << r.why << " (slot " << r.slot << ")";
}

TEST(commitment, never_finalized_above_this_nodes_root) {
  bank::chain_status c = forked_node();
  c.finalized_slot = 110;  // the cluster finalized 110; this node has rooted 100 only
  EXPECT_EQ(rpc::commitment_of(110, c), commitment::confirmed);  // on the confirmed fork
  EXPECT_EQ(rpc::commitment_of(102, c), commitment::processed);  // a fork not pruned here yet
  EXPECT_EQ(rpc::commitment_of(100, c), commitment::finalized);
}

TEST(commitment, a_rooted_slot_past_the_confirmed_one_is_processed) {
  bank::chain_status c = forked_node();
  c.confirmed_slot = 97;
  c.has_confirmed_fork = true;
  c.fork = {};
  c.fork.first = 101;
  EXPECT_EQ(rpc::commitment_of(97, c), commitment::confirmed);
  EXPECT_EQ(rpc::commitment_of(98, c), commitment::processed);
  EXPECT_EQ(rpc::commitment_of(101, c), commitment::processed);
}

TEST(commitment, slots_outside_the_window_are_processed) {
  bank::chain_status c = forked_node();
  // Replay rooted 104 after this window (from 101) was published: slots up to 104 go by the
  // rooted rule (every other fork there is pruned), whatever the window says.
  c.root_slot = 104;
  EXPECT_EQ(rpc::commitment_of(103, c), commitment::confirmed);
  EXPECT_EQ(rpc::commitment_of(102, c), commitment::confirmed);
  // Replay's root behind the window's start (98, window from 101): 99 and 100 are neither
  // rooted here nor in the window.
  c.root_slot = 98;
  EXPECT_EQ(rpc::commitment_of(98, c), commitment::confirmed);
  EXPECT_EQ(rpc::commitment_of(100, c), commitment::processed);
  EXPECT_EQ(rpc::commitment_of(101, c), commitment::confirmed);
  c.root_slot = 100;
  const std::uint64_t far = c.fork.first + bank::confirmed_fork::window_slots;
  c.confirmed_slot = far;
  c.fork.add(far);  // outside: ignored
  EXPECT_FALSE(c.fork.has(far));
  EXPECT_EQ(rpc::commitment_of(far, c), commitment::processed);
  EXPECT_EQ(rpc::commitment_of(far - 1, c), commitment::processed);
  c.fork.add(far - 1);
  EXPECT_EQ(rpc::commitment_of(far - 1, c), commitment::confirmed);
}

TEST(commitment, without_consensus_everything_is_processed) {
  bank::chain_status c;  // a node that does not vote: no root, no confirmed slot, no fork
  EXPECT_EQ(rpc::commitment_of(0, c), commitment::processed);
  EXPECT_EQ(rpc::commitment_of(50, c), commitment::processed);
  c.has_root_slot = true;  // rooted but nothing confirmed
  c.root_slot = 50;
  EXPECT_EQ(rpc::commitment_of(50, c), commitment::processed);
  // A confirmed slot without its fork says nothing of the slots above the root.
  c.has_confirmed_slot = true;
  c.confirmed_slot = 60;
  EXPECT_EQ(rpc::commitment_of(40, c), commitment::confirmed);
  EXPECT_EQ(rpc::commitment_of(55, c), commitment::processed);
}

TEST(commitment, names_round_trip) {
  for (const commitment c : {commitment::processed, commitment::confirmed, commitment::finalized})
    EXPECT_EQ(rpc::commitment_from_name(rpc::to_string(c)), c);
  EXPECT_FALSE(rpc::commitment_from_name("rooted"));
  EXPECT_FALSE(rpc::commitment_from_name(""));
  EXPECT_FALSE(rpc::commitment_from_name("Confirmed"));
}
