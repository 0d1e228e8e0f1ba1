#pragma once
// `riptide flood`: an overload tool. It sends valid-looking transactions to one address (a
// node's tpu port) as fast as the kernel takes them, or at a set rate, for a bounded time,
// so tests and operators can see what a flood does to a node: what it drops, and that its
// other ports (gossip, shreds, repair) keep working.
//
// Contract
//   - The transactions are well-formed signed transfers whose first signature has one bit
//     flipped: every one parses and costs the node a full signature check, none verifies, so
//     a flood never reaches a bank, a block or a ledger. `distinct` different ones are made
//     up front (the payer's key and the transfers' contents derive from `seed`; BIP-340
//     signing adds its own randomness) and sent round-robin.
//   - run_flood() is a tool: one thread, blocking sends in sendmmsg batches, stops after
//     `seconds` or when `stop` becomes true. It throws std::runtime_error if it cannot open
//     the socket; a send the kernel refuses is counted, not fatal.
//   - make_flood_transactions() is pure (no I/O, no clock).

#include <atomic>
#include <cstdint>
#include <vector>

#include <riptide/net/udp.hpp>

namespace riptide::node {

struct flood_options {
  net::endpoint to{};
  double seconds = 10;       // (0, 3600]
  double rate = 0;           // datagrams per second; 0: as fast as the kernel takes them
  std::uint32_t distinct = 4096;  // 1..65536
  std::uint64_t seed = 1;
};

struct flood_result {
  std::uint64_t sent = 0;
  std::uint64_t send_errors = 0;
  int last_errno = 0;
  double seconds = 0;
};

// Throws config_error naming the first bad option.
void validate(const flood_options& options);

// `count` transfers, each signed by a key derived from `seed`, with its first signature's
// first byte flipped (so it parses but does not verify).
std::vector<std::vector<std::uint8_t>> make_flood_transactions(std::uint32_t count, std::uint64_t seed);

flood_result run_flood(const flood_options& options, const std::atomic<bool>* stop = nullptr);

}  // namespace riptide::node
