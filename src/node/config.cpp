#include <riptide/node/config.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>

#include <toml++/toml.h>

namespace riptide::node {

namespace {

using u64_ref = std::uint64_t& (*)(config&);
using bool_ref = bool& (*)(config&);
using string_ref = std::string& (*)(config&);
using ints_ref = std::vector<std::int64_t>& (*)(config&);
using layout_ref = std::vector<std::vector<std::string>>& (*)(config&);
using double_ref = double& (*)(config&);
using strings_ref = std::vector<std::string>& (*)(config&);

struct field {
  std::string_view key;  // "section.name"
  std::string_view doc;
  std::variant<u64_ref, bool_ref, string_ref, ints_ref, layout_ref, double_ref, strings_ref> ref;
};

#define RT_FIELD(sec, name, doc) \
  field { #sec "." #name, doc, +[](config& c) -> auto& { return c.sec.name; } }

const std::vector<field>& fields() {
  static const std::vector<field> all = {
      RT_FIELD(node, name, "Node name: labels logs and the metrics file."),
      RT_FIELD(node, run_seconds, "Stop by itself after this many seconds; 0 runs until SIGINT/SIGTERM."),
      RT_FIELD(layout, cores,
               "Tiles per core thread, e.g. [[\"poh\"], [\"load\", \"verify\", \"dedup\"]]. Tile "
               "names: poh, load, verify, dedup, bank, ledger, net, gossip, shred, tvu, replay. "
               "Empty = auto: poh on the first core, the rest spread over the others."),
      RT_FIELD(layout, pin, "Pin each core thread to its CPU (pthread_setaffinity_np)."),
      RT_FIELD(layout, cpus, "CPU of core thread i; empty = the CPUs this process may use, in order."),
      RT_FIELD(identity, key_file, "Node key file (riptide keygen); empty = a fresh key for this run only."),
      RT_FIELD(cluster, genesis, "Genesis file (riptide genesis); empty = a standalone node."),
      RT_FIELD(cluster, entrypoints, "Gossip addresses to join through, e.g. [\"127.0.0.1:12000\"]."),
      RT_FIELD(cluster, shred_version, "Cluster id carried by every gossip message; taken from genesis when one is given."),
      RT_FIELD(net, enabled, "Open UDP sockets (needed for gossip)."),
      RT_FIELD(net, backend, "UDP backend: auto (io_uring if it works), io_uring, or recvmmsg."),
      RT_FIELD(net, ip, "IPv4 address to bind and advertise."),
      RT_FIELD(net, gossip_port, "Gossip UDP port."),
      RT_FIELD(net, tpu_port, "Transaction UDP port (advertised)."),
      RT_FIELD(net, tvu_port, "Shred UDP port (advertised)."),
      RT_FIELD(net, repair_port, "Repair UDP port (advertised)."),
      RT_FIELD(net, tpu_forwards_port, "Forwarded-transaction UDP port (advertised)."),
      RT_FIELD(net, rx_frames, "Receive frames in the net tile's pool (at most 65535 with io_uring)."),
      RT_FIELD(net, uring_provided_frames, "Receive frames lent to the kernel at a time (io_uring)."),
      RT_FIELD(net, socket_buffer_bytes, "Kernel receive/send buffer per socket; absorbs bursts while the core sleeps."),
      RT_FIELD(net, drop_gossip, "Injected receive loss on the gossip port, probability 0..1."),
      RT_FIELD(net, drop_tpu, "Injected receive loss on the tpu port, probability 0..1."),
      RT_FIELD(net, drop_tvu, "Injected receive loss on the tvu port, probability 0..1."),
      RT_FIELD(net, drop_repair, "Injected receive loss on the repair port, probability 0..1."),
      RT_FIELD(net, rx_share_gossip,
               "Share of net.rx_frames the gossip port's consumers may hold at once (0..1]; a datagram "
               "beyond it is dropped and counted (rx_drop_quota_gossip), so a flood on one port cannot "
               "take the frames the others need."),
      RT_FIELD(net, rx_share_tpu, "Share of net.rx_frames the tpu port's consumers may hold at once (0..1]."),
      RT_FIELD(net, rx_share_tpu_forwards,
               "Share of net.rx_frames the tpu_forwards port's consumers may hold at once (0..1]."),
      RT_FIELD(net, rx_share_tvu, "Share of net.rx_frames the tvu (shred) port's consumers may hold at once (0..1]."),
      RT_FIELD(net, rx_share_repair, "Share of net.rx_frames the repair port's consumers may hold at once (0..1]."),
      RT_FIELD(net, drop_tpu_forwards, "Injected receive loss on the tpu_forwards port, probability 0..1."),
      RT_FIELD(net, duplicate, "Injected duplication of received packets, probability 0..1."),
      RT_FIELD(net, reorder_window, "Injected reordering of received packets within this many packets; 0 = off."),
      RT_FIELD(net, fault_seed, "Seed of the fault injector, so a lossy run can be repeated."),
      RT_FIELD(gossip, enabled, "Run the gossip tile."),
      RT_FIELD(gossip, push_fanout, "Peers in the push active set."),
      RT_FIELD(gossip, push_interval_ms, "How often new values are pushed."),
      RT_FIELD(gossip, pull_interval_ms, "How often a pull request (bloom filter) goes to a random peer."),
      RT_FIELD(gossip, active_set_rotate_ms, "How often the push active set is rotated."),
      RT_FIELD(gossip, refresh_own_values_ms, "How often the node re-signs its own values (liveness)."),
      RT_FIELD(gossip, heartbeat_ms, "How often peers are pinged."),
      RT_FIELD(gossip, suspect_after_ms, "A peer silent this long is suspected."),
      RT_FIELD(gossip, dead_after_ms, "A peer silent this long is dead."),
      RT_FIELD(gossip, purge_after_ms, "Values of a peer silent this long are purged."),
      RT_FIELD(gossip, wallclock_tolerance_ms, "Values stamped further than this in the future are rejected."),
      RT_FIELD(gossip, max_values, "Capacity of the CRDS table."),
      RT_FIELD(gossip, max_own_data_keys,
               "Keys this node publishes itself (POST /gossip/data); a new key beyond this is refused "
               "with 409, updating an existing key is always accepted."),
      RT_FIELD(rpc, enabled, "Serve the HTTP API (its own thread, never on a tile's core)."),
      RT_FIELD(rpc, ip, "HTTP API bind address."),
      RT_FIELD(rpc, port, "HTTP API port."),
      RT_FIELD(rpc, max_body_bytes, "Largest accepted POST /gossip/data body; larger ones get 400."),
      RT_FIELD(rpc, max_batch_body_bytes, "Largest accepted POST /tx/status body (1024 signatures "
                                          "take about 132 KiB); larger ones get 400."),
      RT_FIELD(poh, hashes_per_tick, "SHA-256 hashes per PoH tick (from genesis in a cluster)."),
      RT_FIELD(poh, ticks_per_slot, "PoH ticks per slot."),
      RT_FIELD(poh, tick_us, "Wall-clock target per tick in microseconds (sleep mode, for small "
                             "machines); 0 hashes flat out and takes a whole core."),
      RT_FIELD(poh, hashes_per_poll, "Hashes per poll of the PoH tile (bounds its time slice)."),
      RT_FIELD(poh, max_slots, "Stop the chain after this many slots; 0 = never."),
      RT_FIELD(verify, tiles, "Number of signature-verify tiles (work is sharded round-robin)."),
      RT_FIELD(verify, pubkey_cache_entries, "Parsed public keys cached per verify tile (power of two)."),
      RT_FIELD(verify, batch, "Packets a verify tile takes per poll (1..64)."),
      RT_FIELD(verify, ring_entries, "Slots in each ring into and out of the verify tiles (power of two)."),
      RT_FIELD(load, enabled, "Synthetic signed transfers between funded signers, sent as UDP to the node's own tpu port."),
      RT_FIELD(load, rate_tps, "Synthetic transactions per second; 0 = as fast as they are taken."),
      RT_FIELD(load, distinct_transactions, "Distinct signed transfers generated at start-up."),
      RT_FIELD(load, duplicate_percent, "Percent of sends that repeat an earlier transaction (0..100)."),
      RT_FIELD(load, invalid_percent, "Percent of distinct transactions with a corrupted signature (0..100)."),
      RT_FIELD(dedup, cache_entries, "Recent signature tags remembered by the dedup tile (replay "
                                      "protection: keep at least 60 s of peak TPS)."),
      RT_FIELD(bank, tiles, "Bank tiles executing transfers (dedup routes by fee payer); 0 = no "
                            "banking. Bank tiles run only with ledger.enabled (the ledger tile stores and frees "
                            "executed batches)."),
      RT_FIELD(bank, max_accounts, "Accounts the bank can hold."),
      RT_FIELD(bank, max_statuses, "Landed transactions the replaying bank forks remember for replay protection "
                                   "(150 slots, 60 s: keep at least 60 s of peak TPS; ~264 bytes each)."),
      RT_FIELD(bank, lamports_per_signature, "Fee per signature, in lamports."),
      RT_FIELD(bank, max_txs_per_microblock, "Transactions per entry (and per bank poll) at most."),
      RT_FIELD(bank, microblocks, "Executed batches a bank tile may have in flight to the ledger (power of two)."),
      RT_FIELD(bank, retry_slots, "Transactions a bank tile holds while their account locks are taken."),
      RT_FIELD(bank, ring_entries, "Slots in each dedup → bank ring (power of two)."),
      RT_FIELD(bank, load_signer_lamports, "Balance the node gives each load-tile signer at start-up."),
      RT_FIELD(bank, voter_lamports, "Balance the node gives each staked validator of the genesis at start-up: it "
                                     "pays the fees of its votes. Part of the ledger's start state, so the same "
                                     "on every node of a cluster."),
      RT_FIELD(runtime, idle_spins, "Idle passes that just spin before backing off."),
      RT_FIELD(runtime, idle_pauses, "Then idle passes with a pause instruction."),
      RT_FIELD(runtime, idle_yields, "Then idle passes with sched_yield()."),
      RT_FIELD(runtime, idle_min_sleep_us, "Then sleeps starting at this many microseconds…"),
      RT_FIELD(runtime, idle_max_sleep_us, "…doubling up to this many."),
      RT_FIELD(runtime, housekeep_interval_us, "How often tiles flush metrics and run timers."),
      RT_FIELD(ledger, enabled, "Write PoH entries to an mmap'd append-only ledger (ledger tile)."),
      RT_FIELD(ledger, dir, "Ledger directory; an existing ledger is resumed (replayed into the bank first)."),
      RT_FIELD(ledger, sync_at_slot_end, "fdatasync at every slot end: what was reported durable survives kill -9."),
      RT_FIELD(ledger, segment_mib, "Size of each ledger segment file in MiB."),
      RT_FIELD(ledger, tx_status_entries, "Recent transaction statuses kept for GET /tx (power of two)."),
      RT_FIELD(tvu, enabled, "With a genesis, lead or follow by the leader schedule (shreds, Turbine, repair, replay)."),
      RT_FIELD(tvu, shred_tx_frames, "The leader's send frames for its shreds."),
      RT_FIELD(tvu, retransmit_frames, "A follower's send frames for Turbine retransmits and repair."),
      RT_FIELD(tvu, store_shreds, "Recent shreds kept to answer repair requests."),
      RT_FIELD(tvu, store_slots, "Recent slots kept to answer repair requests."),
      RT_FIELD(tvu, archive_shreds, "Keep every slot's data shreds on disk in <ledger.dir>/shreds and answer repair from them (slots older than the store, and from before a restart)."),
      RT_FIELD(tvu, archive_segment_mib, "Size of each shred archive segment file in MiB."),
      RT_FIELD(tvu, repair_interval_ms, "How often a follower looks for missing shreds to repair."),
      RT_FIELD(tvu, repair_retry_ms, "A missing shred is requested again after this long."),
      RT_FIELD(tvu, repair_defer_ms, "A slot is repaired only once no shred of it arrived for this long."),
      RT_FIELD(tvu, max_slot_mib, "Largest slot a follower assembles and replays, in MiB."),
      RT_FIELD(tvu, slot_log, "CSV file of per-slot times and shred counts (stress tests); {name} = node.name; empty: none. A rotating validator also logs the blocks it made, when their shreds left, to the same name with .sent before the extension."),
      RT_FIELD(metrics, path, "Shared-memory metrics file read by `riptide monitor`; {name} = node.name."),
  };
  return all;
}
#undef RT_FIELD

const field* find_field(std::string_view key) {
  for (const auto& f : fields())
    if (f.key == key) return &f;
  return nullptr;
}

[[noreturn]] void fail(std::string_view origin, std::string_view key, const std::string& what) {
  throw config_error(std::string(origin) + ": " + std::string(key) + ": " + what);
}

std::string type_name(const toml::node& n) {
  std::ostringstream os;
  os << n.type();
  return os.str();
}

void set_from_toml(const field& f, const toml::node& n, std::string_view origin, config& cfg) {
  std::visit(
      [&](auto ref) {
        using R = decltype(ref);
        if constexpr (std::is_same_v<R, u64_ref>) {
          const auto v = n.value<std::int64_t>();
          if (!n.is_integer() || !v || *v < 0)
            fail(origin, f.key, "expected a non-negative integer, got " + type_name(n));
          ref(cfg) = static_cast<std::uint64_t>(*v);
        } else if constexpr (std::is_same_v<R, bool_ref>) {
          if (!n.is_boolean()) fail(origin, f.key, "expected true or false, got " + type_name(n));
          ref(cfg) = *n.value<bool>();
        } else if constexpr (std::is_same_v<R, string_ref>) {
          if (!n.is_string()) fail(origin, f.key, "expected a string, got " + type_name(n));
          ref(cfg) = *n.value<std::string>();
        } else if constexpr (std::is_same_v<R, double_ref>) {
          if (!n.is_number()) fail(origin, f.key, "expected a number, got " + type_name(n));
          ref(cfg) = n.is_integer() ? static_cast<double>(*n.value<std::int64_t>()) : *n.value<double>();
        } else if constexpr (std::is_same_v<R, strings_ref>) {
          const auto* arr = n.as_array();
          if (arr == nullptr) fail(origin, f.key, "expected an array of strings, got " + type_name(n));
          std::vector<std::string> out;
          for (const auto& e : *arr) {
            if (!e.is_string()) fail(origin, f.key, "expected an array of strings");
            out.push_back(*e.value<std::string>());
          }
          ref(cfg) = std::move(out);
        } else if constexpr (std::is_same_v<R, ints_ref>) {
          const auto* arr = n.as_array();
          if (arr == nullptr) fail(origin, f.key, "expected an array of integers, got " + type_name(n));
          std::vector<std::int64_t> out;
          for (const auto& e : *arr) {
            if (!e.is_integer()) fail(origin, f.key, "expected an array of integers");
            out.push_back(*e.value<std::int64_t>());
          }
          ref(cfg) = std::move(out);
        } else {
          if (const auto s = n.value<std::string>(); s && *s == "auto") {
            ref(cfg).clear();
            return;
          }
          const auto* arr = n.as_array();
          if (arr == nullptr)
            fail(origin, f.key, "expected \"auto\" or an array of arrays of tile names");
          std::vector<std::vector<std::string>> out;
          for (const auto& core : *arr) {
            const auto* tiles = core.as_array();
            if (tiles == nullptr) fail(origin, f.key, "each core must be an array of tile names");
            auto& names = out.emplace_back();
            for (const auto& t : *tiles) {
              if (!t.is_string()) fail(origin, f.key, "tile names must be strings");
              names.push_back(*t.value<std::string>());
            }
          }
          ref(cfg) = std::move(out);
        }
      },
      f.ref);
}

bool power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

void require(bool ok, std::string_view key, const std::string& what) {
  if (!ok) throw config_error(std::string(key) + ": " + what);
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string format_value(const field& f, config& cfg) {
  return std::visit(
      [&](auto ref) -> std::string {
        using R = decltype(ref);
        if constexpr (std::is_same_v<R, u64_ref>) {
          return std::to_string(ref(cfg));
        } else if constexpr (std::is_same_v<R, bool_ref>) {
          return ref(cfg) ? "true" : "false";
        } else if constexpr (std::is_same_v<R, string_ref>) {
          return quote(ref(cfg));
        } else if constexpr (std::is_same_v<R, double_ref>) {
          std::ostringstream os;
          os.precision(17);
          os << ref(cfg);
          std::string v = os.str();
          if (v.find_first_of(".eE") == std::string::npos) v += ".0";
          return v;
        } else if constexpr (std::is_same_v<R, strings_ref>) {
          std::string s = "[";
          for (std::size_t i = 0; i < ref(cfg).size(); ++i) s += (i ? ", " : "") + quote(ref(cfg)[i]);
          return s + "]";
        } else if constexpr (std::is_same_v<R, ints_ref>) {
          std::string s = "[";
          for (std::size_t i = 0; i < ref(cfg).size(); ++i)
            s += (i ? ", " : "") + std::to_string(ref(cfg)[i]);
          return s + "]";
        } else {
          if (ref(cfg).empty()) return "\"auto\"";
          std::string s = "[";
          for (std::size_t i = 0; i < ref(cfg).size(); ++i) {
            s += i ? ", [" : "[";
            for (std::size_t j = 0; j < ref(cfg)[i].size(); ++j)
              s += (j ? ", " : "") + quote(ref(cfg)[i][j]);
            s += "]";
          }
          return s + "]";
        }
      },
      f.ref);
}

}  // namespace

std::optional<std::uint32_t> parse_ipv4(std::string_view text) noexcept {
  std::uint32_t ip = 0;
  int parts = 0;
  std::size_t i = 0;
  while (parts < 4) {
    std::uint32_t v = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 4) {
      v = v * 10 + static_cast<std::uint32_t>(text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || v > 255) return std::nullopt;
    ip = ip << 8 | v;
    if (++parts < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return ip;
}

std::optional<std::pair<std::uint32_t, std::uint16_t>> parse_endpoint(std::string_view text) noexcept {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto ip = parse_ipv4(text.substr(0, colon));
  const auto port_text = text.substr(colon + 1);
  std::uint32_t port = 0;
  if (!ip || port_text.empty() || port_text.size() > 5) return std::nullopt;
  for (char ch : port_text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    port = port * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return std::pair{*ip, static_cast<std::uint16_t>(port)};
}

void load_config_text(std::string_view toml_text, std::string_view origin, config& cfg) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << origin << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": invalid TOML: " << e.description();
    throw config_error(os.str());
  }
  for (const auto& [section, value] : root) {
    const auto* table = value.as_table();
    if (table == nullptr)
      fail(origin, section.str(), "unknown key (settings live in sections such as [poh])");
    for (const auto& [name, node] : *table) {
      const std::string key = std::string(section.str()) + "." + std::string(name.str());
      const field* f = find_field(key);
      if (f == nullptr) fail(origin, key, "unknown key");
      set_from_toml(*f, node, origin, cfg);
    }
  }
}

void load_config_file(const std::filesystem::path& path, config& cfg) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw config_error(path.string() + ": cannot read config file (missing or not a file)");
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) throw config_error(path.string() + ": cannot read config file");
  load_config_text(buf.str(), path.string(), cfg);
}

void apply_override(std::string_view key, std::string_view value, config& cfg) {
  const field* f = find_field(key);
  if (f == nullptr) throw config_error("--set: " + std::string(key) + ": unknown key");
  // Values are TOML literals, so `--set node.name=a` works unquoted for strings too.
  std::string text = "v = " + std::string(value);
  if (std::holds_alternative<string_ref>(f->ref) && (value.empty() || value.front() != '"'))
    text = "v = " + quote(std::string(value));
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw config_error("--set: " + std::string(key) + ": invalid value '" + std::string(value) +
                       "': " + std::string(e.description()));
  }
  set_from_toml(*f, *t.get("v"), "--set", cfg);
}

void apply_override(std::string_view assignment, config& cfg) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw config_error("--set: expected section.key=value, got '" + std::string(assignment) + "'");
  apply_override(assignment.substr(0, eq), assignment.substr(eq + 1), cfg);
}

void config::validate() const {
  require(!node.name.empty() && node.name.size() <= 32 &&
              std::all_of(node.name.begin(), node.name.end(),
                          [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_'; }),
          "node.name", "must be 1..32 characters of [A-Za-z0-9_-]");
  require(poh.hashes_per_tick >= 2, "poh.hashes_per_tick", "must be >= 2");
  require(poh.ticks_per_slot >= 1, "poh.ticks_per_slot", "must be >= 1");
  require(poh.hashes_per_poll >= 1 && poh.hashes_per_poll <= 1'000'000, "poh.hashes_per_poll",
          "must be in 1..1000000");
  require(poh.tick_us <= 10'000'000, "poh.tick_us", "must be <= 10000000 (10 s)");
  require(verify.tiles <= 64, "verify.tiles", "must be in 0..64");
  require(power_of_two(verify.pubkey_cache_entries), "verify.pubkey_cache_entries",
          "must be a power of two");
  require(verify.batch >= 1 && verify.batch <= 64, "verify.batch", "must be in 1..64");
  require(power_of_two(verify.ring_entries) && verify.ring_entries >= 16,
          "verify.ring_entries", "must be a power of two >= 16");
  require(!load.enabled || verify.tiles >= 1, "load.enabled", "needs verify.tiles >= 1");
  require(!load.enabled || net.enabled, "load.enabled", "needs net.enabled = true (it sends to the tpu port)");
  require(bank.tiles <= 16, "bank.tiles", "must be in 0..16");
  require(bank.max_accounts >= 16 && bank.max_accounts <= (1ULL << 28), "bank.max_accounts",
          "must be in 16..268435456");
  require(bank.max_statuses >= 64 && bank.max_statuses <= (1ULL << 26), "bank.max_statuses", "must be in 64..67108864");
  require(bank.lamports_per_signature <= 1'000'000'000'000ULL, "bank.lamports_per_signature",
          "must be <= 10^12");
  require(bank.max_txs_per_microblock >= 1 && bank.max_txs_per_microblock <= 1024,
          "bank.max_txs_per_microblock", "must be in 1..1024");
  require(power_of_two(bank.microblocks) && bank.microblocks >= 4 && bank.microblocks <= 4096,
          "bank.microblocks", "must be a power of two in 4..4096");
  require(bank.retry_slots >= 1 && bank.retry_slots <= 65536, "bank.retry_slots", "must be in 1..65536");
  require(power_of_two(bank.ring_entries) && bank.ring_entries >= 16, "bank.ring_entries",
          "must be a power of two >= 16");
  require(power_of_two(ledger.tx_status_entries) && ledger.tx_status_entries >= 16 &&
              ledger.tx_status_entries <= (1ULL << 24),
          "ledger.tx_status_entries", "must be a power of two in 16..16777216");
  require(load.distinct_transactions >= 1 && load.distinct_transactions <= 1'000'000,
          "load.distinct_transactions", "must be in 1..1000000");
  require(load.duplicate_percent <= 100, "load.duplicate_percent", "must be in 0..100");
  require(load.invalid_percent <= 100, "load.invalid_percent", "must be in 0..100");
  require(dedup.cache_entries >= 1 && dedup.cache_entries <= (1ULL << 26), "dedup.cache_entries",
          "must be in 1..67108864");
  require(runtime.idle_min_sleep_us >= 1 && runtime.idle_min_sleep_us <= runtime.idle_max_sleep_us,
          "runtime.idle_min_sleep_us", "must be >= 1 and <= runtime.idle_max_sleep_us");
  require(runtime.idle_max_sleep_us <= 100'000, "runtime.idle_max_sleep_us", "must be <= 100000");
  require(runtime.housekeep_interval_us >= 10, "runtime.housekeep_interval_us", "must be >= 10");
  require(!metrics.path.empty(), "metrics.path", "must not be empty");
  require(tvu.shred_tx_frames >= 64 && tvu.shred_tx_frames <= (1u << 20), "tvu.shred_tx_frames",
          "must be in 64..1048576");
  require(tvu.retransmit_frames >= 64 && tvu.retransmit_frames <= (1u << 20), "tvu.retransmit_frames",
          "must be in 64..1048576");
  require(tvu.store_shreds >= 64 && tvu.store_shreds <= (1u << 22), "tvu.store_shreds", "must be in 64..4194304");
  require(tvu.store_slots >= 4 && tvu.store_slots <= 65536, "tvu.store_slots", "must be in 4..65536");
  require(tvu.archive_segment_mib >= 1 && tvu.archive_segment_mib <= 4096, "tvu.archive_segment_mib",
          "must be in 1..4096");
  require(tvu.repair_interval_ms >= 1 && tvu.repair_interval_ms <= 10'000, "tvu.repair_interval_ms",
          "must be in 1..10000");
  require(tvu.repair_retry_ms >= 1 && tvu.repair_retry_ms <= 60'000, "tvu.repair_retry_ms", "must be in 1..60000");
  require(tvu.repair_defer_ms <= 60'000, "tvu.repair_defer_ms", "must be in 0..60000");
  require(tvu.max_slot_mib >= 1 && tvu.max_slot_mib <= 64, "tvu.max_slot_mib", "must be in 1..64");
  require(net.backend == "auto" || net.backend == "io_uring" || net.backend == "recvmmsg",
          "net.backend", "must be auto, io_uring or recvmmsg");
  require(parse_ipv4(net.ip).has_value(), "net.ip", "must be an IPv4 address");
  require(parse_ipv4(rpc.ip).has_value(), "rpc.ip", "must be an IPv4 address");
  for (auto [key, port] : {std::pair{"net.gossip_port", net.gossip_port}, {"net.tpu_port", net.tpu_port},
                           {"net.tvu_port", net.tvu_port}, {"net.repair_port", net.repair_port},
                           {"net.tpu_forwards_port", net.tpu_forwards_port}, {"rpc.port", rpc.port}})
    require(port >= 1 && port <= 65535, key, "must be a port in 1..65535");
  for (auto [key, p] : {std::pair{"net.drop_gossip", net.drop_gossip}, {"net.drop_tpu", net.drop_tpu},
                        {"net.drop_tvu", net.drop_tvu}, {"net.drop_repair", net.drop_repair},
                        {"net.drop_tpu_forwards", net.drop_tpu_forwards},
                        {"net.duplicate", net.duplicate}})
    require(p >= 0 && p <= 1, key, "must be a probability in 0..1");
  require(net.rx_frames >= 64 && net.rx_frames <= (1u << 20), "net.rx_frames", "must be in 64..1048576");
  for (auto [key, share] : {std::pair{"net.rx_share_gossip", net.rx_share_gossip}, {"net.rx_share_tpu", net.rx_share_tpu},
                            {"net.rx_share_tpu_forwards", net.rx_share_tpu_forwards},
                            {"net.rx_share_tvu", net.rx_share_tvu}, {"net.rx_share_repair", net.rx_share_repair}})
    require(share > 0 && share <= 1, key, "must be a share of net.rx_frames in (0, 1]");
  require(net.reorder_window <= 1024, "net.reorder_window", "must be in 0..1024");
  require(net.uring_provided_frames >= 8 && net.uring_provided_frames <= net.rx_frames,
          "net.uring_provided_frames", "must be in 8..net.rx_frames");
  require(net.socket_buffer_bytes >= 65536 && net.socket_buffer_bytes <= (1u << 30),
          "net.socket_buffer_bytes", "must be in 65536..1073741824");
  require(!gossip.enabled || net.enabled, "gossip.enabled", "needs net.enabled = true");
  require(gossip.push_fanout >= 1 && gossip.push_fanout <= 64, "gossip.push_fanout", "must be in 1..64");
  require(gossip.push_interval_ms >= 1, "gossip.push_interval_ms", "must be >= 1");
  require(gossip.pull_interval_ms >= 1, "gossip.pull_interval_ms", "must be >= 1");
  require(gossip.suspect_after_ms < gossip.dead_after_ms, "gossip.suspect_after_ms", "must be < gossip.dead_after_ms");
  require(gossip.dead_after_ms <= gossip.purge_after_ms, "gossip.dead_after_ms", "must be <= gossip.purge_after_ms");
  require(gossip.max_values >= 16, "gossip.max_values", "must be >= 16");
  require(gossip.max_own_data_keys >= 1 && gossip.max_own_data_keys <= 4096, "gossip.max_own_data_keys",
          "must be in 1..4096");
  require(cluster.shred_version <= 65535, "cluster.shred_version", "must be in 0..65535");
  for (const auto& e : cluster.entrypoints)
    require(parse_endpoint(e).has_value(), "cluster.entrypoints", "'" + e + "' is not ip:port");
  require(!ledger.enabled || !ledger.dir.empty(), "ledger.dir", "must be set when ledger.enabled = true");
  require(ledger.segment_mib >= 1 && ledger.segment_mib <= 65536, "ledger.segment_mib", "must be in 1..65536");
  require(rpc.max_body_bytes >= 64 && rpc.max_body_bytes <= (1u << 20), "rpc.max_body_bytes", "must be in 64..1048576");
  require(rpc.max_batch_body_bytes >= 256 && rpc.max_batch_body_bytes <= (16u << 20), "rpc.max_batch_body_bytes",
          "must be in 256..16777216");
  for (auto cpu : layout.cpus) require(cpu >= 0 && cpu < 4096, "layout.cpus", "CPU numbers must be in 0..4095");
  if (!layout.cores.empty()) {
    std::map<std::string, std::uint64_t> seen;
    for (const auto& core : layout.cores) {
      require(!core.empty(), "layout.cores", "a core thread must run at least one tile");
      for (const auto& t : core) {
        require(t == "poh" || t == "verify" || t == "load" || t == "dedup" || t == "net" || t == "gossip" ||
                    t == "ledger" || t == "bank" || t == "shred" || t == "tvu" || t == "replay",
                "layout.cores",
                "unknown tile '" + t +
                    "' (known: poh, load, verify, dedup, bank, net, gossip, ledger, shred, tvu, replay)");
        ++seen[t];
      }
    }
    require(seen["poh"] == 1, "layout.cores", "must place exactly one poh tile");
    require(seen["shred"] <= 1 && seen["tvu"] <= 1 && seen["replay"] <= 1, "layout.cores",
            "places shred, tvu or replay more than once");
    require(seen["verify"] == verify.tiles, "layout.cores",
            "places " + std::to_string(seen["verify"]) + " verify tiles but verify.tiles = " +
                std::to_string(verify.tiles));
    const std::uint64_t want_pipeline = verify.tiles > 0 ? 1 : 0;
    require(seen["dedup"] == want_pipeline, "layout.cores",
            verify.tiles > 0 ? "must place exactly one dedup tile" : "dedup needs verify tiles");
    require(seen["bank"] == active_bank_tiles(), "layout.cores",
            "places " + std::to_string(seen["bank"]) + " bank tiles but " +
                std::to_string(active_bank_tiles()) +
                " run (bank.tiles, and only with ledger.enabled and verify tiles)");
    require(seen["load"] == (load.enabled ? 1u : 0u), "layout.cores",
            load.enabled ? "must place exactly one load tile (load.enabled = true)"
                         : "places a load tile but load.enabled = false");
    require(seen["net"] == (net.enabled ? 1u : 0u), "layout.cores",
            net.enabled ? "must place exactly one net tile (net.enabled = true)"
                        : "places a net tile but net.enabled = false");
    require(seen["gossip"] == (gossip.enabled ? 1u : 0u), "layout.cores",
            gossip.enabled ? "must place exactly one gossip tile (gossip.enabled = true)"
                           : "places a gossip tile but gossip.enabled = false");
    require(seen["ledger"] == (ledger.enabled ? 1u : 0u), "layout.cores",
            ledger.enabled ? "must place exactly one ledger tile (ledger.enabled = true)"
                           : "places a ledger tile but ledger.enabled = false");
    require(layout.cpus.empty() || layout.cpus.size() >= layout.cores.size(), "layout.cpus",
            "names fewer CPUs than layout.cores has core threads");
  }
}

std::filesystem::path config::metrics_path() const {
  std::string p = metrics.path;
  for (auto pos = p.find("{name}"); pos != std::string::npos; pos = p.find("{name}"))
    p.replace(pos, 6, node.name);
  return p;
}

std::string format_config(const config& cfg_in) {
  config cfg = cfg_in;
  std::string out =
      "# riptide node configuration. Every key is optional; shown values are the defaults.\n";
  std::string section;
  for (const auto& f : fields()) {
    const auto dot = f.key.find('.');
    const std::string sec(f.key.substr(0, dot));
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += "# " + std::string(f.doc) + "\n";
    out += std::string(f.key.substr(dot + 1)) + " = " + format_value(f, cfg) + "\n";
  }
  return out;
}

std::string format_defaults() { return format_config(config{}); }

}  // namespace riptide::node
