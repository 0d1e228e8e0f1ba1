#pragma once
// Vote transactions: a tower sync (vote.hpp) signed by the voting validator's identity, in
// the ordinary transaction format (txn/transaction.hpp), so votes travel and land like any
// transaction: to the coming leaders' tpu ports, in gossip Vote values, and in blocks, where
// replay executes them into each fork's vote state.
//
//   accounts      [identity: writable signer (pays the fee), vote program: readonly]
//   instruction   program = the vote program, accounts = [0] (the voter), data = tower sync
//
// The vote program's id is 31 zero bytes then 1 (like the system program's 32 zero bytes, a
// fixed id with no known secret key). decode_vote() accepts a transaction whose only
// instruction is to the vote program with exactly that shape; it does not check signatures
// (the verify tile does) nor whether the vote may land (vote_state.hpp). noexcept, no
// allocation, any thread. build_vote_transaction() is for the voting validator (not a hot
// path): it throws.

#include <cstddef>
#include <cstdint>
#include <span>

#include <riptide/consensus/vote.hpp>
#include <riptide/crypto/schnorr.hpp>
#include <riptide/crypto/types.hpp>
#include <riptide/txn/transaction.hpp>

namespace riptide::consensus {

constexpr crypto::pubkey vote_program_id{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
// Everything of a vote transaction but the tower sync: one signature, the message header, two
// keys, the blockhash, and one instruction's header (program, 1 account index, data length).
constexpr std::size_t vote_transaction_overhead =
    1 + crypto::signature_bytes + txn::message_header_bytes + 2 * crypto::pubkey_bytes + crypto::hash_bytes + 1 +
    (1 + 1 + 1 + 2);
constexpr std::size_t max_vote_transaction_bytes = vote_transaction_overhead + max_tower_sync_bytes;

enum class vote_tx_error : std::uint8_t {
  none,
  not_a_vote,    // no instruction to the vote program
  mixed,         // the vote instruction is not the only one
  bad_accounts,  // its accounts are not [0] (the fee payer, always a writable signer)
  bad_data,      // the tower sync does not parse (see vote_parse_error)
};

struct decoded_vote {
  crypto::pubkey voter{};  // account 0: the validator's identity
  tower_sync vote;
  vote_parse_error data_error = vote_parse_error::none;  // with bad_data
};

[[nodiscard]] const char* to_string(vote_tx_error e) noexcept;

// True when any instruction of tx is to the vote program (a vote, well formed or not).
[[nodiscard]] bool is_vote_transaction(const txn::transaction_view& tx) noexcept;
[[nodiscard]] vote_tx_error decode_vote(const txn::transaction_view& tx, decoded_vote& out) noexcept;

// Writes the signed vote transaction into `out` and returns its size. Throws
// std::invalid_argument for an empty keypair or a tower with no votes, std::length_error if
// `out` is too small.
std::size_t build_vote_transaction(const crypto::keypair& identity, const tower_sync& vote,
                                   const crypto::hash32& recent_blockhash, std::span<std::uint8_t> out);

}  // namespace riptide::consensus
