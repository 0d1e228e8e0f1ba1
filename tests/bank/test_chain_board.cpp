// The chain board alone: what one publish and one set_durable_slot leave for readers, and,
// with a writer and readers on other threads, that a read never mixes two publishes.

#include <riptide/bank/chain_board.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

using namespace riptide;

namespace {

// Every field of publish number i derives from i, so a reader can tell a torn copy.
crypto::hash32 hash_of(std::uint64_t i) {
  crypto::hash32 h{};
  for (std::size_t k = 0; k < h.size(); ++k) h[k] = static_cast<std::uint8_t>(i * 31 + k);
  return h;
}

void publish_number(bank::chain_board& board, std::uint64_t i) {
  board.publish(i, 4 * i + 1, bank::slot_hash{i + 7, hash_of(i)});
}

// Commitment number c: confirmed c, finalized c - 1, a fork window from c + 1 whose bits derive
// from c.
void commit_number(bank::chain_board& board, std::uint64_t c) {
  bank::confirmed_fork fork;
  fork.first = c + 1;
  for (std::size_t k = 0; k < fork.bits.size(); ++k) fork.bits[k] = c * 0x9e3779b97f4a7c15ull + k;
  board.set_commitment(c, c - 1, &fork);
}

bool whole_commit(const bank::chain_status& s) {
  const std::uint64_t c = s.confirmed_slot;
  bool whole = s.has_confirmed_slot && s.has_finalized_slot && s.has_confirmed_fork && s.finalized_slot == c - 1 &&
               s.fork.first == c + 1;
  for (std::size_t k = 0; k < s.fork.bits.size(); ++k) whole = whole && s.fork.bits[k] == c * 0x9e3779b97f4a7c15ull + k;
  return whole;
}

// True if s is exactly what publish_number(i) wrote for some i; sets i.
bool whole_publish(const bank::chain_status& s, std::uint64_t& i) {
  i = s.slot;
  return s.tick_height == 4 * i + 1 && s.blockhash_slot == i + 7 && s.blockhash == hash_of(i);
}

}  // namespace

TEST(chain_board, starts_empty) {
  const bank::chain_board board;
  const auto s = board.read();
  EXPECT_EQ(s.slot, 0u);
  EXPECT_EQ(s.tick_height, 0u);
  EXPECT_EQ(s.blockhash_slot, 0u);
  EXPECT_EQ(s.blockhash, crypto::hash32{});
  EXPECT_FALSE(s.has_durable_slot);
  EXPECT_EQ(s.durable_slot, 0u);
}

TEST(chain_board, read_returns_the_last_publish_and_durable_slot) {
  bank::chain_board board;
  publish_number(board, 3);
  publish_number(board, 5);
  auto s = board.read();
  std::uint64_t i = 0;
  EXPECT_TRUE(whole_publish(s, i));
  EXPECT_EQ(i, 5u);
  EXPECT_EQ(s.blockhash_slot, 12u);
  EXPECT_FALSE(s.has_durable_slot);  // publishing says nothing about durability

  // Slot 0 durable is a fact of its own, not "none yet".
  board.set_durable_slot(0);
  s = board.read();
  EXPECT_TRUE(s.has_durable_slot);
  EXPECT_EQ(s.durable_slot, 0u);
  board.set_durable_slot(9);
  s = board.read();
  EXPECT_TRUE(s.has_durable_slot);
  EXPECT_EQ(s.durable_slot, 9u);
  // The durable slot does not disturb the PoH facts, nor the other way round.
  EXPECT_TRUE(whole_publish(s, i));
  EXPECT_EQ(i, 5u);
  publish_number(board, 6);
  s = board.read();
  EXPECT_EQ(s.durable_slot, 9u);
  EXPECT_TRUE(whole_publish(s, i));
  EXPECT_EQ(i, 6u);
}

TEST(chain_board, commitment_slots_are_their_own_facts) {
  bank::chain_board board;
  auto s = board.read();
  EXPECT_FALSE(s.has_confirmed_slot);
  EXPECT_FALSE(s.has_finalized_slot);
  board.set_commitment(0, std::nullopt);  // slot 0 confirmed is not "none yet"
  s = board.read();
  EXPECT_TRUE(s.has_confirmed_slot);
  EXPECT_EQ(s.confirmed_slot, 0u);
  EXPECT_FALSE(s.has_finalized_slot);
  board.set_commitment(40, 7);
  publish_number(board, 2);
  s = board.read();
  EXPECT_EQ(s.confirmed_slot, 40u);
  EXPECT_TRUE(s.has_finalized_slot);
  EXPECT_EQ(s.finalized_slot, 7u);
  EXPECT_FALSE(s.has_root_slot);  // nor do they move the bank's root
  EXPECT_FALSE(s.has_confirmed_fork);

  // The confirmed slot's fork comes with them, and goes when a call has none.
  bank::confirmed_fork fork;
  fork.first = 8;
  fork.add(8);
  fork.add(40);
  fork.add(8 + bank::confirmed_fork::window_slots);  // outside the window: not kept
  board.set_commitment(40, 7, &fork);
  s = board.read();
  EXPECT_TRUE(s.has_confirmed_fork);
  EXPECT_EQ(s.fork.first, 8u);
  EXPECT_TRUE(s.fork.has(8));
  EXPECT_TRUE(s.fork.has(40));
  EXPECT_FALSE(s.fork.has(9));
  EXPECT_FALSE(s.fork.has(7));
  EXPECT_FALSE(s.fork.has(8 + bank::confirmed_fork::window_slots));
  board.set_commitment(41, 7);
  s = board.read();
  EXPECT_FALSE(s.has_confirmed_fork);
  EXPECT_FALSE(s.fork.has(40));
}

TEST(chain_board, a_rebased_fork_window_keeps_the_bits_both_windows_cover) {
  bank::confirmed_fork f;
  f.first = 10;
  for (const std::uint64_t s : {10, 12, 70, 200, 265}) f.add(s);
  EXPECT_TRUE(f.has(265));
  EXPECT_FALSE(f.has(266));  // 10 + 256: outside
  f.rebase(8);               // lower: ignored
  EXPECT_EQ(f.first, 10u);
  f.rebase(12);
  EXPECT_EQ(f.first, 12u);
  EXPECT_FALSE(f.has(10));
  EXPECT_TRUE(f.has(12));
  EXPECT_FALSE(f.has(13));
  EXPECT_TRUE(f.has(70));
  EXPECT_TRUE(f.has(200));
  EXPECT_TRUE(f.has(265));
  EXPECT_FALSE(f.has(267));  // newly covered, not set
  f.add(267);
  EXPECT_TRUE(f.has(267));
  f.rebase(1000);  // past the whole window: empty
  EXPECT_EQ(f.first, 1000u);
  for (std::size_t k = 0; k < f.bits.size(); ++k) EXPECT_EQ(f.bits[k], 0u);
}

// Contention: one PoH-like writer publishes back to back, a ledger-like writer raises the
// durable slot and the commitment (with its fork window) now and then, and two readers read all the while (the writers go on until both
// readers have read often enough, so the copies really overlap publishes). Every read is one whole publish,
// and neither the publish number nor the durable slot ever goes back. Run under
// ThreadSanitizer too.
TEST(chain_board, readers_never_see_a_torn_or_older_state) {
  constexpr std::uint64_t min_publishes = 50'000;
  constexpr std::uint64_t min_reads = 200'000;  // per reader
  bank::chain_board board;
  publish_number(board, 0);
  std::atomic<int> readers_ready{0}, writers_done{0};
  std::atomic<std::uint64_t> torn{0}, went_back{0};

  auto reader = [&] {
    std::uint64_t last_i = 0, last_durable = 0, last_confirmed = 0, n = 0;
    bool saw_durable = false, ready = false;
    for (;;) {
      const bool last_pass = writers_done.load(std::memory_order_acquire) == 2;
      const auto s = board.read();
      std::uint64_t i = 0;
      if (!whole_publish(s, i)) ++torn;
      if (i < last_i) ++went_back;
      last_i = i;
      if (s.has_confirmed_slot) {
        if (!whole_commit(s)) ++torn;
        if (s.confirmed_slot < last_confirmed) ++went_back;
        last_confirmed = s.confirmed_slot;
      }
      if (s.has_durable_slot) {
        if (saw_durable && s.durable_slot < last_durable) ++went_back;
        saw_durable = true;
        last_durable = s.durable_slot;
      } else if (saw_durable) {
        ++went_back;
      }
      if (++n == min_reads && !ready) {
        ready = true;
        readers_ready.fetch_add(1, std::memory_order_release);
      }
      if (last_pass) break;
    }
  };
  auto readers_done = [&] { return readers_ready.load(std::memory_order_acquire) == 2; };
  std::thread r0(reader), r1(reader);
  std::uint64_t published = 0, durable = 0;
  std::atomic<std::uint32_t> spin{0};
  std::thread poh([&] {
    while (published < min_publishes || !readers_done()) {
      publish_number(board, ++published);
      // A breath between publishes: a seqlock reader retries while a publish overlaps its
      // copy, and a writer that never pauses would starve the readers (PoH publishes once
      // per tick, far less often than this).
      for (int k = 0; k < 64; ++k) spin.fetch_add(1, std::memory_order_relaxed);
    }
    writers_done.fetch_add(1, std::memory_order_release);
  });
  std::thread ledger([&] {
    // Far rarer than publishes in a node: leave the cores to PoH and the readers.
    while (durable < 100 || !readers_done()) {
      board.set_durable_slot(durable);
      commit_number(board, ++durable);  // the consensus tile's words, under their own sequence
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    writers_done.fetch_add(1, std::memory_order_release);
  });
  poh.join();
  ledger.join();
  r0.join();
  r1.join();

  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(went_back.load(), 0u);
  const auto s = board.read();
  std::uint64_t i = 0;
  EXPECT_TRUE(whole_publish(s, i));
  EXPECT_EQ(i, published);
  EXPECT_EQ(s.durable_slot, durable - 1);
  EXPECT_TRUE(whole_commit(s));
  EXPECT_EQ(s.confirmed_slot, durable);
}
