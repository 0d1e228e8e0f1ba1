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
cores = [["poh", "net", "gossip"], ["load", "verify", "verify", "dedup"]]
pin = false
cpus = [0, 0]
[poh]
tick_us = 0
[verify]
tiles = 2
[load]
enabled = true
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
  apply_override("load.enabled=true", c);
  apply_override("layout.cores=[[\"poh\", \"net\", \"gossip\", \"load\", \"verify\", \"dedup\"]]", c);
  EXPECT_EQ(c.poh.tick_us, 0u);
  EXPECT_EQ(c.node.name, "beta");
  EXPECT_EQ(c.layout.cores.size(), 1u);
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(error_of([&] { apply_override("poh.nope=1", c); }), "--set: poh.nope: unknown key");
  EXPECT_NE(error_of([&] { apply_override("poh.tick_us=fast", c); }).find("poh.tick_us"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override("poh.tick_us", c); }).find("section.key=value"), std::string::npos);
}

TEST(config, network_fields_parse_and_validate) {
  config c;
  load_config_text(R"(
[cluster]
entrypoints = ["127.0.0.1:12000", "10.0.0.2:12001"]
shred_version = 77
[net]
drop_gossip = 0.25
duplicate = 1
backend = "recvmmsg"
)",
                   "n.toml", c);
  EXPECT_NO_THROW(c.validate());
  ASSERT_EQ(c.cluster.entrypoints.size(), 2u);
  EXPECT_EQ(c.cluster.entrypoints[1], "10.0.0.2:12001");
  EXPECT_DOUBLE_EQ(c.net.drop_gossip, 0.25);
  EXPECT_DOUBLE_EQ(c.net.duplicate, 1.0);  // an integer is accepted where a number is wanted
  EXPECT_EQ(format_config(c).find("drop_gossip = 0.25") != std::string::npos, true);

  auto invalid = [](auto mutate) {
    config x;
    mutate(x);
    return error_of([&] { x.validate(); });
  };
  EXPECT_EQ(invalid([](config& x) { x.net.drop_gossip = 1.5; }).rfind("net.drop_gossip", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.ledger.enabled = true; }).rfind("ledger.dir", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.ledger.segment_mib = 0; }).rfind("ledger.segment_mib", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.net.backend = "epoll"; }).rfind("net.backend", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.net.ip = "localhost"; }).rfind("net.ip", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.net.gossip_port = 70000; }).rfind("net.gossip_port", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.cluster.entrypoints = {"127.0.0.1"}; }).rfind("cluster.entrypoints", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.net.enabled = false; }).rfind("gossip.enabled", 0), 0u);
  EXPECT_EQ(invalid([](config& x) { x.gossip.suspect_after_ms = x.gossip.dead_after_ms; })
                .rfind("gossip.suspect_after_ms", 0), 0u);
  EXPECT_NE(error_of([&] { load_config_text("[cluster]\nentrypoints = [1]\n", "n", c); }).find("cluster.entrypoints"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_config_text("[net]\ndrop_tpu = \"x\"\n", "n", c); }).find("net.drop_tpu"),
            std::string::npos);
}

TEST(config, rpc_batch_body_limit_is_a_key) {
  config c;
  EXPECT_EQ(c.rpc.max_batch_body_bytes, 256u * 1024u);
  EXPECT_NE(format_defaults().find("max_batch_body_bytes = 262144"), std::string::npos);
  load_config_text("[rpc]\nmax_batch_body_bytes = 4096\n", "n.toml", c);
  EXPECT_EQ(c.rpc.max_batch_body_bytes, 4096u);
  apply_override("rpc.max_batch_body_bytes=8192", c);
  EXPECT_EQ(c.rpc.max_batch_body_bytes, 8192u);
  EXPECT_NO_THROW(c.validate());
  c.rpc.max_batch_body_bytes = 255;
  EXPECT_EQ(error_of([&] { c.validate(); }).rfind("rpc.max_batch_body_bytes", 0), 0u);
  c.rpc.max_batch_body_bytes = (16u << 20) + 1;
  EXPECT_EQ(error_of([&] { c.validate(); }).rfind("rpc.max_batch_body_bytes", 0), 0u);
}

TEST(config, ipv4_and_endpoint_parsing) {
  EXPECT_EQ(parse_ipv4("127.0.0.1"), 0x7f000001u);
  EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
  EXPECT_FALSE(parse_ipv4("256.0.0.1"));
  EXPECT_FALSE(parse_ipv4("1.2.3"));
  EXPECT_FALSE(parse_ipv4("1.2.3.4.5"));
  EXPECT_FALSE(parse_ipv4("1..3.4"));
  EXPECT_FALSE(parse_ipv4(""));
  const auto ep = parse_endpoint("10.1.2.3:12000");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->first, 0x0a010203u);
  EXPECT_EQ(ep->second, 12000);
  EXPECT_FALSE(parse_endpoint("10.1.2.3"));
  EXPECT_FALSE(parse_endpoint("10.1.2.3:0"));
  EXPECT_FALSE(parse_endpoint("10.1.2.3:65536"));
  EXPECT_FALSE(parse_endpoint("10.1.2.3:12a"));
}

TEST(config, missing_file_is_a_clear_error) {
  config c;
  EXPECT_NE(error_of([&] { load_config_file("/nonexistent/riptide.toml", c); }).find("/nonexistent/riptide.toml"),
            std::string::npos);
}

TEST(config, bank_tiles_run_only_with_the_ledger) {
  config c;
  EXPECT_EQ(c.active_bank_tiles(), 0u);  // ledger off by default: no banking
  c.ledger.enabled = true;
  c.ledger.dir = "/tmp/x";
  EXPECT_EQ(c.active_bank_tiles(), 1u);
  c.layout.cores = {{"poh", "net", "gossip", "ledger", "verify", "dedup"}};
  EXPECT_EQ(error_of([&] { c.validate(); }).rfind("layout.cores: places 0 bank tiles but 1 run", 0), 0u);
  c.layout.cores[0].push_back("bank");
  EXPECT_NO_THROW(c.validate());
  apply_override("bank.microblocks=48", c);
  EXPECT_EQ(error_of([&] { c.validate(); }).rfind("bank.microblocks", 0), 0u);
}
