#include <riptide/util/spsc_ring.hpp>

#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

using riptide::util::frag_desc;
using riptide::util::spsc_ring;

TEST(spsc_ring, rejects_bad_capacity) {
  EXPECT_THROW(spsc_ring<int>(0), std::invalid_argument);
  EXPECT_THROW(spsc_ring<int>(1), std::invalid_argument);
  EXPECT_THROW(spsc_ring<int>(3), std::invalid_argument);
  EXPECT_THROW(spsc_ring<int>(100), std::invalid_argument);
  EXPECT_NO_THROW(spsc_ring<int>(2));
  EXPECT_NO_THROW(spsc_ring<int>(1024));
}

TEST(spsc_ring, fifo_order_and_full_empty) {
  spsc_ring<int> r(4);
  int out = 0;
  EXPECT_FALSE(r.try_pop(out));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.try_push(i));
  EXPECT_FALSE(r.try_push(99));  // full: never overwrites
  EXPECT_EQ(r.size_approx(), 4u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.try_pop(out));
    EXPECT_EQ(out, i);
  }
  EXPECT_FALSE(r.try_pop(out));
  EXPECT_TRUE(r.empty_approx());
}

TEST(spsc_ring, wraps_around_many_times) {
  spsc_ring<std::uint64_t> r(8);
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 10000; ++round) {
    const int pushes = round % 7 + 1;
    for (int i = 0; i < pushes; ++i)
      if (r.try_push(next_in)) ++next_in;
    std::uint64_t v;
    const int pops = round % 5 + 1;
    for (int i = 0; i < pops && r.try_pop(v); ++i) EXPECT_EQ(v, next_out++);
  }
  std::uint64_t v;
  while (r.try_pop(v)) EXPECT_EQ(v, next_out++);
  EXPECT_EQ(next_in, next_out);
  EXPECT_GT(next_in, 8u * 1000);
}

TEST(spsc_ring, batch_push_pop_partial) {
  spsc_ring<frag_desc> r(8);
  std::array<frag_desc, 12> in{};
  for (std::uint32_t i = 0; i < in.size(); ++i) in[i] = {i, static_cast<std::uint16_t>(i * 10), 1, i};
  EXPECT_EQ(r.try_push_batch(in), 8u);  // only 8 fit
  EXPECT_EQ(r.try_push_batch(std::span(in).subspan(8)), 0u);
  std::array<frag_desc, 5> out{};
  EXPECT_EQ(r.try_pop_batch(out), 5u);
  for (std::uint32_t i = 0; i < 5; ++i) EXPECT_EQ(out[i].frame, i);
  EXPECT_EQ(r.try_push_batch(std::span(in).subspan(8)), 4u);
  EXPECT_EQ(r.try_pop_batch(out), 5u);
  for (std::uint32_t i = 0; i < 5; ++i) EXPECT_EQ(out[i].frame, 5 + i);
  EXPECT_EQ(r.try_pop_batch(out), 2u);
  EXPECT_EQ(out[0].frame, 10u);
  EXPECT_EQ(out[1].meta, 11u);
  EXPECT_EQ(r.try_pop_batch(out), 0u);
}

// Contention: one producer and one consumer thread hammer a small ring with mixed single
// and batch operations. Every value must arrive exactly once, in order. Run under
// ThreadSanitizer (see README) to check the memory ordering.
TEST(spsc_ring, two_threads_every_item_once_in_order) {
  constexpr std::uint64_t total = 2'000'000;
  spsc_ring<frag_desc> r(64);
  std::thread producer([&] {
    std::uint64_t next = 0;
    std::array<frag_desc, 16> batch{};
    while (next < total) {
      if (next % 3 == 0) {
        if (r.try_push(frag_desc{static_cast<std::uint32_t>(next), 1, 0, next})) ++next;
      } else {
        std::size_t n = 0;
        for (; n < batch.size() && next + n < total; ++n)
          batch[n] = frag_desc{static_cast<std::uint32_t>(next + n), 1, 0, next + n};
        next += r.try_push_batch(std::span(batch.data(), n));
      }
    }
  });
  std::uint64_t expected = 0;
  bool ordered = true;
  std::array<frag_desc, 7> out{};
  while (expected < total) {
    const std::size_t n = r.try_pop_batch(out);
    for (std::size_t i = 0; i < n; ++i) {
      ordered &= out[i].meta == expected && out[i].frame == static_cast<std::uint32_t>(expected);
      ++expected;
    }
  }
  producer.join();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(expected, total);
  frag_desc d;
  EXPECT_FALSE(r.try_pop(d));
}
