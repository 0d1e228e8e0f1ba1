#pragma once
// Commitment levels: how far a transaction's slot has come (GET /tx "commitment", bench-tps
// --commitment), and the rule the HTTP API answers by.
//
// Contract
//   - Pure functions of their arguments; no member allocates or throws.
//   - commitment_of() never says more than the node knows: a slot it cannot place on the
//     confirmed slot's fork (not rooted here, outside the published window, or published
//     before the fork was) is `processed`, however old.

#include <cstdint>
#include <optional>
#include <string_view>

#include <riptide/bank/chain_board.hpp>

namespace riptide::rpc {

// In increasing order.
enum class commitment : std::uint8_t { processed, confirmed, finalized };
[[nodiscard]] const char* to_string(commitment level) noexcept;
[[nodiscard]] std::optional<commitment> commitment_from_name(std::string_view name) noexcept;

// The level of a transaction this node executed in `slot` (its status cache names the slot;
// statuses of abandoned blocks are forgotten when the root prunes them):
//   - at or below this node's root (the rooted chain, every other fork there pruned):
//     finalized if also at or below the cluster's finalized slot, else confirmed if at or below
//     the confirmed slot, else processed;
//   - above the root: confirmed if the slot is the confirmed slot or one of its ancestors
//     (chain.fork, published by consensus with the confirmed slot), else processed. Never
//     finalized: the cluster may have finalized that slot number on a fork this node has not
//     pruned yet.
[[nodiscard]] commitment commitment_of(std::uint64_t slot, const bank::chain_status& chain) noexcept;

}  // namespace riptide::rpc
