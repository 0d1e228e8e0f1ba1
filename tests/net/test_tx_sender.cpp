// tx_sender alone: the test plays the net tile (pops `tx`, reads the frame, pushes the
// descriptor back on `tx_release`), in one thread and then on a thread of its own.

#include <riptide/net/tx_sender.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

using namespace riptide;
using desc_ring = util::spsc_ring<util::frag_desc>;
using bytes = std::vector<std::uint8_t>;

namespace {

const net::endpoint peer{0x0a000002, 8001};

bytes pattern(std::size_t n, std::uint8_t seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return b;
}

bytes frame_bytes(const net::tx_sender& s, const util::frag_desc& d) {
  const auto f = s.frames().frame(d.frame);
  return {f.begin(), f.begin() + d.len};
}

}  // namespace

TEST(tx_sender, send_copies_the_datagram_into_a_frame_and_reclaim_takes_it_back) {
  desc_ring tx(8), release(8);
  net::tx_sender s(4, tx, release);
  EXPECT_EQ(s.free_frames(), 4u);
  const bytes datagram = pattern(300, 1);
  ASSERT_EQ(s.send(datagram, net::port_kind::repair, peer), net::send_result::sent);
  EXPECT_EQ(s.free_frames(), 3u);

  util::frag_desc d{};
  ASSERT_TRUE(tx.try_pop(d));
  EXPECT_TRUE(s.frames().contains(d.frame));
  EXPECT_EQ(d.len, datagram.size());
  EXPECT_EQ(d.kind, static_cast<std::uint16_t>(net::port_kind::repair));
  EXPECT_EQ(net::endpoint::unpack(d.meta), peer);
  EXPECT_EQ(frame_bytes(s, d), datagram);
  EXPECT_TRUE(tx.empty_approx());

  EXPECT_EQ(s.reclaim(), 0);  // nothing released yet
  ASSERT_TRUE(release.try_push(d));
  EXPECT_EQ(s.reclaim(), 1);
  EXPECT_EQ(s.free_frames(), 4u);
  EXPECT_EQ(s.bad_releases(), 0u);
}

TEST(tx_sender, a_datagram_larger_than_a_frame_is_refused_untouched) {
  desc_ring tx(8), release(8);
  net::tx_sender s(2, tx, release);
  const std::size_t max = s.frames().frame_bytes();
  EXPECT_EQ(s.send(pattern(max + 1, 2), net::port_kind::tvu, peer), net::send_result::too_large);
  EXPECT_EQ(s.free_frames(), 2u);
  EXPECT_TRUE(tx.empty_approx());
  // Exactly a frame fits.
  const bytes full = pattern(max, 3);
  ASSERT_EQ(s.send(full, net::port_kind::tvu, peer), net::send_result::sent);
  util::frag_desc d{};
  ASSERT_TRUE(tx.try_pop(d));
  EXPECT_EQ(frame_bytes(s, d), full);
}

TEST(tx_sender, every_frame_in_flight_means_no_frame) {
  desc_ring tx(8), release(8);
  net::tx_sender s(2, tx, release);
  EXPECT_EQ(s.send(pattern(10, 1), net::port_kind::tvu, peer), net::send_result::sent);
  EXPECT_EQ(s.send(pattern(10, 2), net::port_kind::tvu, peer), net::send_result::sent);
  EXPECT_EQ(s.send(pattern(10, 3), net::port_kind::tvu, peer), net::send_result::no_frame);
  EXPECT_EQ(tx.size_approx(), 2u);
  // One comes back: sending works again, from that frame.
  util::frag_desc d{};
  ASSERT_TRUE(tx.try_pop(d));
  ASSERT_TRUE(release.try_push(d));
  EXPECT_EQ(s.reclaim(), 1);
  EXPECT_EQ(s.send(pattern(10, 4), net::port_kind::tvu, peer), net::send_result::sent);
  util::frag_desc second{}, third{};
  ASSERT_TRUE(tx.try_pop(second));
  ASSERT_TRUE(tx.try_pop(third));
  EXPECT_EQ(third.frame, d.frame);
  EXPECT_EQ(frame_bytes(s, third), pattern(10, 4));
}

TEST(tx_sender, a_full_ring_keeps_the_frame_home) {
  desc_ring tx(2), release(8);
  net::tx_sender s(8, tx, release);
  EXPECT_EQ(s.send(pattern(10, 1), net::port_kind::tvu, peer), net::send_result::sent);
  EXPECT_EQ(s.send(pattern(10, 2), net::port_kind::tvu, peer), net::send_result::sent);
  EXPECT_EQ(s.send(pattern(10, 3), net::port_kind::tvu, peer), net::send_result::ring_full);
  EXPECT_EQ(s.free_frames(), 6u);  // the third frame went straight back
  util::frag_desc d{};
  ASSERT_TRUE(tx.try_pop(d));
  EXPECT_EQ(s.send(pattern(10, 4), net::port_kind::tvu, peer), net::send_result::sent);
  EXPECT_EQ(s.free_frames(), 5u);
  ASSERT_TRUE(tx.try_pop(d));
  EXPECT_EQ(frame_bytes(s, d), pattern(10, 2));
  ASSERT_TRUE(tx.try_pop(d));
  EXPECT_EQ(frame_bytes(s, d), pattern(10, 4));
}

TEST(tx_sender, reclaim_takes_back_more_than_one_batch) {
  constexpr std::uint32_t frames = 200;
  desc_ring tx(256), release(256);
  net::tx_sender s(frames, tx, release);
  for (std::uint32_t i = 0; i < frames; ++i)
    ASSERT_EQ(s.send(pattern(20, static_cast<std::uint8_t>(i)), net::port_kind::gossip, peer),
              net::send_result::sent);
  EXPECT_EQ(s.free_frames(), 0u);
  util::frag_desc d{};
  while (tx.try_pop(d)) ASSERT_TRUE(release.try_push(d));
  EXPECT_EQ(s.reclaim(), static_cast<int>(frames));
  EXPECT_EQ(s.free_frames(), frames);
  EXPECT_EQ(s.bad_releases(), 0u);
}

// A descriptor naming no frame of the pool, or a frame that is already free, is counted and
// changes nothing: the free list never holds a frame twice, so two sends never share one.
TEST(tx_sender, bad_releases_are_counted_and_never_free_a_frame_twice) {
  constexpr std::uint32_t frames = 4;
  desc_ring tx(8), release(8);
  net::tx_sender s(frames, tx, release);
  ASSERT_EQ(s.send(pattern(10, 1), net::port_kind::tvu, peer), net::send_result::sent);
  ASSERT_EQ(s.send(pattern(10, 2), net::port_kind::tvu, peer), net::send_result::sent);
  util::frag_desc a{}, b{};
  ASSERT_TRUE(tx.try_pop(a));
  ASSERT_TRUE(tx.try_pop(b));

  ASSERT_TRUE(release.try_push(util::frag_desc{frames + 3, 10, 0, 0}));  // no such frame
  EXPECT_EQ(s.reclaim(), 1);
  EXPECT_EQ(s.bad_releases(), 1u);
  EXPECT_EQ(s.free_frames(), frames - 2);

  // `a` comes back twice while `b` is still out.
  ASSERT_TRUE(release.try_push(a));
  ASSERT_TRUE(release.try_push(a));
  EXPECT_EQ(s.reclaim(), 2);
  EXPECT_EQ(s.bad_releases(), 2u);
  EXPECT_EQ(s.free_frames(), frames - 1);

  // What is free now goes out on distinct frames, none of them `b`'s.
  std::set<std::uint32_t> out{b.frame};
  for (std::uint8_t i = 0; s.send(pattern(10, i), net::port_kind::tvu, peer) == net::send_result::sent; ++i) {
    util::frag_desc d{};
    ASSERT_TRUE(tx.try_pop(d));
    EXPECT_TRUE(out.insert(d.frame).second) << "frame " << d.frame << " handed out twice";
  }
  EXPECT_EQ(out.size(), frames);

  // A frame that was never sent is free already: its release is counted too.
  desc_ring tx2(8), release2(8);
  net::tx_sender fresh(frames, tx2, release2);
  ASSERT_TRUE(release2.try_push(util::frag_desc{0, 10, 0, 0}));
  EXPECT_EQ(fresh.reclaim(), 1);
  EXPECT_EQ(fresh.bad_releases(), 1u);
  EXPECT_EQ(fresh.free_frames(), frames);
}

// Contention: the owner sends on one thread, reclaiming when it runs out of frames; a net
// thread pops, checks and releases. Every datagram arrives once, in order, intact, from a
// frame nobody else holds, and every frame comes home. Run under ThreadSanitizer too.
TEST(tx_sender, owner_and_net_threads_every_datagram_once_and_every_frame_home) {
  constexpr std::uint64_t datagrams = 100'000;
  constexpr std::uint32_t frames = 32;
  desc_ring tx(16), release(64);
  net::tx_sender s(frames, tx, release);
  std::atomic<bool> net_done{false};
  std::uint64_t received = 0, corrupt = 0, reused = 0, out_of_order = 0;

  std::thread net_thread([&] {
    std::vector<bool> held(frames, false);
    std::vector<util::frag_desc> holding;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received < datagrams && std::chrono::steady_clock::now() < deadline) {
      util::frag_desc d{};
      if (!tx.try_pop(d)) {
        std::this_thread::yield();
        continue;
      }
      if (d.frame >= frames || held[d.frame]) {
        ++reused;
        continue;
      }
      const auto b = frame_bytes(s, d);
      if (b.size() < 8 || b.data() == nullptr) {
        ++corrupt;
        continue;
      }
      std::uint64_t seq = 0;
      for (std::size_t k = 0; k < 8; ++k) seq |= std::uint64_t{b[k]} << (8 * k);
      if (seq != received) ++out_of_order;
      if (b.size() != 8 + seq % 200 || d.meta != seq) {
        ++corrupt;
      } else {
        for (std::size_t k = 8; k < b.size(); ++k)
          if (b[k] != static_cast<std::uint8_t>(seq + k)) {
            ++corrupt;
            break;
          }
      }
      ++received;
      // Hold a few frames back for a while, as a busy net tile would.
      held[d.frame] = true;
      holding.push_back(d);
      if (holding.size() >= 4 || received == datagrams) {
        for (const auto& h : holding) {
          held[h.frame] = false;
          while (!release.try_push(h)) std::this_thread::yield();
        }
        holding.clear();
      }
    }
    net_done.store(true, std::memory_order_release);
  });

  bytes datagram;
  for (std::uint64_t seq = 0; seq < datagrams && !net_done.load(std::memory_order_acquire);) {
    datagram.resize(8 + seq % 200);
    for (std::size_t k = 0; k < 8; ++k) datagram[k] = static_cast<std::uint8_t>(seq >> (8 * k));
    for (std::size_t k = 8; k < datagram.size(); ++k) datagram[k] = static_cast<std::uint8_t>(seq + k);
    // The destination field carries the sequence number: meta is the packed endpoint.
    const auto r = s.send(datagram, net::port_kind::tvu, net::endpoint::unpack(seq));
    if (r == net::send_result::sent) {
      ++seq;
    } else if (s.reclaim() == 0) {
      std::this_thread::yield();
    }
  }
  net_thread.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.free_frames() < frames && std::chrono::steady_clock::now() < deadline) {
    if (s.reclaim() == 0) std::this_thread::yield();
  }
  EXPECT_EQ(received, datagrams);
  EXPECT_EQ(corrupt, 0u);
  EXPECT_EQ(reused, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(s.free_frames(), frames);
  EXPECT_EQ(s.bad_releases(), 0u);
}
