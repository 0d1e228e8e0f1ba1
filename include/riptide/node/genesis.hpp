#pragma once
// Genesis: the facts every node of a cluster starts from — its validators with their stakes
// and addresses, the shred version that keeps clusters apart, PoH timing, and the faucet
// (the one account that holds lamports at slot 0, from which clients fund their accounts).
//
// Contract
//   - A genesis file is TOML (format below), written once by `riptide genesis` and read at
//     start-up by every node. Loading validates everything and throws config_error naming
//     the file and the field; nothing here is on a hot path.
//   - `shred_version` defaults to a value derived from the genesis hash (never 0), so two
//     clusters created separately do not gossip with each other by accident.
//   - The genesis hash covers every field but shred_version, the faucet included.
//   - A node credits `faucet.lamports` to `faucet.pubkey` in its bank before the first slot.
//   - `create_local_cluster` writes a whole loopback cluster: genesis.toml, faucet.key (the
//     faucet's secret key, crypto/keyfile.hpp format, mode 0600, for load generators and
//     tests), node-<i>.key (mode 0600) and node-<i>.toml per node, ports by the scheme of
//     ARCHITECTURE.md
//     (gossip 12000+i, rpc 11000+i, tpu 13000+i, tvu 14000+i, repair 15000+i,
//     tpu_forwards 16000+i, all shifted by `port_offset`). Every validator is on 127.0.0.1
//     unless `ip_base` is set: then validator i is on ip_base+i (one network namespace per
//     node), and its node-<i>.toml binds net.ip and rpc.ip there. Each node's config names every tile on
//     one core thread; the node runs those of its role (the leader: net, gossip, PoH, ledger in
//     DIR/ledger-<i>, shred, dedup, one bank and one verify tile; a follower: net, gossip,
//     tvu, replay into its ledger). See node.hpp for how the role follows from the stakes.
//
//   genesis.toml
//     [cluster]
//     shred_version = 4242          # u16, nonzero
//     hashes_per_tick = 1250
//     ticks_per_slot = 64
//     tick_us = 6250
//     creation_unix_ms = 1795000000000
//     turbine_fanout = 200          # optional (default 200): children per Turbine node
//     slots_per_epoch = 262144      # optional (default 262144): the leader schedule's span
//     [faucet]                      # required
//     pubkey = "<64 hex>"           # BIP-340 x-only key, not the system program id (zeros)
//     lamports = 1000000000000000   # u64 <= 2^63-1, credited at genesis
//     [[validators]]                # one table per validator, in index order
//     name = "node0"
//     pubkey = "<64 hex>"           # BIP-340 x-only key
//     stake = 1000
//     ip = "127.0.0.1"
//     gossip_port = 12000  rpc_port = 11000  tpu_port = 13000
//     tvu_port = 14000  repair_port = 15000  tpu_forwards_port = 16000

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <riptide/crypto/types.hpp>

namespace riptide::node {

struct genesis_validator {
  std::string name;
  crypto::pubkey id{};
  std::uint64_t stake = 0;
  std::string ip = "127.0.0.1";
  std::uint16_t gossip_port = 0, rpc_port = 0, tpu_port = 0, tvu_port = 0, repair_port = 0,
                tpu_forwards_port = 0;
};

struct genesis_faucet {
  crypto::pubkey id{};
  std::uint64_t lamports = 0;
};

struct genesis {
  std::uint16_t shred_version = 0;
  std::uint64_t hashes_per_tick = 1250;
  std::uint64_t ticks_per_slot = 64;
  std::uint64_t tick_us = 6250;
  std::uint64_t creation_unix_ms = 0;
  std::uint32_t turbine_fanout = 200;
  std::uint64_t slots_per_epoch = 262'144;
  genesis_faucet faucet;
  std::vector<genesis_validator> validators;

  // SHA-256 over the canonical text of everything but shred_version.
  crypto::hash32 hash() const;
  std::uint16_t derived_shred_version() const;
};

std::string format_genesis(const genesis& g);
genesis parse_genesis(std::string_view toml_text, std::string_view origin);  // throws config_error
genesis load_genesis(const std::filesystem::path& path);                     // throws config_error
void write_genesis(const std::filesystem::path& path, const genesis& g);     // throws on I/O error

struct local_cluster_options {
  std::uint32_t nodes = 4;
  std::uint32_t port_offset = 0;
  std::uint64_t stake = 1000;
  // Validators with stake, from node 0 up; the rest get stake 0. 0 (the default): every
  // validator, equal stake: they take turns to lead. 1 makes node 0 the leader of every slot
  // and the others its followers.
  std::uint32_t staked_validators = 0;
  // Non-empty: validator i's stake is stakes[i] (one per node; at least one non-zero);
  // `stake` and `staked_validators` must be left at their defaults. For clusters of unequal
  // stake, e.g. 2,2,2,1,1: three validators hold 75 %, more than 2/3 without the other two.
  std::vector<std::uint64_t> stakes;
  std::uint32_t turbine_fanout = 200;
  std::uint64_t hashes_per_tick = 1250;  // low: a dev cluster's PoH must not eat the machine
  std::uint64_t ticks_per_slot = 64;
  std::uint64_t slots_per_epoch = 262'144;  // the leader schedule's span (>= 4)
  std::uint64_t tick_us = 6250;
  std::uint16_t shred_version = 0;       // 0: derived from the genesis hash
  std::uint64_t faucet_lamports = 1'000'000'000'000'000;  // 10^15, credited to faucet.key
  // Empty: every validator on 127.0.0.1, told apart by ports. "a.b.c.d": validator i on
  // a.b.c.(d+i); the addresses must stay within a.b.c.1..a.b.c.254.
  std::string ip_base;
  bool overwrite = false;
};

// Writes the cluster into `dir` (created if needed) and returns the genesis it wrote.
// Refuses (throws) to overwrite existing files unless options.overwrite. Ledger directories
// of an earlier cluster (`dir`/ledger-<i>) are refused too, or with options.overwrite
// removed (listed in `removed_ledgers` if given); one that a running node holds
// (ledger.hpp's lock) throws util::lock_held_error and nothing is removed.
genesis create_local_cluster(const std::filesystem::path& dir, const local_cluster_options& options,
                             std::vector<std::filesystem::path>* removed_ledgers = nullptr);

}  // namespace riptide::node
