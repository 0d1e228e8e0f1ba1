// libFuzzer target for parse_transaction: memory safety under ASan/UBSan, plus invariants a
// successful parse must satisfy (see check_valid). Run:
//   ./build-fuzz/tests/fuzz/fuzz_transaction -max_total_time=60 -max_len=1400

#include <riptide/txn/transaction.hpp>

#include "fuzz_check.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace {

using namespace riptide;
using namespace riptide::txn;

// Re-serializes a view from its accessors alone. The encoding is canonical (fixed-width
// integers, no optional fields), so this must reproduce the input byte for byte.
std::vector<std::uint8_t> reencode(const transaction_view& v) {
  std::vector<std::uint8_t> out;
  out.push_back(static_cast<std::uint8_t>(v.num_signatures()));
  for (std::size_t i = 0; i < v.num_signatures(); ++i) {
    out.insert(out.end(), v.signature(i).begin(), v.signature(i).end());
  }
  out.push_back(message_version_v1);
  out.push_back(static_cast<std::uint8_t>(v.num_signatures()));
  out.push_back(static_cast<std::uint8_t>(v.num_readonly_signed()));
  out.push_back(static_cast<std::uint8_t>(v.num_readonly_unsigned()));
  out.push_back(static_cast<std::uint8_t>(v.num_accounts()));
  for (std::size_t i = 0; i < v.num_accounts(); ++i) {
    out.insert(out.end(), v.account_key(i).begin(), v.account_key(i).end());
  }
  out.insert(out.end(), v.recent_blockhash().begin(), v.recent_blockhash().end());
  out.push_back(static_cast<std::uint8_t>(v.num_instructions()));
  for (std::size_t i = 0; i < v.num_instructions(); ++i) {
    const instruction_view ix = v.instruction(i);
    out.push_back(ix.program_index);
    out.push_back(static_cast<std::uint8_t>(ix.account_indices.size()));
    out.insert(out.end(), ix.account_indices.begin(), ix.account_indices.end());
    out.push_back(static_cast<std::uint8_t>(ix.data.size()));
    out.push_back(static_cast<std::uint8_t>(ix.data.size() >> 8));
    out.insert(out.end(), ix.data.begin(), ix.data.end());
  }
  return out;
}

void check_valid(const std::uint8_t* data, std::size_t size, const transaction_view& v) {
  const std::uint8_t* const end = data + size;
  FUZZ_CHECK(size <= max_transaction_bytes);
  FUZZ_CHECK(v.bytes().data() == data && v.bytes().size() == size);

  const std::size_t sigs = v.num_signatures();
  const std::size_t accounts = v.num_accounts();
  FUZZ_CHECK(sigs >= 1 && sigs <= max_signatures);
  FUZZ_CHECK(accounts >= sigs && accounts <= max_accounts);
  FUZZ_CHECK(v.num_readonly_signed() < sigs);
  FUZZ_CHECK(v.num_readonly_unsigned() <= accounts - sigs);
  FUZZ_CHECK(v.num_instructions() <= max_instructions);

  // The message is the tail of the input, right after the signatures.
  FUZZ_CHECK(v.message().data() == data + 1 + crypto::signature_bytes * sigs);
  FUZZ_CHECK(v.message().data() + v.message().size() == end);
  FUZZ_CHECK(v.message()[0] == message_version_v1);

  for (std::size_t i = 0; i < sigs; ++i) {
    FUZZ_CHECK(fuzz_within(v.signature(i).data(), crypto::signature_bytes, data, v.message().data()));
  }
  std::size_t writable = 0;
  for (std::size_t i = 0; i < accounts; ++i) {
    FUZZ_CHECK(fuzz_within(v.account_key(i).data(), crypto::pubkey_bytes, v.message().data(), end));
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(v.account_key(i) != v.account_key(j));
    FUZZ_CHECK(v.is_signer(i) == (i < sigs));
    writable += v.is_writable(i) ? 1 : 0;
  }
  FUZZ_CHECK(v.is_writable(0));  // the fee payer
  FUZZ_CHECK(writable ==
             (sigs - v.num_readonly_signed()) + (accounts - sigs - v.num_readonly_unsigned()));
  FUZZ_CHECK(fuzz_within(v.recent_blockhash().data(), crypto::hash_bytes, v.message().data(), end));

  const std::uint8_t* prev_end = nullptr;
  for (std::size_t i = 0; i < v.num_instructions(); ++i) {
    const instruction_view ix = v.instruction(i);
    FUZZ_CHECK(ix.program_index < accounts);
    FUZZ_CHECK(!v.is_signer(ix.program_index) && !v.is_writable(ix.program_index));
    FUZZ_CHECK(ix.account_indices.size() <= max_instruction_accounts);
    for (const std::uint8_t a : ix.account_indices) FUZZ_CHECK(a < accounts);
    FUZZ_CHECK(fuzz_within(ix.account_indices, v.message().data(), end));
    FUZZ_CHECK(fuzz_within(ix.data, v.message().data(), end));
    FUZZ_CHECK(prev_end == nullptr || ix.account_indices.data() > prev_end);  // in order
    prev_end = ix.data.data() + ix.data.size();

    transfer tr;
    const transfer_error te = decode_transfer(v, i, tr);
    FUZZ_CHECK(to_string(te) != nullptr);
    if (te == transfer_error::none) {
      FUZZ_CHECK(v.account_key(ix.program_index) == system_program_id);
      FUZZ_CHECK(ix.data.size() == transfer_data_bytes && ix.account_indices.size() == 2);
      FUZZ_CHECK(tr.from_index == ix.account_indices[0] && tr.to_index == ix.account_indices[1]);
      FUZZ_CHECK(v.is_signer(tr.from_index) && v.is_writable(tr.from_index));
      FUZZ_CHECK(v.is_writable(tr.to_index));
      std::uint64_t lamports = 0;
      for (int b = 7; b >= 0; --b) lamports = (lamports << 8) | ix.data[4 + b];
      FUZZ_CHECK(tr.lamports == lamports);
    }
  }
  if (v.num_instructions() > 0) FUZZ_CHECK(prev_end == end);

  // Canonical: the accessors describe the input completely.
  const std::vector<std::uint8_t> again = reencode(v);
  FUZZ_CHECK(again.size() == size && std::memcmp(again.data(), data, size) == 0);

  // No proper prefix of a valid transaction is valid (there is no length-free tail).
  for (const std::size_t cut : {size - 1, size / 2, std::size_t{0}}) {
    transaction_view shorter;
    FUZZ_CHECK(parse_transaction(std::span(data, cut), shorter) != parse_error::none);
    FUZZ_CHECK(shorter.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  transaction_view v;
  const parse_error err = parse_transaction(std::span(data, size), v);
  FUZZ_CHECK(static_cast<std::size_t>(err) < parse_error_count);
  FUZZ_CHECK(to_string(err) != nullptr);
  if (err != parse_error::none) {
    FUZZ_CHECK(v.empty());  // a failed parse leaves the view untouched
    return 0;
  }
  check_valid(data, size, v);

  // Signature checks are slow and almost never succeed on mutated input, so exercise the path
  // only occasionally; it must not crash whatever the keys and signatures are.
  if (v.signature(0)[0] == 0xA5) {
    static crypto::pubkey_cache cache(64);
    (void)verify_signatures(v, cache);
  }
  return 0;
}
