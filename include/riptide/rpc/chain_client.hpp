#pragma once
// A client of the node's chain endpoints (GET /slot, GET /balance/{pubkey}, GET /tx/{sig},
// POST /tx/status, POST /tx, GET /drops) for tools and tests: `riptide bench-tps` polls the chain with it.
//
// Contract
//   - One chain_client per thread (it wraps one httplib::Client); every call is a blocking
//     HTTP request with the timeouts given at construction. Not for hot paths.
//   - Failures throw rpc_error whose message names the request and the reason: the
//     connection failed, the node answered non-2xx (its {"error"} text is quoted), or the
//     reply did not have the documented shape. A 404 from GET /tx is not a failure: it is
//     "no status yet" (std::nullopt).
//   - statuses() splits any number of signatures into requests of max_status_batch and
//     returns one answer per signature, in order.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <riptide/crypto/types.hpp>
#include <riptide/rpc/commitment.hpp>
#include <riptide/txn/execution.hpp>

namespace riptide::rpc {

class rpc_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct slot_reply {
  std::uint64_t slot = 0;
  std::uint64_t tick_height = 0;
  crypto::hash32 blockhash{};
  std::uint64_t blockhash_slot = 0;
  std::optional<std::uint64_t> durable_slot;
  std::optional<std::uint64_t> root;  // absent before the first root (or from a node without it)
  std::optional<std::uint64_t> lamports_per_signature;  // absent when the node runs no bank
};

struct tx_status_reply {
  txn::tx_result result = txn::tx_result::ok;
  std::uint64_t slot = 0;
  commitment level = commitment::processed;  // a node that does not vote says processed
};

// The tx_result whose to_string() is name, if any.
[[nodiscard]] std::optional<txn::tx_result> tx_result_from_name(std::string_view name) noexcept;

class chain_client {
 public:
  // ip: host byte order. Timeouts in seconds (> 0).
  chain_client(std::uint32_t ip, std::uint16_t port, double connect_timeout_s = 2,
               double read_timeout_s = 5);
  ~chain_client();
  chain_client(const chain_client&) = delete;
  chain_client& operator=(const chain_client&) = delete;

  [[nodiscard]] slot_reply slot();
  [[nodiscard]] std::uint64_t balance(const crypto::pubkey& key);
  [[nodiscard]] std::optional<tx_status_reply> status(const crypto::signature& sig);
  [[nodiscard]] std::vector<std::optional<tx_status_reply>> statuses(std::span<const crypto::signature> sigs);
  // GET /drops: every drop counter of the node's tiles, "tile.counter" -> value.
  [[nodiscard]] std::map<std::string, std::uint64_t> drops();
  // Every tpu address this node's gossip knows: its own (GET /gossip/state "self") and each
  // peer's ContactInfo (GET /gossip/peers), ip host byte order; a contact without a tpu port
  // is left out. Throws rpc_error on a reply without them.
  struct tpu_contact {
    std::uint32_t ip = 0;
    std::uint16_t port = 0;
  };
  [[nodiscard]] std::vector<tpu_contact> gossip_tpus();
  // POST /tx: returns the signature the node reports (the transaction's first).
  crypto::signature submit(std::span<const std::uint8_t> transaction);

  [[nodiscard]] const std::string& address() const noexcept { return address_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string address_;  // "ip:port", for messages
};

}  // namespace riptide::rpc
