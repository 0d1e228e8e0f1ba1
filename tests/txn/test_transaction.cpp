#include <riptide/txn/transaction.hpp>

#include "../support/raw_tx.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::txn;
using bytes = std::vector<std::uint8_t>;

using riptide::testing::raw_instruction;
using riptide::testing::raw_tx;

crypto::pubkey key_n(std::uint8_t n) {
  crypto::pubkey k{};
  k.fill(static_cast<std::uint8_t>(0xA0 + n));
  k[0] = n;
  return k;
}

bytes transfer_data(std::uint64_t lamports, std::uint32_t kind = system_transfer_kind) {
  bytes d;
  for (int i = 0; i < 4; ++i) d.push_back(static_cast<std::uint8_t>(kind >> (8 * i)));
  for (int i = 0; i < 8; ++i) d.push_back(static_cast<std::uint8_t>(lamports >> (8 * i)));
  return d;
}

// payer (writable signer), receiver (writable), system program (readonly), one transfer.
raw_tx base_tx() {
  raw_tx t;
  t.signatures.resize(1);
  t.required = 1;
  t.readonly_unsigned = 1;
  t.keys = {key_n(1), key_n(2), system_program_id};
  t.blockhash.fill(0x77);
  t.instructions.push_back({2, std::nullopt, {0, 1}, std::nullopt, transfer_data(5)});
  return t;
}

parse_error parse(const bytes& b) {
  transaction_view v;
  return parse_transaction(b, v);
}

bytes truncated(bytes b, std::size_t size) {
  b.resize(size);
  return b;
}

// Signs every signature of an encoded raw_tx with the given keys (in signer order).
void sign_all(bytes& b, const std::vector<crypto::keypair>& signers) {
  const std::size_t m = 1 + crypto::signature_bytes * signers.size();
  const std::span<const std::uint8_t> message(b.data() + m, b.size() - m);
  for (std::size_t i = 0; i < signers.size(); ++i) {
    const crypto::signature s = signers[i].sign(message);
    std::memcpy(b.data() + 1 + crypto::signature_bytes * i, s.data(), s.size());
  }
}

// --------------------------------------------------------------------------- valid parses

TEST(parse_transaction, base_is_valid_and_fields_are_exposed) {
  const raw_tx t = base_tx();
  const bytes b = t.encode();
  EXPECT_EQ(b.size(), transfer_transaction_bytes);
  transaction_view v;
  ASSERT_EQ(parse_transaction(b, v), parse_error::none);
  EXPECT_FALSE(v.empty());
  EXPECT_EQ(v.bytes().data(), b.data());
  EXPECT_EQ(v.bytes().size(), b.size());
  EXPECT_EQ(v.num_signatures(), 1U);
  EXPECT_EQ(v.num_accounts(), 3U);
  EXPECT_EQ(v.account_key(0), key_n(1));
  EXPECT_EQ(v.fee_payer(), key_n(1));
  EXPECT_EQ(v.account_key(1), key_n(2));
  EXPECT_EQ(v.account_key(2), system_program_id);
  EXPECT_EQ(&v.signature(0)[0], b.data() + 1);
  EXPECT_EQ(v.recent_blockhash(), t.blockhash);
  EXPECT_EQ(v.message().data(), b.data() + t.message_offset());
  EXPECT_EQ(v.message().size(), b.size() - t.message_offset());
  EXPECT_TRUE(v.is_writable(0));
  EXPECT_TRUE(v.is_writable(1));
  EXPECT_FALSE(v.is_writable(2));
  EXPECT_TRUE(v.is_signer(0));
  EXPECT_FALSE(v.is_signer(1));
  ASSERT_EQ(v.num_instructions(), 1U);
  const instruction_view ix = v.instruction(0);
  EXPECT_EQ(ix.program_index, 2U);
  EXPECT_EQ(bytes(ix.account_indices.begin(), ix.account_indices.end()), (bytes{0, 1}));
  EXPECT_EQ(bytes(ix.data.begin(), ix.data.end()), transfer_data(5));
}

TEST(parse_transaction, account_classes_follow_header_counts) {
  raw_tx t;
  t.signatures.resize(3);
  t.required = 3;
  t.readonly_signed = 1;
  t.readonly_unsigned = 2;
  for (std::uint8_t i = 0; i < 6; ++i) t.keys.push_back(key_n(i));
  t.instructions.push_back({4, std::nullopt, {0, 1, 2, 3, 5, 5}, std::nullopt, {}});
  t.instructions.push_back({5, std::nullopt, {}, std::nullopt, {1, 2, 3}});
  const bytes b = t.encode();
  transaction_view v;
  ASSERT_EQ(parse_transaction(b, v), parse_error::none);
  // [0,2) writable signers, [2,3) readonly signer, [3,4) writable, [4,6) readonly.
  const bool writable[] = {true, true, false, true, false, false};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(v.is_writable(i), writable[i]) << i;
    EXPECT_EQ(v.is_signer(i), i < 3) << i;
  }
  EXPECT_EQ(v.num_readonly_signed(), 1U);
  EXPECT_EQ(v.num_readonly_unsigned(), 2U);
  ASSERT_EQ(v.num_instructions(), 2U);
  EXPECT_EQ(v.instruction(0).account_indices.size(), 6U);
  EXPECT_TRUE(v.instruction(0).data.empty());
  EXPECT_EQ(v.instruction(1).program_index, 5U);
  EXPECT_TRUE(v.instruction(1).account_indices.empty());
  EXPECT_EQ(v.instruction(1).data.size(), 3U);
  EXPECT_EQ(v.instruction(1).data.data() + 3, b.data() + b.size());
}

TEST(parse_transaction, zero_instructions_is_valid) {
  raw_tx t = base_tx();
  t.instructions.clear();
  transaction_view v;
  ASSERT_EQ(parse_transaction(t.encode(), v), parse_error::none);
  EXPECT_EQ(v.num_instructions(), 0U);
}

TEST(parse_transaction, limits_are_inclusive) {
  // max_signatures signers, each a distinct account, exactly at the limit.
  raw_tx t;
  t.signatures.resize(max_signatures);
  t.required = max_signatures;
  for (std::uint8_t i = 0; i < max_signatures; ++i) t.keys.push_back(key_n(i));
  t.instructions.clear();
  EXPECT_EQ(parse(t.encode()), parse_error::none);

  // max_accounts accounts, max_instruction_accounts indices.
  raw_tx u = base_tx();
  u.keys.clear();
  for (std::uint8_t i = 0; i < max_accounts; ++i) u.keys.push_back(key_n(i));
  u.instructions[0].program_index = max_accounts - 1;
  u.instructions[0].indices.assign(max_instruction_accounts, 0);
  EXPECT_EQ(parse(u.encode()), parse_error::none);

  // max_instructions instructions.
  raw_tx w = base_tx();
  w.instructions.assign(max_instructions, {2, std::nullopt, {0, 1}, std::nullopt, {}});
  EXPECT_EQ(parse(w.encode()), parse_error::none);
}

TEST(parse_transaction, exactly_max_bytes_is_valid) {
  raw_tx t = base_tx();
  t.instructions[0].data.clear();
  const std::size_t fixed = t.encode().size();
  t.instructions[0].data.assign(max_transaction_bytes - fixed, 0xEE);
  const bytes b = t.encode();
  ASSERT_EQ(b.size(), max_transaction_bytes);
  EXPECT_EQ(parse(b), parse_error::none);
  t.instructions[0].data.push_back(0xEE);
  EXPECT_EQ(parse(t.encode()), parse_error::too_long);
}

TEST(parse_transaction, keys_sharing_a_prefix_are_not_duplicates) {
  raw_tx t = base_tx();
  t.keys[1] = t.keys[0];
  t.keys[1][31] ^= 1;
  EXPECT_EQ(parse(t.encode()), parse_error::none);
}

TEST(parse_transaction, failure_leaves_output_untouched) {
  const bytes good = base_tx().encode();
  transaction_view v;
  ASSERT_EQ(parse_transaction(good, v), parse_error::none);
  const bytes bad = truncated(good, 10);
  EXPECT_NE(parse_transaction(bad, v), parse_error::none);
  EXPECT_EQ(v.bytes().data(), good.data());
  EXPECT_EQ(v.num_accounts(), 3U);
}

TEST(parse_transaction, default_view_is_empty) {
  const transaction_view v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.num_signatures(), 0U);
  EXPECT_EQ(v.num_instructions(), 0U);
}

// ------------------------------------------------------------- one test per parse_error

TEST(parse_error_case, too_long) {
  EXPECT_EQ(parse(bytes(max_transaction_bytes + 1, 1)), parse_error::too_long);
  bytes b = base_tx().encode();
  b.resize(max_transaction_bytes + 1, 0);
  EXPECT_EQ(parse(b), parse_error::too_long);
}

TEST(parse_error_case, empty) { EXPECT_EQ(parse({}), parse_error::empty); }

TEST(parse_error_case, no_signatures) {
  raw_tx t = base_tx();
  t.signatures.clear();
  EXPECT_EQ(parse(t.encode()), parse_error::no_signatures);
  EXPECT_EQ(parse(bytes{0}), parse_error::no_signatures);
}

TEST(parse_error_case, too_many_signatures) {
  raw_tx t = base_tx();
  t.num_signatures = max_signatures + 1;
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_signatures);
  EXPECT_EQ(parse(bytes{255}), parse_error::too_many_signatures);
}

TEST(parse_error_case, truncated_signatures) {
  EXPECT_EQ(parse(bytes{1}), parse_error::truncated_signatures);
  EXPECT_EQ(parse(truncated(base_tx().encode(), 64)), parse_error::truncated_signatures);
  raw_tx t = base_tx();
  t.num_signatures = 3;  // claims three, carries one plus a message shorter than 128 bytes
  t.keys.resize(1);
  t.instructions.clear();
  t.readonly_unsigned = 0;
  ASSERT_LT(t.encode().size(), 1U + 3 * 64);
  EXPECT_EQ(parse(t.encode()), parse_error::truncated_signatures);
}

TEST(parse_error_case, truncated_message_header) {
  const bytes b = base_tx().encode();
  for (std::size_t n = 65; n < 65 + message_header_bytes; ++n) {
    EXPECT_EQ(parse(truncated(b, n)), parse_error::truncated_message_header) << n;
  }
}

TEST(parse_error_case, unsupported_version) {
  for (std::uint8_t version : {0, 2, 0x80, 0xFF}) {
    raw_tx t = base_tx();
    t.version = version;
    EXPECT_EQ(parse(t.encode()), parse_error::unsupported_version) << int{version};
  }
}

TEST(parse_error_case, signature_count_mismatch) {
  raw_tx t = base_tx();
  t.required = 2;
  EXPECT_EQ(parse(t.encode()), parse_error::signature_count_mismatch);
  t.required = 0;
  EXPECT_EQ(parse(t.encode()), parse_error::signature_count_mismatch);
}

TEST(parse_error_case, too_many_readonly_signed) {
  raw_tx t = base_tx();
  t.readonly_signed = 1;  // R = 1: the fee payer would be readonly
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_readonly_signed);
  t.readonly_signed = 200;
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_readonly_signed);
}

TEST(parse_error_case, too_many_accounts) {
  raw_tx t = base_tx();
  t.keys.clear();
  for (std::uint8_t i = 0; i <= max_accounts; ++i) t.keys.push_back(key_n(i));
  t.instructions.clear();
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_accounts);
}

TEST(parse_error_case, fewer_accounts_than_signers) {
  raw_tx t = base_tx();
  t.signatures.resize(2);
  t.required = 2;
  t.readonly_unsigned = 0;
  t.keys = {key_n(1)};
  t.instructions.clear();
  EXPECT_EQ(parse(t.encode()), parse_error::fewer_accounts_than_signers);
  t.signatures.resize(1);
  t.required = 1;
  t.keys.clear();
  EXPECT_EQ(parse(t.encode()), parse_error::fewer_accounts_than_signers);
}

TEST(parse_error_case, too_many_readonly_unsigned) {
  raw_tx t = base_tx();
  t.readonly_unsigned = 3;  // A - R = 2
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_readonly_unsigned);
  t.readonly_unsigned = 255;
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_readonly_unsigned);
}

TEST(parse_error_case, truncated_account_keys) {
  const raw_tx t = base_tx();
  const bytes b = t.encode();
  const std::size_t keys_at = t.message_offset() + message_header_bytes;
  for (std::size_t n : {keys_at, keys_at + 1, keys_at + 32, keys_at + 95}) {
    EXPECT_EQ(parse(truncated(b, n)), parse_error::truncated_account_keys) << n;
  }
}

TEST(parse_error_case, duplicate_account_key) {
  raw_tx t = base_tx();
  t.keys[1] = t.keys[0];
  EXPECT_EQ(parse(t.encode()), parse_error::duplicate_account_key);
  raw_tx u = base_tx();
  u.keys[0] = u.keys[2];  // last and first
  EXPECT_EQ(parse(u.encode()), parse_error::duplicate_account_key);
}

TEST(parse_error_case, truncated_blockhash) {
  const raw_tx t = base_tx();
  const bytes b = t.encode();
  const std::size_t hash_at = t.message_offset() + message_header_bytes + 3 * 32;
  EXPECT_EQ(parse(truncated(b, hash_at)), parse_error::truncated_blockhash);
  EXPECT_EQ(parse(truncated(b, hash_at + 31)), parse_error::truncated_blockhash);
}

TEST(parse_error_case, truncated_instruction_count) {
  const raw_tx t = base_tx();
  const std::size_t count_at = t.message_offset() + message_header_bytes + 3 * 32 + 32;
  EXPECT_EQ(parse(truncated(t.encode(), count_at)), parse_error::truncated_instruction_count);
}

TEST(parse_error_case, too_many_instructions) {
  raw_tx t = base_tx();
  t.instructions.assign(max_instructions + 1, {2, std::nullopt, {}, std::nullopt, {}});
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_instructions);
  t.num_instructions = 255;
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_instructions);
}

TEST(parse_error_case, truncated_instruction_header) {
  raw_tx t = base_tx();
  const std::size_t first_ix = t.encode().size() - (2 + 2 + 2 + 12);
  EXPECT_EQ(parse(truncated(t.encode(), first_ix + 1)), parse_error::truncated_instruction_header);
  t.num_instructions = 2;  // claims a second instruction that is absent
  EXPECT_EQ(parse(t.encode()), parse_error::truncated_instruction_header);
}

TEST(parse_error_case, program_index_out_of_range) {
  raw_tx t = base_tx();
  t.instructions[0].program_index = 3;
  EXPECT_EQ(parse(t.encode()), parse_error::program_index_out_of_range);
  t.instructions[0].program_index = 255;
  EXPECT_EQ(parse(t.encode()), parse_error::program_index_out_of_range);
}

TEST(parse_error_case, program_not_readonly_unsigned) {
  raw_tx t = base_tx();
  t.instructions[0].program_index = 0;  // writable signer
  EXPECT_EQ(parse(t.encode()), parse_error::program_not_readonly_unsigned);
  t.instructions[0].program_index = 1;  // writable non-signer
  EXPECT_EQ(parse(t.encode()), parse_error::program_not_readonly_unsigned);
  raw_tx u = base_tx();
  u.signatures.resize(2);
  u.required = 2;
  u.readonly_signed = 1;
  u.keys = {key_n(1), key_n(2), system_program_id};
  u.instructions[0].program_index = 1;  // readonly signer
  EXPECT_EQ(parse(u.encode()), parse_error::program_not_readonly_unsigned);
}

TEST(parse_error_case, too_many_instruction_accounts) {
  raw_tx t = base_tx();
  t.instructions[0].indices.assign(max_instruction_accounts + 1, 0);
  EXPECT_EQ(parse(t.encode()), parse_error::too_many_instruction_accounts);
}

TEST(parse_error_case, truncated_instruction_accounts) {
  raw_tx t = base_tx();
  t.instructions[0].num_indices = 2;
  t.instructions[0].indices = {0};
  t.instructions[0].data_len = 0;
  t.instructions[0].data.clear();
  bytes b = t.encode();
  b.resize(b.size() - 2);  // drop data_len: the one index is all that follows
  EXPECT_EQ(parse(b), parse_error::truncated_instruction_accounts);
  raw_tx u = base_tx();
  u.instructions[0].num_indices = 30;  // more than the remaining 2 + 2 + 12 bytes
  EXPECT_EQ(parse(u.encode()), parse_error::truncated_instruction_accounts);
}

TEST(parse_error_case, account_index_out_of_range) {
  raw_tx t = base_tx();
  t.instructions[0].indices = {0, 3};
  EXPECT_EQ(parse(t.encode()), parse_error::account_index_out_of_range);
  t.instructions[0].indices = {255, 0};
  EXPECT_EQ(parse(t.encode()), parse_error::account_index_out_of_range);
}

TEST(parse_error_case, truncated_instruction_data_length) {
  raw_tx t = base_tx();
  t.instructions[0].data.clear();
  const bytes b = t.encode();  // ends with the two data_len bytes
  EXPECT_EQ(parse(truncated(b, b.size() - 1)), parse_error::truncated_instruction_data_length);
  EXPECT_EQ(parse(truncated(b, b.size() - 2)), parse_error::truncated_instruction_data_length);
}

TEST(parse_error_case, instruction_data_overrun) {
  raw_tx t = base_tx();
  t.instructions[0].data_len = 13;
  EXPECT_EQ(parse(t.encode()), parse_error::instruction_data_overrun);
  t.instructions[0].data_len = 0xFFFF;
  EXPECT_EQ(parse(t.encode()), parse_error::instruction_data_overrun);
  EXPECT_EQ(parse(truncated(base_tx().encode(), transfer_transaction_bytes - 1)),
            parse_error::instruction_data_overrun);
}

TEST(parse_error_case, trailing_bytes) {
  bytes b = base_tx().encode();
  b.push_back(0);
  EXPECT_EQ(parse(b), parse_error::trailing_bytes);
  raw_tx t = base_tx();
  t.instructions[0].data_len = 11;  // leaves the last data byte over
  EXPECT_EQ(parse(t.encode()), parse_error::trailing_bytes);
}

TEST(parse_error_case, every_error_has_a_distinct_name) {
  std::set<std::string> names;
  for (std::size_t e = 0; e < parse_error_count; ++e) {
    const char* s = to_string(static_cast<parse_error>(e));
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(names.insert(s).second) << s;
  }
  EXPECT_STREQ(to_string(parse_error::none), "none");
  EXPECT_STREQ(to_string(parse_error::duplicate_account_key), "duplicate_account_key");
}

// -------------------------------------------------------------- build, verify, decode

TEST(transfer, build_parse_verify_decode_round_trip) {
  const crypto::keypair from = crypto::keypair::generate();
  const crypto::pubkey to = crypto::keypair::generate().public_key();
  crypto::hash32 blockhash{};
  blockhash.fill(0x42);
  std::array<std::uint8_t, max_transaction_bytes> buf{};
  const std::size_t n = build_transfer(from, to, 123'456'789'012ULL, blockhash, buf);
  EXPECT_EQ(n, transfer_transaction_bytes);

  transaction_view v;
  ASSERT_EQ(parse_transaction(std::span(buf.data(), n), v), parse_error::none);
  EXPECT_EQ(v.fee_payer(), from.public_key());
  EXPECT_EQ(v.account_key(1), to);
  EXPECT_EQ(v.recent_blockhash(), blockhash);
  crypto::pubkey_cache cache(16);
  EXPECT_TRUE(verify_signatures(v, cache));
  EXPECT_TRUE(crypto::verify(from.public_key(), v.message(), v.signature(0)));

  transfer tr;
  ASSERT_EQ(decode_transfer(v, 0, tr), transfer_error::none);
  EXPECT_EQ(tr.from_index, 0U);
  EXPECT_EQ(tr.to_index, 1U);
  EXPECT_EQ(tr.lamports, 123'456'789'012ULL);
  EXPECT_EQ(v.account_key(tr.to_index), to);
}

TEST(transfer, to_self_uses_one_account) {
  const crypto::keypair from = crypto::keypair::generate();
  std::array<std::uint8_t, max_transaction_bytes> buf{};
  const std::size_t n = build_transfer(from, from.public_key(), 7, crypto::hash32{}, buf);
  EXPECT_EQ(n, transfer_transaction_bytes - 32);
  transaction_view v;
  ASSERT_EQ(parse_transaction(std::span(buf.data(), n), v), parse_error::none);
  EXPECT_EQ(v.num_accounts(), 2U);
  crypto::pubkey_cache cache(4);
  EXPECT_TRUE(verify_signatures(v, cache));
  transfer tr;
  ASSERT_EQ(decode_transfer(v, 0, tr), transfer_error::none);
  EXPECT_EQ(tr.from_index, 0U);
  EXPECT_EQ(tr.to_index, 0U);
  EXPECT_EQ(tr.lamports, 7U);
}

TEST(transfer, build_rejects_bad_arguments) {
  const crypto::keypair from = crypto::keypair::generate();
  const crypto::pubkey to = crypto::keypair::generate().public_key();
  std::array<std::uint8_t, transfer_transaction_bytes - 1> small{};
  EXPECT_THROW((void)build_transfer(from, to, 1, crypto::hash32{}, small), std::length_error);
  std::array<std::uint8_t, transfer_transaction_bytes> exact{};
  EXPECT_EQ(build_transfer(from, to, 1, crypto::hash32{}, exact), exact.size());
  EXPECT_THROW((void)build_transfer(from, system_program_id, 1, crypto::hash32{}, exact),
               std::invalid_argument);
  EXPECT_THROW((void)build_transfer(crypto::keypair{}, to, 1, crypto::hash32{}, exact),
               std::invalid_argument);
}

TEST(verify_signatures, rejects_tampered_message_and_signature) {
  const crypto::keypair from = crypto::keypair::generate();
  const crypto::pubkey to = crypto::keypair::generate().public_key();
  std::array<std::uint8_t, max_transaction_bytes> buf{};
  const std::size_t n = build_transfer(from, to, 1000, crypto::hash32{}, buf);
  crypto::pubkey_cache cache(16);

  // Every single-byte change that still parses must fail verification.
  std::size_t still_parsed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto copy = buf;
    copy[i] ^= 0x01;
    transaction_view v;
    if (parse_transaction(std::span(copy.data(), n), v) != parse_error::none) continue;
    ++still_parsed;
    EXPECT_FALSE(verify_signatures(v, cache)) << "flipped byte " << i;
  }
  EXPECT_GT(still_parsed, 150U);  // signature, keys, blockhash and data bytes
  transaction_view v;
  ASSERT_EQ(parse_transaction(std::span(buf.data(), n), v), parse_error::none);
  EXPECT_TRUE(verify_signatures(v, cache));
  EXPECT_FALSE(verify_signatures(transaction_view{}, cache));
}

TEST(verify_signatures, multiple_signers_all_checked_and_cached) {
  std::vector<crypto::keypair> signers = {crypto::keypair::generate(), crypto::keypair::generate(),
                                          crypto::keypair::generate()};
  raw_tx t;
  t.signatures.resize(3);
  t.required = 3;
  t.readonly_signed = 1;
  t.readonly_unsigned = 1;
  for (const auto& s : signers) t.keys.push_back(s.public_key());
  t.keys.push_back(system_program_id);
  t.instructions.push_back({3, std::nullopt, {0, 1}, std::nullopt, transfer_data(9)});
  bytes b = t.encode();
  sign_all(b, signers);

  // The cache is direct-mapped with a random per-cache hash seed, so three keys can share a
  // slot; with 2^16 slots that happens about 5 times in 100 000 runs instead of 1 in 20.
  crypto::pubkey_cache cache(1 << 16);
  transaction_view v;
  ASSERT_EQ(parse_transaction(b, v), parse_error::none);
  EXPECT_TRUE(verify_signatures(v, cache));
  EXPECT_EQ(cache.misses(), 3U);
  EXPECT_TRUE(verify_signatures(v, cache));
  EXPECT_EQ(cache.hits(), 3U);

  // The last signer's signature over a different message: rejected.
  bytes other = b;
  sign_all(other, signers);  // fresh aux randomness: still valid
  ASSERT_EQ(parse_transaction(other, v), parse_error::none);
  EXPECT_TRUE(verify_signatures(v, cache));
  std::memcpy(other.data() + 1 + 2 * 64, b.data() + 1 + 1 * 64, 64);  // sig 2 := sig 1
  ASSERT_EQ(parse_transaction(other, v), parse_error::none);
  EXPECT_FALSE(verify_signatures(v, cache));
}

// One test per transfer_error.
class decode_transfer_case : public ::testing::Test {
 protected:
  transfer_error decode(const raw_tx& t) {
    encoded_ = t.encode();
    transaction_view v;
    EXPECT_EQ(parse_transaction(encoded_, v), parse_error::none);
    transfer tr;
    return decode_transfer(v, 0, tr);
  }
  bytes encoded_;
};

TEST_F(decode_transfer_case, valid) { EXPECT_EQ(decode(base_tx()), transfer_error::none); }

TEST_F(decode_transfer_case, not_system_program) {
  raw_tx t = base_tx();
  t.keys[2] = key_n(9);
  EXPECT_EQ(decode(t), transfer_error::not_system_program);
}

TEST_F(decode_transfer_case, bad_data_length) {
  raw_tx t = base_tx();
  t.instructions[0].data.push_back(0);
  EXPECT_EQ(decode(t), transfer_error::bad_data_length);
  t.instructions[0].data.clear();
  EXPECT_EQ(decode(t), transfer_error::bad_data_length);
}

TEST_F(decode_transfer_case, not_a_transfer) {
  raw_tx t = base_tx();
  t.instructions[0].data = transfer_data(5, 3);
  EXPECT_EQ(decode(t), transfer_error::not_a_transfer);
}

TEST_F(decode_transfer_case, bad_account_count) {
  raw_tx t = base_tx();
  t.instructions[0].indices = {0};
  EXPECT_EQ(decode(t), transfer_error::bad_account_count);
  t.instructions[0].indices = {0, 1, 1};
  EXPECT_EQ(decode(t), transfer_error::bad_account_count);
}

TEST_F(decode_transfer_case, source_not_writable_signer) {
  raw_tx t = base_tx();
  t.instructions[0].indices = {1, 0};  // source is not a signer
  EXPECT_EQ(decode(t), transfer_error::source_not_writable_signer);
  raw_tx u = base_tx();  // source is a readonly signer
  u.signatures.resize(2);
  u.required = 2;
  u.readonly_signed = 1;
  u.instructions[0].indices = {1, 0};
  EXPECT_EQ(decode(u), transfer_error::source_not_writable_signer);
}

TEST_F(decode_transfer_case, destination_not_writable) {
  raw_tx t = base_tx();
  t.instructions[0].indices = {0, 2};  // the readonly program account
  EXPECT_EQ(decode(t), transfer_error::destination_not_writable);
}

TEST(transfer_error_names, distinct) {
  std::set<std::string> names;
  for (int e = 0; e <= static_cast<int>(transfer_error::destination_not_writable); ++e) {
    EXPECT_TRUE(names.insert(to_string(static_cast<transfer_error>(e))).second);
  }
}

}  // namespace
