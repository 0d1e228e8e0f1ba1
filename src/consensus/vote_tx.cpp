#include <riptide/consensus/vote_tx.hpp>

#include <riptide/util/le_bytes.hpp>

#include <stdexcept>

namespace riptide::consensus {

const char* to_string(vote_tx_error e) noexcept {
  switch (e) {
    case vote_tx_error::none: return "none";
    case vote_tx_error::not_a_vote: return "not_a_vote";
    case vote_tx_error::mixed: return "mixed";
    case vote_tx_error::bad_accounts: return "bad_accounts";
    case vote_tx_error::bad_data: return "bad_data";
  }
  return "?";
}

bool is_vote_transaction(const txn::transaction_view& tx) noexcept {
  for (std::size_t i = 0; i < tx.num_instructions(); ++i)
    if (tx.account_key(tx.instruction(i).program_index) == vote_program_id) return true;
  return false;
}

vote_tx_error decode_vote(const txn::transaction_view& tx, decoded_vote& out) noexcept {
  if (!is_vote_transaction(tx)) return vote_tx_error::not_a_vote;
  if (tx.num_instructions() != 1) return vote_tx_error::mixed;
  const txn::instruction_view ix = tx.instruction(0);
  // Account 0 is always a writable signer (the fee payer: the parser guarantees it).
  if (ix.account_indices.size() != 1 || ix.account_indices[0] != 0) return vote_tx_error::bad_accounts;
  tower_sync vote;
  if (const auto e = parse_tower_sync(ix.data, vote); e != vote_parse_error::none) {
    out.data_error = e;
    return vote_tx_error::bad_data;
  }
  out.voter = tx.account_key(0);
  out.vote = vote;
  out.data_error = vote_parse_error::none;
  return vote_tx_error::none;
}

std::size_t build_vote_transaction(const crypto::keypair& identity, const tower_sync& vote,
                                   const crypto::hash32& recent_blockhash, std::span<std::uint8_t> out) {
  if (identity.empty()) throw std::invalid_argument("build_vote_transaction: empty keypair");
  const std::size_t data = tower_sync_size(vote);
  if (data == 0) throw std::invalid_argument("build_vote_transaction: a tower with no votes is not a vote");
  const std::size_t size = vote_transaction_overhead + data;
  if (out.size() < size) throw std::length_error("build_vote_transaction: output buffer smaller than the transaction");
  util::le_writer w(out.first(size));
  w.u8(1);  // one signature, filled in below
  const crypto::signature unsigned_yet{};
  w.bytes(unsigned_yet);
  const std::size_t message_at = w.size();
  w.u8(txn::message_version_v1);
  w.u8(1);  // required signatures: the voter
  w.u8(0);  // readonly signed
  w.u8(1);  // readonly unsigned: the vote program
  w.u8(2);  // accounts
  w.bytes(identity.public_key());
  w.bytes(vote_program_id);
  w.bytes(recent_blockhash);
  w.u8(1);  // instructions
  w.u8(1);  // program index
  w.u8(1);  // one account index
  w.u8(0);  // the voter
  w.u16(static_cast<std::uint16_t>(data));
  if (encode_tower_sync(vote, out.subspan(w.size(), data)) != data)
    throw std::logic_error("build_vote_transaction: tower sync encoding failed");
  const crypto::signature sig = identity.sign(out.subspan(message_at, size - message_at));
  std::copy(sig.begin(), sig.end(), out.begin() + 1);
  return size;
}

}  // namespace riptide::consensus
