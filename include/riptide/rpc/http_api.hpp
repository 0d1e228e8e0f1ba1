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
//     get 400 with {"error": "..."}; a full command ring gets 503.
//   - start() binds and throws std::runtime_error naming the address if it cannot; stop()
//     (or the destructor) shuts the server down and joins its thread.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <riptide/gossip/gossip_tile.hpp>
#include <riptide/util/spsc_ring.hpp>

namespace riptide::rpc {

struct http_api_config {
  std::string ip = "127.0.0.1";
  std::uint16_t port = 11000;
  std::size_t max_body_bytes = 4096;
  std::filesystem::path metrics_path;  // for /metrics; empty: /metrics is 404
  std::string node_name;
};

class http_api {
 public:
  http_api(const http_api_config& config, const gossip::snapshot_board* board,
           util::spsc_ring<gossip::gossip_command>* commands);
  ~http_api();
  http_api(const http_api&) = delete;
  http_api& operator=(const http_api&) = delete;

  void start();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace riptide::rpc
