#include <riptide/node/flood.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <riptide/crypto/schnorr.hpp>
#include <riptide/node/config.hpp>
#include <riptide/txn/transaction.hpp>

using namespace riptide;

// What a flood sends: every datagram parses (so the node pays for a signature check) and
// none verifies (so nothing reaches a bank); they are all different.
TEST(flood, transactions_parse_but_never_verify) {
  const auto txs = node::make_flood_transactions(64, 5);
  ASSERT_EQ(txs.size(), 64u);
  std::set<std::string> distinct;
  crypto::pubkey_cache cache(64);
  for (const auto& bytes : txs) {
    txn::transaction_view tx;
    ASSERT_EQ(txn::parse_transaction(bytes, tx), txn::parse_error::none);
    ASSERT_EQ(tx.num_signatures(), 1u);
    EXPECT_FALSE(txn::verify_signatures(tx, cache));
    // The one flipped bit is all that is wrong: flipped back, the transaction verifies.
    auto fixed = bytes;
    fixed[1] ^= 0x01;
    txn::transaction_view good;
    ASSERT_EQ(txn::parse_transaction(fixed, good), txn::parse_error::none);
    EXPECT_TRUE(txn::verify_signatures(good, cache));
    distinct.emplace(bytes.begin(), bytes.end());
  }
  EXPECT_EQ(distinct.size(), txs.size());
}

TEST(flood, options_are_validated) {
  node::flood_options o;
  EXPECT_THROW(node::validate(o), node::config_error);  // no destination
  o.to = net::endpoint{0x7f000001, 13000};
  EXPECT_NO_THROW(node::validate(o));
  o.seconds = 0;
  EXPECT_THROW(node::validate(o), node::config_error);
  o.seconds = 1;
  o.distinct = 0;
  EXPECT_THROW(node::validate(o), node::config_error);
}
