#include <riptide/tpu/bank_gate.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

using namespace riptide;
using bank::no_bank;
using tpu::bank_gate;

TEST(bank_gate, opens_from_the_slot_before_and_closes_for_a_slot) {
  bank_gate g(2, 10);
  EXPECT_TRUE(g.quiet());
  EXPECT_EQ(g.enter(0), no_bank);              // closed before the first slot
  EXPECT_FALSE(g.open(7, 11));                 // not the slot after the one closed
  EXPECT_TRUE(g.open(7, 10));
  EXPECT_FALSE(g.quiet());                     // open is never quiet
  bank::bank_index b = no_bank;
  std::uint64_t slot = 0;
  ASSERT_TRUE(g.open_bank(b, slot));
  EXPECT_EQ(b, 7u);
  EXPECT_EQ(slot, 10u);
  EXPECT_FALSE(g.open(8, 11));                 // open already
  EXPECT_EQ(g.enter(0), 7u);
  EXPECT_EQ(g.enter(1), 7u);
  g.close(10);
  EXPECT_FALSE(g.quiet());                     // two tiles inside
  EXPECT_EQ(g.enter(1), no_bank);              // closed: no new entry (tile 1 is still inside)
  g.leave(0);
  EXPECT_FALSE(g.quiet());
  g.leave(1);
  EXPECT_TRUE(g.quiet());
  EXPECT_FALSE(g.open_bank(b, slot));
  EXPECT_TRUE(g.open(9, 11));
  EXPECT_EQ(g.enter(1), 9u);
  g.leave(1);
}

TEST(bank_gate, a_late_controller_does_not_open_a_slot_poh_has_passed) {
  bank_gate g(1, 0);
  ASSERT_TRUE(g.open(1, 0));
  g.close(0);
  g.close(1);                                  // PoH ended slot 1 before the controller opened it
  EXPECT_FALSE(g.open(2, 1));
  EXPECT_EQ(g.enter(0), no_bank);
  EXPECT_TRUE(g.open(3, 2));
}

// A rotating validator's blocks skip slots: a block opens from the close of any other slot,
// never from its own slot's close (PoH is past it), never over an open block or a shut gate.
TEST(bank_gate, a_block_opens_after_any_other_slot_closed) {
  bank_gate g(1, 0);                       // closed before slot 0
  EXPECT_TRUE(g.open_block(3, 5));         // the first block, at slot 5
  EXPECT_FALSE(g.open_block(4, 9));        // open already
  g.close(5);
  EXPECT_FALSE(g.open_block(4, 5));        // slot 5 is past
  EXPECT_TRUE(g.open_block(4, 9));         // the next block skips slots 6-8
  bank::bank_index b = no_bank;
  std::uint64_t slot = 0;
  ASSERT_TRUE(g.open_bank(b, slot));
  EXPECT_EQ(b, 4u);
  EXPECT_EQ(slot, 9u);
  g.close(9);
  g.shut();
  EXPECT_FALSE(g.open_block(5, 12));
}

TEST(bank_gate, shut_is_for_good) {
  bank_gate g(1, 5);
  ASSERT_TRUE(g.open(1, 5));
  g.shut();
  EXPECT_TRUE(g.is_shut());
  EXPECT_EQ(g.enter(0), no_bank);
  g.close(5);                                  // a close after shut changes nothing
  EXPECT_TRUE(g.is_shut());
  EXPECT_FALSE(g.open(2, 6));
  EXPECT_TRUE(g.quiet());
}

TEST(bank_gate, zero_tiles_throws) { EXPECT_THROW(bank_gate(0, 0), std::invalid_argument); }

// Contention: tiles write into "the open bank's" cell only while inside; the controller
// reads the cells only after quiet(). ThreadSanitizer flags a race if the handshake fails,
// and the sums must match exactly.
TEST(bank_gate_contention, nobody_writes_a_bank_after_quiet) {
  constexpr std::size_t tiles = 3;
  constexpr std::uint64_t slots = 400;
  bank_gate g(tiles, 0);
  std::vector<std::uint64_t> cells(slots + 1, 0);  // one per bank (= slot here), plain memory
  std::vector<std::vector<std::uint64_t>> per_tile(tiles, std::vector<std::uint64_t>(slots + 1, 0));
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < tiles; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint64_t>& mine = per_tile[t];
      while (!done.load(std::memory_order_acquire)) {
        const bank::bank_index b = g.enter(t);
        if (b == no_bank) {
          std::this_thread::yield();
          continue;
        }
        // Tiles write disjoint words of one cache line region: each tile its own cell copy.
        ++mine[b];
        g.leave(t);
      }
    });
  }
  std::uint64_t total = 0;
  ASSERT_TRUE(g.open(0, 0));
  for (std::uint64_t s = 0; s < slots; ++s) {
    for (int spin = 0; spin < 20; ++spin) std::this_thread::yield();
    g.close(s);
    while (!g.quiet()) std::this_thread::yield();
    // Quiescent: read what every tile wrote into bank s; nobody writes it again.
    for (std::size_t t = 0; t < tiles; ++t) cells[s] += per_tile[t][s];
    total += cells[s];
    ASSERT_TRUE(g.open(static_cast<bank::bank_index>(s + 1), s + 1));
  }
  g.close(slots);
  while (!g.quiet()) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  std::uint64_t after = 0;
  for (std::uint64_t s = 0; s < slots; ++s)
    for (std::size_t t = 0; t < tiles; ++t) after += per_tile[t][s];
  EXPECT_EQ(after, total);  // no write into a bank after the controller read it
  EXPECT_GT(total, 0u);
}
