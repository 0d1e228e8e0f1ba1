#include <riptide/tpu/forward_tile.hpp>

#include "../support/filled_key.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

using namespace riptide;
using riptide::testing::filled_key;
using t = tpu::forward_tile;

namespace {

const crypto::pubkey A = filled_key(0xa), B = filled_key(0xb), C = filled_key(0xc), D = filled_key(0xd);

// Slots 0-3 led by A, 4-7 by B, 8-11 by C. A and B take forwards on 16000 and 16001; C's
// address is unknown (a row of the contact book with no endpoint).
const std::vector<crypto::pubkey> groups{A, B, C};
std::unique_ptr<net::contact_book> contacts() {
  auto book = std::make_unique<net::contact_book>(std::vector<crypto::pubkey>{C, A, B});
  book->set(1, net::port_kind::tpu_forwards, {0x7f000001, 16000});
  book->set(2, net::port_kind::tpu_forwards, {0x7f000001, 16001});
  book->set(0, net::port_kind::tpu, {0x7f000001, 13002});  // another port of C: not a forward address
  return book;
}
const epoch::leader_timeline& timeline() {
  static const epoch::leader_timeline tl({0, 12, 4, groups});
  return tl;
}

using desc_ring = util::spsc_ring<util::frag_desc>;

struct harness {
  util::frame_pool frames{8};
  desc_ring in{8}, keep{8}, release{8}, tx{16}, tx_release{16};
  bank::chain_board board;
  std::unique_ptr<net::contact_book> book = contacts();
  std::unique_ptr<t> tile;

  explicit harness(const crypto::pubkey& me, bool with_keep = true, std::size_t keep_cap = 8)
      : keep(keep_cap) {
    tpu::forward_tile_config c;
    c.identity = me;
    c.rules.hold_forwarded_slots = 6;
    tile = std::make_unique<t>("forward", c, timeline(), *book, board, frames, in, with_keep ? &keep : nullptr,
                               &release, tx, tx_release);
  }
  std::uint64_t counter(std::size_t c) const { return tile->own_counter(c); }

  // A transaction in frame `frame`, arrived on `port`, while PoH is in `slot`.
  void send(std::uint64_t slot, std::uint32_t frame, net::port_kind port) {
    board.publish(slot, slot * 64, bank::slot_hash{});
    auto f = frames.frame(frame);
    for (std::size_t i = 0; i < 100; ++i) f[i] = static_cast<std::uint8_t>(frame + i);
    ASSERT_TRUE(in.try_push({frame, 100, static_cast<std::uint16_t>(port), 7}));
    (void)tile->poll();
  }
  std::vector<util::frag_desc> drain(desc_ring& r) {
    std::vector<util::frag_desc> v;
    util::frag_desc d;
    while (r.try_pop(d)) v.push_back(d);
    return v;
  }
};

}  // namespace

TEST(forward_tile, counter_names_match_the_enum) {
  harness h(D);
  EXPECT_EQ(h.tile->own_counter_names().size(), std::size_t{t::c_own_count});
}

// D never leads: in slot 2 the next two slots are A's (3) and B's (4): one copy each, from
// the tpu_forwards port, byte for byte; the frame goes back.
TEST(forward_tile, forwards_a_copy_to_each_of_the_next_leaders) {
  harness h(D);
  h.send(2, 3, net::port_kind::tpu);
  const auto sent = h.drain(h.tx);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].meta, (net::endpoint{0x7f000001, 16000}.pack()));
  EXPECT_EQ(sent[1].meta, (net::endpoint{0x7f000001, 16001}.pack()));
  for (const auto& d : sent) {
    EXPECT_EQ(d.kind, static_cast<std::uint16_t>(net::port_kind::tpu_forwards));
    ASSERT_EQ(d.len, 100u);
    EXPECT_EQ(std::memcmp(h.tile->tx_frames().frame(d.frame).data(), h.frames.frame(3).data(), 100), 0);
  }
  const auto back = h.drain(h.release);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].frame, 3u);
  EXPECT_TRUE(h.drain(h.keep).empty());
  EXPECT_EQ(h.counter(t::c_forwarded_txs), 1u);
  EXPECT_EQ(h.counter(t::c_forwarded), 2u);
  // The net tile gives the frames back.
  for (const auto& d : sent) ASSERT_TRUE(h.tx_release.try_push(d));
  (void)h.tile->poll();
  EXPECT_EQ(h.counter(t::c_tx_release_bad), 0u);
}

// A forwarded transaction is never forwarded again: D drops it, B (leading slot 4, within
// 6 slots of slot 2) keeps it.
TEST(forward_tile, a_forwarded_transaction_is_not_forwarded_again) {
  harness d(D);
  d.send(2, 1, net::port_kind::tpu_forwards);
  EXPECT_TRUE(d.drain(d.tx).empty());
  EXPECT_EQ(d.drain(d.release).size(), 1u);
  EXPECT_EQ(d.counter(t::c_dropped_reforward), 1u);
  EXPECT_EQ(d.counter(t::c_forwarded), 0u);

  harness b(B);
  b.send(2, 1, net::port_kind::tpu_forwards);
  EXPECT_TRUE(b.drain(b.tx).empty());
  EXPECT_EQ(b.drain(b.keep).size(), 1u);
  EXPECT_EQ(b.counter(t::c_kept), 1u);
}

TEST(forward_tile, the_leader_keeps_and_a_leader_within_a_slot_holds) {
  harness a(A);
  a.send(1, 0, net::port_kind::tpu);  // A leads slot 1
  EXPECT_EQ(a.drain(a.keep).size(), 1u);
  EXPECT_TRUE(a.drain(a.tx).empty());
  harness b(B);
  b.send(3, 0, net::port_kind::tpu);  // B leads slot 4
  EXPECT_EQ(b.drain(b.keep).size(), 1u);
  EXPECT_TRUE(b.drain(b.tx).empty());
  // Without banks a kept transaction is released and counted.
  harness bare(A, false);
  bare.send(1, 0, net::port_kind::tpu);
  EXPECT_EQ(bare.drain(bare.release).size(), 1u);
  EXPECT_EQ(bare.counter(t::c_kept_released), 1u);
}

// In slot 6 the next leaders are B (7) and C (8), whose address is unknown: one copy, one
// no_contact. In slot 11 the next slots are past the timeline: no leader is known.
TEST(forward_tile, unknown_addresses_and_leaders_are_counted) {
  harness h(D);
  h.send(6, 2, net::port_kind::tpu);
  EXPECT_EQ(h.drain(h.tx).size(), 1u);
  EXPECT_EQ(h.counter(t::c_no_contact), 1u);
  h.send(11, 4, net::port_kind::tpu);
  EXPECT_TRUE(h.drain(h.tx).empty());
  EXPECT_EQ(h.counter(t::c_dropped_no_leader), 1u);
  EXPECT_EQ(h.drain(h.release).size(), 2u);
  // In slot 9 the next leaders are C's only (10, 11): no address, nothing sent, the
  // transaction is lost and says so.
  h.send(9, 5, net::port_kind::tpu);
  EXPECT_TRUE(h.drain(h.tx).empty());
  EXPECT_EQ(h.counter(t::c_forward_failed), 1u);
  EXPECT_EQ(h.counter(t::c_forwarded_txs), 1u);  // slot 6's, to B
}

// Keep is a reliable link: while it is full nothing is popped.
TEST(forward_tile, a_full_keep_ring_stops_the_input) {
  harness a(A, true, 2);
  a.send(1, 0, net::port_kind::tpu);
  a.send(1, 1, net::port_kind::tpu);
  a.send(1, 2, net::port_kind::tpu);  // keep (capacity 2) is full: waits in `in`
  EXPECT_EQ(a.counter(t::c_received), 2u);
  EXPECT_GT(a.counter(t::c_keep_backpressure), 0u);
  EXPECT_EQ(a.drain(a.keep).size(), 2u);
  (void)a.tile->poll();
  EXPECT_EQ(a.counter(t::c_received), 3u);
  EXPECT_EQ(a.drain(a.keep).size(), 1u);
}

// Gossip moves B to another address while D is in slot 2: the decision of slot 2 stands (its
// targets were looked up once), from slot 3 on B's copies go to the new address.
TEST(forward_tile, a_leader_that_moved_gets_copies_at_its_new_address_from_the_next_slot) {
  harness h(D);
  h.send(2, 1, net::port_kind::tpu);
  ASSERT_EQ(h.drain(h.tx).size(), 2u);
  ASSERT_TRUE(h.book->set(2, net::port_kind::tpu_forwards, {0x0a000002, 26001}));
  h.send(2, 2, net::port_kind::tpu);
  auto sent = h.drain(h.tx);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].meta, (net::endpoint{0x7f000001, 16001}.pack()));
  h.send(3, 3, net::port_kind::tpu);
  sent = h.drain(h.tx);
  ASSERT_EQ(sent.size(), 1u);  // slots 4 and 5: both B's
  EXPECT_EQ(sent[0].meta, (net::endpoint{0x0a000002, 26001}.pack()));
}

// Past the constructor's timeline (12 slots) nobody leads; following a window of epochs of 8
// slots drawn from stakes A and B, D forwards in slot 41 (epoch 5) to the leaders the window
// gives slots 42 and 43, once housekeep has moved the window there.
TEST(forward_tile, following_epochs_it_forwards_past_the_first_schedule) {
  harness h(D);
  const std::vector<epoch::stake_entry> staked{{A, 1}, {B, 1}};
  epoch::schedule_window window(epoch::stakes(staked), 8, 0);
  h.send(41, 1, net::port_kind::tpu);
  EXPECT_EQ(h.counter(t::c_dropped_no_leader), 1u);  // the constructor's timeline ends at 12
  h.tile->follow_epochs(window);
  h.tile->housekeep(0);  // the board says slot 41: the window moves to epochs 4-6
  EXPECT_EQ(window.epoch(), 5u);
  h.send(41, 2, net::port_kind::tpu);
  const auto sent = h.drain(h.tx);
  ASSERT_GE(sent.size(), 1u);
  std::vector<std::uint64_t> want;
  for (std::uint64_t s : {42u, 43u}) {
    const auto l = window.leader(s);
    ASSERT_TRUE(l.has_value());
    const std::uint64_t to = (*l == A ? net::endpoint{0x7f000001, 16000} : net::endpoint{0x7f000001, 16001}).pack();
    if (std::find(want.begin(), want.end(), to) == want.end()) want.push_back(to);
  }
  ASSERT_EQ(sent.size(), want.size());
  for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(sent[i].meta, want[i]);
  EXPECT_EQ(h.counter(t::c_dropped_no_leader), 1u);
}

TEST(forward_tile, bad_config_is_refused) {
  util::frame_pool frames(1);
  desc_ring in(2), tx(2), txr(2);
  bank::chain_board board;
  const auto book = contacts();
  tpu::forward_tile_config c;
  c.tx_frames = 0;
  EXPECT_THROW(t("f", c, timeline(), *book, board, frames, in, nullptr, nullptr, tx, txr), std::invalid_argument);
  c = {};
  c.rules.forward_slots = 9;
  EXPECT_THROW(t("f", c, timeline(), *book, board, frames, in, nullptr, nullptr, tx, txr), std::invalid_argument);
}
