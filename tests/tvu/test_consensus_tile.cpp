// The consensus tile through its rings: block and vote events in, our signed votes out to the
// coming leaders (after the tower is on disk), commitment on the chain board.

#include <riptide/tvu/consensus_tile.hpp>

#include <riptide/consensus/tower_file.hpp>
#include <riptide/consensus/vote_tx.hpp>
#include <riptide/txn/transaction.hpp>

#include "../support/filled_key.hpp"
#include "../support/temp_dir.hpp"
#include "../support/towers.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using namespace riptide;
using riptide::testing::filled_key;
using t = tvu::consensus_tile;

namespace {

const crypto::keypair& me() {
  static const crypto::keypair k = crypto::keypair::generate();
  return k;
}
const crypto::pubkey A = filled_key(0xa), B = filled_key(0xb), C = filled_key(0xc);

// Slots 0-3 led by A, 4-7 by us, 8-11 by B. A's tpu is 13000, ours 13001; B's is unknown.
const epoch::leader_timeline& timeline() {
  static const std::vector<crypto::pubkey> groups{A, me().public_key(), B};
  static const epoch::leader_timeline tl({0, 12, 4, groups});
  return tl;
}

crypto::hash32 hash_of(std::uint8_t tag, std::uint64_t slot) {
  crypto::hash32 h{};
  h[0] = tag;
  h[1] = static_cast<std::uint8_t>(slot);
  return h;
}

struct harness {
  riptide::testing::temp_dir dir;
  std::filesystem::path tower_path;
  util::spsc_ring<tvu::consensus_event> events{64};
  util::spsc_ring<util::frag_desc> tx{16}, tx_release{16};
  bank::chain_board clock, board;
  net::contact_book book{std::vector<crypto::pubkey>{B, A, me().public_key(), C}};
  // Voters in the bank's order: us, A, B, C, equal stakes.
  consensus::vote_engine engine;
  std::unique_ptr<t> tile;

  explicit harness(const std::filesystem::path& tower = {}, std::uint64_t refresh_after_slots = 8,
                   const consensus::tower& restored = {})
      : engine(consensus::vote_engine_config{{10, 10, 10, 10}, 0}, 0, restored) {
    tower_path = tower.empty() ? dir.path() / "tower.bin" : tower;
    book.set(1, net::port_kind::tpu, {0x7f000001, 13000});
    book.set(2, net::port_kind::tpu, {0x7f000001, 13001});
    tvu::consensus_tile_config c;
    c.tower_path = tower_path;
    c.refresh_after_slots = refresh_after_slots;
    tile = std::make_unique<t>("consensus", c, me(), engine, timeline(), book, clock, board, events, tx, tx_release);
  }
  std::uint64_t counter(std::size_t c) const { return tile->own_counter(c); }
  // Every vote_lag_* bucket together.
  std::uint64_t vote_lags() const {
    std::uint64_t all = 0;
    for (std::size_t b = 0; b < 6; ++b) all += counter(t::c_vote_lag_first + b);
    return all;
  }
  void at(std::uint64_t slot) { clock.publish(slot, slot * 64, bank::slot_hash{}); }
  void bank(std::uint64_t slot, std::uint64_t parent) {
    tvu::consensus_event e;
    e.slot = slot;
    e.parent = parent;
    e.bank_hash = hash_of(0xB0, slot);
    e.blockhash = hash_of(0xC0, slot);
    ASSERT_TRUE(events.try_push(e));
  }
  // `tw` as read from block `in_slot`.
  void vote(std::uint32_t voter, const consensus::tower& tw, std::uint64_t in_slot = 0) {
    tvu::consensus_event e;
    e.what = tvu::consensus_event::kind::vote;
    e.voter = voter;
    e.slot = in_slot;
    e.votes = tw;
    ASSERT_TRUE(events.try_push(e));
  }
  std::vector<util::frag_desc> sent() {
    std::vector<util::frag_desc> v;
    util::frag_desc d;
    while (tx.try_pop(d)) {
      v.push_back(d);
      EXPECT_TRUE(tx_release.try_push(d));
    }
    return v;
  }
  // The vote a sent frame carries (its transaction's blockhash in `blockhash`).
  consensus::decoded_vote decode(const util::frag_desc& d, crypto::hash32& blockhash) const {
    const auto bytes = tile->tx_frames().frame(d.frame).first(d.len);
    txn::transaction_view view;
    EXPECT_EQ(txn::parse_transaction(bytes, view), txn::parse_error::none);
    blockhash = view.recent_blockhash();
    consensus::decoded_vote out;
    EXPECT_EQ(consensus::decode_vote(view, out), consensus::vote_tx_error::none);
    return out;
  }
};

}  // namespace

TEST(consensus_tile, counter_names_match_the_enum) {
  harness h;
  EXPECT_EQ(h.tile->own_counter_names().size(), std::size_t{t::c_own_count});
}

TEST(consensus_tile, votes_each_block_once_to_the_next_two_leaders_after_saving_the_tower) {
  harness h;
  h.at(2);
  h.bank(1, 0);
  EXPECT_GT(h.tile->poll(), 0);
  // From slot 2 the next leaders are A (2, 3) and us (4..7): one copy each, from the tpu port.
  const auto copies = h.sent();
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0].meta, (net::endpoint{0x7f000001, 13000}.pack()));
  EXPECT_EQ(copies[1].meta, (net::endpoint{0x7f000001, 13001}.pack()));
  crypto::hash32 blockhash{};
  const auto v = h.decode(copies[0], blockhash);
  EXPECT_EQ(copies[0].kind, static_cast<std::uint16_t>(net::port_kind::tpu));
  EXPECT_EQ(v.voter, me().public_key());
  EXPECT_EQ(v.vote.votes.last_voted_slot(), 1u);
  EXPECT_EQ(v.vote.bank_hash, hash_of(0xB0, 1));
  EXPECT_EQ(blockhash, hash_of(0xC0, 1));  // the newest stored block's last PoH hash
  // The tower on disk is the one sent.
  const auto saved = consensus::load_tower(h.tower_path, me().public_key());
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->votes.last_voted_slot(), 1u);
  EXPECT_EQ(h.counter(t::c_votes), 1u);
  EXPECT_EQ(h.counter(t::c_vote_copies), 2u);
  EXPECT_EQ(h.counter(t::c_last_vote_slot), 1u);
  // Two others' votes for 1 landed in block 2: 30 of 40 voted 1, confirmed 1 slot behind the clock.
  h.vote(1, riptide::testing::voted({1}));
  h.vote(2, riptide::testing::voted({1}));
  h.bank(2, 1);
  (void)h.tile->poll();
  EXPECT_EQ(h.counter(t::c_votes_seen), 2u);
  EXPECT_EQ(h.counter(t::c_votes), 2u);
  const auto st = h.board.read();
  EXPECT_TRUE(st.has_confirmed_slot);
  EXPECT_EQ(st.confirmed_slot, 1u);
  EXPECT_FALSE(st.has_finalized_slot);
  EXPECT_EQ(h.counter(t::c_confirmed_slot), 1u);
  EXPECT_EQ(h.counter(t::c_confirm_lag_first), 1u);  // le1
  // With it, the confirmed slot's fork above the root (0): 1, and not its child 2.
  EXPECT_TRUE(st.has_confirmed_fork);
  EXPECT_EQ(st.fork.first, 1u);
  EXPECT_TRUE(st.fork.has(1));
  EXPECT_FALSE(st.fork.has(2));
  (void)h.sent();
  // No event: no vote. In slot 9 the only leader ahead in the timeline is B, whose address is
  // unknown: counted, nothing sent.
  (void)h.tile->poll();  // takes back the frames the net tile released
  EXPECT_EQ(h.counter(t::c_votes), 2u);
  EXPECT_EQ(h.counter(t::c_tx_release_bad), 0u);
  h.at(9);
  h.bank(3, 2);
  (void)h.tile->poll();
  EXPECT_TRUE(h.sent().empty());
  EXPECT_EQ(h.counter(t::c_no_contact), 1u);
  EXPECT_EQ(h.counter(t::c_votes), 2u);
  EXPECT_EQ(h.counter(t::c_last_vote_slot), 3u);  // voted (the tower says so), not delivered
}

TEST(consensus_tile, a_vote_that_did_not_land_is_sent_again_signed_anew) {
  harness h({}, 4);
  h.at(1);
  h.bank(1, 0);
  (void)h.tile->poll();
  ASSERT_EQ(h.sent().size(), 2u);
  h.at(4);  // 3 slots later: not yet
  (void)h.tile->poll();
  EXPECT_TRUE(h.sent().empty());
  h.at(5);
  (void)h.tile->poll();
  const auto again = h.sent();
  ASSERT_EQ(again.size(), 1u);  // from slot 5 the leaders are us and B (no address)
  EXPECT_EQ(again[0].meta, (net::endpoint{0x7f000001, 13001}.pack()));
  crypto::hash32 blockhash{};
  const auto v = h.decode(again[0], blockhash);
  EXPECT_EQ(v.vote.votes.last_voted_slot(), 1u);
  EXPECT_EQ(h.counter(t::c_vote_refreshes), 1u);
  EXPECT_EQ(h.counter(t::c_votes), 1u);  // one vote, sent twice
  // Once a stored block holds it, it is not sent again.
  h.vote(0, riptide::testing::voted({1}));
  (void)h.tile->poll();
  const std::uint64_t no_contact = h.counter(t::c_no_contact);
  h.at(10);  // (a send now would go to B, whose address is unknown: no_contact)
  (void)h.tile->poll();
  EXPECT_TRUE(h.sent().empty());
  EXPECT_EQ(h.counter(t::c_no_contact), no_contact) << "no send was tried";
  EXPECT_EQ(h.counter(t::c_vote_refreshes), 1u);
  EXPECT_EQ(h.counter(t::c_votes_seen), 0u);  // our own vote is not another voter's
}

TEST(consensus_tile, counts_vote_latency_root_lag_and_delinquent_voters) {
  harness h;
  h.at(1);
  h.bank(1, 0);
  (void)h.tile->poll();
  ASSERT_EQ(h.counter(t::c_votes), 1u);
  h.bank(2, 1);
  h.bank(3, 2);
  (void)h.tile->poll();
  // Our vote for 1 first seen in block 4: 3 slots; the same vote again in block 5 is not
  // counted again, nor an older one.
  h.vote(0, riptide::testing::voted({1}), 4);
  h.vote(0, riptide::testing::voted({1}), 5);
  (void)h.tile->poll();
  h.vote(0, riptide::testing::voted({1, 2}), 3);  // read from block 3 (not the clock's slot)
  h.vote(0, riptide::testing::voted({1, 2, 3}), 14);
  (void)h.tile->poll();
  EXPECT_EQ(h.counter(t::c_vote_lag_first + 2), 1u);  // le3: 1 in 4
  EXPECT_EQ(h.counter(t::c_vote_lag_first + 0), 1u);  // le1: 2 in 3
  EXPECT_EQ(h.counter(t::c_vote_lag_first + 5), 1u);  // gt8: 3 in 14
  EXPECT_EQ(h.vote_lags(), 3u);
  // Gauges of the clock, set at housekeeping: the root is 0; we voted 3, the others never.
  h.at(100);
  h.tile->housekeep(0);
  EXPECT_EQ(h.counter(t::c_root_lag), 100u);
  EXPECT_EQ(h.counter(t::c_delinquent), 0u);
  h.at(129);
  h.tile->housekeep(0);
  EXPECT_EQ(h.counter(t::c_delinquent), 3u);  // A, B, C: nothing in 128 slots
  h.at(132);
  h.tile->housekeep(0);
  EXPECT_EQ(h.counter(t::c_root_lag), 132u);
  EXPECT_EQ(h.counter(t::c_delinquent), 4u);  // and our own last vote, 3, is 129 slots old
}

TEST(consensus_tile, votes_sent_before_a_restart_are_not_counted_as_latency) {
  harness h({}, 8, riptide::testing::voted({1, 2}));  // the tower restored from disk
  h.at(12);
  h.bank(1, 0);
  h.bank(2, 1);
  h.bank(3, 2);
  (void)h.tile->poll();
  h.vote(0, riptide::testing::voted({1, 2}), 3);  // the old vote, seen in a replayed block
  (void)h.tile->poll();
  EXPECT_EQ(h.vote_lags(), 0u);
  h.vote(0, riptide::testing::voted({1, 2, 3}), 4);  // this run's vote for 3
  (void)h.tile->poll();
  EXPECT_EQ(h.counter(t::c_vote_lag_first + 0), 1u);
}

TEST(consensus_tile, a_vote_whose_tower_cannot_be_saved_is_not_sent) {
  riptide::testing::temp_dir dir;
  harness h(dir.path() / "no-such-dir" / "tower.bin");
  h.at(2);
  h.bank(1, 0);
  (void)h.tile->poll();
  EXPECT_TRUE(h.sent().empty());
  EXPECT_EQ(h.counter(t::c_tower_save_failures), 1u);
  EXPECT_EQ(h.counter(t::c_votes), 0u);
}

TEST(consensus_tile, a_block_whose_parent_never_came_is_refused) {
  harness h;
  h.at(9);
  h.bank(8, 7);
  (void)h.tile->poll();
  EXPECT_EQ(h.counter(t::c_banks), 1u);
  EXPECT_EQ(h.counter(t::c_banks_refused), 1u);
  EXPECT_TRUE(h.sent().empty());
}

// Replay follows the verdicts: after each decision the engine's root and reset, once per
// change; a full ring keeps the newest for the next poll; a vote that could not be saved
// moves nothing.
TEST(consensus_tile, each_decision_tells_replay_the_root_and_the_reset) {
  harness h;
  h.board.set_root_slot(0);  // replay's root, which follows the verdicts only when told below
  util::spsc_ring<tvu::consensus_verdict> verdicts(2);
  h.tile->connect_verdicts(&verdicts);
  h.at(2);
  h.bank(1, 0);
  (void)h.tile->poll();
  tvu::consensus_verdict v;
  ASSERT_TRUE(verdicts.try_pop(v));
  EXPECT_EQ(v.root, 0u);
  EXPECT_EQ(v.reset, 1u);
  (void)h.tile->poll();
  EXPECT_FALSE(verdicts.try_pop(v)) << "nothing changed: nothing sent";
  // Blocks 2..40 on one chain, one poll each, the other three voting each too (the 8-deep
  // threshold wants > 2/3 of the stake): our tower roots its oldest votes.
  std::array<consensus::tower, 3> others;
  for (std::uint64_t s = 2; s <= 40; ++s) {
    h.at(s + 1);
    for (std::uint32_t voter = 0; voter < 3; ++voter) {
      (void)others[voter].record_vote(s - 1);
      h.vote(voter + 1, others[voter]);
    }
    h.bank(s, s - 1);
    (void)h.tile->poll();
    (void)h.sent();
    if (s == 2) {
      // The ring (two verdicts) is full from here on until popped: the newest waits.
      h.bank(3, 2);
      h.at(4);
      (void)h.tile->poll();
      ++s;
    }
  }
  std::optional<tvu::consensus_verdict> last;
  for (int i = 0; i < 4; ++i) {
    while (verdicts.try_pop(v)) last = v;
    (void)h.tile->poll();  // a verdict that found the ring full goes now
  }
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->reset, 40u);
  EXPECT_GT(last->root, 0u);
  EXPECT_EQ(last->root, h.engine.root());
  EXPECT_EQ(last->root, h.counter(t::c_tower_root));
  EXPECT_TRUE(h.tile->drained());
  // The confirmed slot's fork is published from replay's root up, which is still 0: the slots
  // below the engine's root keep the bits they had before fork choice forgot them.
  auto st = h.board.read();
  ASSERT_TRUE(st.has_confirmed_slot);
  ASSERT_TRUE(st.has_confirmed_fork);
  EXPECT_GT(st.confirmed_slot, last->root);
  EXPECT_EQ(st.fork.first, 1u);
  for (std::uint64_t s = 1; s <= st.confirmed_slot; ++s) EXPECT_TRUE(st.fork.has(s)) << s;
  EXPECT_FALSE(st.fork.has(st.confirmed_slot + 1));
  // Once replay has rooted there too, the window starts above the root.
  h.board.set_root_slot(last->root);
  h.at(42);
  h.bank(41, 40);
  (void)h.tile->poll();
  st = h.board.read();
  EXPECT_EQ(st.fork.first, last->root + 1);  // (this block moved the engine's root on again)
  EXPECT_TRUE(st.fork.has(st.confirmed_slot));
  EXPECT_TRUE(st.fork.has(last->root + 1));
}

TEST(consensus_tile, publishes_the_confirmed_slots_fork_not_a_sibling_below_it) {
  harness h;
  h.at(4);
  h.bank(1, 0);
  h.bank(2, 0);
  h.bank(3, 2);
  // A, B and C (30 of 40) voted 2 then 3: 3 is confirmed, and slot 1 is below it on another fork.
  for (std::uint32_t voter = 1; voter <= 3; ++voter) h.vote(voter, riptide::testing::voted({2, 3}));
  (void)h.tile->poll();
  (void)h.tile->poll();
  const auto st = h.board.read();
  ASSERT_TRUE(st.has_confirmed_slot);
  EXPECT_EQ(st.confirmed_slot, 3u);
  ASSERT_TRUE(st.has_confirmed_fork);
  EXPECT_EQ(st.fork.first, 1u);
  EXPECT_TRUE(st.fork.has(3));
  EXPECT_TRUE(st.fork.has(2));
  EXPECT_FALSE(st.fork.has(1));
}

TEST(consensus_tile, a_vote_that_could_not_be_saved_sends_no_verdict) {
  riptide::testing::temp_dir dir;
  harness h(dir.path() / "no-such-dir" / "tower.bin");
  util::spsc_ring<tvu::consensus_verdict> verdicts(4);
  h.tile->connect_verdicts(&verdicts);
  h.at(2);
  h.bank(1, 0);
  (void)h.tile->poll();
  tvu::consensus_verdict v;
  EXPECT_FALSE(verdicts.try_pop(v));
}

TEST(consensus_tile, bad_configs_are_refused) {
  tvu::consensus_tile_config c;
  EXPECT_THROW(c.validate(), std::invalid_argument);  // no tower path
  c.tower_path = "/tmp/x";
  c.validate();
  c.leaders = 0;
  EXPECT_THROW(c.validate(), std::invalid_argument);
  c.leaders = 5;
  EXPECT_THROW(c.validate(), std::invalid_argument);
  c.leaders = 2;
  c.tx_frames = 1;
  EXPECT_THROW(c.validate(), std::invalid_argument);
  c.tx_frames = 16;
  c.refresh_after_slots = 0;
  EXPECT_THROW(c.validate(), std::invalid_argument);
}
