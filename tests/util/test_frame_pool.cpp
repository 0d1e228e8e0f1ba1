#include <riptide/util/frame_pool.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

using riptide::util::frame_pool;
using riptide::util::frame_stack;

TEST(frame_pool, rejects_bad_sizes) {
  EXPECT_THROW(frame_pool(0), std::invalid_argument);
  EXPECT_THROW(frame_pool(4, 1000), std::invalid_argument);
}

TEST(frame_pool, frames_are_disjoint_aligned_and_writable) {
  frame_pool pool(64, 1300);
  EXPECT_EQ(pool.frame_bytes() % 64, 0u);
  EXPECT_GE(pool.frame_bytes(), 1300u);
  for (std::uint32_t i = 0; i < pool.count(); ++i) {
    auto f = pool.frame(i);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.data()) % 64, 0u);
    std::fill(f.begin(), f.end(), static_cast<std::uint8_t>(i));
  }
  for (std::uint32_t i = 0; i < pool.count(); ++i) {
    auto f = pool.frame(i);
    EXPECT_EQ(f.front(), static_cast<std::uint8_t>(i));
    EXPECT_EQ(f.back(), static_cast<std::uint8_t>(i));
  }
  EXPECT_TRUE(pool.contains(63));
  EXPECT_FALSE(pool.contains(64));
}

TEST(frame_stack, hands_out_each_index_once_and_detects_double_release) {
  frame_stack s(100, 8);
  std::set<std::uint32_t> got;
  std::uint32_t idx;
  while (s.try_acquire(idx)) got.insert(idx);
  EXPECT_EQ(got.size(), 8u);
  EXPECT_EQ(*got.begin(), 100u);
  EXPECT_EQ(*got.rbegin(), 107u);
  EXPECT_FALSE(s.try_acquire(idx));
  for (auto i : got) EXPECT_TRUE(s.release(i));
  EXPECT_FALSE(s.release(100));  // a ninth release means someone released twice
  EXPECT_EQ(s.available(), 8u);
}

TEST(frame_stack, first_acquire_is_first_index_then_lifo) {
  frame_stack s(0, 4);
  std::uint32_t a, b;
  ASSERT_TRUE(s.try_acquire(a));
  EXPECT_EQ(a, 0u);
  ASSERT_TRUE(s.release(a));
  ASSERT_TRUE(s.try_acquire(b));
  EXPECT_EQ(b, a);  // LIFO: the warm frame comes back first
}
