#pragma once
// The node's HTTP API (cpp-httplib + nlohmann-json), on its own thread, never on a tile's core.
//
// Contract
//   - Reads only published snapshots (gossip::snapshot_board) and the shared-memory metrics
//     file, so a slow client can never slow a tile. Writes go to the gossip tile through an
//     SPSC command ring; the server runs a single worker thread, which is that ring's only
//     producer (connections are closed after each request so one client cannot hold it).
//   - Endpoints: GET /health, /gossip/peers, /gossip/stats, /gossip/data, /gossip/data/{key},
//     /gossip/state, /gossip/health, /metrics (Prometheus text); POST /gossip/data with JSON
//     {"key": "...", "value": "..."}. Bad JSON, a wrong shape, an oversize key/value or body
//     get 400 with {"error": "..."}; a full command ring gets 503. The node publishes at most
//     `max_own_data_keys` keys of its own (the gossip engine's cap, the same number): a new
//     key beyond that gets 409 {"error", "keys", "max_own_data_keys"} and is not queued, so a
//     202 {"accepted": true} always means the value will be published. The worker keeps the
//     set of keys it queued to decide; it is the only writer of the node's own keys.
//   - Chain endpoints, served from the parts named by set_chain() (each part is optional; an
//     endpoint whose part is null answers 503 {"error": "..."}). They read only what is safe
//     from another thread: chain_board::read(), bank_forks::rooted_balance(),
//     tx_status_cache::find().
//       GET  /slot              {"slot", "tick_height", "blockhash" (hex), "blockhash_slot",
//                                "durable_slot" (null before the first), "root" (the slot of
//                                the rooted bank /balance reads; null before the first),
//                                "lamports_per_signature"
//                                (null without a bank)}                             needs board
//       GET  /balance/{pubkey}  {"pubkey", "lamports"}; 400 on bad hex           needs forks
//                               (the rooted balance: after the last block the node produced
//                               or replayed and rooted)
//       GET  /tx/{signature}    {"signature", "status": "ok" | tx_result name, "slot"};
//                               404 {"signature", "status": "unknown"}; 400 on bad hex
//                                                                          needs statuses
//       POST /tx/status         {"signatures": ["<128 hex>", ...]} (at most
//                               max_status_batch, body at most max_batch_body_bytes) ->
//                               {"statuses": [{"status", "slot"} | null, ...]} in request
//                               order                                       needs statuses
//       POST /tx                body: the transaction's bytes as hex (surrounding whitespace
//                               ignored); parsed with txn::parse_transaction (400 names the
//                               parse_error), then sent as one UDP datagram to the tpu address,
//                               the path every client takes; -> {"signature": "<first, hex>"}
//                                                                  needs tpu_ip and tpu_port
//       GET  /drops             {"drops": {"<tile>.<counter>": n, ...}}: every counter the
//                               node's tiles name as a drop (set_drop_counters), zeros
//                               included, read from the metrics file; 404 without one
//     Hex is lowercase, as the node prints it; uppercase is accepted on input.
//   - start() binds and throws std::runtime_error naming the address if it cannot (or if the
//     UDP socket for POST /tx cannot be made); stop() (or the destructor) shuts the server
//     down and joins its thread.

#include <cstdint>
#include <functional>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <riptide/bank/bank_forks.hpp>
#include <riptide/bank/chain_board.hpp>
#include <riptide/epoch/stakes.hpp>
#include <riptide/bank/tx_status.hpp>
#include <riptide/gossip/gossip_tile.hpp>
#include <riptide/util/spsc_ring.hpp>

namespace riptide::rpc {

// Most signatures one POST /tx/status may ask about.
constexpr std::size_t max_status_batch = 1024;

struct http_api_config {
  std::string ip = "127.0.0.1";
  std::uint16_t port = 11000;  // 0: any free port (tests), see http_api::port()
  std::size_t max_body_bytes = 4096;                // POST /gossip/data
  std::size_t max_batch_body_bytes = 256 * 1024;    // POST /tx/status (1024 signatures fit)
  std::size_t max_own_data_keys = 64;               // POST /gossip/data: distinct keys
  std::filesystem::path metrics_path;  // for /metrics; empty: /metrics is 404
  std::string node_name;
};

// What the chain endpoints read. The pointed-to objects must outlive the http_api (or its
// stop()). tpu_ip is host byte order (as node::parse_ipv4 returns it); tpu_port 0 = no tpu.
struct http_chain_view {
  const bank::chain_board* board = nullptr;
  const bank::bank_forks* forks = nullptr;  // rooted balances
  const bank::tx_status_cache* statuses = nullptr;
  std::uint32_t tpu_ip = 0;
  std::uint16_t tpu_port = 0;
  // The cluster's stakes and epoch length (a node with a genesis): GET /leader-schedule, and
  // the leader GET /slot names.
  const epoch::stakes* stakes = nullptr;
  std::uint64_t slots_per_epoch = 0;
  // True when this node's PoH makes the blocks of the slot in progress (GET /slot's role_now
  // "leading"; otherwise "following").
  bool produces = false;
  // Set: whether PoH is making a block right now (a rotating validator); `produces` then
  // means nothing. Called from the HTTP thread.
  std::function<bool()> leading;
};

class http_api {
 public:
  http_api(const http_api_config& config, const gossip::snapshot_board* board,
           util::spsc_ring<gossip::gossip_command>* commands);
  ~http_api();
  http_api(const http_api&) = delete;
  http_api& operator=(const http_api&) = delete;

  // Before start() only (throws std::logic_error after): the parts the chain endpoints read.
  void set_chain(const http_chain_view& view);
  // Before start() only: the node's drop counters as (tile, counter) names, what GET /drops
  // reports (tile.hpp's drop_counters()).
  void set_drop_counters(std::vector<std::pair<std::string, std::string>> counters);
  void start();
  void stop();
  // The port the server is bound to (after start()), or 0.
  [[nodiscard]] std::uint16_t port() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace riptide::rpc
