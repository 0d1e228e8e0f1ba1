// The consensus pieces together, slot by slot, in one deterministic process: validators each
// run a vote engine (tower, fork choice, confirmation tracking); leaders take 4-slot turns and build
// on their reset slot; blocks reach the validators on the leader's side of a partition at
// once (the rest after the partition heals, as repair would bring them), and votes (whole
// towers, as gossip carries them) reach that side one slot later. Scenarios from the consensus
// issue, with the properties checked from the validators' own state:
//   - every validator's finalized slot (the root > 2/3 of the stake holds) advances;
//   - a confirmed slot is never rolled back: at the end, every slot any validator saw
//     confirmed is on every validator's chosen fork;
//   - split 2/2 nothing is confirmed or finalized; 3 heavy / 2 light only the heavy side is.

#include <riptide/consensus/vote_engine.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

using namespace riptide;

namespace {

struct block {
  std::uint64_t parent;
  int side;  // the partition side it was made on (-1: made while healed)
};

struct validator {
  consensus::vote_engine engine;
  std::uint64_t reset = 0;
  std::set<std::uint64_t> known{0};
  std::vector<std::pair<std::uint64_t, std::uint64_t>> confirmed;  // (slot, at slot)
  validator(const std::vector<std::uint64_t>& stakes, std::size_t self)
      : engine(consensus::vote_engine_config{stakes, self}, 0) {}
  std::uint64_t best() const { return engine.best(); }
};

class cluster {
 public:
  explicit cluster(std::vector<std::uint64_t> stakes) : stakes_(std::move(stakes)) {
    for (std::size_t i = 0; i < stakes_.size(); ++i) nodes_.emplace_back(stakes_, i);
    side_.assign(stakes_.size(), 0);
  }
  // Side of each validator; all 0 is one network.
  void partition(std::vector<int> side) { side_ = std::move(side); }
  void heal() { std::fill(side_.begin(), side_.end(), 0); healed_ = true; }

  void run(std::uint64_t slots) {
    for (std::uint64_t end = slot_ + slots; slot_ < end;) step(++slot_);
  }

  const validator& node(std::size_t i) const { return nodes_[i]; }
  std::uint64_t slot() const { return slot_; }
  std::size_t size() const { return nodes_.size(); }
  std::optional<std::uint64_t> finalized(std::size_t i) const { return nodes_[i].engine.finalized(); }
  // True when `slot` is `ancestor` or below it in the blocks made.
  bool descends(std::uint64_t s, std::uint64_t ancestor) const {
    while (s > ancestor) {
      const auto it = blocks_.find(s);
      if (it == blocks_.end()) return false;
      s = it->second.parent;
    }
    return s == ancestor;
  }
  std::size_t blocks_made() const { return blocks_.size(); }

 private:
  bool sees(std::size_t i, int side) const { return side == -1 || side_[i] == side || all_one_side(); }
  bool all_one_side() const { return std::all_of(side_.begin(), side_.end(), [&](int s) { return s == side_[0]; }); }

  void step(std::uint64_t s) {
    // The leader builds on its reset slot.
    const std::size_t leader = (s / 4) % nodes_.size();
    blocks_[s] = block{nodes_[leader].reset, all_one_side() ? -1 : side_[leader]};
    // Blocks reach whoever can see them, in slot order, once their parent is there.
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      validator& v = nodes_[i];
      for (const auto& [b, info] : blocks_) {
        if (v.known.contains(b) || !sees(i, info.side) || !v.known.contains(info.parent)) continue;
        v.known.insert(b);
        // Votes travel apart from blocks here (gossip): the bank carries none. A parent pruned
        // by a root: that fork is dead to v.
        crypto::hash32 hash{};
        hash[0] = static_cast<std::uint8_t>(b);
        (void)v.engine.on_bank(consensus::bank_view{b, info.parent, hash, {}});
      }
    }
    // Towers made last slot reach whoever can see their voter.
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      validator& v = nodes_[i];
      for (std::size_t j = 0; j < nodes_.size(); ++j)
        if (j != i && side_[i] == side_[j] && published_.contains(j)) v.engine.on_vote(j, published_.at(j));
      for (const auto c : v.engine.take_confirmed()) v.confirmed.emplace_back(c, s);
    }
    // Each validator decides what to vote for and where to reset.
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      validator& v = nodes_[i];
      const auto d = v.engine.decide(static_cast<std::int64_t>(s));
      v.reset = d.why.reset;
      if (d.why.vote) {
        ASSERT_TRUE(d.vote.has_value()) << "validator " << i << " knows the bank hash of " << *d.why.vote;
      }
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i) published_[i] = nodes_[i].engine.ours();
  }

  std::vector<std::uint64_t> stakes_;
  std::vector<validator> nodes_;
  std::vector<int> side_;
  bool healed_ = false;
  std::map<std::uint64_t, block> blocks_;
  std::map<std::size_t, consensus::tower> published_;
  std::uint64_t slot_ = 0;
};

// Every slot any validator saw confirmed is on every validator's chosen fork.
void expect_no_confirmed_slot_rolled_back(const cluster& c) {
  std::set<std::uint64_t> confirmed;
  for (std::size_t i = 0; i < c.size(); ++i)
    for (const auto& [slot, at] : c.node(i).confirmed) confirmed.insert(slot);
  for (std::size_t i = 0; i < c.size(); ++i) {
    const std::uint64_t best = c.node(i).best();
    for (const auto s : confirmed) {
      if (s > best) continue;  // not replayed there yet
      EXPECT_TRUE(c.descends(best, s)) << "slot " << s << " confirmed, but validator " << i << " is on " << best;
    }
  }
}

}  // namespace

TEST(consensus_simulation, four_equal_validators_confirm_at_once_and_finalize_steadily) {
  cluster c({1, 1, 1, 1});
  c.run(200);
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto f = c.finalized(i);
    ASSERT_TRUE(f.has_value()) << i;
    // A root needs 31 votes on top of it, and a vote lands a slot after its block.
    EXPECT_GE(*f, 200u - 40) << i;
    // Confirmed the slot after it was made (one slot of vote latency).
    std::vector<std::uint64_t> lag;
    for (const auto& [slot, at] : c.node(i).confirmed) lag.push_back(at - slot);
    ASSERT_GE(lag.size(), 190u) << i;
    std::sort(lag.begin(), lag.end());
    EXPECT_LE(lag[lag.size() / 2], 3u) << i;
  }
  EXPECT_EQ(c.node(0).best(), c.node(3).best());
  expect_no_confirmed_slot_rolled_back(c);
}

TEST(consensus_simulation, a_two_two_split_confirms_nothing_and_converges_after_healing) {
  cluster c({1, 1, 1, 1});
  c.run(40);
  std::vector<std::optional<std::uint64_t>> before;
  std::vector<std::size_t> confirmed_before;
  for (std::size_t i = 0; i < c.size(); ++i) {
    before.push_back(c.finalized(i));
    confirmed_before.push_back(c.node(i).confirmed.size());
  }
  c.partition({0, 0, 1, 1});
  c.run(60);
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(c.finalized(i), before[i]) << "validator " << i << " finalized while split";
    EXPECT_EQ(c.node(i).confirmed.size(), confirmed_before[i]) << "validator " << i << " confirmed while split";
  }
  // Two forks grew, one per side.
  EXPECT_FALSE(c.descends(c.node(0).best(), c.node(2).best()));
  EXPECT_FALSE(c.descends(c.node(2).best(), c.node(0).best()));
  // Each side voted until its vote 8 deep lacked 2/3: the losing side's bottom vote of the
  // split locks it out of the other fork for up to 2^9 slots; then it votes there and roots
  // resume.
  c.heal();
  const std::uint64_t healed_at = c.slot();
  c.run(600);
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto f = c.finalized(i);
    ASSERT_TRUE(f.has_value());
    EXPECT_GE(*f, healed_at + 16) << "validator " << i << " finalized 16 new slots after healing";
  }
  EXPECT_EQ(c.node(0).best(), c.node(2).best());
  expect_no_confirmed_slot_rolled_back(c);
}

TEST(consensus_simulation, the_heavy_side_finalizes_and_the_light_side_switches_after_healing) {
  cluster c({2, 2, 2, 1, 1});  // 6 of 8 is more than 2/3; 2 of 8 is not
  c.run(40);
  const auto light_before = c.finalized(3);
  const auto heavy_before = c.finalized(0);
  const std::size_t light_confirmed = c.node(3).confirmed.size();
  c.partition({0, 0, 0, 1, 1});
  c.run(80);
  const auto heavy = c.finalized(0);
  ASSERT_TRUE(heavy.has_value());
  // A root is 32 votes back; the heavy side votes only in its own leaders' 3 slots of 5.
  EXPECT_GE(*heavy, heavy_before.value_or(0) + 16) << "the heavy side keeps finalizing";
  EXPECT_EQ(c.finalized(3), light_before) << "the light side stalls";
  EXPECT_EQ(c.node(3).confirmed.size(), light_confirmed) << "the light side confirms nothing";
  c.heal();
  const std::uint64_t healed_at = c.slot();
  c.run(80);
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_TRUE(c.descends(c.node(i).best(), *heavy)) << "validator " << i << " on the heavy fork";
    const auto f = c.finalized(i);
    ASSERT_TRUE(f.has_value());
    EXPECT_GE(*f, healed_at) << i;
  }
  expect_no_confirmed_slot_rolled_back(c);
}
