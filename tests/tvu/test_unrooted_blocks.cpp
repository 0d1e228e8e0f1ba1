#include <riptide/tvu/unrooted_blocks.hpp>

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

using riptide::tvu::unrooted_blocks;

std::vector<std::uint8_t> stream_of(std::uint64_t slot, std::size_t n) {
  return std::vector<std::uint8_t>(n, static_cast<std::uint8_t>(slot));
}

// What root() handed over: (slot, first byte, size) oldest first.
struct flushed {
  std::uint64_t slot;
  std::size_t size;
  bool bytes_ok;
};
std::vector<flushed> root(unrooted_blocks& u, std::uint64_t slot) {
  std::vector<flushed> out;
  (void)u.root(slot, [&](std::uint64_t s, std::span<const std::uint8_t> b) {
    bool ok = true;
    for (const std::uint8_t x : b) ok = ok && x == static_cast<std::uint8_t>(s);
    out.push_back({s, b.size(), ok});
  });
  return out;
}

TEST(unrooted_blocks, a_root_hands_over_its_chain_oldest_first_and_keeps_its_descendants) {
  // 0 ─ 1 ─ 2 ─ 4 ─ 5        root 2: 1, 2 go out (0 was flushed before: not held);
  //          └─ 3            3 (a sibling fork of 4) is dropped, 4 and 5 stay.
  unrooted_blocks u(1 << 16, 16);
  ASSERT_TRUE(u.add(1, 0, stream_of(1, 100)));
  ASSERT_TRUE(u.add(2, 1, stream_of(2, 200)));
  ASSERT_TRUE(u.add(3, 1, stream_of(3, 300)));
  ASSERT_TRUE(u.add(4, 2, stream_of(4, 400)));
  ASSERT_TRUE(u.add(5, 4, stream_of(5, 500)));
  EXPECT_FALSE(u.add(5, 4, stream_of(5, 10))) << "a slot is held once";
  std::vector<std::uint64_t> pruned;
  std::vector<flushed> out;
  (void)u.root(
      2, [&](std::uint64_t s, std::span<const std::uint8_t> b) { out.push_back({s, b.size(), b[0] == static_cast<std::uint8_t>(s)}); },
      [&](std::uint64_t s, std::span<const std::uint8_t>) { pruned.push_back(s); });
  EXPECT_EQ(pruned, (std::vector<std::uint64_t>{3})) << "rooted blocks are not pruned ones";
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].slot, 1u);
  EXPECT_EQ(out[0].size, 100u);
  EXPECT_EQ(out[1].slot, 2u);
  EXPECT_EQ(out[1].size, 200u);
  EXPECT_TRUE(out[0].bytes_ok && out[1].bytes_ok);
  EXPECT_FALSE(u.holds(1));
  EXPECT_FALSE(u.holds(2));
  EXPECT_FALSE(u.holds(3)) << "on another fork than the root: never rooted";
  EXPECT_TRUE(u.holds(4));
  EXPECT_TRUE(u.holds(5));
  EXPECT_EQ(u.blocks(), 2u);
  EXPECT_EQ(u.bytes_held(), 900u);
  const auto next = root(u, 5);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].slot, 4u);
  EXPECT_EQ(next[1].slot, 5u);
  EXPECT_TRUE(next[0].bytes_ok && next[1].bytes_ok);
  EXPECT_EQ(u.blocks(), 0u);
  EXPECT_EQ(u.bytes_held(), 0u);
}

TEST(unrooted_blocks, a_root_not_held_still_prunes_what_does_not_descend_from_it) {
  unrooted_blocks u(1 << 16, 16);
  ASSERT_TRUE(u.add(6, 5, stream_of(6, 10)));   // built on 5 (flushed before)
  ASSERT_TRUE(u.add(7, 4, stream_of(7, 10)));   // another fork, from 4
  ASSERT_TRUE(u.add(8, 7, stream_of(8, 10)));
  ASSERT_TRUE(u.add(9, 5, stream_of(9, 10)));   // a child of the root to come
  std::vector<std::uint64_t> pruned;
  EXPECT_EQ(u.root(5, [](std::uint64_t, std::span<const std::uint8_t>) { ADD_FAILURE() << "nothing to root"; },
                   [&](std::uint64_t s, std::span<const std::uint8_t> b) {
                     EXPECT_EQ(b.size(), 10u);
                     pruned.push_back(s);
                   }),
            0u);
  EXPECT_EQ(pruned, (std::vector<std::uint64_t>{7, 8})) << "the blocks of the fork the root left";
  EXPECT_TRUE(u.holds(6));
  EXPECT_FALSE(u.holds(7));
  EXPECT_FALSE(u.holds(8)) << "its parent was dropped";
  EXPECT_TRUE(u.holds(9));
}

TEST(unrooted_blocks, the_arena_is_a_ring_reclaimed_from_the_oldest_block) {
  unrooted_blocks u(1000, 8);
  ASSERT_TRUE(u.add(1, 0, stream_of(1, 400)));
  ASSERT_TRUE(u.add(2, 1, stream_of(2, 400)));
  EXPECT_FALSE(u.fits(300)) << "200 bytes left at the end, none before the oldest";
  EXPECT_FALSE(u.add(3, 2, stream_of(3, 300)));
  EXPECT_EQ(u.blocks(), 2u) << "a refused add changes nothing";
  EXPECT_EQ(root(u, 1).size(), 1u);  // frees [0, 400)
  EXPECT_TRUE(u.fits(300));
  ASSERT_TRUE(u.add(3, 2, stream_of(3, 300)));  // wraps to offset 0
  EXPECT_FALSE(u.fits(101)) << "100 bytes free before block 2";
  ASSERT_TRUE(u.add(4, 3, stream_of(4, 100)));
  EXPECT_FALSE(u.fits(1));
  const auto out = root(u, 4);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& f : out) EXPECT_TRUE(f.bytes_ok) << f.slot;
  EXPECT_EQ(u.blocks(), 0u);
  EXPECT_TRUE(u.fits(1000)) << "empty: the whole arena";
  EXPECT_FALSE(u.fits(1001));
}

TEST(unrooted_blocks, the_block_table_bounds_how_many_wait) {
  unrooted_blocks u(1 << 16, 2);
  ASSERT_TRUE(u.add(1, 0, stream_of(1, 10)));
  ASSERT_TRUE(u.add(2, 1, stream_of(2, 10)));
  EXPECT_FALSE(u.fits(10));
  EXPECT_FALSE(u.add(3, 2, stream_of(3, 10)));
  EXPECT_FALSE(u.add(4, 2, {})) << "an empty stream is no block";
  EXPECT_THROW(unrooted_blocks(0, 1), std::invalid_argument);
  EXPECT_THROW(unrooted_blocks(1, 0), std::invalid_argument);
}

}  // namespace
