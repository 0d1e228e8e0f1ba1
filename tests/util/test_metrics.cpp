#include <riptide/util/metrics.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

using namespace riptide::util;

namespace {
std::filesystem::path temp_path(const char* name) {
  return std::filesystem::temp_directory_path() /
         (std::string("riptide-test-") + std::to_string(::getpid()) + "-" + name);
}
}  // namespace

TEST(metrics, registry_and_reader_agree) {
  const auto path = temp_path("metrics");
  {
    metrics_registry reg(path, 4);
    auto a = reg.add(metrics_kind::tile, "verify0", {"in", "out", "dropped"});
    auto b = reg.add(metrics_kind::link, "net->verify", {"pushed"});
    a.add(0, 5);
    a.add(0, 2);
    a.set(2, 9);
    b.add(0, 1234);
    reg.heartbeat(42);

    metrics_reader reader(path);
    auto snap = reader.snapshot();
    EXPECT_EQ(snap.pid, static_cast<std::uint32_t>(::getpid()));
    EXPECT_EQ(snap.heartbeat_unix_ns, 42u);
    ASSERT_EQ(snap.blocks.size(), 2u);
    EXPECT_EQ(snap.blocks[0].name, "verify0");
    EXPECT_EQ(snap.blocks[0].kind, metrics_kind::tile);
    ASSERT_EQ(snap.blocks[0].values.size(), 3u);
    EXPECT_EQ(snap.blocks[0].counter_names[2], "dropped");
    EXPECT_EQ(snap.blocks[0].values[0], 7u);
    EXPECT_EQ(snap.blocks[0].values[1], 0u);
    EXPECT_EQ(snap.blocks[0].values[2], 9u);
    EXPECT_EQ(snap.blocks[1].values[0], 1234u);

    a.add(1, 3);  // the reader maps the live file: later writes show up
    EXPECT_EQ(reader.snapshot().blocks[0].values[1], 3u);
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // registry removes its file
}

TEST(metrics, full_file_and_long_names_are_errors) {
  const auto path = temp_path("full");
  metrics_registry reg(path, 1);
  reg.add(metrics_kind::core, "core0", {"passes"});
  EXPECT_THROW(reg.add(metrics_kind::core, "core1", {"passes"}), std::length_error);
  metrics_registry reg2(temp_path("long"), 2);
  EXPECT_THROW(reg2.add(metrics_kind::tile, std::string(100, 'x'), {}), std::length_error);
  std::vector<std::string_view> many(metrics_max_counters + 1, "c");
  EXPECT_THROW(reg2.add(metrics_kind::tile, "t", many), std::length_error);
}

TEST(metrics, a_block_holds_max_counters) {
  static_assert(metrics_max_counters == 64);
  const auto path = temp_path("wide");
  metrics_registry reg(path, 2);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < metrics_max_counters; ++i)
    names.push_back(std::string(metrics_counter_name_bytes - 4, 'a') + std::to_string(100 + i));
  const std::vector<std::string_view> views(names.begin(), names.end());
  auto a = reg.add(metrics_kind::tile, "wide", views);
  auto b = reg.add(metrics_kind::tile, "next", {"x"});
  for (std::size_t i = 0; i < metrics_max_counters; ++i) a.add(i, i + 1);
  b.add(0, 77);  // the next block does not overlap the last counter
  const auto snap = metrics_reader(path).snapshot();
  ASSERT_EQ(snap.blocks.size(), 2u);
  ASSERT_EQ(snap.blocks[0].values.size(), metrics_max_counters);
  for (std::size_t i = 0; i < metrics_max_counters; ++i) {
    EXPECT_EQ(snap.blocks[0].counter_names[i], names[i]);
    EXPECT_EQ(snap.blocks[0].values[i], i + 1);
  }
  EXPECT_EQ(snap.blocks[1].values[0], 77u);
}

TEST(metrics, reader_rejects_missing_and_foreign_files) {
  EXPECT_THROW(metrics_reader(temp_path("missing")), std::runtime_error);
  const auto path = temp_path("foreign");
  {
    std::ofstream f(path);
    f << std::string(200, 'z');
  }
  EXPECT_THROW(metrics_reader{path}, std::runtime_error);
  std::filesystem::remove(path);
}

TEST(metrics, default_handle_counts_into_scratch) {
  metrics_block b;
  const auto before = b.get(0);
  b.add(0, 1);
  EXPECT_EQ(b.get(0), before + 1);
}

// A second registry on a live file (a second start of a running node) is refused before it
// writes a byte: the first registry's counters and file are untouched, and it still removes
// its own file at the end.
TEST(metrics, a_second_registry_on_the_same_path_touches_nothing) {
  const auto path = temp_path("exclusive");
  {
    metrics_registry reg(path, 4);
    auto a = reg.add(metrics_kind::tile, "poh", {"hashes"});
    a.add(0, 12345);
    reg.heartbeat(777);
    try {
      metrics_registry second(path, 8);
      FAIL() << "expected lock_held_error";
    } catch (const lock_held_error& e) {
      EXPECT_EQ(e.holder_pid(), static_cast<std::uint32_t>(::getpid()));
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
    ASSERT_TRUE(std::filesystem::exists(path));
    metrics_reader reader(path);
    const auto snap = reader.snapshot();
    EXPECT_EQ(snap.heartbeat_unix_ns, 777u);
    ASSERT_EQ(snap.blocks.size(), 1u);
    EXPECT_EQ(snap.blocks[0].values[0], 12345u);
    a.add(0, 1);  // the first registry still writes the mapped file
    EXPECT_EQ(reader.snapshot().blocks[0].values[0], 12346u);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  metrics_registry again(path, 2);  // free once the first is gone
}
