#pragma once
// A node: builds the tiles, rings and core threads a validated config asks for, runs them,
// prints live rates once a second, and a summary at the end.
//
// Contract
//   - Construction does all allocation (rings, frame pools, caches, metrics file) and throws
//     on start-up errors with a clear message. `run()` starts the core threads and returns
//     when the configured time is up, `stop_requested` becomes true (signal handler), or the
//     PoH tile reached poh.max_slots; it then drains the pipeline and joins the threads.
//   - The live lines and the summary are computed from the tiles' own counters: every
//     number printed was counted, none is estimated.

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <riptide/node/config.hpp>

namespace riptide::node {

// What a node does in its cluster, from the genesis stakes (node.cpp):
//   standalone   no genesis (or tvu.enabled = false): produces its own chain
//   leader       the only staked validator: produces, cuts slots into shreds, sends them
//   follower     another validator of a one-leader cluster: receives, repairs, replays, stores
//   validator    one of several staked validators: leads its slots of the leader schedule and
//                follows everyone else's (leader rotation); its own blocks go through its TVU
//                and replay like anyone's, so one replay path writes the chain
enum class node_role : std::uint8_t { standalone, leader, follower, validator };

struct run_summary {
  double seconds = 0;
  std::uint64_t hashes = 0;
  std::uint64_t ticks = 0;
  std::uint64_t slots = 0;           // the PoH slot at the end (absolute)
  std::uint64_t slots_produced = 0;  // slots this run produced (after a resume: since it)
  std::uint64_t tx_received = 0;     // tpu packets from the net
  std::uint64_t tx_executed = 0;     // by the bank tiles, every result
  std::uint64_t tx_ok = 0;
  std::uint64_t tx_sent = 0;
  std::uint64_t tx_verified = 0;
  std::uint64_t tx_sig_failed = 0;
  std::uint64_t tx_parse_failed = 0;
  std::uint64_t tx_unique = 0;
  std::uint64_t tx_duplicate = 0;
  std::uint64_t tx_blockhash_too_old = 0;  // dedup: a remembered slot's hash, aged out
  std::uint64_t tx_blockhash_unknown = 0;  // dedup: no remembered slot's hash
  bool drained_cleanly = false;
  // Every tile's own counters at the end of the run, in layout order: the facts a script
  // reads after the node exited (its metrics file is gone by then).
  struct tile_counters {
    std::string tile;
    std::vector<std::pair<std::string, std::uint64_t>> counters;
  };
  std::vector<tile_counters> tiles;
};
// The summary as a JSON object (`riptide run --summary-json FILE`): the fields above, and
// "tiles": {tile name: {counter name: value}}.
[[nodiscard]] std::string to_json(const run_summary& s);

class node {
 public:
  explicit node(const config& cfg);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  run_summary run(const std::atomic<bool>& stop_requested, std::ostream& out);
  // Human-readable plan: which tiles run on which core thread / CPU.
  std::string describe_layout() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace riptide::node
