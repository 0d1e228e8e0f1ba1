#include <riptide/util/runtime.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>

#include <riptide/util/cpu.hpp>
#include <riptide/util/spsc_ring.hpp>

using namespace riptide::util;

namespace {

// Pushes 0, 1, 2, … into a ring until told to drain; counts what it could not push.
class source_tile final : public tile {
 public:
  source_tile(spsc_ring<std::uint64_t>& out, std::uint64_t limit)
      : tile("source"), out_(out), limit_(limit) {}
  int poll() noexcept override {
    if (draining_ || next_ >= limit_) return 0;
    int n = 0;
    while (n < 32 && next_ < limit_ && out_.try_push(next_)) {
      ++next_;
      ++n;
    }
    return n;
  }
  void begin_drain() noexcept override { draining_ = true; }
  void housekeep(std::uint64_t) noexcept override { housekeeps_.fetch_add(1); }
  std::uint64_t produced() const { return next_; }
  std::atomic<std::uint64_t> housekeeps_{0};

 private:
  spsc_ring<std::uint64_t>& out_;
  std::uint64_t limit_;
  std::uint64_t next_ = 0;
  bool draining_ = false;
};

class sink_tile final : public tile {
 public:
  explicit sink_tile(spsc_ring<std::uint64_t>& in) : tile("sink"), in_(in) {}
  std::vector<std::string_view> own_counter_names() const override { return {"received"}; }
  int poll() noexcept override {
    std::uint64_t batch[16];
    const std::size_t n = in_.try_pop_batch(batch);
    for (std::size_t i = 0; i < n; ++i) {
      in_order_ &= batch[i] == received_;
      ++received_;
    }
    count(0, n);
    return static_cast<int>(n);
  }
  bool drained() const noexcept override { return in_.empty_approx(); }
  std::uint64_t received() const { return received_; }
  bool in_order() const { return in_order_; }

 private:
  spsc_ring<std::uint64_t>& in_;
  std::uint64_t received_ = 0;
  bool in_order_ = true;
};

class idle_tile final : public tile {
 public:
  idle_tile() : tile("idle") {}
  int poll() noexcept override { return 0; }
};

std::filesystem::path temp_metrics() {
  return std::filesystem::temp_directory_path() /
         ("riptide-runtime-test-" + std::to_string(::getpid()));
}

int some_cpu(std::size_t i) {
  const auto cpus = allowed_cpus();
  return cpus.empty() ? -1 : cpus[i % cpus.size()];
}

}  // namespace

TEST(idle_strategy, escalates_from_spin_to_sleep_and_resets) {
  idle_policy p;
  p.spins = 2;
  p.pauses = 2;
  p.yields = 2;
  p.min_sleep_us = 1;
  p.max_sleep_us = 4;
  idle_strategy s(p);
  s.reset();
  for (int i = 0; i < 4; ++i) s.idle();
  EXPECT_EQ(s.yields(), 0u);
  s.idle();
  s.idle();
  EXPECT_EQ(s.yields(), 2u);
  EXPECT_EQ(s.sleeps(), 0u);
  s.idle();
  EXPECT_EQ(s.sleeps(), 1u);
  s.reset();
  s.idle();
  EXPECT_EQ(s.sleeps(), 1u);  // back to spinning after work
}

// Contention: producer and consumer tiles on two different core threads; stopping must
// drain the ring so that everything produced is consumed, in order.
TEST(runtime, two_cores_pipeline_drains_on_stop) {
  spsc_ring<std::uint64_t> ring(256);
  source_tile src(ring, ~std::uint64_t{0});
  sink_tile sink(ring);
  metrics_registry reg(temp_metrics(), 8);
  runtime_options opt;
  opt.metrics = &reg;
  opt.housekeep_interval_ns = 100'000;
  runtime rt({core_plan{some_cpu(0), {&src}}, core_plan{some_cpu(1), {&sink}}}, opt);
  rt.start();
  while (sink.metrics().get(first_own_counter) < 200'000) usleep(1000);
  EXPECT_TRUE(rt.stop());
  EXPECT_GT(src.produced(), 0u);
  EXPECT_EQ(sink.received(), src.produced());
  EXPECT_TRUE(sink.in_order());
  EXPECT_GT(src.housekeeps_.load(), 0u);
  // Standard counters were flushed into the tile's block.
  EXPECT_EQ(sink.metrics().get(tile_counter::work_done), sink.received());
  EXPECT_EQ(sink.metrics().get(first_own_counter), sink.received());
  EXPECT_GT(sink.metrics().get(tile_counter::housekeeps), 0u);
}

TEST(runtime, several_tiles_share_one_core_unpinned) {
  spsc_ring<std::uint64_t> ring(64);
  source_tile src(ring, 100'000);
  sink_tile sink(ring);
  runtime_options opt;
  opt.pin = false;
  runtime rt({core_plan{-1, {&src, &sink}}}, opt);
  rt.start();
  // Watch the flushed (atomic) counter; the tile's own fields belong to its core thread.
  while (sink.own_counter(0) < 100'000) usleep(1000);
  EXPECT_TRUE(rt.stop());
  EXPECT_EQ(sink.received(), 100'000u);
  EXPECT_TRUE(sink.in_order());
}

TEST(runtime, idle_core_backs_off_to_sleep) {
  idle_tile t;
  metrics_registry reg(temp_metrics(), 4);
  runtime_options opt;
  opt.metrics = &reg;
  opt.pin = false;
  opt.housekeep_interval_ns = 1'000'000;
  runtime rt({core_plan{-1, {&t}}}, opt);
  rt.start();
  // Wait (bounded) until the core reports a sleep; on a loaded machine the spin, pause and
  // yield phases before it can take a while, so this is not a timing assertion.
  metrics_reader reader(reg.path());
  metrics_snapshot snap;
  for (int i = 0; i < 1000; ++i) {
    usleep(10'000);
    snap = reader.snapshot();
    if (!snap.blocks.empty() && snap.blocks[0].values[3] > 0) break;
  }
  EXPECT_TRUE(rt.stop());
  ASSERT_GE(snap.blocks.size(), 1u);
  EXPECT_EQ(snap.blocks[0].name, "core0");
  EXPECT_GT(snap.blocks[0].values[3], 0u);  // sleeps
  EXPECT_EQ(t.metrics().get(tile_counter::busy_polls), 0u);
  EXPECT_GT(t.metrics().get(tile_counter::idle_polls), 0u);
}

TEST(runtime, stop_without_start_and_twice_is_safe) {
  idle_tile t;
  runtime rt({core_plan{-1, {&t}}}, runtime_options{});
  EXPECT_TRUE(rt.stop());
  rt.start();
  EXPECT_TRUE(rt.stop());
  EXPECT_TRUE(rt.stop());
}
