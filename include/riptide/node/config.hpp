#pragma once
// The node's configuration: one typed struct, every field documented and defaulted.
//
// Contract
//   - Built once at start-up: defaults ← TOML file (`load_config_file`) ← command-line
//     overrides (`apply_override("poh.tick_us", "0")`), then `validate()`; read-only after.
//   - Every problem is a `config_error` whose message names the key (and file), e.g.
//     "node.toml: unknown key 'poh.hashes_per_tik'". The CLI maps it to exit code 2.
//   - `format_defaults()` prints every field with its documentation as a TOML file that
//     loads back to the defaults (`riptide config --defaults`).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace riptide::node {

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct node_section {
  std::string name = "node0";
  std::uint64_t run_seconds = 0;  // 0: until SIGINT/SIGTERM
};

struct layout_section {
  // Empty: auto (poh on the first core, load/verify/dedup/bank spread over the others).
  // Otherwise one list of tile names per core thread, e.g. [["poh"], ["verify", "dedup"]].
  std::vector<std::vector<std::string>> cores;
  bool pin = true;
  std::vector<std::int64_t> cpus;  // CPU for core thread i; empty: the allowed CPUs in order
};

struct poh_section {
  std::uint64_t hashes_per_tick = 12'500;
  std::uint64_t ticks_per_slot = 64;
  std::uint64_t tick_us = 6'250;  // wall-clock tick target (sleep mode); 0: hash flat out
  std::uint64_t hashes_per_poll = 256;
  std::uint64_t max_slots = 0;    // stop the chain after this many slots; 0: never
};

struct verify_section {
  std::uint64_t tiles = 1;
  std::uint64_t pubkey_cache_entries = 4096;
  std::uint64_t batch = 8;
  std::uint64_t ring_entries = 1024;
};

struct load_section {
  bool enabled = false;            // synthetic signed transfers, sent to the node's own tpu port
  std::uint64_t rate_tps = 2'000;  // 0: as fast as the verify tiles take them
  std::uint64_t distinct_transactions = 4096;
  std::uint64_t duplicate_percent = 5;  // share re-sent on purpose, to exercise dedup
  std::uint64_t invalid_percent = 1;    // share with a corrupted signature
};

struct dedup_section {
  std::uint64_t cache_entries = 1 << 21;
};

struct bank_section {
  std::uint64_t tiles = 1;                       // 0: no banking (verify → dedup only)
  std::uint64_t max_accounts = 1 << 20;
  std::uint64_t max_statuses = 1 << 19;          // landed signatures replay remembers (150 slots)
  std::uint64_t lamports_per_signature = 5000;
  std::uint64_t max_txs_per_microblock = 64;
  std::uint64_t microblocks = 64;                // buffers per bank tile until the ledger frees them
  std::uint64_t retry_slots = 256;
  std::uint64_t ring_entries = 1024;
  std::uint64_t load_signer_lamports = 1'000'000'000'000;  // start balance of each load signer
  std::uint64_t voter_lamports = 1'000'000'000'000;        // start balance of each staked validator
};

struct runtime_section {
  std::uint64_t idle_spins = 64;
  std::uint64_t idle_pauses = 256;
  std::uint64_t idle_yields = 16;
  std::uint64_t idle_min_sleep_us = 16;
  std::uint64_t idle_max_sleep_us = 1000;
  std::uint64_t housekeep_interval_us = 1000;
};

struct identity_section {
  std::string key_file;  // empty: a fresh key for this run only
};

struct cluster_section {
  std::string genesis;                  // genesis file; empty: a standalone node
  std::vector<std::string> entrypoints; // gossip addresses "ip:port" to join through
  std::uint64_t shred_version = 0;      // from genesis when one is given
};

struct net_section {
  bool enabled = true;
  std::string backend = "auto";  // auto | io_uring | recvmmsg
  std::string ip = "127.0.0.1";
  std::uint64_t gossip_port = 12000;
  std::uint64_t tpu_port = 13000;
  std::uint64_t tvu_port = 14000;
  std::uint64_t repair_port = 15000;
  std::uint64_t tpu_forwards_port = 16000;
  std::uint64_t rx_frames = 16384;
  std::uint64_t uring_provided_frames = 256;
  std::uint64_t socket_buffer_bytes = 4u << 20;
  // Share of rx_frames each port's consumers may hold at once (net_tile's rx_quota), so a
  // flood on one port cannot starve the others.
  double rx_share_gossip = 0.25;
  double rx_share_tpu = 0.5;
  double rx_share_tpu_forwards = 0.25;
  double rx_share_tvu = 0.5;
  double rx_share_repair = 0.25;
  double drop_gossip = 0;   // injected receive loss per port, probability 0..1
  double drop_tpu = 0;
  double drop_tvu = 0;
  double drop_repair = 0;
  double drop_tpu_forwards = 0;
  double duplicate = 0;     // probability a received packet is delivered twice
  std::uint64_t reorder_window = 0;
  std::uint64_t fault_seed = 1;
};

struct gossip_section {
  bool enabled = true;
  std::uint64_t push_fanout = 6;
  std::uint64_t push_interval_ms = 100;
  std::uint64_t pull_interval_ms = 1000;
  std::uint64_t active_set_rotate_ms = 10000;
  std::uint64_t refresh_own_values_ms = 5000;
  std::uint64_t heartbeat_ms = 1000;
  std::uint64_t suspect_after_ms = 5000;
  std::uint64_t dead_after_ms = 15000;
  std::uint64_t purge_after_ms = 60000;
  std::uint64_t wallclock_tolerance_ms = 10000;
  std::uint64_t max_values = 100000;
  std::uint64_t max_own_data_keys = 64;
};

struct rpc_section {
  bool enabled = true;
  std::string ip = "127.0.0.1";
  std::uint64_t port = 11000;
  std::uint64_t max_body_bytes = 4096;              // POST /gossip/data
  std::uint64_t max_batch_body_bytes = 256 * 1024;  // POST /tx/status (1024 signatures fit)
};

struct ledger_section {
  bool enabled = false;
  std::string dir;                  // required when enabled; must be new or empty
  bool sync_at_slot_end = true;     // fdatasync at every slot end (what is durable survives kill -9)
  std::uint64_t segment_mib = 256;  // size of each mmap'd segment file
  std::uint64_t tx_status_entries = 1 << 18;      // recent transaction statuses kept for the API
};

// Turbine, repair and replay: the shred path between a leader and its followers.
struct tvu_section {
  bool enabled = true;                  // with a genesis: lead or follow by the leader schedule
  std::uint64_t shred_tx_frames = 4096;  // the leader's send frames for its shreds
  std::uint64_t retransmit_frames = 2048;  // a follower's send frames for retransmits and repair
  std::uint64_t store_shreds = 65536;   // recent shreds kept to answer repair (≈ 1.2 KiB each)
  std::uint64_t store_slots = 512;      // recent slots kept to answer repair
  bool archive_shreds = true;           // keep every slot's data shreds in <ledger.dir>/shreds
  std::uint64_t archive_segment_mib = 64;  // size of each shred archive segment file
  std::uint64_t repair_interval_ms = 50;  // how often a follower looks for gaps to repair
  std::uint64_t repair_retry_ms = 150;  // a missing shred is asked for again after this long
  std::uint64_t repair_defer_ms = 100;  // a slot still receiving shreds is not repaired yet
  std::uint64_t max_slot_mib = 8;       // largest slot a follower assembles and replays
  std::string slot_log;                 // CSV of per-slot timings and shred counts; "" = none
};

struct metrics_section {
  std::string path = "/dev/shm/riptide/{name}.metrics";  // {name} = node.name
};

struct config {
  node_section node;
  identity_section identity;
  cluster_section cluster;
  net_section net;
  gossip_section gossip;
  rpc_section rpc;
  ledger_section ledger;
  layout_section layout;
  poh_section poh;
  verify_section verify;
  load_section load;
  dedup_section dedup;
  bank_section bank;
  tvu_section tvu;
  runtime_section runtime;
  metrics_section metrics;

  // Throws config_error naming the key of the first invalid value.
  void validate() const;
  // Bank tiles that actually run: bank.tiles when the ledger and verify tiles are on, else 0.
  std::uint64_t active_bank_tiles() const noexcept {
    return ledger.enabled && verify.tiles > 0 ? bank.tiles : 0;
  }
  std::filesystem::path metrics_path() const;
};

// Applies the TOML file on top of `cfg`. Throws config_error ("FILE: …").
void load_config_file(const std::filesystem::path& path, config& cfg);
// Applies TOML text (tests, embedded defaults). `origin` names the source in errors.
void load_config_text(std::string_view toml_text, std::string_view origin, config& cfg);
// "section.key=value" or key and value apart; value parsed per the field's type.
void apply_override(std::string_view key, std::string_view value, config& cfg);
void apply_override(std::string_view assignment, config& cfg);
std::string format_defaults();
// "a.b.c.d" → host-order address; "a.b.c.d:port" → address and port. nullopt if malformed.
std::optional<std::uint32_t> parse_ipv4(std::string_view text) noexcept;
std::optional<std::pair<std::uint32_t, std::uint16_t>> parse_endpoint(std::string_view text) noexcept;
std::string format_config(const config& cfg);

}  // namespace riptide::node
