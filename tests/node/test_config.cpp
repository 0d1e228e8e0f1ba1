#include <riptide/node/config.hpp>

#include <gtest/gtest.h>

using namespace riptide::node;

namespace {
// Runs `f` and returns the config_error message ("" if none was thrown).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(config, defaults_validate_and_round_trip_through_toml) {
  config d;
  EXPECT_NO_THROW(d.validate());
  config loaded;
  loaded.poh.hashes_per_tick = 1;  // must be overwritten by the printed defaults
  load_config_text(format_defaults(), "defaults", loaded);
  EXPECT_EQ(format_config(loaded), format_defaults());
  EXPECT_EQ(loaded.poh.hashes_per_tick, 12'500u);
}

TEST(config, file_values_are_applied) {
  config c;
  load_config_text(R"(
[node]
name = "alpha"
[layout]
cores = [["poh"], ["load", "verify", "verify", "dedup"]]
pin = false
cpus = [0, 0]
[poh]
tick_us = 0
[verify]
tiles = 2
)",
                   "t.toml", c);
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.node.name, "alpha");
  ASSERT_EQ(c.layout.cores.size(), 2u);
  EXPECT_EQ(c.layout.cores[1][2], "verify");
  EXPECT_FALSE(c.layout.pin);
  EXPECT_EQ(c.poh.tick_us, 0u);
  EXPECT_EQ(c.verify.tiles, 2u);
  EXPECT_EQ(c.metrics_path().string(), "/dev/shm/riptide/alpha.metrics");
}

TEST(config, unknown_keys_name_the_key) {
  config c;
  EXPECT_EQ(error_of([&] { load_config_text("[poh]\nhashes_per_tik = 5\n", "n.toml", c); }),
            "n.toml: poh.hashes_per_tik: unknown key");
  EXPECT_EQ(error_of([&] { load_config_text("[nosuch]\nx = 1\n", "n.toml", c); }),
            "n.toml: nosuch.x: unknown key");
  EXPECT_NE(error_of([&] { load_config_text("top = 1\n", "n.toml", c); }).find("top"), std::string::npos);
}

TEST(config, wrong_types_name_the_key) {
  config c;
  EXPECT_NE(error_of([&] { load_config_text("[poh]\nhashes_per_tick = \"many\"\n", "n", c); })
                .find("poh.hashes_per_tick: expected a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_config_text("[poh]\nhashes_per_tick = -5\n", "n", c); })
                .find("poh.hashes_per_tick"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_config_text("[layout]\npin = 1\n", "n", c); }).find("layout.pin"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_config_text("[layout]\ncores = [1]\n", "n", c); }).find("layout.cores"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_config_text("[poh\n", "bad.toml", c); }).find("bad.toml:1"),
            std::string::npos);
}

TEST(config, validation_names_the_key) {
  auto invalid = [](auto mutate) {
    config c;
    mutate(c);
    return error_of([&] { c.validate(); });
  };
  EXPECT_EQ(invalid([](config& c) { c.poh.hashes_per_tick = 1; }).rfind("poh.hashes_per_tick", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.verify.pubkey_cache_entries = 1000; })
                .rfind("verify.pubkey_cache_entries", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.verify.batch = 0; }).rfind("verify.batch", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.node.name = "bad name"; }).rfind("node.name", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.load.duplicate_percent = 101; }).rfind("load.duplicate_percent", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.layout.cores = {{"poh"}, {"warp"}}; }).rfind("layout.cores", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.layout.cores = {{"load", "verify", "dedup"}}; }).rfind("layout.cores", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.layout.cores = {{"poh", "load", "verify", "verify", "dedup"}}; })
                .rfind("layout.cores", 0), 0u);
  EXPECT_EQ(invalid([](config& c) { c.runtime.idle_min_sleep_us = 5000; }).rfind("runtime.idle_min_sleep_us", 0), 0u);
}

TEST(config, command_line_overrides) {
  config c;
  apply_override("poh.tick_us=0", c);
  apply_override("node.name", "beta", c);
  apply_override("layout.cores=[[\"poh\", \"load\", \"verify\", \"dedup\"]]", c);
  EXPECT_EQ(c.poh.tick_us, 0u);
  EXPECT_EQ(c.node.name, "beta");
  EXPECT_EQ(c.layout.cores.size(), 1u);
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(error_of([&] { apply_override("poh.nope=1", c); }), "--set: poh.nope: unknown key");
  EXPECT_NE(error_of([&] { apply_override("poh.tick_us=fast", c); }).find("poh.tick_us"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override("poh.tick_us", c); }).find("section.key=value"), std::string::npos);
}

TEST(config, missing_file_is_a_clear_error) {
  config c;
  EXPECT_NE(error_of([&] { load_config_file("/nonexistent/riptide.toml", c); }).find("/nonexistent/riptide.toml"),
            std::string::npos);
}
