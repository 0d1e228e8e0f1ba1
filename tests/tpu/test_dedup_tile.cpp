#include <riptide/tpu/dedup_tile.hpp>

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <riptide/util/runtime.hpp>

using namespace riptide;
using ring = util::spsc_ring<util::frag_desc>;

TEST(dedup_tile, forwards_first_sighting_drops_repeats_and_releases_them) {
  ring in0(64), in1(64), out(64), release(64);
  tpu::dedup_tile t("dedup", 1024, {&in0, &in1}, &out, &release);
  ASSERT_TRUE(in0.try_push({1, 10, 0, 111}));
  ASSERT_TRUE(in1.try_push({2, 10, 0, 222}));
  ASSERT_TRUE(in1.try_push({3, 10, 0, 111}));  // same tag from another verify tile
  ASSERT_TRUE(in0.try_push({4, 10, 0, 222}));
  int work = 0;
  while (int w = t.poll()) work += w;
  EXPECT_EQ(work, 4);
  EXPECT_EQ(t.unique(), 2u);
  EXPECT_EQ(t.duplicates(), 2u);
  std::set<std::uint32_t> forwarded, released;
  util::frag_desc d;
  while (out.try_pop(d)) forwarded.insert(d.frame);
  while (release.try_pop(d)) released.insert(d.frame);
  EXPECT_EQ(forwarded.size(), 2u);
  EXPECT_EQ(released.size(), 2u);
  EXPECT_EQ(forwarded.count(1) + released.count(1), 1u);
  EXPECT_TRUE(t.drained());
}

TEST(dedup_tile, full_output_applies_backpressure_without_loss) {
  ring in(64), out(2);
  tpu::dedup_tile t("dedup", 1024, {&in}, &out, nullptr);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(in.try_push({static_cast<std::uint32_t>(i), 1, 0, i}));
  EXPECT_EQ(t.poll(), 2);
  EXPECT_EQ(t.poll(), 0);  // out full: nothing taken
  EXPECT_EQ(in.size_approx(), 3u);
  util::frag_desc d;
  std::uint64_t seen = 0;
  while (seen < 5) {
    while (out.try_pop(d)) EXPECT_EQ(d.meta, seen++);
    t.poll();
  }
  EXPECT_EQ(t.unique(), 5u);
}

// Contention: two producer threads (standing in for verify tiles) feed overlapping tag
// streams into a dedup tile running on a runtime core thread; a consumer thread drains its
// output. Every distinct tag must come out exactly once. Run under ThreadSanitizer too.
TEST(dedup_tile, two_producers_one_consumer_every_tag_exactly_once) {
  constexpr std::uint64_t tags = 200'000;
  ring in0(256), in1(256), out(256);
  tpu::dedup_tile t("dedup", 1 << 19, {&in0, &in1}, &out, nullptr);
  util::runtime_options opt;
  opt.pin = false;
  util::runtime rt({util::core_plan{-1, {&t}}}, opt);
  rt.start();
  auto produce = [](ring& r, std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t tag = first; tag < last; ++tag)
      while (!r.try_push({static_cast<std::uint32_t>(tag), 1, 0, tag})) std::this_thread::yield();
  };
  // Producer 0 sends [0, 2/3 tags), producer 1 sends [1/3 tags, tags): the middle third twice.
  std::thread p0(produce, std::ref(in0), 0, tags * 2 / 3);
  std::thread p1(produce, std::ref(in1), tags / 3, tags);
  std::vector<std::uint8_t> seen(tags, 0);
  std::uint64_t received = 0, repeats = 0;
  std::thread consumer([&] {
    util::frag_desc d;
    while (received < tags) {
      if (out.try_pop(d)) {
        repeats += seen[d.meta]++ != 0;
        ++received;
      } else {
        std::this_thread::yield();
      }
    }
  });
  p0.join();
  p1.join();
  consumer.join();
  EXPECT_TRUE(rt.stop());
  EXPECT_EQ(received, tags);
  EXPECT_EQ(repeats, 0u);
  EXPECT_EQ(t.unique(), tags);
  EXPECT_EQ(t.duplicates(), tags * 2 / 3 - tags / 3);
  util::frag_desc extra;
  EXPECT_FALSE(out.try_pop(extra));
}
