#include <riptide/consensus/vote_tx.hpp>

#include "../support/raw_tx.hpp"

#include "../support/filled_key.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace riptide;
using consensus::decoded_vote;
using consensus::tower_sync;
using consensus::vote_tx_error;
using riptide::testing::raw_instruction;
using riptide::testing::raw_tx;

namespace {

tower_sync sample() {
  consensus::tower t;
  for (std::uint64_t s = 5; s <= 9; ++s) (void)t.record_vote(s);
  tower_sync v;
  v.votes = t;
  v.bank_hash.fill(0x42);
  v.timestamp_ms = 1'800'000'000'000;
  return v;
}

std::vector<std::uint8_t> vote_data() {
  std::vector<std::uint8_t> d(consensus::max_tower_sync_bytes);
  d.resize(consensus::encode_tower_sync(sample(), d));
  return d;
}

}  // namespace

TEST(vote_tx, a_built_vote_parses_verifies_and_decodes_to_what_was_voted) {
  const auto identity = crypto::keypair::generate();
  crypto::hash32 blockhash{};
  blockhash.fill(0x17);
  std::vector<std::uint8_t> b(consensus::max_vote_transaction_bytes);
  const std::size_t n = consensus::build_vote_transaction(identity, sample(), blockhash, b);
  EXPECT_EQ(n, consensus::vote_transaction_overhead + consensus::tower_sync_size(sample()));
  EXPECT_EQ(consensus::vote_transaction_overhead, 172u);  // docs/protocol.md
  EXPECT_EQ(consensus::max_vote_transaction_bytes, 505u);
  EXPECT_LE(consensus::max_vote_transaction_bytes, txn::max_transaction_bytes);
  txn::transaction_view tx;
  ASSERT_EQ(txn::parse_transaction(std::span(b.data(), n), tx), txn::parse_error::none);
  crypto::pubkey_cache cache(4);
  EXPECT_TRUE(txn::verify_signatures(tx, cache));
  EXPECT_EQ(tx.recent_blockhash(), blockhash);
  EXPECT_TRUE(consensus::is_vote_transaction(tx));
  decoded_vote d;
  ASSERT_EQ(consensus::decode_vote(tx, d), vote_tx_error::none);
  EXPECT_EQ(d.voter, identity.public_key());
  EXPECT_TRUE(std::ranges::equal(d.vote.votes.votes(), sample().votes.votes()));
  EXPECT_EQ(d.vote.bank_hash, sample().bank_hash);
  EXPECT_EQ(d.vote.timestamp_ms, sample().timestamp_ms);
  // A changed byte of the vote breaks the signature.
  b[n - 1] ^= 1;
  ASSERT_EQ(txn::parse_transaction(std::span(b.data(), n), tx), txn::parse_error::none);
  EXPECT_FALSE(txn::verify_signatures(tx, cache));
}

TEST(vote_tx, build_refuses_what_is_not_a_vote) {
  std::vector<std::uint8_t> b(consensus::max_vote_transaction_bytes);
  const auto identity = crypto::keypair::generate();
  EXPECT_THROW((void)consensus::build_vote_transaction(crypto::keypair{}, sample(), {}, b), std::invalid_argument);
  EXPECT_THROW((void)consensus::build_vote_transaction(identity, tower_sync{}, {}, b), std::invalid_argument);
  std::vector<std::uint8_t> small(consensus::vote_transaction_overhead);
  EXPECT_THROW((void)consensus::build_vote_transaction(identity, sample(), {}, small), std::length_error);
}

TEST(vote_tx, decode_refuses_every_other_shape) {
  // [voter (writable signer), other (writable), vote program (readonly)] and one instruction.
  const auto base = [] {
    raw_tx t;
    t.signatures.resize(1);
    t.required = 1;
    t.readonly_unsigned = 1;
    t.keys = {riptide::testing::filled_key(1), riptide::testing::filled_key(2), consensus::vote_program_id};
    t.instructions.push_back({2, std::nullopt, {0}, std::nullopt, vote_data()});
    return t;
  };
  struct row {
    std::string name;
    raw_tx tx;
    vote_tx_error error;
    consensus::vote_parse_error data_error = consensus::vote_parse_error::none;
  };
  std::vector<row> rows;
  rows.push_back({"well formed", base(), vote_tx_error::none});
  {
    auto t = base();
    t.readonly_unsigned = 2;
    t.instructions[0].program_index = 1;  // to riptide::testing::filled_key(2), another program
    rows.push_back({"no vote instruction", t, vote_tx_error::not_a_vote});
  }
  {
    auto t = base();
    t.instructions.push_back({2, std::nullopt, {0}, std::nullopt, vote_data()});
    rows.push_back({"two vote instructions", t, vote_tx_error::mixed});
  }
  {
    auto t = base();
    t.instructions[0].indices = {1};
    rows.push_back({"the voter is not account 0", t, vote_tx_error::bad_accounts});
  }
  {
    auto t = base();
    t.instructions[0].indices = {0, 1};
    rows.push_back({"two accounts", t, vote_tx_error::bad_accounts});
  }
  {
    auto t = base();
    t.instructions[0].data.push_back(0);
    rows.push_back({"trailing byte in the vote", t, vote_tx_error::bad_data, consensus::vote_parse_error::trailing_bytes});
  }
  for (const auto& r : rows) {
    const auto bytes = r.tx.encode();
    txn::transaction_view tx;
    ASSERT_EQ(txn::parse_transaction(bytes, tx), txn::parse_error::none) << r.name;
    decoded_vote d;
    EXPECT_EQ(consensus::decode_vote(tx, d), r.error) << r.name;
    EXPECT_EQ(d.data_error, r.data_error) << r.name;
    EXPECT_STRNE(consensus::to_string(r.error), "?");
  }
}
