#include <riptide/node/genesis.hpp>

#include <gtest/gtest.h>

#include <riptide/util/file_lock.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <riptide/crypto/keyfile.hpp>
#include <riptide/node/config.hpp>

#include "../support/temp_dir.hpp"

using namespace riptide::node;

namespace {
std::filesystem::path temp_dir(const char* name) {
  auto p = std::filesystem::temp_directory_path() /
           (std::string("riptide-genesis-") + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(p);
  return p;
}
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

TEST(genesis, local_cluster_round_trips_and_configs_validate) {
  const auto dir = temp_dir("cluster");
  local_cluster_options o;
  o.nodes = 3;
  o.port_offset = 40;
  const genesis g = create_local_cluster(dir, o);
  ASSERT_EQ(g.validators.size(), 3u);
  for (const auto& v : g.validators) EXPECT_EQ(v.stake, o.stake);  // by default every validator leads in turn
  EXPECT_NE(g.shred_version, 0);
  EXPECT_EQ(g.shred_version, g.derived_shred_version());
  EXPECT_EQ(g.validators[2].gossip_port, 12042);
  EXPECT_EQ(g.validators[2].rpc_port, 11042);
  EXPECT_EQ(g.validators[2].repair_port, 15042);
  EXPECT_EQ(g.faucet.lamports, 1'000'000'000'000'000u);
  {
    const auto faucet = riptide::crypto::load_keyfile(dir / "faucet.key");
    EXPECT_EQ(faucet.public_key(), g.faucet.id);
    struct stat st {};
    ASSERT_EQ(::stat((dir / "faucet.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }

  const genesis back = load_genesis(dir / "genesis.toml");
  EXPECT_EQ(format_genesis(back), format_genesis(g));
  EXPECT_EQ(back.hash(), g.hash());
  EXPECT_EQ(back.faucet.id, g.faucet.id);
  EXPECT_EQ(back.faucet.lamports, g.faucet.lamports);

  for (int i = 0; i < 3; ++i) {
    config c;
    load_config_file(dir / ("node-" + std::to_string(i) + ".toml"), c);
    EXPECT_NO_THROW(c.validate());
    EXPECT_EQ(c.net.gossip_port, 12040u + static_cast<unsigned>(i));
    EXPECT_EQ(c.net.ip, "127.0.0.1");  // no ip_base: every validator on loopback
    EXPECT_EQ(c.rpc.ip, "127.0.0.1");
    EXPECT_EQ(g.validators[static_cast<std::size_t>(i)].ip, "127.0.0.1");
    const auto kp = riptide::crypto::load_keyfile(c.identity.key_file);
    EXPECT_EQ(kp.public_key(), g.validators[static_cast<std::size_t>(i)].id);
    struct stat st {};
    ASSERT_EQ(::stat(c.identity.key_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(c.cluster.entrypoints.size(), 1u);
    EXPECT_EQ(c.cluster.entrypoints[0], i == 0 ? "127.0.0.1:12041" : "127.0.0.1:12040");
  }
  EXPECT_THROW(create_local_cluster(dir, o), std::runtime_error);  // no silent overwrite
  o.overwrite = true;
  const genesis again = create_local_cluster(dir, o);
  EXPECT_NE(again.validators[0].id, g.validators[0].id);  // fresh keys
  EXPECT_NE(again.faucet.id, g.faucet.id);
  EXPECT_EQ(riptide::crypto::load_keyfile(dir / "faucet.key").public_key(), again.faucet.id);
  std::filesystem::remove_all(dir);
}

TEST(genesis, local_cluster_ip_base_puts_validator_i_on_base_plus_i) {
  riptide::testing::temp_dir dir("riptide-genesis-ip-base");
  local_cluster_options o;
  o.nodes = 3;
  o.port_offset = 40;
  o.ip_base = "10.77.0.1";
  const genesis g = create_local_cluster(dir.path(), o);
  const genesis back = load_genesis(dir.path() / "genesis.toml");
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string ip = "10.77.0." + std::to_string(1 + i);
    EXPECT_EQ(g.validators[i].ip, ip);
    EXPECT_EQ(back.validators[i].ip, ip);
    EXPECT_EQ(g.validators[i].gossip_port, 12040 + i);  // ports as without ip_base
    config c;
    load_config_file(dir.path() / ("node-" + std::to_string(i) + ".toml"), c);
    EXPECT_NO_THROW(c.validate());
    EXPECT_EQ(c.net.ip, ip);
    EXPECT_EQ(c.rpc.ip, ip);  // HTTP reachable at the node's own address
    ASSERT_EQ(c.cluster.entrypoints.size(), 1u);
    EXPECT_EQ(c.cluster.entrypoints[0], i == 0 ? "10.77.0.2:12041" : "10.77.0.1:12040");
  }
  o.overwrite = true;
  o.ip_base = "10.77.0.253";  // .253, .254, .255: the last one is the broadcast address
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("--ip-base"), std::string::npos);
  o.ip_base = "10.77.0.0";
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("--ip-base"), std::string::npos);
  o.ip_base = "10.77.0";
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("not an IPv4"), std::string::npos);
  o.ip_base = "10.77.0.252";  // .252..254 fit
  EXPECT_EQ(create_local_cluster(dir.path(), o).validators[2].ip, "10.77.0.254");
}

TEST(genesis, clusters_created_apart_get_different_shred_versions) {
  genesis a, b;
  a.validators.push_back({"node0", {1}, 10, "127.0.0.1", 1, 2, 3, 4, 5, 6});
  b = a;
  b.validators[0].id[0] = 2;
  EXPECT_NE(a.derived_shred_version(), b.derived_shred_version());
  a.shred_version = 9;  // the shred version is not part of the hash
  EXPECT_EQ(a.hash(), genesis{a}.hash());
}

TEST(genesis, hash_covers_the_faucet) {
  genesis a;
  a.faucet = {{7}, 1000};
  a.validators.push_back({"node0", {1}, 10, "127.0.0.1", 1, 2, 3, 4, 5, 6});
  genesis b = a;
  b.faucet.lamports = 1001;
  EXPECT_NE(a.hash(), b.hash());
  b = a;
  b.faucet.id[31] = 1;
  EXPECT_NE(a.hash(), b.hash());
}

TEST(genesis, local_cluster_faucet_lamports_are_configurable) {
  riptide::testing::temp_dir dir("riptide-genesis-faucet");
  local_cluster_options o;
  o.nodes = 1;
  o.faucet_lamports = 12345;
  const genesis g = create_local_cluster(dir.path(), o);
  EXPECT_EQ(load_genesis(dir.path() / "genesis.toml").faucet.lamports, 12345u);
  o.overwrite = true;
  o.faucet_lamports = ~std::uint64_t{0};
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("faucet"), std::string::npos);
}

TEST(genesis, local_cluster_stakes_give_each_node_its_own) {
  riptide::testing::temp_dir dir("riptide-genesis-stakes");
  local_cluster_options o;
  o.nodes = 5;
  o.stakes = {2, 2, 2, 1, 1};
  const genesis g = create_local_cluster(dir.path(), o);
  const genesis back = load_genesis(dir.path() / "genesis.toml");
  ASSERT_EQ(back.validators.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(back.validators[i].stake, o.stakes[i]) << i;
  o.overwrite = true;
  o.stakes = {2, 2};
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("2 stakes for 5 nodes"), std::string::npos);
  o.stakes = {0, 0, 0, 0, 0};
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("at least one"), std::string::npos);
  o.stakes = {1, 1, 1, 1, 1};
  o.staked_validators = 2;
  EXPECT_NE(error_of([&] { create_local_cluster(dir.path(), o); }).find("leave out"), std::string::npos);
}

TEST(genesis, parse_rejections_name_the_field) {
  genesis g;
  g.shred_version = 5;
  g.faucet = {{0xab}, 777};
  g.validators.push_back({"node0", {1}, 10, "127.0.0.1", 12000, 11000, 13000, 14000, 15000, 16000});
  const std::string good = format_genesis(g);
  EXPECT_NO_THROW(parse_genesis(good, "g.toml"));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const auto pos = t.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    t.replace(pos, from.size(), to);
    return error_of([&] { parse_genesis(t, "g.toml"); });
  };
  EXPECT_NE(with("shred_version = 5", "shred_version = 0").find("cluster.shred_version"), std::string::npos);
  EXPECT_NE(with("hashes_per_tick = 1250", "hashes_per_tick = 1").find("cluster.hashes_per_tick"), std::string::npos);
  EXPECT_NE(with("stake = 10", "stake = -1").find("validators[0].stake"), std::string::npos);
  EXPECT_NE(with("pubkey = \"01", "pubkey = \"zz").find("validators[0].pubkey"), std::string::npos);
  EXPECT_NE(with("ip = \"127.0.0.1\"", "ip = \"nowhere\"").find("validators[0].ip"), std::string::npos);
  EXPECT_NE(with("gossip_port = 12000", "gossip_port = 99999").find("validators[0].gossip_port"), std::string::npos);
  EXPECT_NE(with("[cluster]", "[klaster]").find("[cluster]"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_genesis("[cluster\n", "g.toml"); }).find("g.toml"), std::string::npos);
  EXPECT_NE(with("[faucet]", "[faucets]").find("[faucet]"), std::string::npos);
  EXPECT_NE(with("pubkey = \"ab", "pubkey = \"AB").find("faucet.pubkey"), std::string::npos);
  EXPECT_NE(with("pubkey = \"ab", "pubkey = \"00").find("faucet.pubkey"), std::string::npos);
  EXPECT_NE(with("lamports = 777", "lamports = -7").find("faucet.lamports"), std::string::npos);
  EXPECT_NE(with("lamports = 777", "lamport = 777").find("faucet.lamports: missing"), std::string::npos);
  EXPECT_NE(with("lamports = 777", "lamports = \"777\"").find("faucet.lamports"), std::string::npos);
  EXPECT_NE(with("pubkey = \"ab", "pubkeys = \"ab").find("faucet.pubkey"), std::string::npos);
  std::string dup = good + good.substr(good.find("[[validators]]"));
  EXPECT_NE(error_of([&] { parse_genesis(dup, "g.toml"); }).find("duplicate"), std::string::npos);
}

// Ledgers of an earlier cluster in the directory: refused without --force, removed with it,
// and never removed while a node holds one (its lock).
TEST(genesis, stale_ledgers_are_refused_or_removed_but_never_under_a_running_node) {
  riptide::testing::temp_dir dir;
  local_cluster_options o;
  o.nodes = 2;
  (void)create_local_cluster(dir.path(), o);
  std::filesystem::create_directories(dir.path() / "ledger-0");
  std::filesystem::create_directories(dir.path() / "ledger-7");
  { std::ofstream(dir.path() / "ledger-7" / "segment-00000000.log") << "old"; }
  std::filesystem::remove(dir.path() / "genesis.toml");  // even without the old genesis
  try {
    (void)create_local_cluster(dir.path(), o);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ledger-0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "ledger-7" / "segment-00000000.log"));
  o.overwrite = true;
  {
    // A running node holds ledger-7: nothing at all is removed.
    auto held = riptide::util::file_lock::acquire(dir.path() / "ledger-7" / "lock", "ledger");
    EXPECT_THROW((void)create_local_cluster(dir.path(), o), riptide::util::lock_held_error);
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "ledger-0"));
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "ledger-7" / "segment-00000000.log"));
  }
  std::vector<std::filesystem::path> removed;
  (void)create_local_cluster(dir.path(), o, &removed);
  EXPECT_EQ(removed, (std::vector<std::filesystem::path>{dir.path() / "ledger-0", dir.path() / "ledger-7"}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ledger-0"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "ledger-7"));
}
