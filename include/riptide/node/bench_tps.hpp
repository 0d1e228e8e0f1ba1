#pragma once
// `riptide bench-tps`: a load generator that measures confirmed transfers per second through
// a running node, the way a client sees it.
//
// Flow of run_bench_tps()
//   1. Make `accounts` fresh keypairs and fund each from the faucet (genesis.toml [faucet],
//      faucet.key of a local cluster) with one transfer sent over UDP to a tpu port (`tpus`,
//      round-robin);
//      wait until GET /balance shows every account funded (an account still unfunded after
//      3 s gets its funding transfer again: the same bytes, so it lands at most once), or fail
//      after `timeout_s`. Record the sum of the
//      accounts' balances.
//   2. Send phase (`seconds`): transfers of `lamports` between random distinct accounts at
//      `rate_tps` (a token bucket; 0 = as fast as this thread can sign), over plain UDP
//      (sendmmsg batches), with a recent blockhash refreshed from GET /slot about every
//      second. Every ~200 ms POST /tx/status asks about outstanding signatures (batches of
//      at most 1024 from a rotating cursor, for up to half the poll interval, so a slow node
//      cannot stop the sending); a status that is present and has reached `commitment` is a confirmation, and its
//      latency is now − send time (so latencies are quantized by the poll interval). One
//      progress line a second.
//   3. Wait up to `timeout_s` for stragglers, then (the node's balances are its rooted
//      bank's) up to `timeout_s` for the node's root (GET /slot "root") to reach the slot in
//      progress, then print the summary from counted figures and check the balances: sum
//      after == sum before − lamports_per_signature × (transactions confirmed with a
//      fee-charging result).
//      Where transfers went missing: the node's drop counters (GET /drops) read before and
//      after the send phase, every one that moved named with its increase.
//   Exit code: 0 if at least one transfer confirmed ok, the balances check holds and no more
//   than `max_loss_percent` of the transfers sent stayed unconfirmed; else 1.
//
// Contract
//   - run_bench_tps() is a tool: one thread, blocking I/O, allocates freely. It throws
//     config_error for bad options or an unreadable faucet key (usage errors) and
//     std::runtime_error (rpc::rpc_error among them) for a node that cannot be reached or
//     cannot fund the accounts (runtime errors).
//   - The helpers below it (token_bucket, percentiles, fee rule, balance check) are pure: no
//     clocks but the ones passed in, no I/O; unit-tested alone.
//   - The node must keep statuses long enough (ledger.tx_status_entries ≥ rate × a few
//     seconds): a status evicted before it is polled is counted as unconfirmed.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <span>
#include <vector>

#include <riptide/rpc/chain_client.hpp>
#include <riptide/txn/execution.hpp>

namespace riptide::node {

struct tpu_address {
  std::uint32_t ip = 0x7f000001;  // host byte order
  std::uint16_t port = 13000;
};

struct bench_tps_options {
  std::uint32_t rpc_ip = 0x7f000001;  // host byte order
  std::uint16_t rpc_port = 11000;
  // Where transfers go (UDP), round-robin by send batch: one node's tpu port, or several
  // (a rotating cluster: any node takes transfers). At least one.
  std::vector<tpu_address> tpus{tpu_address{}};
  // Send to every node the rpc node's gossip knows instead (its own tpu and every peer's,
  // from their ContactInfo), round-robin; `tpus` is then ignored.
  bool all_nodes = false;
  std::filesystem::path faucet_key;   // required
  std::uint32_t accounts = 64;        // 2..65536
  double rate_tps = 0;                // 0: as fast as possible
  double seconds = 10;                // send phase, > 0
  std::uint64_t lamports = 1;         // per transfer, >= 1
  std::uint64_t fund_lamports = 10'000'000'000;  // given to each account by the faucet
  double timeout_s = 30;              // for funding, and for stragglers after the send phase
  double status_poll_ms = 200;
  std::uint64_t seed = 0;             // account choice; 0 = from the clock
  double max_loss_percent = 1;        // unconfirmed / sent above this fails the run
  // A transfer counts (and its latency is taken) once its status reaches this commitment:
  // processed (in a block the node replayed), confirmed or finalized (GET /tx "commitment").
  rpc::commitment commitment = rpc::commitment::processed;
};

// Throws config_error naming the first bad option.
void validate(const bench_tps_options& options);

// Runs the benchmark; progress and the summary go to `out`, and with `json` the summary's
// figures as one JSON object too (`riptide bench-tps --json`: {"sent", "send_errors",
// "confirmed_ok", "failed", "failed_by_result", "unconfirmed", "send_seconds", "tps",
// "latency_ms" {count, p50, p90, p99, max}, "balances" {before, after, expected (null when
// the fees exceed before), fee_per_tx, fee_charged_txs, conserved}, "loss_percent",
// "max_loss_percent", "loss_ok", "ok"}; nothing when the run stops before its summary, e.g.
// funding failed). Returns the exit code (0 or 1).
int run_bench_tps(const bench_tps_options& options, std::ostream& out, std::ostream* json = nullptr);

// ---------------------------------------------------------------------------- pure helpers

// Tokens accrue at rate_per_s up to `burst`; take() hands out whole tokens. rate 0 means
// unlimited: take() always grants `max`.
class token_bucket {
 public:
  token_bucket(double rate_per_s, double burst, std::uint64_t now_ns) noexcept;
  [[nodiscard]] std::uint64_t take(std::uint64_t now_ns, std::uint64_t max) noexcept;
  // Nanoseconds until at least one token is available (0 if one is, or unlimited).
  [[nodiscard]] std::uint64_t wait_ns() const noexcept;

 private:
  double rate_per_ns_;
  double burst_;
  double tokens_;
  std::uint64_t last_ns_;
};

// Nearest-rank percentile (p in (0, 100]) of an ascending-sorted, non-empty list.
[[nodiscard]] std::uint64_t percentile(std::span<const std::uint64_t> sorted, double p) noexcept;

struct latency_summary {
  std::size_t count = 0;  // 0: no latencies, every figure below is 0
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};
[[nodiscard]] latency_summary summarize(std::vector<std::uint64_t> values);

// Whether a transaction with this result paid its fee (bank.hpp, execution order): every
// result but blockhash_too_old and insufficient_funds_for_fee.
[[nodiscard]] bool charges_fee(txn::tx_result result) noexcept;

struct balance_check {
  std::uint64_t before = 0;            // sum of the accounts' balances after funding
  std::uint64_t after = 0;             // sum after the run
  std::uint64_t fee_per_tx = 0;        // lamports_per_signature (one signature per transfer)
  std::uint64_t fee_charged_txs = 0;   // confirmed transactions whose result charges a fee
  // expected_after() = before − fee_per_tx × fee_charged_txs; expected_valid() is false when
  // that would overflow or go below zero, and then the check fails.
  [[nodiscard]] bool expected_valid() const noexcept;
  [[nodiscard]] std::uint64_t expected_after() const noexcept;
  [[nodiscard]] bool conserved() const noexcept { return expected_valid() && after == expected_after(); }
};

}  // namespace riptide::node
