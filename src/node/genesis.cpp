#include <riptide/node/genesis.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <riptide/crypto/keyfile.hpp>
#include <riptide/ledger/ledger.hpp>
#include <riptide/util/file_lock.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/node/config.hpp>
#include <riptide/util/cpu.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/util/hex.hpp>

namespace riptide::node {

namespace {

bool unhex(std::string_view text, std::span<std::uint8_t> out) {
  if (text.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string format_body(const genesis& g) {
  std::string s = fmt::format(
      "hashes_per_tick = {}\nticks_per_slot = {}\ntick_us = {}\ncreation_unix_ms = {}\n"
      "turbine_fanout = {}\nslots_per_epoch = {}\n",
      g.hashes_per_tick, g.ticks_per_slot, g.tick_us, g.creation_unix_ms, g.turbine_fanout,
      g.slots_per_epoch);
  s += fmt::format("\n[faucet]\npubkey = \"{}\"\nlamports = {}\n", util::to_hex(g.faucet.id), g.faucet.lamports);
  for (const auto& v : g.validators)
    s += fmt::format(
        "\n[[validators]]\nname = \"{}\"\npubkey = \"{}\"\nstake = {}\nip = \"{}\"\n"
        "gossip_port = {}\nrpc_port = {}\ntpu_port = {}\ntvu_port = {}\nrepair_port = {}\n"
        "tpu_forwards_port = {}\n",
        v.name, util::to_hex(v.id), v.stake, v.ip, v.gossip_port, v.rpc_port, v.tpu_port, v.tvu_port,
        v.repair_port, v.tpu_forwards_port);
  return s;
}

[[noreturn]] void fail(std::string_view origin, const std::string& what) {
  throw config_error(std::string(origin) + ": " + what);
}

std::uint64_t get_u64(const toml::table& t, std::string_view key, std::string_view where,
                      std::string_view origin, std::uint64_t max) {
  const auto* n = t.get(key);
  if (n == nullptr) fail(origin, fmt::format("{}.{}: missing", where, key));
  const auto v = n->value<std::int64_t>();
  if (!n->is_integer() || !v || *v < 0 || static_cast<std::uint64_t>(*v) > max)
    fail(origin, fmt::format("{}.{}: expected an integer in 0..{}", where, key, max));
  return static_cast<std::uint64_t>(*v);
}

std::string get_string(const toml::table& t, std::string_view key, std::string_view where,
                       std::string_view origin) {
  const auto* n = t.get(key);
  if (n == nullptr || !n->is_string()) fail(origin, fmt::format("{}.{}: expected a string", where, key));
  return *n->value<std::string>();
}

}  // namespace

crypto::hash32 genesis::hash() const {
  const std::string body = format_body(*this);
  return crypto::sha256(std::span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
}

std::uint16_t genesis::derived_shred_version() const {
  const auto h = hash();
  const auto v = static_cast<std::uint16_t>(h[0] << 8 | h[1]);
  return v == 0 ? 1 : v;
}

std::string format_genesis(const genesis& g) {
  return fmt::format("# riptide genesis: written by `riptide genesis`; every node of the cluster reads it.\n"
                     "[cluster]\nshred_version = {}\n{}",
                     g.shred_version, format_body(g));
}

genesis parse_genesis(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    fail(origin, fmt::format("invalid TOML at line {}: {}", e.source().begin.line, e.description()));
  }
  genesis g;
  const auto* cluster = root["cluster"].as_table();
  if (cluster == nullptr) fail(origin, "missing [cluster] table");
  g.shred_version = static_cast<std::uint16_t>(get_u64(*cluster, "shred_version", "cluster", origin, 65535));
  if (g.shred_version == 0) fail(origin, "cluster.shred_version: must be nonzero");
  g.hashes_per_tick = get_u64(*cluster, "hashes_per_tick", "cluster", origin, 1'000'000'000);
  g.ticks_per_slot = get_u64(*cluster, "ticks_per_slot", "cluster", origin, 1'000'000);
  g.tick_us = get_u64(*cluster, "tick_us", "cluster", origin, 10'000'000);
  g.creation_unix_ms = get_u64(*cluster, "creation_unix_ms", "cluster", origin, ~std::uint64_t{0} >> 1);
  if (cluster->get("turbine_fanout") != nullptr)
    g.turbine_fanout = static_cast<std::uint32_t>(get_u64(*cluster, "turbine_fanout", "cluster", origin, 65536));
  if (g.turbine_fanout == 0) fail(origin, "cluster.turbine_fanout: must be >= 1");
  if (cluster->get("slots_per_epoch") != nullptr)
    g.slots_per_epoch = get_u64(*cluster, "slots_per_epoch", "cluster", origin, std::uint64_t{1} << 32);
  if (g.slots_per_epoch < 4) fail(origin, "cluster.slots_per_epoch: must be >= 4");
  if (g.hashes_per_tick < 2) fail(origin, "cluster.hashes_per_tick: must be >= 2");
  if (g.ticks_per_slot < 1) fail(origin, "cluster.ticks_per_slot: must be >= 1");
  const auto* faucet = root["faucet"].as_table();
  if (faucet == nullptr) fail(origin, "missing [faucet] table (pubkey, lamports)");
  if (!unhex(get_string(*faucet, "pubkey", "faucet", origin), g.faucet.id))
    fail(origin, "faucet.pubkey: expected 64 lowercase hex digits");
  if (g.faucet.id == crypto::pubkey{})
    fail(origin, "faucet.pubkey: must not be the system program id (all zeros)");
  g.faucet.lamports = get_u64(*faucet, "lamports", "faucet", origin, ~std::uint64_t{0} >> 1);
  const auto* vals = root["validators"].as_array();
  if (vals == nullptr || vals->empty()) fail(origin, "missing [[validators]]");
  for (std::size_t i = 0; i < vals->size(); ++i) {
    const auto* t = (*vals)[i].as_table();
    const std::string where = fmt::format("validators[{}]", i);
    if (t == nullptr) fail(origin, where + ": expected a table");
    genesis_validator v;
    v.name = get_string(*t, "name", where, origin);
    if (!unhex(get_string(*t, "pubkey", where, origin), v.id))
      fail(origin, where + ".pubkey: expected 64 lowercase hex digits");
    v.stake = get_u64(*t, "stake", where, origin, ~std::uint64_t{0} >> 1);
    v.ip = get_string(*t, "ip", where, origin);
    if (!parse_ipv4(v.ip)) fail(origin, where + ".ip: expected an IPv4 address");
    v.gossip_port = static_cast<std::uint16_t>(get_u64(*t, "gossip_port", where, origin, 65535));
    v.rpc_port = static_cast<std::uint16_t>(get_u64(*t, "rpc_port", where, origin, 65535));
    v.tpu_port = static_cast<std::uint16_t>(get_u64(*t, "tpu_port", where, origin, 65535));
    v.tvu_port = static_cast<std::uint16_t>(get_u64(*t, "tvu_port", where, origin, 65535));
    v.repair_port = static_cast<std::uint16_t>(get_u64(*t, "repair_port", where, origin, 65535));
    v.tpu_forwards_port = static_cast<std::uint16_t>(get_u64(*t, "tpu_forwards_port", where, origin, 65535));
    for (const auto& other : g.validators)
      if (other.id == v.id) fail(origin, where + ".pubkey: duplicate validator key");
    g.validators.push_back(std::move(v));
  }
  return g;
}

genesis load_genesis(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw config_error(path.string() + ": cannot read genesis file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_genesis(buf.str(), path.string());
}

void write_genesis(const std::filesystem::path& path, const genesis& g) {
  std::ofstream out(path, std::ios::trunc);
  out << format_genesis(g);
  out.flush();
  if (!out) throw std::runtime_error(path.string() + ": cannot write genesis file");
}

genesis create_local_cluster(const std::filesystem::path& dir, const local_cluster_options& o,
                             std::vector<std::filesystem::path>* removed_ledgers) {
  if (o.nodes == 0 || o.nodes > 1000) throw config_error("genesis: --nodes must be in 1..1000");
  if (o.port_offset + o.nodes > 999) throw config_error("genesis: port offset + nodes must stay below 1000");
  if (!o.stakes.empty()) {
    if (o.stakes.size() != o.nodes)
      throw config_error(fmt::format("genesis: --stakes lists {} stakes for {} nodes (one per node)", o.stakes.size(),
                                     o.nodes));
    if (o.staked_validators != 0 || o.stake != local_cluster_options{}.stake)
      throw config_error("genesis: --stakes gives every node's stake: leave out --stake and --staked");
    if (std::all_of(o.stakes.begin(), o.stakes.end(), [](std::uint64_t s) { return s == 0; }))
      throw config_error("genesis: --stakes: at least one validator needs stake");
    std::uint64_t total = 0;
    for (const std::uint64_t s : o.stakes) {
      if (s > (~std::uint64_t{0} >> 1) - total) throw config_error("genesis: --stakes: the total must stay below 2^63");
      total += s;
    }
  }
  std::uint32_t ip_first = 0;  // host order; 0: every validator on 127.0.0.1
  if (!o.ip_base.empty()) {
    const auto ip = parse_ipv4(o.ip_base);
    if (!ip) throw config_error(fmt::format("genesis: --ip-base '{}' is not an IPv4 address", o.ip_base));
    if ((*ip & 0xff) == 0 || (*ip & 0xff) + o.nodes - 1 > 254)
      throw config_error(fmt::format("genesis: --ip-base {} with {} nodes: the last octet must stay in 1..254",
                                     o.ip_base, o.nodes));
    ip_first = *ip;
  }
  std::filesystem::create_directories(dir);
  const auto abs = std::filesystem::absolute(dir);
  if (!o.overwrite && std::filesystem::exists(abs / "genesis.toml"))
    throw std::runtime_error((abs / "genesis.toml").string() + ": exists (use --force to replace the cluster)");
  // Ledgers of an earlier cluster in this directory: a node of the new one would refuse them
  // (their chain starts from the old genesis hash), so they go with --force, unless a node
  // still runs on one, and stop a plain run.
  std::vector<std::filesystem::path> stale;
  for (const auto& entry : std::filesystem::directory_iterator(abs)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.size() > 7 && name.starts_with("ledger-") &&
        std::all_of(name.begin() + 7, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      stale.push_back(entry.path());
  }
  std::sort(stale.begin(), stale.end());
  if (!stale.empty() && !o.overwrite)
    throw std::runtime_error(stale.front().string() + ": a ledger of an earlier cluster is here (use --force to "
                             "replace the cluster and remove its ledgers)");
  for (const auto& d : stale) util::file_lock::check_free(d / ledger::lock_file_name, "ledger");
  for (const auto& d : stale) {
    std::filesystem::remove_all(d);
    if (removed_ledgers != nullptr) removed_ledgers->push_back(d);
  }
  genesis g;
  g.hashes_per_tick = o.hashes_per_tick;
  g.ticks_per_slot = o.ticks_per_slot;
  if (o.slots_per_epoch < 4) throw config_error("genesis: slots per epoch must be at least 4");
  g.slots_per_epoch = o.slots_per_epoch;
  g.tick_us = o.tick_us;
  g.creation_unix_ms = util::unix_time_ns() / 1'000'000;
  g.turbine_fanout = o.turbine_fanout;
  if (o.faucet_lamports > (~std::uint64_t{0} >> 1))
    throw config_error("genesis: faucet lamports must be at most 2^63-1");
  const auto faucet_key = crypto::keypair::generate();
  g.faucet.id = faucet_key.public_key();
  g.faucet.lamports = o.faucet_lamports;
  std::vector<crypto::keypair> keys;
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    keys.push_back(crypto::keypair::generate());
    const auto p = static_cast<std::uint16_t>(o.port_offset + i);
    genesis_validator v;
    v.name = fmt::format("node{}", i);
    v.id = keys.back().public_key();
    v.stake = !o.stakes.empty() ? o.stakes[i] : o.staked_validators == 0 || i < o.staked_validators ? o.stake : 0;
    if (ip_first != 0) {
      const std::uint32_t ip = ip_first + i;
      v.ip = fmt::format("{}.{}.{}.{}", ip >> 24, ip >> 16 & 0xff, ip >> 8 & 0xff, ip & 0xff);
    }
    v.gossip_port = static_cast<std::uint16_t>(12000 + p);
    v.rpc_port = static_cast<std::uint16_t>(11000 + p);
    v.tpu_port = static_cast<std::uint16_t>(13000 + p);
    v.tvu_port = static_cast<std::uint16_t>(14000 + p);
    v.repair_port = static_cast<std::uint16_t>(15000 + p);
    v.tpu_forwards_port = static_cast<std::uint16_t>(16000 + p);
    g.validators.push_back(v);
  }
  g.shred_version = o.shred_version != 0 ? o.shred_version : g.derived_shred_version();
  // The faucet key first: if it cannot be written, no genesis names a key nobody holds.
  crypto::write_keyfile(abs / "faucet.key", faucet_key, o.overwrite);
  write_genesis(abs / "genesis.toml", g);
  // Nodes are pinned round-robin to the CPUs there are.
  const auto cpus = util::allowed_cpus();
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    const auto& v = g.validators[i];
    const auto key_path = abs / fmt::format("node-{}.key", i);
    crypto::write_keyfile(key_path, keys[i], o.overwrite);
    // Every node joins through node 0; node 0 through node 1, so a restarted node 0 finds
    // the cluster again by itself.
    const auto& entry = g.validators[i == 0 && o.nodes > 1 ? 1 : 0];
    std::string cfg = fmt::format(
        "# node {} of a local cluster, written by `riptide genesis`\n"
        "[node]\nname = \"{}\"\n\n[identity]\nkey_file = \"{}\"\n\n"
        "[cluster]\ngenesis = \"{}\"\nentrypoints = [{}]\n\n"
        "[net]\nip = \"{}\"\ngossip_port = {}\ntpu_port = {}\ntvu_port = {}\nrepair_port = {}\n"
        "tpu_forwards_port = {}\n\n[rpc]\nip = \"{}\"\nport = {}\n\n"
        "[layout]\n"
        "cores = [[\"net\", \"gossip\", \"poh\", \"ledger\", \"shred\", \"dedup\", \"bank\", \"verify\", "
        "\"tvu\", \"replay\"]]\n"
        "cpus = [{}]\n\n"
        "[load]\nenabled = false\n\n[verify]\ntiles = 1\n\n[bank]\ntiles = 1\nmax_accounts = 262144\n\n"
        "[ledger]\nenabled = true\ndir = \"{}\"\nsegment_mib = 64\n\n"
        "[metrics]\npath = \"{}\"\n",
        i, v.name, key_path.string(), (abs / "genesis.toml").string(),
        o.nodes > 1 ? fmt::format("\"{}:{}\"", entry.ip, entry.gossip_port) : std::string(),
        v.ip, v.gossip_port, v.tpu_port, v.tvu_port, v.repair_port, v.tpu_forwards_port,
        v.ip, v.rpc_port, cpus.empty() ? 0 : cpus[i % cpus.size()],
        (abs / fmt::format("ledger-{}", i)).string(),
        (abs / fmt::format("node-{}.metrics", i)).string());
    const auto cfg_path = abs / fmt::format("node-{}.toml", i);
    std::ofstream out(cfg_path, std::ios::trunc);
    out << cfg;
    out.flush();
    if (!out) throw std::runtime_error(cfg_path.string() + ": cannot write node config");
  }
  return g;
}

}  // namespace riptide::node
