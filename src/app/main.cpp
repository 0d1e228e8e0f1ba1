// The `riptide` binary: one executable, several subcommands.
//
// Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include <riptide/util/hex.hpp>
#include <riptide/crypto/keyfile.hpp>
#include <riptide/crypto/sha256.hpp>
#include <riptide/node/bench_tps.hpp>
#include <riptide/node/flood.hpp>
#include <riptide/rpc/chain_client.hpp>
#include <riptide/rpc/hex_parse.hpp>
#include <riptide/rpc/schedule_view.hpp>
#include <riptide/epoch/leader_schedule.hpp>
#include <riptide/txn/transaction.hpp>
#include <riptide/node/config.hpp>
#include <riptide/node/genesis.hpp>
#include <riptide/node/ledger_tool.hpp>
#include <riptide/node/node.hpp>
#include <riptide/net/udp.hpp>
#include <riptide/shred/shred.hpp>
#include <riptide/util/file_lock.hpp>
#include <riptide/util/metrics.hpp>
#include <riptide/ledger/ledger.hpp>
#include <nlohmann/json.hpp>

namespace {

constexpr int exit_runtime_error = 1;
constexpr int exit_usage = 2;

// CLI11 reads unsigned options with strtoull(…, 0): "-5" wraps to 2^64-5 and "010" is octal.
// Every unsigned option gets this check instead: decimal digits only (leading zeros dropped).
const CLI::Validator unsigned_decimal(
    [](std::string& text) -> std::string {
      if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "expected a whole number >= 0 (decimal digits), got '" + text + "'";
      const auto first = text.find_first_not_of('0');
      text = first == std::string::npos ? "0" : text.substr(first);
      return {};
    },
    "", "unsigned decimal");

void check_unsigned_options(CLI::App& app) {
  for (CLI::Option* opt : app.get_options())
    if (opt->get_type_name().rfind("UINT", 0) == 0) opt->check(unsigned_decimal);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) check_unsigned_options(*sub);
}

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

riptide::node::config build_config(const std::string& path, const std::vector<std::string>& sets) {
  riptide::node::config cfg;
  if (!path.empty()) riptide::node::load_config_file(path, cfg);
  for (const auto& s : sets) riptide::node::apply_override(s, cfg);
  cfg.validate();
  return cfg;
}

int cmd_run(const std::string& path, const std::vector<std::string>& sets, std::uint64_t seconds,
            bool seconds_given, const std::string& summary_json) {
  auto cfg = build_config(path, sets);
  if (seconds_given) cfg.node.run_seconds = seconds;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  riptide::node::node n(cfg);
  const auto summary = n.run(g_stop, std::cout);
  if (!summary_json.empty()) {
    std::ofstream f(summary_json);
    f << riptide::node::to_json(summary) << "\n";
    if (!f.flush()) {
      std::cerr << "error: " << summary_json << ": cannot write the run summary\n";
      return exit_runtime_error;
    }
  }
  return summary.drained_cleanly ? 0 : exit_runtime_error;
}

int cmd_monitor(const std::string& path, std::uint64_t count) {
  riptide::util::metrics_reader reader(path);
  auto prev = reader.snapshot();
  auto prev_t = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; count == 0 || i < count; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto cur = reader.snapshot();
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - prev_t).count();
    const double age_s =
        static_cast<double>(riptide::util::unix_time_ns() - cur.heartbeat_unix_ns) / 1e9;
    std::cout << fmt::format("--- pid {} | heartbeat {:.1f} s ago{}\n", cur.pid, age_s,
                             age_s > 5 ? " (node not running?)" : "");
    for (std::size_t b = 0; b < cur.blocks.size(); ++b) {
      const auto& blk = cur.blocks[b];
      std::string line = fmt::format("{:<18}", blk.name);
      for (std::size_t c = 0; c < blk.values.size(); ++c) {
        const bool have_prev = b < prev.blocks.size() && c < prev.blocks[b].values.size();
        const std::uint64_t v = blk.values[c];
        // "slot", "cpu" and "depth" are levels, not counters: print them as they are.
        const auto& cname = blk.counter_names[c];
        if (cname == "slot" || cname == "cpu" || cname == "depth") {
          line += fmt::format(" {}={}", blk.counter_names[c],
                              v == ~std::uint64_t{0} ? std::string("-") : std::to_string(v));
        } else {
          const double rate = have_prev ? static_cast<double>(v - prev.blocks[b].values[c]) / dt : 0;
          line += fmt::format(" {}={}({:.0f}/s)", blk.counter_names[c], v, rate);
        }
      }
      std::cout << line << "\n";
    }
    std::cout << std::flush;
    prev = std::move(cur);
    prev_t = now;
  }
  return 0;
}

// A minimal HTTP client for scripts (no curl needed): prints the body, exits 0 on 2xx.
int cmd_rpc(const std::string& url, const std::string& method, const std::string& path,
            const std::string& body) {
  const auto ep = riptide::node::parse_endpoint(url);
  if (!ep) throw riptide::node::config_error("--url: expected ip:port, got '" + url + "'");
  httplib::Client client(fmt::format("{}.{}.{}.{}", ep->first >> 24, (ep->first >> 16) & 255,
                                     (ep->first >> 8) & 255, ep->first & 255),
                         ep->second);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  httplib::Result res = method == "POST" ? client.Post(path, body, "application/json") : client.Get(path);
  if (!res) {
    std::cerr << "error: " << url << path << ": " << httplib::to_string(res.error()) << "\n";
    return exit_runtime_error;
  }
  std::cout << res->body;
  if (!res->body.empty() && res->body.back() != '\n') std::cout << "\n";
  return res->status >= 200 && res->status < 300 ? 0 : exit_runtime_error;
}

int cmd_ledger_repair(const std::string& dir, bool as_json) {
  namespace lg = riptide::ledger;
  lg::ledger_config cfg;
  cfg.dir = dir;
  lg::repair_report r;
  const auto repaired = lg::ledger::repair(cfg, r);
  // Slots the cut reaches: every slot from the first one with a dropped record; the last kept
  // slot counts too when dropped records belong to it (the node's resume cuts a partial slot).
  const bool kept_any = r.records_kept != 0;
  const bool partial = r.records_dropped != 0 && kept_any && r.first_slot_dropped <= r.last_slot_kept;
  const std::uint64_t slots_dropped =
      r.records_dropped == 0 ? 0 : r.last_slot_dropped - r.first_slot_dropped + 1;
  if (as_json) {
    nlohmann::json j{{"dir", dir},
                     {"cut", r.cut},
                     {"reason", r.reason},
                     {"records_kept", r.records_kept},
                     {"last_slot_kept", kept_any ? nlohmann::json(r.last_slot_kept) : nlohmann::json(nullptr)},
                     {"records_dropped", r.records_dropped},
                     {"slots_dropped", slots_dropped},
                     {"first_slot_dropped", r.records_dropped != 0 ? nlohmann::json(r.first_slot_dropped) : nlohmann::json(nullptr)},
                     {"last_slot_dropped", r.records_dropped != 0 ? nlohmann::json(r.last_slot_dropped) : nlohmann::json(nullptr)},
                     {"bytes_zeroed", r.bytes_dropped},
                     {"segments_deleted", r.segments_deleted}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (!r.cut) {
    std::cout << fmt::format("{}: nothing to repair: {} records{}\n", dir, r.records_kept,
                             kept_any ? fmt::format(", last slot {}", r.last_slot_kept) : std::string());
    return 0;
  }
  std::cout << fmt::format("{}: cut at segment {} offset {}: {}\n", dir, r.at.segment, r.at.offset, r.reason);
  std::cout << fmt::format("  kept {} records{}\n", r.records_kept,
                           kept_any ? fmt::format(" (through slot {})", r.last_slot_kept) : std::string());
  if (r.records_dropped != 0)
    std::cout << fmt::format("  dropped {} intact records after the cut, of {} slot(s) {}..{}{}\n", r.records_dropped,
                             slots_dropped, r.first_slot_dropped, r.last_slot_dropped,
                             partial ? fmt::format(" (slot {} is now partial: a node cuts it when it resumes)",
                                                   r.last_slot_kept)
                                     : std::string());
  else
    std::cout << "  no intact record was found after the cut (0 slots dropped)\n";
  std::cout << fmt::format("  zeroed {} bytes, deleted {} later segment file(s)\n", r.bytes_dropped, r.segments_deleted);
  (void)repaired;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"riptide: a proof-of-history validator node"};
  app.require_subcommand(1);

  auto* version = app.add_subcommand("version", "Print the version and the SHA-256 backend in use");

  auto* keygen = app.add_subcommand("keygen", "Generate a keypair file (mode 0600)");
  std::string key_out;
  bool key_force = false;
  keygen->add_option("-o,--outfile", key_out, "Where to write the key file")->required();
  keygen->add_flag("--force", key_force, "Overwrite an existing file");

  auto* config_cmd = app.add_subcommand("config", "Print or check configuration");
  bool defaults = false;
  std::string check_path;
  std::vector<std::string> config_sets;
  config_cmd->add_flag("--defaults", defaults, "Print every setting with its default and documentation");
  config_cmd->add_option("--check", check_path, "Validate a config file and print the result")
      ->check(CLI::ExistingFile);
  config_cmd->add_option("--set", config_sets, "Override a setting: section.key=value (repeatable)");

  auto* run = app.add_subcommand("run", "Run a node");
  std::string run_config;
  std::vector<std::string> run_sets;
  std::uint64_t run_seconds = 0;
  run->add_option("-c,--config", run_config, "TOML config file (defaults if omitted)");
  run->add_option("--set", run_sets, "Override a setting: section.key=value (repeatable)");
  auto* seconds_opt = run->add_option("--seconds", run_seconds, "Stop after this many seconds (node.run_seconds)");
  std::string run_summary_json;
  run->add_option("--summary-json", run_summary_json,
                  "At exit, write the run's summary (slots, transactions by stage, drained) as JSON to this file");

  auto* genesis_cmd = app.add_subcommand("genesis", "Create a local cluster: genesis file, keys and one config per node");
  std::string genesis_dir;
  riptide::node::local_cluster_options gopt;
  bool genesis_force = false;
  genesis_cmd->add_option("-o,--outdir", genesis_dir, "Directory for genesis.toml, node-<i>.key and node-<i>.toml")->required();
  genesis_cmd->add_option("-n,--nodes", gopt.nodes, "Number of validators")->check(CLI::Range(1, 999));
  genesis_cmd->add_option("--port-offset", gopt.port_offset, "Shift every port (gossip 12000+offset+i, ...)");
  genesis_cmd->add_option("--ip-base", gopt.ip_base,
                          "Validator i on this IPv4 address + i, e.g. one network namespace each "
                          "(default: every validator on 127.0.0.1)");
  genesis_cmd->add_option("--stake", gopt.stake, "Stake of each staked validator");
  genesis_cmd->add_option("--staked", gopt.staked_validators,
                          "Validators with stake, from node 0 (default 0: all, equal stake, taking turns to "
                          "lead; 1: node 0 leads every slot, the others follow)");
  genesis_cmd->add_option("--stakes", gopt.stakes,
                          "Every node's stake, node 0 first, e.g. 2,2,2,1,1 (instead of --stake and --staked)")
      ->delimiter(',');
  genesis_cmd->add_option("--fanout", gopt.turbine_fanout, "Turbine fanout (children per node)")
      ->check(CLI::Range(1, 65536));
  genesis_cmd->add_option("--hashes-per-tick", gopt.hashes_per_tick, "PoH hashes per tick")->check(CLI::Range(2, 100000000));
  genesis_cmd->add_option("--ticks-per-slot", gopt.ticks_per_slot, "PoH ticks per slot")->check(CLI::Range(1, 100000));
  genesis_cmd->add_option("--slots-per-epoch", gopt.slots_per_epoch,
                          "Slots of one leader schedule (each epoch's is drawn anew from the stakes)")
      ->check(CLI::Range(std::uint64_t{4}, std::uint64_t{1} << 32))
      ->capture_default_str();
  genesis_cmd->add_option("--tick-us", gopt.tick_us, "Wall-clock microseconds per tick (0: flat out)");
  genesis_cmd->add_option("--shred-version", gopt.shred_version, "Cluster id (default: derived from the genesis hash)");
  genesis_cmd->add_flag("--force", genesis_force, "Replace an existing cluster in the directory");

  auto* rpc_cmd = app.add_subcommand("rpc", "Call a node's HTTP API (for scripts)");
  std::string rpc_url = "127.0.0.1:11000", rpc_method = "GET", rpc_path, rpc_body;
  rpc_cmd->add_option("--url", rpc_url, "Node HTTP address ip:port");
  rpc_cmd->add_option("method", rpc_method, "GET or POST")->check(CLI::IsMember({"GET", "POST"}))->required();
  rpc_cmd->add_option("path", rpc_path, "Path, e.g. /gossip/peers")->required();
  rpc_cmd->add_option("body", rpc_body, "JSON body for POST");

  auto* schedule_cmd = app.add_subcommand(
      "leader-schedule", "Print a cluster's leader schedule for one epoch, from its genesis file "
                         "(e.g. riptide leader-schedule --genesis cluster/genesis.toml --count 16)");
  std::string schedule_genesis;
  std::uint64_t schedule_epoch = 0, schedule_from = 0, schedule_count = 64;
  bool schedule_json_out = false;
  schedule_cmd->add_option("--genesis", schedule_genesis, "Genesis file")->required()->check(CLI::ExistingFile);
  schedule_cmd->add_option("--epoch", schedule_epoch, "Epoch")->capture_default_str();
  schedule_cmd->add_option("--from", schedule_from, "First slot to list (default: the epoch's first)");
  schedule_cmd->add_option("--count", schedule_count, "Slots to list from --from")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 20));
  schedule_cmd->add_flag("--json", schedule_json_out, "Print JSON (the shape GET /leader-schedule returns)");

  auto* ledger_cmd = app.add_subcommand("ledger", "Inspect a ledger directory");
  ledger_cmd->require_subcommand(1);
  auto* ledger_verify = ledger_cmd->add_subcommand("verify", "Re-execute the whole ledger through the replay function: checksums, PoH, signatures, results, bank hashes");
  auto* ledger_show = ledger_cmd->add_subcommand("show", "Print one slot's entries");
  auto* ledger_digest = ledger_cmd->add_subcommand(
      "digest", "One line per slot: slot, records, SHA-256 of its records, bank hash, complete (1/0), parent slot, "
                "leader, rooted (1/0)");
  std::string ledger_dir;
  unsigned ledger_threads = 0;
  std::uint64_t ledger_slot = 0;
  ledger_verify->add_option("dir", ledger_dir, "Ledger directory")->required()->check(CLI::ExistingDirectory);
  ledger_verify->add_option("--threads", ledger_threads, "Verification threads (default: all CPUs)");
  std::uint64_t ledger_max_accounts = riptide::node::ledger_verify_options{}.max_accounts;
  std::uint64_t ledger_max_statuses = riptide::node::ledger_verify_options{}.max_statuses;
  ledger_verify->add_option("--max-statuses", ledger_max_statuses,
                            "Signatures the re-executing bank remembers over 150 slots: the node's bank.max_statuses "
                            "or more (a ledger of more landed transactions per 150 slots needs more)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{64}, std::uint64_t{1} << 30));
  ledger_verify->add_option("--max-accounts", ledger_max_accounts,
                            "Accounts the re-executing bank can hold: the node's bank.max_accounts")
      ->capture_default_str();
  bool ledger_verify_json = false;
  ledger_verify->add_flag("--json", ledger_verify_json, "Print the result as JSON (no progress bar)");
  ledger_show->add_option("dir", ledger_dir, "Ledger directory")->required()->check(CLI::ExistingDirectory);
  ledger_show->add_option("--slot", ledger_slot, "Slot to print")->required();
  ledger_digest->add_option("dir", ledger_dir, "Ledger directory")->required()->check(CLI::ExistingDirectory);
  bool ledger_digest_json = false;
  ledger_digest->add_flag("--json", ledger_digest_json, "Print {root, slots: [...]} as JSON");
  auto* ledger_repair = ledger_cmd->add_subcommand(
      "repair", "Cut a damaged ledger back to its last fully valid record (the node must be stopped)");
  ledger_repair->add_option("dir", ledger_dir, "Ledger directory")->required()->check(CLI::ExistingDirectory);
  bool ledger_repair_json = false;
  ledger_repair->add_flag("--json", ledger_repair_json, "Print what was found and removed as JSON");

  auto* monitor = app.add_subcommand("monitor", "Print a running node's metrics, live, once a second");
  std::string monitor_name = "node0";
  std::string monitor_path;
  std::uint64_t monitor_count = 0;
  monitor->add_option("-n,--name", monitor_name, "Node name (finds its metrics file)");
  monitor->add_option("-p,--path", monitor_path, "Metrics file path (overrides --name)");
  monitor->add_option("--count", monitor_count, "Refreshes before exiting; 0 = until interrupted");

  auto* bench_tps_cmd = app.add_subcommand(
      "bench-tps", "Load generator: fund accounts from the faucet, send transfers to a node's tpu port, "
                   "count confirmations (TPS, latency) and check the balances");
  bench_tps_cmd->option_defaults()->always_capture_default();
  riptide::node::bench_tps_options bench_opt;
  std::string bench_rpc = "127.0.0.1:11000", bench_tpu = "127.0.0.1:13000", bench_faucet;
  bench_tps_cmd->add_option("--rpc", bench_rpc, "Node HTTP address ip:port (GET /slot, /balance, POST /tx/status)");
  bench_tps_cmd->add_option("--tpu", bench_tpu,
                            "Node tpu address ip:port, or several ip:port,ip:port,... (transactions go there over "
                            "UDP, round-robin: any node of a rotating cluster takes them)");
  bench_tps_cmd->add_flag("--all-nodes", bench_opt.all_nodes,
                          "Send round-robin to every node the --rpc node's gossip knows (its ContactInfo tpu "
                          "addresses) instead of --tpu");
  bench_tps_cmd->add_option("--faucet-key", bench_faucet, "Key file of the genesis faucet (faucet.key of a local cluster)")
      ->required()
      ->check(CLI::ExistingFile);
  bench_tps_cmd->add_option("--accounts", bench_opt.accounts, "Fresh accounts to fund and transfer between")
      ->check(CLI::Range(2, 65536));
  bench_tps_cmd->add_option("--rate", bench_opt.rate_tps, "Target transfers per second (0 = as fast as possible)")
      ->check(CLI::Range(0.0, 1e9));
  bench_tps_cmd->add_option("--seconds", bench_opt.seconds, "Length of the send phase");
  bool bench_json = false;
  bench_tps_cmd->add_flag("--json", bench_json,
                          "Print the summary's figures as JSON on stdout (progress and the text summary go to stderr)");
  bench_tps_cmd->add_option("--lamports", bench_opt.lamports, "Lamports per transfer");
  bench_tps_cmd->add_option("--fund-lamports", bench_opt.fund_lamports, "Lamports the faucet gives each account");
  bench_tps_cmd->add_option("--max-loss", bench_opt.max_loss_percent,
                            "Percent of sent transfers that may stay unconfirmed before the run fails")
      ->check(CLI::Range(0.0, 100.0));
  bench_tps_cmd->add_option("--timeout-s", bench_opt.timeout_s,
                            "Seconds to wait for funding, and for confirmations after the send phase");
  std::string bench_commitment = "processed";
  bench_tps_cmd
      ->add_option("--commitment", bench_commitment,
                   "Count a transfer (and take its latency) once its status reaches processed, confirmed or "
                   "finalized")
      ->check(CLI::IsMember({"processed", "confirmed", "finalized"}))
      ->capture_default_str();

  auto* transfer_cmd = app.add_subcommand(
      "transfer", "Sign a transfer (recent blockhash from the node) and send it through POST /tx, or print it");
  std::string transfer_rpc = "127.0.0.1:11000", transfer_from, transfer_to;
  std::uint64_t transfer_lamports = 0;
  bool transfer_print = false;
  transfer_cmd->add_option("--rpc", transfer_rpc, "Node HTTP address ip:port");
  transfer_cmd->add_option("--from", transfer_from, "Key file of the payer (signs and pays the fee)")
      ->required()
      ->check(CLI::ExistingFile);
  transfer_cmd->add_option("--to", transfer_to, "Receiver public key (64 hex digits)")->required();
  transfer_cmd->add_option("--lamports", transfer_lamports, "Amount")->required();
  transfer_cmd->add_flag("--print", transfer_print,
                         "Print the signed transaction as hex instead of sending it (for POST /tx by hand)");

  auto* flood_cmd = app.add_subcommand(
      "flood", "Overload test: send valid-looking transactions (well-formed transfers whose signatures do not "
               "verify) to a node's tpu port as fast as the kernel takes them, for a bounded time");
  riptide::node::flood_options flood_opt;
  std::string flood_to;
  bool flood_json = false;
  flood_cmd->add_option("--to", flood_to, "Receiver ip:port (a node's tpu port)")->required();
  flood_cmd->add_option("--seconds", flood_opt.seconds, "How long to send")->capture_default_str();
  flood_cmd->add_option("--rate", flood_opt.rate, "Datagrams per second (0: as fast as possible)")->capture_default_str();
  flood_cmd->add_option("--distinct", flood_opt.distinct, "Different transactions, sent round-robin")->capture_default_str();
  flood_cmd->add_flag("--json", flood_json, "Print the result as JSON");

  auto* forge_cmd = app.add_subcommand(
      "forge-shreds",
      "Send forged shreds to a node's tvu port (testing its shred verification): signed by the wrong key, "
      "or by the leader with an altered payload or merkle proof");
  std::string forge_genesis, forge_key, forge_to, forge_kind = "wrong-signer";
  std::uint64_t forge_slot = 0;
  forge_cmd->add_option("--genesis", forge_genesis, "The cluster's genesis.toml (shred version)")
      ->required()
      ->check(CLI::ExistingFile);
  forge_cmd->add_option("--leader-key", forge_key, "The leader's key file (altered-payload, altered-proof)")
      ->check(CLI::ExistingFile);
  forge_cmd->add_option("--to", forge_to, "Receiver ip:port (a node's tvu port)")->required();
  forge_cmd->add_option("--slot", forge_slot, "Slot the shreds claim")->required();
  forge_cmd->add_option("--kind", forge_kind, "wrong-signer | altered-payload | altered-proof")
      ->check(CLI::IsMember({"wrong-signer", "altered-payload", "altered-proof"}));

  check_unsigned_options(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }

  try {
    if (*version) {
      std::cout << "riptide " << RIPTIDE_VERSION << " (sha256: "
                << riptide::crypto::to_string(riptide::crypto::sha256_active_backend()) << ")\n";
      return 0;
    }
    if (*keygen) {
      const auto kp = riptide::crypto::keypair::generate();
      riptide::crypto::write_keyfile(key_out, kp, key_force);
      std::cout << "wrote " << key_out << "\npubkey " << riptide::util::to_hex(kp.public_key()) << "\n";
      return 0;
    }
    if (*config_cmd) {
      if (defaults) {
        std::cout << riptide::node::format_defaults();
        return 0;
      }
      const auto cfg = build_config(check_path, config_sets);
      std::cout << riptide::node::format_config(cfg);
      if (!check_path.empty()) std::cerr << check_path << ": ok\n";
      return 0;
    }
    if (*genesis_cmd) {
      gopt.overwrite = genesis_force;
      std::vector<std::filesystem::path> removed;
      const auto g = riptide::node::create_local_cluster(genesis_dir, gopt, &removed);
      for (const auto& d : removed) std::cout << "removed " << d.string() << " (a ledger of the replaced cluster)\n";
      std::cout << fmt::format("wrote {}/genesis.toml (shred_version {}, genesis hash {}) and {} node configs and keys\n",
                               genesis_dir, g.shred_version, riptide::util::to_hex(g.hash()), g.validators.size());
      for (std::size_t i = 0; i < g.validators.size(); ++i)
        std::cout << fmt::format("  {}: gossip {}:{} rpc {} tpu {} tvu {} repair {}\n", g.validators[i].name,
                                 g.validators[i].ip, g.validators[i].gossip_port, g.validators[i].rpc_port,
                                 g.validators[i].tpu_port, g.validators[i].tvu_port, g.validators[i].repair_port);
      return 0;
    }
    if (*ledger_verify) {
      const unsigned threads = ledger_threads != 0 ? ledger_threads : std::max(1u, std::thread::hardware_concurrency());
      const bool tty = ::isatty(2) != 0;
      int last_pct = -1;
      const auto t0 = std::chrono::steady_clock::now();
      riptide::node::ledger_verify_options vo;
      vo.threads = threads;
      vo.max_accounts = ledger_max_accounts;
      vo.max_statuses = ledger_max_statuses;
      const auto r = riptide::node::verify_ledger(ledger_dir, vo, [&](double f) {
        if (ledger_verify_json) return;
        const int pct = static_cast<int>(f * 100);
        if (pct == last_pct) return;
        last_pct = pct;
        const int bar = pct / 4;
        std::cerr << (tty ? "\r" : "") << "verifying [" << std::string(static_cast<std::size_t>(bar), '#')
                  << std::string(static_cast<std::size_t>(25 - bar), '.') << "] " << pct << "%" << (tty ? "" : "\n")
                  << std::flush;
      });
      if (tty && !ledger_verify_json) std::cerr << "\n";
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (ledger_verify_json) {
        nlohmann::json by_result = nlohmann::json::object();
        for (std::size_t i = 0; i < r.txs_by_result.size(); ++i)
          by_result[riptide::txn::to_string(static_cast<riptide::txn::tx_result>(i))] = r.txs_by_result[i];
        std::cout << nlohmann::json{{"dir", ledger_dir},         {"ok", r.ok},
                                    {"error", r.error},          {"records", r.records},
                                    {"slots", r.slots},          {"entries", r.entries},
                                    {"ticks", r.ticks},          {"hashes", r.hashes},
                                    {"txs", r.txs},              {"txs_by_result", by_result},
                                    {"bank_hashes", r.bank_hashes}, {"seconds", secs},
                                    {"partial_slot", r.partial_tail ? nlohmann::json(r.partial_slot) : nlohmann::json()},
                                    {"partial_slot_records", r.partial_records}}
                         .dump(2)
                  << "\n";
        return r.ok ? 0 : exit_runtime_error;
      }
      if (!r.ok) {
        std::cout << "FAILED: " << r.error << "\n";
        return exit_runtime_error;
      }
      std::cout << fmt::format("ok: {} records, {} slots, {} entries ({} ticks), {} hashes re-verified in {:.2f} s "
                               "({:.1f} M hashes/s, {} threads)\n",
                               r.records, r.slots, r.entries, r.ticks, r.hashes, secs,
                               static_cast<double>(r.hashes) / secs / 1e6, threads);
      std::cout << "  " << r.tx_summary() << " re-executed, " << r.bank_hashes << " slot bank hashes matched\n";
      if (r.partial_tail)
        std::cout << fmt::format("  slot {} is partial ({} records, no slot end: a node stopped mid-slot): not replayed\n",
                                 r.partial_slot, r.partial_records);
      return 0;
    }
    if (*schedule_cmd) {
      const riptide::node::genesis g = riptide::node::load_genesis(schedule_genesis);
      std::vector<riptide::epoch::stake_entry> entries;
      for (const auto& v : g.validators) entries.push_back({v.id, v.stake});
      const riptide::epoch::stakes stakes(entries);
      if (stakes.empty())
        throw riptide::node::config_error(schedule_genesis + ": no validator has stake, so there is no leader schedule");
      if (schedule_epoch > ~std::uint64_t{0} / g.slots_per_epoch - 1)
        throw riptide::node::config_error("--epoch: out of range for " + std::to_string(g.slots_per_epoch) +
                                          " slots per epoch");
      const riptide::epoch::leader_schedule schedule(stakes, schedule_epoch, g.slots_per_epoch);
      const std::uint64_t from = schedule_cmd->count("--from") != 0 ? schedule_from : schedule.first_slot();
      std::cout << (schedule_json_out ? riptide::rpc::schedule_json(stakes, schedule, from, schedule_count) + "\n"
                                      : riptide::rpc::schedule_text(stakes, schedule, from, schedule_count));
      return 0;
    }
    if (*ledger_repair) return cmd_ledger_repair(ledger_dir, ledger_repair_json);
    if (*ledger_show) return riptide::node::show_ledger_slot(ledger_dir, ledger_slot, std::cout) ? 0 : exit_runtime_error;
    if (*ledger_digest) {
      const auto digests = riptide::node::ledger_slot_digests(ledger_dir);
      if (ledger_digest_json) {
        nlohmann::json slots = nlohmann::json::array();
        std::optional<std::uint64_t> root;
        for (const auto& d : digests) {
          slots.push_back({{"slot", d.slot},
                           {"parent", d.complete ? nlohmann::json(d.parent) : nlohmann::json()},
                           {"leader", d.complete ? nlohmann::json(riptide::util::to_hex(d.leader)) : nlohmann::json()},
                           {"records", d.records},
                           {"records_sha256", riptide::util::to_hex(d.digest)},
                           {"bank_hash", riptide::util::to_hex(d.bank_hash)},
                           {"complete", d.complete},
                           {"rooted", d.rooted}});
          if (d.rooted && (!root || d.slot > *root)) root = d.slot;
        }
        std::cout << nlohmann::json{{"dir", ledger_dir}, {"root", root ? nlohmann::json(*root) : nlohmann::json()},
                                    {"slots", slots}}
                         .dump(2)
                  << "\n";
        return 0;
      }
      for (const auto& d : digests)
        std::cout << fmt::format("{} {} {} {} {} {} {} {}\n", d.slot, d.records, riptide::util::to_hex(d.digest),
                                 riptide::util::to_hex(d.bank_hash), d.complete ? 1 : 0, d.parent,
                                 riptide::util::to_hex(d.leader), d.rooted ? 1 : 0);
      return 0;
    }
    if (*rpc_cmd) return cmd_rpc(rpc_url, rpc_method, rpc_path, rpc_body);
    if (*run) return cmd_run(run_config, run_sets, run_seconds, seconds_opt->count() > 0, run_summary_json);
    if (*forge_cmd) {
      const auto g = riptide::node::load_genesis(forge_genesis);
      const auto to = riptide::net::endpoint::parse(forge_to);
      if (!to) throw riptide::node::config_error("--to: expected ip:port, got '" + forge_to + "'");
      if (forge_kind != "wrong-signer" && forge_key.empty())
        throw riptide::node::config_error("--leader-key is needed for --kind " + forge_kind);
      const auto signer = forge_kind == "wrong-signer" ? riptide::crypto::keypair::generate()
                                                       : riptide::crypto::load_keyfile(forge_key);
      riptide::shred::fec_set_params params;
      params.slot = forge_slot;
      params.parent_offset = forge_slot == 0 ? 0 : 1;
      params.shred_version = g.shred_version;
      params.last_in_slot = true;
      std::vector<std::uint8_t> payload(4000);
      for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7 + 3);
      auto set = riptide::shred::make_fec_set(signer, params, payload);
      for (auto& shred : set) {
        // A payload byte (past every header) or the last byte of the merkle proof (the end).
        if (forge_kind == "altered-payload") shred[200] ^= 0x01;
        if (forge_kind == "altered-proof") shred.back() ^= 0x01;
      }
      auto sock = riptide::net::udp_socket::open_bound(riptide::net::endpoint{0x7f000001, 0}, "forge-shreds");
      std::size_t sent = 0;
      for (const auto& shred : set) sent += sock.send_to(*to, shred) == static_cast<int>(shred.size()) ? 1 : 0;
      std::cout << fmt::format("sent {} of {} forged shreds ({}) of slot {} to {}\n", sent, set.size(), forge_kind,
                               forge_slot, to->to_string());
      return sent == set.size() ? 0 : exit_runtime_error;
    }
    if (*flood_cmd) {
      const auto to = riptide::net::endpoint::parse(flood_to);
      if (!to) throw riptide::node::config_error("--to: expected ip:port, got '" + flood_to + "'");
      flood_opt.to = *to;
      riptide::node::validate(flood_opt);
      std::signal(SIGINT, on_signal);
      std::signal(SIGTERM, on_signal);
      const auto r = riptide::node::run_flood(flood_opt, &g_stop);
      const double rate = r.seconds > 0 ? static_cast<double>(r.sent) / r.seconds : 0;
      if (flood_json)
        std::cout << nlohmann::json{{"to", flood_to}, {"sent", r.sent}, {"send_errors", r.send_errors},
                                    {"seconds", r.seconds}, {"rate", rate}}
                         .dump(2)
                  << "\n";
      else
        std::cout << fmt::format("flood {}: sent {} datagrams in {:.2f} s ({:.0f}/s), send errors {}{}\n", flood_to,
                                 r.sent, r.seconds, rate, r.send_errors,
                                 r.send_errors != 0 ? fmt::format(" ({})", std::strerror(r.last_errno)) : "");
      return 0;
    }
    if (*transfer_cmd) {
      const auto ep = riptide::node::parse_endpoint(transfer_rpc);
      if (!ep) throw riptide::node::config_error("--rpc: expected ip:port, got '" + transfer_rpc + "'");
      riptide::crypto::pubkey to{};
      if (transfer_to.size() != 2 * to.size() || !riptide::rpc::parse_hex(transfer_to, to))
        throw riptide::node::config_error("--to: expected 64 hex digits, got '" + transfer_to + "'");
      const auto from = riptide::crypto::load_keyfile(transfer_from);
      riptide::rpc::chain_client client(ep->first, ep->second);
      const auto blockhash = client.slot().blockhash;
      std::array<std::uint8_t, riptide::txn::max_transaction_bytes> tx{};
      const std::size_t len = riptide::txn::build_transfer(from, to, transfer_lamports, blockhash, tx);
      const std::span<const std::uint8_t> bytes(tx.data(), len);
      if (transfer_print) {
        std::cout << riptide::util::to_hex(bytes) << "\n";
        return 0;
      }
      std::cout << "signature " << riptide::util::to_hex(client.submit(bytes)) << "\n";
      return 0;
    }
    if (*bench_tps_cmd) {
      const auto rpc_ep = riptide::node::parse_endpoint(bench_rpc);
      if (!rpc_ep) throw riptide::node::config_error("--rpc: expected ip:port, got '" + bench_rpc + "'");
      bench_opt.tpus.clear();
      for (std::size_t at = 0; at <= bench_tpu.size();) {
        const std::size_t comma = std::min(bench_tpu.find(',', at), bench_tpu.size());
        const std::string one = bench_tpu.substr(at, comma - at);
        const auto tpu_ep = riptide::node::parse_endpoint(one);
        if (!tpu_ep) throw riptide::node::config_error("--tpu: expected ip:port[,ip:port...], got '" + bench_tpu + "'");
        bench_opt.tpus.push_back({tpu_ep->first, tpu_ep->second});
        at = comma + 1;
      }
      bench_opt.rpc_ip = rpc_ep->first;
      bench_opt.rpc_port = rpc_ep->second;
      bench_opt.faucet_key = bench_faucet;
      bench_opt.commitment = *riptide::rpc::commitment_from_name(bench_commitment);
      if (bench_json) return riptide::node::run_bench_tps(bench_opt, std::cerr, &std::cout);
      return riptide::node::run_bench_tps(bench_opt, std::cout);
    }
    if (*monitor) {
      if (monitor_path.empty()) {
        riptide::node::config cfg;
        cfg.node.name = monitor_name;
        monitor_path = cfg.metrics_path().string();
      }
      return cmd_monitor(monitor_path, monitor_count);
    }
  } catch (const riptide::node::config_error& e) {
    std::cerr << "config error: " << e.what() << "\n";
    return exit_usage;
  } catch (const riptide::util::lock_held_error& e) {
    // Another process owns this node's ledger or metrics file: nothing was touched.
    std::cerr << "error: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return exit_runtime_error;
  }
  return 0;
}
